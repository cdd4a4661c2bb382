"""The one outbox: how every row that leaves is claimed, sent, marked, retried and counted.

The outbox keeps two tables with the same life cycle (queued → sending → sent | failed |
cancelled, `attempts`, `next_attempt_at`, `last_error`, `sent_at`):

- `deliveries`: one notice update to one subscriber (mail or webhook), unique per pair and
  written in the notice collector's transaction; the hourly cap may hold them (`waiting`) and
  send several as one summary (mailcap.py);
- `mails`: every other mail, one row each, by kind (`KINDS`): confirmations, manage mails,
  invitations, sign-in links, and the reminders, digests, cut-over reports, alerts and
  method-input confirmations that later parts add.

Both are sent by the same runs (`outbox.deliver_due`) through the functions here, so there is
one claim, one retry policy (retry.py) and one count per kind:

- `claim` reads the due rows, then takes them with an UPDATE that repeats the condition; a
  row another run took meanwhile no longer matches and is skipped, on SQLite and PostgreSQL
  alike (the read and the UPDATE are separate transactions, so nothing depends on how either
  database locks a snapshot);
- `Sender.attempt` sends one row (one mailer per batch; once the server is found down the
  rest of the batch waits without trying), then marks it: `sent` in one prepared UPDATE
  (marks.py), made while the next row's envelope goes and done before that row can arrive, or
  through `after_failure`;
- `Tally` counts each attempt in `fki_notifications_total{channel,outcome}` and each mail
  sent in `fki_mail_sent_total{kind}` (the kinds mapped by `SENT_KIND`), in the database.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session, sessionmaker

from .. import runs
from ..models import Delivery, Mail
from ..settings import Settings
from .marks import Marking, Outgoing, SentMarker
from .retry import SMTP_DOWN, backoff, error_text, gives_up

log = logging.getLogger(__name__)

LEASE = dt.timedelta(minutes=15)  # longer than a batch can take, shorter than anyone waits for mail
BATCH = 100

# The label values of fki_mail_sent_total (SPEC "Interfaces"), and the queue's kinds behind each.
SENT_KINDS = ("notice", "reminder", "digest", "cutover_report", "alert", "confirmation", "invitation", "login",
              "answer")
SENT_KIND = {"notice": "notice", "summary": "notice", "reminder": "reminder", "digest": "digest",
             "cutover_report": "cutover_report", "alert": "alert", "confirm": "confirmation",
             "manage": "confirmation", "method_input": "confirmation", "invitation": "invitation",
             "login": "login", "method_answer": "answer"}
# The kinds of the `mails` table (a delivery is a "notice", its summary a "summary").
KINDS = ("confirm", "manage", "invitation", "login", "reminder", "digest", "cutover_report", "alert",
         "method_input", "method_answer")


def _no_pause(table: str, ids: list[int]) -> None:
    """Nothing happens between a claim's read and its UPDATE (tests put a pause here)."""


# Called by `claim` between reading the due rows and taking them, with the table and the ids read:
# the concurrency test sets it to let another run claim in between, forcing the interleaving.
pause_before_update: Callable[[str, list[int]], None] = _no_pause


@dataclass
class DeliveryReport:
    """What one run did, over both tables."""

    sent: int = 0
    retry: int = 0
    failed: int = 0
    cancelled: int = 0
    error: str = ""
    failures: list[str] = field(default_factory=list)

    def details(self) -> runs.NotifyDetails:
        """The counts for the run record, which the service-health page words."""
        return runs.NotifyDetails(sent=self.sent, retry=self.retry, failed=self.failed, cancelled=self.cancelled,
                                  error=1 if self.error else 0)

    def summary(self) -> str:
        """One line for logs, the CLI and the run record."""
        text = f"sent {self.sent}, retry {self.retry}, failed {self.failed}"
        if self.cancelled:
            text += f", cancelled {self.cancelled}"
        return text + (f"; error: {self.error}" if self.error else "")

    def add(self, outcome: str) -> None:
        """Count one row's outcome (sent, retry, failed or cancelled)."""
        setattr(self, outcome, getattr(self, outcome) + 1)


