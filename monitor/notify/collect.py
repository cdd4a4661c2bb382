"""The notice collector with its deliveries: where `collectors/notices` meets the outbox.

The collector stores what the status page says and knows nothing of subscribers; it is
handed the function that queues a new update's deliveries in the update's own transaction.
The scheduler's "notices" job and `monitor collect notices` poll through here.
"""

from __future__ import annotations

import datetime as dt

import httpx
from sqlalchemy import Engine

from ..collectors.notices import poll
from ..settings import Settings
from . import outbox


def poll_all(engine: Engine, settings: Settings, now: dt.datetime | None = None) -> None:
    """Poll every configured source once, queueing each new update's deliveries (the scheduler's job)."""
    poll.poll_all(engine, settings, now, queue=outbox.enqueue_for_update)


def poll_sources(engine: Engine, settings: Settings, sources: list[poll.SourceSpec], *,
                 now: dt.datetime | None = None, respect_backoff: bool = False,
                 client: httpx.Client | None = None) -> list[poll.Outcome]:
    """`collectors.notices.poll.poll_sources`, queueing each new update's deliveries."""
    return poll.poll_sources(engine, settings, sources, queue=outbox.enqueue_for_update, now=now,
                             respect_backoff=respect_backoff, client=client)
