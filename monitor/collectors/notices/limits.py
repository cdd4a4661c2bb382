"""The limits on what one status-page document may bring in (`[notices] max_items`, `max_update_bytes`).

The byte cap on the document itself (`max_feed_bytes`) is enforced while it streams in
(`httpfetch`); what is left is applied to the parsed notices before they are stored: at
most `max_items` notices, the newest kept, and each update's text cut at `max_update_bytes`
(as plain text, marked "[…]"), so that no single item can fill the database or a page.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html as htmllib

from ...settings import NoticesSettings
from .updatehtml import plain
from .upstream import ParsedNotice, ParseResult, sanitize

MAX_TITLE_CHARS = 500
CUT_MARK = " […]"
_OLDEST = dt.datetime.min.replace(tzinfo=dt.UTC)


def _newest_first(notice: ParsedNotice) -> dt.datetime:
    return notice.updated_at or notice.started_at or _OLDEST


def cut_body(body_html: str, max_bytes: int) -> str:
    """`body_html` as plain text cut to fit `max_bytes` (UTF-8, escaped), marked as cut."""
    text = plain(body_html)
    room = max(0, max_bytes - len(CUT_MARK.encode()))
    kept = text.encode()[:room].decode("utf-8", "ignore")
    escaped = htmllib.escape(kept, quote=False)
    while len(escaped.encode()) > room:  # escaping made it longer again (&, <, >)
        kept = kept[:max(0, len(kept) - max(1, (len(escaped.encode()) - room)))]
        escaped = htmllib.escape(kept, quote=False)
    return sanitize(escaped + CUT_MARK)


def apply_limits(result: ParseResult, limits: NoticesSettings) -> list[tuple[str, str]]:
    """Cut `result.notices` down to the limits; returns (limit, message) for each limit hit."""
    hits: list[tuple[str, str]] = []
    if len(result.notices) > limits.max_items:
        dropped = len(result.notices) - limits.max_items
        result.notices = sorted(result.notices, key=_newest_first, reverse=True)[:limits.max_items]
        hits.append(("max_items", f"{dropped:,} older item(s) left out: max_items is {limits.max_items:,}, "
                                  "the newest were kept"))
    cut = 0
    for notice in result.notices:
        if len(notice.title) > MAX_TITLE_CHARS:
            notice.title = notice.title[:MAX_TITLE_CHARS - 1] + "…"
        updates = []
        for update in notice.updates:
            if len(update.body_html.encode()) > limits.max_update_bytes:
                update = dataclasses.replace(update, body_html=cut_body(update.body_html, limits.max_update_bytes))
                cut += 1
            updates.append(update)
        notice.updates = updates
        if len(notice.text) > limits.max_update_bytes:  # the text searched by keyword rules
            notice.text = notice.text[:limits.max_update_bytes]
    if cut:
        hits.append(("max_update_bytes", f"{cut:,} update text(s) longer than max_update_bytes "
                                          f"({limits.max_update_bytes:,} bytes) were cut"))
    return hits
