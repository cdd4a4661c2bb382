"""How many statements storing a feed costs: it must not grow with the number of items."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from monitor.collectors.notices.store import StoreCounts, store_notices
from monitor.collectors.notices.upstream import ParsedNotice, ParsedUpdate
from monitor.db import session_factory
from monitor.models import Notice, NoticeComponent, NoticeSource, NoticeUpdate
from monitor.notify.outbox import enqueue_for_update

T0 = dt.datetime(2021, 3, 1, 12, 0, tzinfo=dt.UTC)
COMPONENTS = ["Serviceplatformen", "Beskedfordeler", "Organisation"]


def feed(items: int, extra_updates: int = 0) -> list[ParsedNotice]:
    """`items` notices of two to four updates each; the newest gains `extra_updates` updates."""
    notices = []
    for i in range(items):
        first = T0 - dt.timedelta(days=2 * i)
        updates = [ParsedUpdate("investigating", first, f"<p>Vi undersøger sag {i}.</p>")]
        updates += [ParsedUpdate("monitoring", first + dt.timedelta(minutes=20 * k), f"<p>Trin {k} af sag {i}.</p>")
                    for k in range(1, 1 + i % 3)]
        if i == 0:
            updates += [ParsedUpdate("identified", first + dt.timedelta(minutes=70 + 5 * k), f"<p>Opdatering {k}.</p>")
                        for k in range(1, extra_updates + 1)]
        notices.append(ParsedNotice(
            upstream_id=f"https://status.example.dk/incidents/{i:04d}", title=f"Forsinkede svar, sag {i}",
            kind="incident", status=updates[-1].status, url=f"https://status.example.dk/incidents/{i:04d}",
            component_names=[COMPONENTS[i % len(COMPONENTS)]], updates=list(reversed(updates)),
            started_at=first, updated_at=updates[-1].at))
    return notices


@contextmanager
def counted(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements sent on `engine` inside the block, in order."""
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def store(engine: Engine, notices: list[ParsedNotice], *, backfill: bool) -> tuple[StoreCounts, list[str]]:
    """One store of `notices` for the source "queries" in a transaction of its own, and its statements."""
    with session_factory(engine)() as session:
        source = session.scalars(select(NoticeSource).where(NoticeSource.name == "queries")).one_or_none()
        if source is None:
            source = NoticeSource(name="queries", url="file:///queries.rss", kind="feed", consecutive_failures=0)
            session.add(source)
            session.commit()
        source_id = source.id
        session.expunge_all()  # the store starts from a cold session, as each poll does
        source = session.get_one(NoticeSource, source_id)
        with counted(engine) as statements:
            result = store_notices(session, source, notices, backfill=backfill, defaults=[], now=T0,
                                   queue=enqueue_for_update)
            session.flush()
        session.commit()
    return result, statements


def changed_repoll(engine: Engine, items: int) -> tuple[StoreCounts, list[str]]:
    """The statements of re-storing an `items`-item feed in which one notice gained one update."""
    store(engine, feed(items), backfill=True)
    return store(engine, feed(items, extra_updates=1), backfill=False)


def stored(session: Session) -> tuple[int, int, int]:
    session.expire_all()
    return tuple(session.scalar(select(func.count()).select_from(model)) or 0  # type: ignore[return-value]
                 for model in (Notice, NoticeUpdate, NoticeComponent))


def test_a_changed_re_poll_costs_as_many_statements_for_50_items_as_for_10(engine, session) -> None:
    small_counts, small = changed_repoll(engine, 10)
    session.execute(Notice.__table__.delete())
    session.commit()
    large_counts, large = changed_repoll(engine, 50)
    assert small_counts.new_updates == large_counts.new_updates == 1
    assert small_counts.new_notices == large_counts.new_notices == 0
    assert len(large) == len(small), "\n".join(large)
    assert sum(s.lstrip().upper().startswith("SELECT") for s in large) <= 5, "\n".join(large)


def test_an_unchanged_re_poll_of_50_items_only_reads_and_writes_nothing(engine, session) -> None:
    store(engine, feed(50), backfill=True)
    before = stored(session)
    result, statements = store(engine, feed(50), backfill=False)
    assert (result.new_notices, result.new_updates, result.edited_updates) == (0, 0, 0)
    assert len(statements) <= 4, "\n".join(statements)
    assert all(s.lstrip().upper().startswith("SELECT") for s in statements), "\n".join(statements)
    assert stored(session) == before


def test_a_feed_naming_the_same_notice_twice_stores_it_once(engine, session) -> None:
    twice = feed(3)
    again = feed(1, extra_updates=2)[0]
    result, _ = store(engine, [*twice, again], backfill=True)
    assert result.new_notices == 3
    assert stored(session)[:2] == (3, sum(len(n.updates) for n in twice) + 2)


def test_a_mixed_re_poll_stores_new_notices_and_new_updates_of_old_ones(engine, session) -> None:
    store(engine, feed(5), backfill=True)
    result, _ = store(engine, feed(8, extra_updates=3), backfill=False)
    assert (result.new_notices, result.new_updates, result.edited_updates) == (3, 3 + sum(
        len(n.updates) for n in feed(8)[5:]), 0)
    updates = session.scalars(select(NoticeUpdate).join(Notice).where(
        Notice.upstream_id == "https://status.example.dk/incidents/0000")).all()
    assert len(updates) == 4 and all(not u.backfilled for u in updates if u.status == "identified")