@dataclass
class Claim:
    """The rows one claim took, and those of them a run had taken before and not finished."""

    ids: list[int]
    resumed: list[int]


def claim(sessions: sessionmaker[Session], table: Outgoing, due: ColumnElement[bool], now: dt.datetime,
          limit: int = BATCH) -> Claim:
    """Take up to `limit` rows of `table` matching `due`: each becomes "sending", `attempts + 1`, with a lease.

    `due` must be false for a row once another run has taken it (its lease lies ahead), so the
    UPDATE, which repeats it, skips what a concurrent run took between the read and the UPDATE.
    """
    with sessions() as session, session.begin():
        rows = session.execute(select(table.id, table.status).where(due)
                               .order_by(table.next_attempt_at, table.id).limit(limit)).all()
    if not rows:
        return Claim([], [])
    pause_before_update(table.__tablename__, [r.id for r in rows])
    with sessions() as session, session.begin():
        taken = set(session.scalars(
            update(table).where(table.id.in_([r.id for r in rows]), due)
            .values(status="sending", attempts=table.attempts + 1, next_attempt_at=now + LEASE)
            .returning(table.id).execution_options(synchronize_session=False)))  # nothing loaded to update
    return Claim(sorted(taken), [r.id for r in rows if r.status == "sending" and r.id in taken])


def after_failure(sessions: sessionmaker[Session], settings: Settings, table: Outgoing, row_id: int,
                  error: BaseException, now: dt.datetime, name: str) -> str | None:
    """Record a failed attempt (its own transaction): "retry" with backoff, or "failed"; None if the row is gone."""
    with sessions() as session, session.begin():
        row: Delivery | Mail | None = (session.get(Delivery, row_id) if table is Delivery
                                       else session.get(Mail, row_id))
        if row is None:
            return None
        row.last_error = error_text(error)
        if gives_up(error, row.attempts, settings.mail.max_attempts):
            row.status = "failed"
            log.error("%s failed for good after %d attempts: %s", name, row.attempts, row.last_error)
            return "failed"
        row.status, row.next_attempt_at = "queued", now + backoff(row.attempts)
        log.warning("%s attempt %d failed, next at %s: %s", name, row.attempts, row.next_attempt_at.isoformat(),
                    row.last_error)
        return "retry"


def cancel(sessions: sessionmaker[Session], table: Outgoing, row_id: int, reason: str) -> None:
    """Mark a row that must not be sent any more (its recipient left, say) with the reason."""
    with sessions() as session, session.begin():
        session.execute(update(table).where(table.id == row_id).values(status="cancelled", last_error=reason))


@dataclass
class Tally:
    """The counts of a batch, written to the database together (`flush`)."""

    attempts: Counter[tuple[str, str]] = field(default_factory=Counter)  # (channel, outcome)
    mails: Counter[str] = field(default_factory=Counter)  # fki_mail_sent_total's kind

    def add(self, channel: str, outcome: str, kind: str) -> None:
        """Count one attempt; a mail sent also counts for its kind (webhooks are not mail)."""
        self.attempts[(channel, outcome)] += 1
        if outcome == "sent" and channel == "email":
            self.mails[SENT_KIND[kind]] += 1

    def flush(self, sessions: sessionmaker[Session]) -> None:
        """Write the counts in one transaction and start again from zero."""
        if not self.attempts and not self.mails:
            return
        with sessions() as session, session.begin():
            for (channel, outcome), amount in sorted(self.attempts.items()):
                runs.increment(session, "notifications_total", {"channel": channel, "outcome": outcome}, amount)
            for kind, amount in sorted(self.mails.items()):
                runs.increment(session, "mail_sent_total", {"kind": kind}, amount)
        self.attempts.clear()
        self.mails.clear()


