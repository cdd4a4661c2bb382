"""What a status page says, before it is stored: the vocabulary and the parsed shapes.

Both parsers (RSS/Atom in `feedparse`, the Statuspage JSON API in `statuspage`) produce
`ParsedNotice`s; `noticestore` stores them. Nothing here touches the network or the database.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import nh3

INCIDENT_STATUSES = ("investigating", "identified", "monitoring", "resolved", "postmortem")
MAINTENANCE_STATUSES = ("scheduled", "in_progress", "verifying", "completed")
CLOSED_STATUSES = frozenset({"resolved", "postmortem", "completed"})
IMPACTS = ("none", "minor", "major", "critical")

# Status words as a status page shows them, English and Danish, lower case.
STATUS_WORDS = {
    "investigating": "investigating", "undersøger": "investigating",
    "identified": "identified", "identificeret": "identified",
    "monitoring": "monitoring", "overvåger": "monitoring",
    "resolved": "resolved", "løst": "resolved",
    "postmortem": "postmortem", "post-mortem": "postmortem",
    "scheduled": "scheduled", "planlagt": "scheduled",
    "in progress": "in_progress", "in_progress": "in_progress", "i gang": "in_progress",
    "verifying": "verifying", "verificerer": "verifying",
    "completed": "completed", "afsluttet": "completed",
}
# Words that add to a notice without changing its status ("Update" keeps the previous one).
UPDATE_WORDS = frozenset({"update", "opdatering"})

AFFECTED_RE = re.compile(
    r"(?P<lead>This incident affected|This scheduled maintenance affected|"
    r"Denne hændelse berørte|Denne planlagte vedligeholdelse berørte)\s*:\s*(?P<names>[^<\n]*)",
    re.IGNORECASE)
MAINTENANCE_LEADS = ("this scheduled maintenance affected", "denne planlagte vedligeholdelse berørte")


def status_word(word: str) -> str | None:
    """The canonical status for an upstream status word, or None when it defines none."""
    return STATUS_WORDS.get(" ".join(word.split()).strip(" :.-").lower())


# The only link schemes upstream text may carry, wherever it is shown (pages, Atom, mail, webhooks).
URL_SCHEMES = frozenset({"http", "https", "mailto"})
MAX_URL_CHARS = 2000
_URL_ATTRIBUTES = frozenset({"href", "src", "cite", "longdesc", "action", "srcset", "background", "poster"})


def safe_url(url: object) -> str | None:
    """`url` when it is an absolute http, https or mailto link without spaces or control characters, else None.

    ``javascript:``, ``data:``, relative links (they would point into this site) and anything
    unparseable are dropped: the link is left out, the text around it stays.
    """
    if not isinstance(url, str):
        return None
    url = url.strip()
    if not url or len(url) > MAX_URL_CHARS or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unbalanced [ in the host
        return None
    scheme = parts.scheme.lower()
    if scheme not in URL_SCHEMES:
        return None
    if scheme == "mailto":
        return url if parts.path else None
    return url if parts.netloc and parts.hostname else None


def _keep_safe_links(tag: str, attribute: str, value: str) -> str | None:
    if attribute in _URL_ATTRIBUTES:
        return safe_url(value)
    return value


def sanitize(html: str) -> str:
    """Upstream HTML made safe to store and show: no scripts, no event handlers, and links and
    images only to absolute http, https or mailto addresses (`safe_url`)."""
    return nh3.clean(html, url_schemes=set(URL_SCHEMES), attribute_filter=_keep_safe_links).strip()


def affected_names(text: str) -> tuple[list[str], bool]:
    """Component names of an "… affected: A, B and C." line, and whether it named a maintenance."""
    names: list[str] = []
    maintenance = False
    for m in AFFECTED_RE.finditer(text):
        maintenance = maintenance or m.group("lead").lower() in MAINTENANCE_LEADS
        listed = m.group("names").strip().rstrip(".")
        for part in re.split(r",|\band\b|\bog\b", listed):
            name = part.strip().strip(".")
            if name and name not in names:
                names.append(name)
    return names, maintenance


@dataclass(frozen=True)
class ParsedUpdate:
    """One update of a notice as upstream shows it; `status` is canonical, `at` aware UTC."""

    status: str
    at: dt.datetime
    body_html: str
    # Each component's status from this update on, as (name, status) pairs in upstream's words
    # (Statuspage: operational, degraded_performance, partial_outage, major_outage,
    # under_maintenance); None when the source gives none per update.
    components: tuple[tuple[str, str], ...] | None = None


@dataclass
class ParsedNotice:
    """An incident or maintenance as parsed from one source; updates newest first."""

    upstream_id: str
    title: str
    kind: str
    status: str
    url: str | None = None
    impact: str | None = None
    component_names: list[str] = field(default_factory=list)
    text: str = ""  # plain text searched by the components' keyword rules
    updates: list[ParsedUpdate] = field(default_factory=list)
    started_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    resolved_at: dt.datetime | None = None
    scheduled_for: dt.datetime | None = None
    scheduled_until: dt.datetime | None = None


@dataclass
class ParseResult:
    """The complete notices of a document, what was wrong with the rest, and whether it was whole.

    `fatal` is set when the document as a whole could not be read (garbage, empty, not a
    feed); `problems` name the items or parts that were left out.
    """

    notices: list[ParsedNotice] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    fatal: str | None = None

    @property
    def clean(self) -> bool:
        """True when nothing was wrong: the poll may count as a success."""
        return self.fatal is None and not self.problems


# What upstream text loses before it is stored: the C0 controls but tab and newline (NUL, ESC,
# BEL, CR …), DEL, the C1 controls, and U+FFFE/U+FFFF. None of them is text a reader needs;
# PostgreSQL refuses NUL, and XML 1.0 (the Atom feed) and iCalendar refuse the rest.
_CONTROL_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ufffe\uffff]")
# A lone surrogate (JSON's "\ud800") cannot be written as UTF-8 by either database.
_SURROGATE_RE = re.compile("[\ud800-\udfff]")
# Times upstream may give; anything outside is a typo or a probe ("9999-12-31"), not a notice.
EARLIEST = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2101, 1, 1, tzinfo=dt.UTC)  # exclusive: the year 2100 is the last accepted


def clean_text(text: str) -> str:
    """`text` without control characters (tab and newline kept), a lone surrogate as U+FFFD."""
    return _SURROGATE_RE.sub("\ufffd", _CONTROL_RE.sub("", text))


def _out_of_range(notice: ParsedNotice) -> dt.datetime | None:
    times = [notice.started_at, notice.updated_at, notice.resolved_at, notice.scheduled_for,
             notice.scheduled_until, *(u.at for u in notice.updates)]
    return next((t for t in times if t is not None and not EARLIEST <= t < LATEST), None)


def admit(result: ParseResult) -> None:
    """Clean every notice of `result` at the door, and leave out (reported) those that cannot be stored.

    Every text loses its control characters (`clean_text`); a notice with a time outside
    1970–2100, or left without an id or title once cleaned, is reported and left out, and the
    others stay.
    """
    kept: list[ParsedNotice] = []
    for notice in result.notices:
        label = clean_text(notice.upstream_id)[:100] or "an item"
        wrong = _out_of_range(notice)
        if wrong is not None:
            result.problems.append(f"{label}: a time outside 1970–2100 ({wrong.year}): left out")
            continue
        notice.upstream_id = clean_text(notice.upstream_id).strip()
        notice.title = " ".join(clean_text(notice.title).split())
        if not notice.upstream_id or not notice.title:
            result.problems.append(f"{label}: no id or no title once control characters were removed: left out")
            continue
        notice.kind, notice.status = clean_text(notice.kind), clean_text(notice.status)
        notice.url = safe_url(notice.url)
        notice.impact = notice.impact if notice.impact in IMPACTS else None
        notice.component_names = [n for n in (" ".join(clean_text(c).split()) for c in notice.component_names) if n]
        notice.text = clean_text(notice.text)
        notice.updates = [ParsedUpdate(clean_text(u.status), u.at, clean_text(u.body_html), _clean_states(u.components))
                          for u in notice.updates]
        kept.append(notice)
    result.notices = kept


def _clean_states(states: tuple[tuple[str, str], ...] | None) -> tuple[tuple[str, str], ...] | None:
    if states is None:
        return None
    cleaned = ((" ".join(clean_text(name).split()), clean_text(status).strip()[:40]) for name, status in states)
    return tuple((name, status) for name, status in cleaned if name and status)


def resolved_time(status: str, updates: list[ParsedUpdate]) -> dt.datetime | None:
    """When a closed notice was closed: its newest resolved/completed update (else the newest)."""
    if status not in CLOSED_STATUSES or not updates:
        return None
    for u in updates:
        if u.status in ("resolved", "completed"):
            return u.at
    return updates[0].at
