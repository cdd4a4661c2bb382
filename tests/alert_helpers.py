"""Helpers for the mailbox and alert tests: a red and a green municipality, each with a mailbox."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from monitor.models import MunicipalityContact
from monitor.settings import Settings
from tests.conftest import make_settings
from tests.cutover_helpers import add_agreement, add_hours, hours

TOKEN = "alertmanager-test-token-0123456789"
# The window ended at 05:00 UTC on the test day; the clock (the `now` fixture) is 11:00 UTC.
WINDOW = {"start": dt.datetime(2020, 11, 27, 7, 0, tzinfo=dt.UTC), "end": dt.datetime(2020, 11, 28, 5, 0, tzinfo=dt.UTC)}
WEEK = dt.timedelta(days=7)


def alert_settings(tmp_path: Path, db_url: str, **sections: dict) -> Settings:
    """Test settings with the receiver's token and a cut-over window that ended six hours before `now`."""
    sections = {"alerts": {"receiver_token": TOKEN},
                "cutover": {**WINDOW, "frozen_zone_start": WINDOW["start"] - dt.timedelta(days=7),
                            "support_url": "https://support.example.dk/skift"}, **sections}
    return make_settings(tmp_path, db_url, **sections)


def red_and_green(session: Session) -> None:
    """Aarhus (751) silent since the window (red: no calls), Odense (461) as usual (green)."""
    after = hours(WINDOW["end"], 6)
    red = add_agreement(session, "aarhus-1", "751", supplier="KMD")
    add_hours(session, red, [h - WEEK for h in after], 200)
    green = add_agreement(session, "odense-1", "461", supplier="Netcompany")
    add_hours(session, green, [h - WEEK for h in after] + after, 200)


def add_mailbox(session: Session, code: str, address: str, language: str = "da") -> MunicipalityContact:
    contact = MunicipalityContact(municipality_code=code, address=address, language=language, stopped=[])
    session.add(contact)
    session.flush()
    return contact


def notification(code: str | None, status: str = "firing", *, group: str = "{}:{municipality=\"751\"}",
                 starts: str = "2020-11-28T10:30:00Z", alertname: str = "FkiMunicipalityRed") -> dict[str, Any]:
    """An Alertmanager webhook payload (version 4) for one group of one alert."""
    labels = {"alertname": alertname, "severity": "critical", **({"municipality": code} if code else {})}
    return {
        "version": "4", "groupKey": group, "truncatedAlerts": 0, "status": status, "receiver": "infrastrukturmonitor",
        "groupLabels": {"municipality": code} if code else {}, "commonLabels": labels, "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": [{"status": status, "labels": labels, "annotations": {}, "startsAt": starts,
                    "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2020-11-28T12:00:00Z",
                    "generatorURL": "http://prometheus.example:9090/graph", "fingerprint": "c0ffee"}],
    }
