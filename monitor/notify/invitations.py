"""Invitations for the people who got the operators' old notices.

`monitor subscribers invite FILE [--campaign NAME]` reads addresses (one a line, or a CSV
with `email[,components][,language]`), and queues one invitation per address and campaign
in the mail outbox, spread at `[mail] invitations_per_minute`. Nobody is subscribed by it:
the invitation links to a page that subscribes only when its button is pressed (POST), and
to an opt-out. Per line the report says invited, skipped (and why) or refused (and why):

- skipped: already subscribed; unsubscribed, erased or declined before (kept as a hash
  only); already invited in this campaign (reruns never mail twice); twice in the file;
- refused: not an email address; unknown component; language not da/en; an address with
  non-ASCII characters before the @ when the mail server does not offer SMTPUTF8.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from ..db import session_factory, utcnow
from ..models import Mail, Subscriber
from ..settings import Settings
from . import privacy
from . import subscriptions as subs
from .mailqueue import queue_mail
from .tokens import InvitationPayload, TokenError
from .transport import smtputf8_available
from .wire import AddressNotSendable, wire_address

MAX_FILE_BYTES = 5_000_000
MAX_ROWS = 100_000
MAX_CAMPAIGN_LENGTH = 100
INVITATION_MAX_AGE_DAYS = 60  # how long an invitation link works
COMPONENT_SEPARATORS = re.compile(r"[\s,;|+]+")


class InvitationFileError(ValueError):
    """A file that cannot be read as a list of invitations at all."""


@dataclass(frozen=True)
class InviteRow:
    """One line of the file: where it was, and what it asks for."""

    line: int
    email: str
    components: str = ""
    language: str = ""


@dataclass
class InviteReport:
    """What an invitation run did, line by line."""

    campaign: str
    invited: list[str] = field(default_factory=list)
    skipped: list[tuple[int, str, str]] = field(default_factory=list)  # (line, address, reason)
    refused: list[tuple[int, str, str]] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The report as printed by the command."""
        reasons = Counter(reason for _line, _address, reason in self.skipped)
        out = [f"campaign {self.campaign!r}: invited {len(self.invited)}, skipped {len(self.skipped)}, "
               f"refused {len(self.refused)}"]
        out += [f"  skipped {n}: {reason}" for reason, n in sorted(reasons.items())]
        out += [f"  line {line}: refused {address!r}: {reason}" for line, address, reason in self.refused]
        return out


