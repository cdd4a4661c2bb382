"""Fetching a source's documents: HTTP with conditional GET, or a file read directly.

An unchanged document costs one request answered 304 (or, for a file, one `stat`): the
caller keeps the validators and hands them back next time. Network errors, timeouts and
HTTP errors raise `FetchError` with a message fit for the operator; nothing else escapes.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import httpx

from ...settings import Settings


class FetchError(Exception):
    """A document could not be fetched; the message says which and why."""


class TooLarge(FetchError):
    """A document is larger than `[notices] max_feed_bytes`; it was not read past the limit."""


def too_large(location: str, limit: int) -> TooLarge:
    return TooLarge(f"{location}: larger than max_feed_bytes ({limit:,} bytes); refused, nothing stored")


@dataclass(frozen=True)
class Fetched:
    """A fetched document: `content` is None when it has not changed since the validators."""

    content: bytes | None
    etag: str | None = None
    last_modified: str | None = None

    @property
    def not_modified(self) -> bool:
        return self.content is None


def is_url(location: str) -> bool:
    """True for an http(s) URL, False for a file path."""
    return location.lower().startswith(("http://", "https://"))


def user_agent(settings: Settings) -> str:
    """The User-Agent sent to status pages: who we are and where to find us."""
    try:
        version = metadata.version("infrastrukturmonitor")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        version = "0"
    return f"Infrastrukturmonitor/{version}" + (f" (+{settings.web.base_url})" if settings.web.base_url else "")


def make_client(settings: Settings) -> httpx.Client:
    """An HTTP client with the configured timeout and our User-Agent; the caller closes it."""
    return httpx.Client(timeout=settings.notices.timeout_seconds, follow_redirects=True,
                        headers={"User-Agent": user_agent(settings)})


DEFAULT_MAX_BYTES = 5_000_000
DEFAULT_TIMEOUT_SECONDS = 10.0


def fetch_url(client: httpx.Client, url: str, etag: str | None = None,
              last_modified: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES) -> Fetched:
    """GET `url`, conditionally when validators are given. Raises `FetchError`.

    The body is read as it streams in and the read stops as soon as it passes `max_bytes`
    (`TooLarge`): a huge document costs at most that much memory and time. The whole
    fetch has a deadline too, the client's timeout (`[notices] timeout_seconds`): a server
    that drips its answer a byte at a time never waits for longer than one read past it.
    """
    allowed = client.timeout.read or DEFAULT_TIMEOUT_SECONDS
    deadline = time.monotonic() + allowed
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        with client.stream("GET", url, headers=headers) as response:
            if response.status_code == 304:
                return Fetched(None, etag, last_modified)
            if response.status_code >= 400:
                raise FetchError(f"{url}: HTTP {response.status_code} {response.reason_phrase}")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise too_large(url, max_bytes)
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise too_large(url, max_bytes)
                if time.monotonic() > deadline:
                    raise FetchError(f"{url}: not complete after {allowed:g}s (timeout_seconds); "
                                     "refused, nothing stored")
                chunks.append(chunk)
            return Fetched(b"".join(chunks), response.headers.get("etag"), response.headers.get("last-modified"))
    except httpx.TimeoutException:
        raise FetchError(f"{url}: timed out after {client.timeout.read}s") from None
    except httpx.HTTPError as exc:
        raise FetchError(f"{url}: {type(exc).__name__}: {exc}") from None


def read_path(path: Path, token: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES) -> Fetched:
    """Read a file source; `token` (kept in `etag`) makes an unchanged file "not modified".

    The token is ``file:<mtime_ns>:<size>:<sha256>``: a matching `stat` skips the read, and
    a file rewritten with the same content is still not modified.
    """
    try:
        st = path.stat()
        if token and token.startswith(f"file:{st.st_mtime_ns}:{st.st_size}:"):
            return Fetched(None, token)
        if st.st_size > max_bytes:
            raise too_large(str(path), max_bytes)
        with path.open("rb") as fh:
            content = fh.read(max_bytes + 1)  # the file may have grown since the stat
        if len(content) > max_bytes:
            raise too_large(str(path), max_bytes)
    except FileNotFoundError:
        raise FetchError(f"{path}: no such file") from None
    except OSError as exc:
        raise FetchError(f"{path}: {exc.strerror or exc}") from None
    digest = hashlib.sha256(content).hexdigest()
    new_token = f"file:{st.st_mtime_ns}:{st.st_size}:{digest}"
    if token and token.endswith(f":{digest}"):
        return Fetched(None, new_token)
    return Fetched(content, new_token)


def resolve_location(settings: Settings, location: str) -> str:
    """A URL as it is; a file path resolved against the config folder (``file://`` allowed)."""
    if is_url(location):
        return location
    if location.lower().startswith("file://"):
        location = location[len("file://"):]
    return os.fspath(settings.path(location))
