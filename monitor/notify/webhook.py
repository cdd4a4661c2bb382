"""Webhook deliveries: a JSON POST of the notice and the update that triggered it.

The body has a top-level `text` (one line, in the subscriber's language) so that Slack and
Teams incoming webhooks show something readable, plus the notice in the shape of
`GET /api/v1/notices` and the update. `Idempotency-Key` carries the delivery id, which stays
the same when a delivery is sent again after an interrupted attempt.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from ..collectors.notices.upstream import safe_url
from ..models import Notice, NoticeUpdate
from ..settings import Settings
from ..version import __version__
from .mail import Reader, notice_context
from .transport import PermanentError

TIMEOUT_SECONDS = 10.0
# Client errors that will not go away by trying again; anything else (5xx, 408, 429,
# network trouble) is retried with backoff.
RETRYABLE_4XX = {408, 425, 429}


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def payload(settings: Settings, subscriber: Reader, notice: Notice, update: NoticeUpdate,
            component_names: list[str]) -> dict[str, Any]:
    """The JSON document posted for one delivery."""
    ctx = notice_context(settings, notice, update, component_names, subscriber.language)
    text = f"[{ctx['kind']}] {ctx['title']} – {ctx['status']} ({ctx['notice_url']})"
    return {
        "text": text,
        "notice": {
            "id": notice.id, "title": notice.title, "kind": notice.kind, "status": notice.status,
            "impact": notice.impact, "components": sorted(c.component_slug for c in notice.components),
            "url": safe_url(notice.url), "link": ctx["notice_url"], "started_at": _iso(notice.started_at),
            "updated_at": _iso(notice.updated_at), "resolved_at": _iso(notice.resolved_at),
        },
        "update": {"status": update.status, "body_html": str(ctx["body_html"]), "at": _iso(update.at)},
    }


class WebhookSender:
    """Posts deliveries with one reusable HTTP client (injectable for tests)."""

    def __init__(self, client: httpx.Client | None = None) -> None:
        self._client = client

    def send(self, settings: Settings, subscriber: Reader, notice: Notice, update: NoticeUpdate,
             component_names: list[str], delivery_id: int) -> None:
        """POST the payload; `PermanentError` for a 4xx that retrying cannot fix, else raise to retry."""
        body = payload(settings, subscriber, notice, update, component_names)
        headers = {"User-Agent": f"infrastrukturmonitor/{__version__}", "Idempotency-Key": f"delivery-{delivery_id}"}
        if self._client is None:
            with httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False) as client:
                response = client.post(subscriber.address, json=body, headers=headers)
        else:
            response = self._client.post(subscriber.address, json=body, headers=headers)
        if response.is_success:
            return
        message = f"HTTP {response.status_code} from webhook: {response.text[:200]}"
        if 400 <= response.status_code < 500 and response.status_code not in RETRYABLE_4XX:
            raise PermanentError(message)
        raise RuntimeError(message)
