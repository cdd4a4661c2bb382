"""A Statuspage JSON API: several documents (incidents, maintenance, components), or a folder or file of them.

Their validators are kept together as JSON in the source's `etag`.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import httpx

from ....models import NoticeSource
from ....vocabulary import N_
from .. import statuspage
from ..httpfetch import Fetched, FetchError, fetch_url, is_url, read_path
from ..upstream import ParseResult
from .base import Fetch


class StatuspageKind:
    """Statuspage's JSON API (`/api/v2/…`), or its documents as files."""

    name = "statuspage"
    label = N_("Statuspage-API")

    def fetch(self, source: NoticeSource, location: str, client: httpx.Client, max_bytes: int) -> Fetch:
        previous = _validators(source)
        fetched: dict[str, Fetched] = {}
        if is_url(location):
            for name, url in statuspage.endpoints(location).items():
                etag, modified = previous.get(name, (None, None))
                try:
                    fetched[name] = fetch_url(client, url, etag, modified, max_bytes)
                except FetchError:
                    if name != "components":  # optional: incidents carry their component names
                        raise
        else:
            path = Path(location)
            files = ({name: path / f"{name}.json" for name in statuspage.DOCUMENTS} if path.is_dir()
                     else {"summary": path})
            for name, file in files.items():
                if name == "components" and not file.exists():
                    continue
                fetched[name] = read_path(file, previous.get(name, (None, None))[0], max_bytes)
        return {n: f.content for n, f in fetched.items() if f.content is not None}, fetched

    def keep_validators(self, source: NoticeSource, fetched: dict[str, Fetched]) -> None:
        source.etag = json.dumps({n: [f.etag, f.last_modified] for n, f in fetched.items()})
        source.last_modified = None

    def parse(self, documents: dict[str, bytes], now: dt.datetime) -> ParseResult:
        return statuspage.parse_documents(documents)

    def recognises(self, location: str, content: bytes | None, client: httpx.Client) -> bool:
        if content is None or statuspage.looks_like_statuspage(content):  # a folder holds the JSON documents
            return True
        if not is_url(location):
            return False
        try:  # a base URL: its incidents document says
            incidents = fetch_url(client, statuspage.endpoints(location)["incidents"]).content or b""
        except FetchError:
            return False
        return statuspage.looks_like_statuspage(incidents)


def _validators(source: NoticeSource) -> dict[str, tuple[str | None, str | None]]:
    """The validators of each document, kept as JSON in `etag`; none when it holds anything else."""
    try:
        data = json.loads(source.etag or "{}")
    except ValueError:
        return {}
    return {k: (v[0], v[1]) for k, v in data.items() if isinstance(v, list) and len(v) == 2} if isinstance(
        data, dict) else {}


KIND = StatuspageKind()