def read_rows(text: str) -> list[InviteRow]:
    """The rows of an invitation file: a CSV with an `email` column, or one address a line."""
    lines = text.lstrip("\ufeff").splitlines()
    first = next((line for line in lines if line.strip() and not line.lstrip().startswith("#")), "")
    header = [c.strip().lower() for c in re.split(r"[;,]", first)]
    if "email" not in header:
        return [InviteRow(i, line.strip()) for i, line in enumerate(lines, 1)
                if line.strip() and not line.lstrip().startswith("#")]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter)
    rows: list[InviteRow] = []
    columns: list[str] | None = None
    for number, cells in enumerate(reader, 1):
        if not any(c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
            continue
        if columns is None:
            columns = [c.strip().lower() for c in cells]
            unknown = set(columns) - {"email", "components", "language"}
            if unknown:
                raise InvitationFileError(f"line {number}: unknown column(s) {', '.join(sorted(unknown))}; "
                                          "expected email[,components][,language]")
            continue
        values = dict(zip(columns, (c.strip() for c in cells), strict=False))
        rows.append(InviteRow(number, values.get("email", ""), values.get("components", ""),
                              values.get("language", "")))
    return rows


def load_file(path: Path) -> list[InviteRow]:
    """Read and parse an invitation file, bounded in size and rows."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InvitationFileError(f"{path}: {size} bytes, more than the {MAX_FILE_BYTES} accepted")
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise InvitationFileError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise InvitationFileError(f"{path}: {exc.strerror or exc}") from None
    rows = read_rows(text)
    if len(rows) > MAX_ROWS:
        raise InvitationFileError(f"{path}: {len(rows)} addresses, more than the {MAX_ROWS} accepted in one file")
    return rows


def _check(session: Session, row: InviteRow, smtputf8: Callable[[], bool]) -> tuple[str, list[str], str]:
    """(address, components, language) of a row; `ValueError` with the reason it is refused."""
    try:
        address = subs.normalise_email(row.email)
    except subs.AddressError as exc:
        raise ValueError(f"not an email address ({exc})") from None
    try:
        wire = wire_address(address)
    except AddressNotSendable as exc:
        raise ValueError(str(exc)) from None
    if wire.smtputf8 and not smtputf8():
        raise ValueError("non-ASCII characters before the @, and the mail server does not offer SMTPUTF8")
    try:
        components = subs.check_components(session, COMPONENT_SEPARATORS.split(row.components))
    except ValueError as exc:
        raise ValueError(f"unknown component(s): {exc}") from None
    language = (row.language or "da").lower()
    if language not in subs.LANGUAGES:
        raise ValueError(f"language: expected da or en, got {row.language!r}")
    return address, components, language


def invite(session: Session, settings: Settings, rows: list[InviteRow], campaign: str,
           now: dt.datetime | None = None, smtputf8: Callable[[], bool] | None = None) -> InviteReport:
    """Queue one invitation per new address of the campaign; the caller commits."""
    now = now or utcnow()
    campaign = " ".join(campaign.split())
    if not campaign or len(campaign) > MAX_CAMPAIGN_LENGTH:
        raise InvitationFileError(f"campaign: 1 to {MAX_CAMPAIGN_LENGTH} characters, got {campaign!r}")
    probe_answer: list[bool] = []

    def can_smtputf8() -> bool:  # asked once, and only when an address needs it
        if not probe_answer:
            probe_answer.append((smtputf8 or (lambda: smtputf8_available(settings)))())
        return probe_answer[0]

    report = InviteReport(campaign)
    step = dt.timedelta(seconds=60 / settings.mail.invitations_per_minute)
    latest = session.scalar(select(func.max(Mail.next_attempt_at))
                            .where(Mail.kind == "invitation", Mail.status == "queued"))
    slot = max(now, latest + step) if latest is not None else now
    invited_before = set(session.scalars(select(Mail.address_hash).where(Mail.campaign == campaign)))
    seen: set[str] = set()
    for row in rows:
        try:
            address, components, language = _check(session, row, can_smtputf8)
        except ValueError as exc:
            report.refused.append((row.line, row.email, str(exc)))
            continue
        key = privacy.address_hash(address)
        sub = session.scalars(select(Subscriber).where(Subscriber.address == address)).one_or_none()
        reason = privacy.suppression(session, address)
        if key in seen:
            report.skipped.append((row.line, address, "twice in the file"))
        elif key in invited_before:
            report.skipped.append((row.line, address, "already invited in this campaign"))
        elif subs.is_active(sub):
            report.skipped.append((row.line, address, "already subscribed"))
        elif reason or (sub is not None and sub.unsubscribed_at is not None):
            report.skipped.append((row.line, address, f"{reason or 'unsubscribed'} before: never invited"))
        else:
            queue_mail(session, "invitation", address, language, campaign=campaign, components=components, at=slot)
            report.invited.append(address)
            slot += step
        seen.add(key)
    return report


def invite_file(engine: Engine, settings: Settings, path: Path, campaign: str | None = None) -> InviteReport:
    """Invite the addresses of the file at `path`, in one transaction; the campaign defaults to its name.

    Raises `InvitationFileError` when the file or the campaign cannot be used at all.
    """
    rows = load_file(path)
    with session_factory(engine)() as session, session.begin():
        return invite(session, settings, rows, campaign or path.stem)


def void_reason(session: Session, address: str) -> str | None:
    """Why an invitation to `address` can no longer be used: it unsubscribed, declined or was erased."""
    sub = session.scalars(select(Subscriber).where(Subscriber.address == address)).one_or_none()
    if sub is not None and sub.unsubscribed_at is not None:
        return "unsubscribed"
    return privacy.suppression(session, address)


def accept(session: Session, payload: InvitationPayload, components: list[str], language: str,
           now: dt.datetime | None = None) -> Subscriber:
    """Subscribe the invited address, confirmed: pressing the button behind the mailed link is the opt-in.

    An address that is already subscribed keeps its preferences. An invitation is void once
    its address unsubscribed, declined or was erased (`TokenError("void")`): it neither
    subscribes nor lifts the suppression; only the person's own confirmed subscription does.
    The caller commits.
    """
    now = now or utcnow()
    if void_reason(session, payload.address):
        raise TokenError("void")
    outcome = subs.subscribe(session, payload.address, components, language, now=now)
    sub = outcome.subscriber
    if sub.confirmed_at is None:
        sub.confirmed_at = now
    session.flush()
    return sub


def decline(session: Session, address: str, now: dt.datetime | None = None) -> None:
    """Never invite `address` again, and drop its invitations still waiting. The caller commits."""
    privacy.suppress(session, address, "declined", now)
    session.execute(update(Mail).where(Mail.address_hash == privacy.address_hash(address), Mail.kind == "invitation",
                                       Mail.status == "queued")
                    .values(status="cancelled", last_error="declined"))
