"""Alertmanager's notifications → one mail per alert group and status to the municipality's mailboxes.

Alertmanager groups the municipality alerts by municipality (deploy/alertmanager/
alertmanager.yml) and posts each group's state to `POST /api/v1/alertmanager` when it starts,
changes and again every `repeat_interval`. A group's episode is its key, its status and the
earliest start of its alerts: the first notification of an episode claims that key in
`sent_once` and queues the mails in the same transaction, so a repeated notification (or
the same one sent twice) queues nothing. A resolved group is mailed only when its firing
was. An acknowledged municipality is not mailed: an operator already knows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..cutover.queries import municipality_status
from ..models import Municipality, SentOnce
from ..settings import Settings
from .contacts import mailboxes
from .mailqueue import queue_mail
from .once import claim

MAX_ALERTS = 1000


class PayloadError(ValueError):
    """A payload that is not Alertmanager's webhook JSON (version 4); the message says what is wrong."""


@dataclass(frozen=True)
class Group:
    """What the receiver uses of one notification."""

    key: str
    status: str  # firing | resolved
    municipality: str | None
    starts_at: str  # the earliest start of its alerts (ISO 8601), which tells one episode from the next


def parse(document: Any) -> Group:
    """The group of an Alertmanager webhook payload; `PayloadError` when it is not one."""
    if not isinstance(document, dict):
        raise PayloadError("expected a JSON object")
    key, status, alerts = document.get("groupKey"), document.get("status"), document.get("alerts")
    if not isinstance(key, str) or not key or len(key) > 10_000:
        raise PayloadError("groupKey: expected a non-empty string")
    if status not in ("firing", "resolved"):
        raise PayloadError("status: expected \"firing\" or \"resolved\"")
    if not isinstance(alerts, list) or not alerts or len(alerts) > MAX_ALERTS:
        raise PayloadError(f"alerts: expected a list of 1 to {MAX_ALERTS} alerts")
    starts: list[str] = []
    for i, alert in enumerate(alerts):
        if not isinstance(alert, dict) or not isinstance(alert.get("labels"), dict):
            raise PayloadError(f"alerts[{i}]: expected an object with labels")
        start = alert.get("startsAt")
        try:
            starts.append(dt.datetime.fromisoformat(str(start).replace("Z", "+00:00")).astimezone(dt.UTC).isoformat())
        except ValueError:
            raise PayloadError(f"alerts[{i}].startsAt: expected an RFC 3339 time") from None
    labels: dict[str, Any] = {}
    for name in ("commonLabels", "groupLabels"):
        value = document.get(name, {})
        if not isinstance(value, dict):
            raise PayloadError(f"{name}: expected an object")
        labels.update(value)
    code = labels.get("municipality")
    if code is not None and (not isinstance(code, str) or not (len(code) == 3 and code.isdigit())):
        raise PayloadError("municipality: expected a 3-digit code")
    return Group(key, status, code, min(starts))


@dataclass(frozen=True)
class Outcome:
    """What the receiver did with one notification, for its answer."""

    result: str  # queued | repeated | acknowledged | not_mailed | no_municipality | no_mailbox
    mails: int = 0


def _episode(group: Group, status: str) -> str:
    return hashlib.sha256(f"{group.key}\n{status}\n{group.starts_at}".encode()).hexdigest()


def receive(session: Session, settings: Settings, group: Group, now: dt.datetime) -> Outcome:
    """Queue the mails of one notification (the caller commits); `PayloadError` for an unknown municipality."""
    if group.municipality is None:
        return Outcome("no_municipality")
    municipality = session.get(Municipality, group.municipality)
    if municipality is None:
        raise PayloadError(f"municipality: no municipality has the code {group.municipality}")
    if group.status == "resolved":
        firing = _episode(group, "firing")
        if session.scalar(select(SentOnce.id).where(SentOnce.kind == "alert", SentOnce.key == firing)) is None:
            return Outcome("not_mailed")  # nobody heard of the firing; the end is no news
    entry = municipality_status(session, settings, now, municipality.code)
    if group.status == "firing" and entry is not None and entry["acknowledgement"]:
        return Outcome("acknowledged")
    recipients = mailboxes(session, municipality.code, "alert")
    if not recipients:
        return Outcome("no_mailbox")
    if not claim(session, "alert", _episode(group, group.status), now):
        return Outcome("repeated")
    payload: dict[str, Any] = {"code": municipality.code, "name": municipality.name, "status": group.status,
                               "since": group.starts_at, "cutover_status": entry["status"] if entry else None,
                               "reasons": list(entry["reasons"]) if entry else []}
    for contact in recipients:
        queue_mail(session, "alert", contact.address, contact.language, contact=contact, payload=payload)
    return Outcome("queued", len(recipients))
