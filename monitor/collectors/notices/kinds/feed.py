"""An RSS or Atom feed (through feedparser): one document, its validators in the source's own columns."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx

from ....models import NoticeSource
from ....vocabulary import N_
from .. import feedparse
from ..httpfetch import Fetched, fetch_url, is_url, read_path
from ..upstream import ParseResult
from .base import Fetch


class FeedKind:
    """RSS or Atom, one item per notice."""

    name = "feed"
    label = N_("RSS/Atom-feed")

    def fetch(self, source: NoticeSource, location: str, client: httpx.Client, max_bytes: int) -> Fetch:
        got = (fetch_url(client, location, source.etag, source.last_modified, max_bytes)
               if is_url(location) else read_path(Path(location), source.etag, max_bytes))
        return ({} if got.not_modified else {"feed": got.content or b""}), {"feed": got}

    def keep_validators(self, source: NoticeSource, fetched: dict[str, Fetched]) -> None:
        got = fetched["feed"]
        source.etag, source.last_modified = got.etag, got.last_modified

    def parse(self, documents: dict[str, bytes], now: dt.datetime) -> ParseResult:
        return feedparse.parse_feed(documents["feed"], now)

    def recognises(self, location: str, content: bytes | None, client: httpx.Client) -> bool:
        return content is not None and feedparse.looks_like_feed(content)


KIND = FeedKind()
