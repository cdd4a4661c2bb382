"""What the `monitor` commands print: the domain's results as lines of text.

The domain functions return results (dataclasses, documents); the commands in `cli.py`
print them with these functions, so the wording of the command line lives in one place.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the commands import what they run; printing one result loads no other domain
    from .collectors.calls.importer import FileResult, InboxResult
    from .collectors.notices.poll import Outcome
    from .notify.invitations import InviteReport
    from .notify.outbox import DeliveryReport
    from .rating.documents import RatingsDocument


def import_lines(results: Iterable[FileResult]) -> list[str]:
    """`monitor import`: each file's report."""
    return [r.report() for r in results]


def inbox_lines(result: InboxResult, inbox: Path) -> list[str]:
    """`monitor collect calls`: each file's report and each error, or that the inbox was empty."""
    lines = [f.report() for f in result.files] + [f"error: {e}" for e in result.errors]
    return lines or [f"no files waiting in {inbox}"]


def notices_lines(outcomes: Iterable[Outcome]) -> list[str]:
    """`monitor collect notices`: each source's report."""
    return [line for o in outcomes for line in o.lines()]


def notify_lines(report: DeliveryReport) -> list[str]:
    """`monitor notify`: the summary, then each delivery that failed for good."""
    return [report.summary(), *(f"failed: {line}" for line in report.failures)]


def invite_lines(report: InviteReport, per_minute: int) -> list[str]:
    """`monitor subscribers invite`: the report, and when the invitations leave."""
    lines = report.lines()
    if report.invited:
        minutes = len(report.invited) / per_minute
        lines.append(f"the invitations leave the outbox at {per_minute} a minute "
                     f"(about {max(minutes, 1):.0f} min) with the scheduler or `monitor notify`")
    return lines


def _fmt(score: float | None) -> str:
    return "–" if score is None else f"{score:4.1f}"


def rating_table(doc: RatingsDocument) -> list[str]:
    """`monitor rate`: the readable table of a ratings document (as GET /api/v1/ratings)."""
    lines = [f"ratings as of {doc['as_of']} · method {doc['method']['version']} · revision {doc['revision']}"
             f" · data through {doc['data_through'] or '–'}"]
    if not doc["coverage"]["complete"]:
        lines.append("call data missing for: " + ", ".join(doc["coverage"]["missing_days"])
                     + " (every result is inconclusive)")
    planned = doc["coverage"]["planned_outage_days"]
    if planned:
        lines.append("planned-outage days in the window (covered even without data): "
                     + ", ".join(f"{p['day']} ({', '.join(p['reasons'])})" for p in planned))
    lines.append(f"{'code':4}  {'name':<20} {'score':>5} {'aftaler':>7} {'kald':>5} {'it-sys':>6} {'rank':>4}  note")
    for r in doc["ratings"]:
        p = r["parts"]
        lines.append(f"{r['municipality']['code']:4}  {r['municipality']['name'][:20]:<20} {_fmt(r['score']):>5} "
                     f"{_fmt(p['service_agreements']['score']):>7} {_fmt(p['calls_per_citizen']['score']):>5} "
                     f"{_fmt(p['it_systems_with_calls']['score']):>6} {r['rank'] or '–':>4}  "
                     f"{r['reason_text'] or ''}")
    conclusive = sum(1 for r in doc["ratings"] if r["score"] is not None)
    lines.append(f"{conclusive} conclusive, {len(doc['ratings']) - conclusive} inconclusive")
    return lines
