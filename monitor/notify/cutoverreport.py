"""The cut-over report: one mail to each municipality's mailboxes once the window has ended and
its status is first judged, and one more when it turns green.

A scheduler job (`run`) looks every few minutes after the window. A municipality is judged
when its status is red, yellow or green (not pending, not "not judged": too little traffic to
say). Each report claims (municipality, window start, "first" or "green") in `sent_once` in the
transaction that queues its mails, so it goes out exactly once per municipality and window,
whatever the number of runs, processes or restarts. A municipality that is green when first
judged gets one report, which is both.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ..cutover.documents import MunicipalityStatus
from ..cutover.queries import cutover_document, window_for
from ..settings import Settings
from .contacts import mailboxes
from .mailqueue import queue_mail
from .once import claim

log = logging.getLogger(__name__)
JUDGED = ("red", "yellow", "green")
WATCH_DAYS = 30  # how long after the window a municipality that is not yet green is watched


def _payload(m: MunicipalityStatus, support_url: str | None, green: bool) -> dict[str, Any]:
    silent = [{"it_system": a["it_system"]["name"] or a["it_system"]["uuid"],
               "supplier": a["supplier"], "services": list(a["services"])}
              for a in m["silent_agreements"]]
    tasks = [{"task": t["task"], "deadline": t["deadline"]} for t in m["tasks"] if not t["done"]]
    return {"code": m["code"], "name": m["name"], "status": m["status"], "reasons": list(m["reasons"]),
            "silent": silent, "open_tasks": tasks, "tasks_total": m["tasks_total"],
            "support_url": support_url, "green": green}


def queue_reports(session: Session, settings: Settings, now: dt.datetime) -> int:
    """Queue the reports that are due at `now`; returns the number of mails queued (the caller commits)."""
    window = window_for(session, settings)
    if window.start is None or window.end is None or not window.end <= now <= window.end + dt.timedelta(
            days=WATCH_DAYS):
        return 0
    doc = cutover_document(session, settings, now)  # while pending, every status is "pending": none judged
    epoch = window.start.astimezone(dt.UTC).isoformat()
    queued = 0
    for m in doc["municipalities"]:
        if m["status"] not in JUDGED:
            continue
        recipients = mailboxes(session, m["code"], "cutover_report")
        if not recipients:
            continue
        first = claim(session, "cutover_report", f"{m['code']}:{epoch}:first", now)
        green = m["status"] == "green" and claim(session, "cutover_report", f"{m['code']}:{epoch}:green", now)
        if not (first or green):
            continue
        payload = _payload(m, doc["support_url"], green)
        for contact in recipients:
            queue_mail(session, "cutover_report", contact.address, contact.language, contact=contact,
                       payload=payload)
            queued += 1
    return queued


def run(engine: Engine, settings: Settings, now: dt.datetime | None = None) -> None:
    """The scheduler's job: queue the reports due now, in one transaction."""
    now = now or dt.datetime.now(dt.UTC)
    with Session(engine) as session, session.begin():
        queued = queue_reports(session, settings, now)
    if queued:
        log.info("queued %d cut-over report mails", queued)