@dataclass(frozen=True)
class _Sent:
    """A row sent and not yet marked, with what its outcome is counted as."""

    table: Outgoing
    row_id: int
    now: dt.datetime
    channel: str
    kind: str
    name: str


class Sender:
    """One run's way out: sends a claimed row, marks it, and counts it in the report and the tally.

    A row's mark overlaps the sending of the next row, but is always done before the next row
    can arrive: the mailers call `begin` once the next mail is built, just before its envelope
    goes (the mark starts: `SentMarker.submit`), and `settle` (their `ready`) after the server
    has taken that envelope and before the message goes; a webhook settles before it is posted.
    So, as with a mark made at once, at most one mail at a time is sent and not yet marked: a
    crash doubles at most that one.
    """

    def __init__(self, sessions: sessionmaker[Session], settings: Settings, marker: SentMarker,
                 report: DeliveryReport, tally: Tally) -> None:
        self.sessions, self.settings, self.marker = sessions, settings, marker
        self.report, self.tally = report, tally
        self.down: BaseException | None = None  # the mail server's error, once this run found it down
        self.unmarked: _Sent | None = None  # the last row sent, its mark not started yet
        self.marking: tuple[_Sent, Marking] | None = None  # the last row sent, its mark under way
        self.mark_error: BaseException | None = None  # a mark that failed: the run stops

    def attempt(self, table: Outgoing, row_id: int, channel: str, kind: str, name: str,
                send: Callable[[Callable[[], None], Callable[[], None]], None], now: dt.datetime) -> None:
        """Send one claimed row with `send` (given `begin` and `settle`, see the class); its mark follows.

        The outcome is counted when the mark is done (`settle`); a failure is recorded at once.
        """
        error = self.try_send(channel, send)
        self.settle()  # when `send` did not get as far as calling it
        if error is None:
            self.unmarked = _Sent(table, row_id, now, channel, kind, name)
            return
        outcome = after_failure(self.sessions, self.settings, table, row_id, error, now, name)
        self.record(outcome, channel, kind, name, error)

    def begin(self) -> None:
        """Start the mark of the last row sent (`SentMarker.submit`)."""
        row, self.unmarked = self.unmarked, None
        if row is not None:
            self.marking = row, self.marker.submit(row.table, row.row_id, row.now)

    def settle(self) -> None:
        """Wait for the mark of the last row sent, if any, and count its outcome (a row gone counts nothing)."""
        self.begin()
        marking, self.marking = self.marking, None
        if marking is None:
            return
        row, done = marking
        try:
            marked = done.result()
        except BaseException as exc:
            self.mark_error = exc
            raise
        self.record("sent" if marked else None, row.channel, row.kind, row.name, None)

    def flush(self) -> None:
        """Settle the last mark and write the counts (at the end of a batch)."""
        try:
            self.settle()
        finally:
            self.tally.flush(self.sessions)

    def try_send(self, channel: str,
                 send: Callable[[Callable[[], None], Callable[[], None]], None]) -> BaseException | None:
        """Call `send` with `begin` and `settle` (as its `ready`); the error it raised, or None.

        Once a mail fails because the server is down, the other mails of the run fail the same
        way without waiting for it again (webhooks still go out). A mark that failed is no
        error of the send: it is raised, and stops the run.
        """
        if channel == "email" and self.down is not None:
            return self.down
        error: BaseException | None = None
        try:
            send(self.begin, self.settle)
        except Exception as exc:
            error = exc
        if self.mark_error is not None:
            raise self.mark_error
        if channel == "email" and isinstance(error, SMTP_DOWN):
            self.down = error
        return error

    def record(self, outcome: str | None, channel: str, kind: str, name: str, error: BaseException | None) -> None:
        """Count an attempt's outcome in the run's report and the tally (a row that was gone counts nothing)."""
        if outcome is None:
            return
        self.report.add(outcome)
        self.tally.add(channel, outcome, kind)
        if outcome == "failed" and error is not None:
            self.report.failures.append(f"{name}: {error_text(error)}")
