"""Whatever text and dates upstream sends, through every parser into the store, the pages stay whole.

Hypothesis writes arbitrary Unicode (control characters, lone surrogates, U+FFFF …) and dates
from year 1 to 9999 with any offset into RSS, Atom and Statuspage JSON documents; the real
collector stores them; then `/notices.atom` must parse as XML from its raw bytes,
`/kalender.ics` must parse as iCalendar with no control character in a SUMMARY, and `/`,
`/driftsstatus` and `/api/v1/notices` must answer 200.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from pathlib import Path
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

import icalendar
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.collectors.notices.poll import SourceSpec
from monitor.notify.collect import poll_sources

T0 = dt.datetime(2021, 1, 1, 12, 0, tzinfo=dt.UTC)
PROPERTY = settings(max_examples=25, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])
_serial = itertools.count()

texts = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec=None, categories=None), max_size=40),  # surrogates and controls too
    st.sampled_from(["\x00", "Esc\x1b[31m Bel\x07", "\ud800", "\uffff\ufffe", "\r\n", "<b>fed</b> & ]]>",
                     "Beskedfordeler", "THIS IS A SCHEDULED EVENT Dec 31, 23:00 - 23:59 UTC"]),
)
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: dt.timezone(dt.timedelta(minutes=m)))
instants = st.one_of(
    st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30), timezones=offsets),
    st.sampled_from([dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC),
                     dt.datetime(1, 1, 1, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=14))),
                     dt.datetime(1969, 12, 31, 23, 59, tzinfo=dt.UTC), dt.datetime(2020, 12, 31, 9, 0, tzinfo=dt.UTC)]),
)
items = st.lists(st.fixed_dictionaries({"title": texts, "body": texts, "component": texts, "link": texts,
                                        "started": instants, "scheduled": instants, "update": instants}),
                 min_size=1, max_size=3)


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # a lone surrogate becomes bytes that are not UTF-8


def _rfc822(t: dt.datetime) -> str:
    days, months = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"], ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    offset = int(t.utcoffset().total_seconds() // 60) if t.utcoffset() is not None else 0
    sign = "+" if offset >= 0 else "-"
    return (f"{days[t.weekday()]}, {t.day:02d} {months[t.month - 1]} {t.year:04d} {t:%H:%M:%S} "
            f"{sign}{abs(offset) // 60:02d}{abs(offset) % 60:02d}")


def _timeline(item: dict, n: int) -> str:
    t = item["update"]
    return escape(f"<p><strong>THIS IS A SCHEDULED EVENT {item['scheduled']:%b %d, %H:%M} - 23:59 UTC</strong></p>"
                  f"<p><small>{t:%b %d}, {t.year:04d} {t:%H:%M} UTC</small><br><strong>Investigating</strong> - "
                  f"{item['body']}</p><p>This incident affected: {item['component']}.</p>")


def rss(batch: int, entries: list[dict]) -> bytes:
    body = "".join(
        f"<item><title>{escape(e['title'])}</title><guid>tag:p,{batch}:{n}</guid><link>{escape(e['link'])}</link>"
        f"<pubDate>{_rfc822(e['started'])}</pubDate><description>{_timeline(e, n)}</description></item>"
        for n, e in enumerate(entries))
    return _bytes(f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>S</title>'
                  f"<link>https://status.example.dk</link><description>d</description>{body}</channel></rss>")


def atom(batch: int, entries: list[dict]) -> bytes:
    body = "".join(
        f'<entry><title>{escape(e["title"])}</title><id>tag:p,{batch}:{n}</id><link href="{escape(e["link"])}"/>'
        f"<updated>{e['started'].isoformat()}</updated><content type=\"html\">{_timeline(e, n)}</content></entry>"
        for n, e in enumerate(entries))
    return _bytes(f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>S</title>'
                  f"<id>tag:p</id><updated>2021-01-01T00:00:00Z</updated>{body}</feed>")


def statuspage(batch: int, entries: list[dict]) -> bytes:
    incidents = [{"id": f"{batch}-{n}-{e['title'][:5]}", "name": e["title"], "status": "scheduled",
                  "impact": "minor", "shortlink": e["link"], "created_at": e["started"].isoformat(),
                  "scheduled_for": e["scheduled"].isoformat(), "scheduled_until": e["update"].isoformat(),
                  "components": [{"name": e["component"]}],
                  "incident_updates": [{"id": "u", "status": "scheduled", "body": e["body"],
                                        "created_at": e["update"].isoformat(),
                                        "affected_components": [{"name": e["component"]}]}]}
                 for n, e in enumerate(entries)]
    return json.dumps({"scheduled_maintenances": incidents}).encode()  # lone surrogates as \ud800 escapes


WRITERS = {"rss": ("feed", rss), "atom": ("feed", atom), "statuspage": ("statuspage", statuspage)}


def pages_stay_whole(client) -> None:  # type: ignore[no-untyped-def]
    for path in ("/", "/driftsstatus", "/api/v1/notices?status=all"):
        assert client.get(path).status_code == 200, path
    feed = client.get("/notices.atom")
    assert feed.status_code == 200
    ET.fromstring(feed.data)  # well-formed XML, from the raw bytes
    ics = client.get("/kalender.ics")
    assert ics.status_code == 200
    icalendar.Calendar.from_ical(ics.data)
    for line in ics.data.split(b"\r\n"):
        if line.startswith(b"SUMMARY"):
            assert not any(b < 0x20 or b == 0x7F for b in line), line


@pytest.mark.parametrize("dialect", sorted(WRITERS))
def test_arbitrary_text_and_dates_from_upstream_never_break_the_feed_the_calendar_or_a_page(
        engine, settings, client, tmp_path: Path, dialect: str) -> None:
    kind, write = WRITERS[dialect]
    document = tmp_path / f"upstream.{dialect}"

    @PROPERTY
    @given(entries=items)
    def poll_and_read(entries: list[dict]) -> None:
        document.write_bytes(write(next(_serial), entries))
        outcome = poll_sources(engine, settings, [SourceSpec(dialect, str(document), kind)], now=T0)[0]
        assert outcome.state in ("stored", "partly", "failed", "not_modified"), outcome.lines()
        # The door cleaned everything a database would refuse.
        assert not any("the database refused" in p for p in outcome.problems), outcome.problems
        pages_stay_whole(client)

    poll_and_read()
