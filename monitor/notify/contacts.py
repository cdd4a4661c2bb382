"""Each municipality's infrastructure mailboxes: the import, and the one-click link that stops a kind.

`monitor municipalities contacts FILE` reads `code;email[;language]`, one mailbox a line, and
is validated like every import: an unknown code, a bad address or a bad language is rejected
with its line number, and then nothing is kept. A file that passes is the whole list: its
mailboxes are kept (a known one keeps its row, its secret and the kinds it stopped), new ones
are added, and mailboxes it no longer names are removed.

Every mail to a mailbox carries a one-click link (RFC 8058) that stops that kind of mail for
that mailbox. The link is signed and names the row by its id and its `link_key`, never by
the id alone.
"""

from __future__ import annotations

import functools
import hmac
from dataclasses import dataclass, field
from pathlib import Path

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..models import Municipality, MunicipalityContact
from .subscriptions import AddressError, normalise_email

MAX_FILE_BYTES = 1_000_000
MAX_ROWS = 5_000
LANGUAGES = ("da", "en")
# The kinds of mail a mailbox receives, each of which it can stop on its own.
CONTACT_KINDS = ("alert", "cutover_report", "digest")


class ContactFileError(Exception):
    """The file cannot be read at all (missing, too large, not UTF-8)."""


@dataclass(frozen=True)
class ContactRow:
    """One valid line: a municipality code (3 digits), a normalised address and a language."""

    line: int
    code: str
    address: str
    language: str


@dataclass
class ContactReport:
    """What an import did, or why it kept nothing."""

    errors: list[str] = field(default_factory=list)
    added: int = 0
    kept: int = 0
    removed: int = 0

    def lines(self) -> list[str]:
        """The report, one line each, for the command line."""
        if self.errors:
            return [*self.errors, f"rejected: {len(self.errors)} bad line(s); nothing was kept"]
        return [f"contacts: {self.added} added, {self.kept} kept, {self.removed} removed"]


def parse(text: str, known_codes: set[str]) -> tuple[list[ContactRow], list[str]]:
    """The valid rows of `text` and an error per bad line ("line 3: unknown municipality code '999'")."""
    rows: list[ContactRow] = []
    errors: list[str] = []
    seen: set[tuple[str, str]] = set()
    for number, raw in enumerate(text.lstrip("\ufeff").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        cells = [c.strip() for c in line.split(";")]
        if number == 1 and cells[0].lower() in ("code", "kode", "kommunekode"):
            continue  # a header line
        if len(cells) not in (2, 3):
            errors.append(f"line {number}: expected code;email[;language], got {len(cells)} field(s)")
            continue
        code = cells[0][1:] if len(cells[0]) == 4 and cells[0].startswith("0") else cells[0]  # "0101" is 101
        if code not in known_codes:
            errors.append(f"line {number}: unknown municipality code {cells[0][:20]!r}")
            continue
        try:
            address = normalise_email(cells[1])
        except AddressError as exc:
            errors.append(f"line {number}: not a mail address {cells[1][:100]!r} ({exc})")
            continue
        language = (cells[2] if len(cells) == 3 and cells[2] else "da").lower()
        if language not in LANGUAGES:
            errors.append(f"line {number}: language must be da or en, got {cells[2][:20]!r}")
            continue
        if (code, address) in seen:
            errors.append(f"line {number}: {address} is already given for {code}")
            continue
        seen.add((code, address))
        rows.append(ContactRow(number, code, address, language))
    return rows, errors


def read_file(path: Path) -> str:
    """The text of a contacts file, bounded in size."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ContactFileError(f"{path}: {size} bytes, more than the {MAX_FILE_BYTES} accepted")
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise ContactFileError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise ContactFileError(f"{path}: {exc.strerror or exc}") from None


def import_contacts(session: Session, text: str) -> ContactReport:
    """Replace the mailboxes with those of `text`, or keep everything as it was when a line is bad.

    The caller commits (nothing is changed when the report has errors).
    """
    known = set(session.scalars(select(Municipality.code)))
    rows, errors = parse(text, known)
    if len(rows) > MAX_ROWS:
        errors.append(f"{len(rows)} mailboxes, more than the {MAX_ROWS} accepted in one file")
    report = ContactReport(errors=errors)
    if errors:
        return report
    existing = {(c.municipality_code, c.address): c for c in session.scalars(select(MunicipalityContact))}
    wanted = {(r.code, r.address): r for r in rows}
    for key, row in wanted.items():
        contact = existing.get(key)
        if contact is None:
            session.add(MunicipalityContact(municipality_code=row.code, address=row.address, language=row.language,
                                            stopped=[]))
            report.added += 1
        else:
            contact.language = row.language
            report.kept += 1
    gone = [c.id for key, c in existing.items() if key not in wanted]
    if gone:
        session.execute(delete(MunicipalityContact).where(MunicipalityContact.id.in_(gone)))
    report.removed = len(gone)
    session.flush()
    return report


def mailboxes(session: Session, code: str, kind: str) -> list[MunicipalityContact]:
    """The mailboxes of municipality `code` that have not stopped `kind`."""
    contacts = session.scalars(select(MunicipalityContact).where(MunicipalityContact.municipality_code == code)
                               .order_by(MunicipalityContact.id))
    return [c for c in contacts if kind not in (c.stopped or [])]


@functools.lru_cache(maxsize=8)
def _serializer(secret: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt="monitor.notify.contact-stop")


def stop_token(secret: str, contact: MunicipalityContact, kind: str) -> str:
    """The signed token of the link that stops `kind` for `contact` (its id and its secret)."""
    return str(_serializer(secret).dumps({"c": contact.id, "k": contact.link_key, "m": kind}))


def contact_for_token(session: Session, secret: str, token: str) -> tuple[MunicipalityContact, str] | None:
    """The mailbox and kind a stop link names, or None for a forged link or a mailbox no longer there."""
    if len(token) > 500:
        return None
    try:
        data = _serializer(secret).loads(token)
    except BadSignature:
        return None
    if (not isinstance(data, dict) or not isinstance(data.get("c"), int) or not isinstance(data.get("k"), str)
            or data.get("m") not in CONTACT_KINDS):
        return None
    contact = session.get(MunicipalityContact, data["c"])
    if contact is None or not hmac.compare_digest(contact.link_key.encode(), data["k"].encode()):
        return None
    return contact, data["m"]


def stop(contact: MunicipalityContact, kind: str) -> bool:
    """Stop `kind` for `contact`; returns whether it was still on (the caller commits)."""
    if kind in (contact.stopped or []):
        return False
    contact.stopped = sorted({*(contact.stopped or []), kind})
    return True
