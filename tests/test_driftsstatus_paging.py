"""/driftsstatus pages through its history, 50 a page, at a cost that does not grow with the notices stored."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import insert, select

from monitor.models import Notice, NoticeSource, NoticeUpdate

T0 = dt.datetime(2021, 1, 1, 12, 0, tzinfo=dt.UTC)


def add_closed(session, first: int, count: int) -> None:  # type: ignore[no-untyped-def]
    """`count` resolved notices numbered from `first`; a higher number was updated earlier."""
    source = session.scalars(select(NoticeSource).where(NoticeSource.name == "status")).one_or_none()
    if source is None:
        source = NoticeSource(name="status", url="https://status.example.dk", kind="statuspage",
                              consecutive_failures=0)
        session.add(source)
        session.flush()
    rows = [{"source_id": source.id, "upstream_id": f"n{i:05d}", "kind": "incident", "status": "resolved",
             "title": f"Hændelse nummer {i:05d}", "first_seen_at": T0, "backfilled": True,
             "started_at": T0 - dt.timedelta(hours=i + 1), "updated_at": T0 - dt.timedelta(hours=i),
             "resolved_at": T0 - dt.timedelta(hours=i)} for i in range(first, first + count)]
    session.execute(insert(Notice), rows)
    ids = session.scalars(select(Notice.id).where(Notice.upstream_id.in_([r["upstream_id"] for r in rows])))
    session.execute(insert(NoticeUpdate), [{"notice_id": nid, "status": "resolved", "at": T0, "body_html": "Løst.",
                                            "first_seen_at": T0, "backfilled": True} for nid in ids])
    session.commit()


def shown(html: str) -> list[str]:
    """The numbers of the notices in the page's history, in order."""
    history = html.split('id="historik"', 1)[1]
    return re.findall(r"Hændelse nummer (\d{5})", history)


def test_the_history_shows_50_a_page_and_its_size_does_not_grow_with_the_notices_stored(client, session) -> None:
    add_closed(session, 0, 60)
    small = client.get("/driftsstatus").get_data(as_text=True)
    add_closed(session, 60, 2_940)  # older: the first page shows the same notices
    response = client.get("/driftsstatus")
    assert response.status_code == 200
    large = response.get_data(as_text=True)
    assert shown(large) == [f"{i:05d}" for i in range(50)]
    assert len(large) == len(small)
    # The rest of the page is fixed in size: 90 daily bars for each of the 9 components (about 200 kB
    # with their text alternatives), the open notices and the paging links.
    assert len(large.encode()) < 300_000


def test_the_pages_link_to_each_other_and_the_last_one_ends(client, session) -> None:
    add_closed(session, 0, 120)
    first = client.get("/driftsstatus").get_data(as_text=True)
    assert 'href="/driftsstatus?side=2#historik"' in first and 'rel="prev"' not in first
    second = client.get("/driftsstatus?side=2").get_data(as_text=True)
    assert shown(second) == [f"{i:05d}" for i in range(50, 100)]
    assert 'href="/driftsstatus?side=1#historik"' in second and 'href="/driftsstatus?side=3#historik"' in second
    third = client.get("/driftsstatus?side=3").get_data(as_text=True)
    assert shown(third) == [f"{i:05d}" for i in range(100, 120)]
    assert 'rel="next"' not in third and "Side 3" in third
    assert client.get("/driftsstatus?side=4").status_code == 404


def test_the_page_links_are_in_english_on_the_english_page(client, session) -> None:
    add_closed(session, 0, 60)
    html = client.get("/driftsstatus?lang=en").get_data(as_text=True)
    assert 'href="/driftsstatus?side=2&amp;lang=en#historik"' in html and "Older" in html and "Page 1" in html
    second = client.get("/driftsstatus?side=2&lang=en").get_data(as_text=True)
    assert "Newer" in second and "Ældre" not in second


@pytest.mark.parametrize("side, status", [("0", 400), ("-1", 400), ("x", 400), ("", 400), ("1.5", 400),
                                          ("١", 400), ("123456789012345678901234567890", 400), ("10001", 404),
                                          ("2", 404)])
def test_a_bad_page_number_gets_400_and_one_past_the_end_404(client, session, side, status) -> None:
    add_closed(session, 0, 3)
    assert client.get(f"/driftsstatus?side={side}").status_code == status
