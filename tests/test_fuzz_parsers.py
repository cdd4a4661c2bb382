"""Fuzzing the parsers of untrusted input: CSV, JSON Lines and status feeds.

Whatever the bytes, each parser either returns its result or takes its rejection path
(`Rejected` for import files, `ParseResult.fatal`/`problems` for feeds); nothing else is
raised. Together the tests below run well over 10,000 generated inputs (see EXAMPLES).
"""

from __future__ import annotations

import datetime as dt
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.collectors.calls import records
from monitor.collectors.calls.parsing import Rejected, open_table
from monitor.collectors.notices.feedparse import parse_feed
from monitor.collectors.notices.statuspage import parse_documents
from monitor.collectors.notices.upstream import safe_url, sanitize

NOW = dt.datetime(2020, 11, 28, 11, 0, tzinfo=dt.UTC)
KNOWN = {"101", "147", "851"}
# Examples per test; 8 tests x EXAMPLES (+ the feed tests' own) > 10,000 inputs in all.
EXAMPLES = 1500
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

CALL_COLUMNS = ["period_start", "agreement_uuid", "calls", "errors"]
cells = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", "0", "-0", "+3", "-5", "1e30", "9223372036854775808", "9007199254740993", "١٢٣",
                     "2020-11-27", "0001-01-01", "9999-12-31T23:00:00-05:00", "2020-11-27T10:00:00+01:00",
                     "2020-11-27T10:30:00+01:00", "aaaaaaaa-0000-4000-8000-000000000001", "101", "0101", "999",
                     "ja", "nej", '"', '""', "\x00", "\r", "\ufeff", "=1+1"]),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
)


def _parse_all_kinds(data: bytes) -> None:
    """Every import kind reads `data`: a result or `Rejected`, nothing else."""
    for kind, (required, optional) in {
        "calls": (records.CALLS_REQUIRED, records.CALLS_OPTIONAL),
        "agreements": (records.AGREEMENTS_REQUIRED, records.AGREEMENTS_OPTIONAL),
        "municipalities": (records.MUNICIPALITIES_REQUIRED, records.MUNICIPALITIES_OPTIONAL),
        "tasks": (records.TASKS_REQUIRED, ()),
    }.items():
        try:
            table = open_table(data, required, optional)
            if kind == "calls":
                records.parse_calls(table, NOW)
            elif kind == "agreements":
                records.parse_agreements(table, KNOWN)
            elif kind == "municipalities":
                records.parse_municipalities(table, KNOWN, NOW)
            else:
                records.parse_tasks(table, KNOWN)
        except Rejected as exc:
            assert exc.problems and all(p.line >= 0 and p.reason for p in exc.problems)


@FUZZ
@given(st.binary(max_size=400))
def test_arbitrary_bytes_are_read_or_rejected(data: bytes) -> None:
    _parse_all_kinds(data)


@FUZZ
@given(st.lists(st.lists(cells, min_size=0, max_size=6), max_size=8), st.sampled_from([",", ";"]))
def test_csv_with_a_valid_header_and_any_cells_is_read_or_rejected(rows: list[list[str]], sep: str) -> None:
    lines = [sep.join(CALL_COLUMNS)] + [sep.join(r) for r in rows]
    _parse_all_kinds("\n".join(lines).encode("utf-8", "surrogatepass"))


@FUZZ
@given(st.lists(st.dictionaries(st.sampled_from(CALL_COLUMNS + ["code", "x"]),
                                st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(),
                                             lambda inner: st.lists(inner, max_size=3)
                                             | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                                             max_leaves=10)),
                max_size=6))
def test_json_lines_of_any_values_are_read_or_rejected(objects: list[dict]) -> None:
    _parse_all_kinds("\n".join(json.dumps(o) for o in objects).encode())


@FUZZ
@given(st.text(alphabet="[]{}\":,0123456789ae \n", max_size=300))
def test_json_lines_made_of_json_punctuation_are_read_or_rejected(text: str) -> None:
    _parse_all_kinds(("{" + text).encode())


ITEM = ("<item><title>{title}</title><guid>{guid}</guid><link>{link}</link><pubDate>{date}</pubDate>"
        "<description>{body}</description></item>")


@FUZZ
@given(st.lists(st.fixed_dictionaries({
    "title": st.text(max_size=20), "guid": st.text(max_size=20), "link": st.text(max_size=30),
    "date": st.sampled_from(["Tue, 24 Nov 2020 10:00:00 +0000", "", "garbage", "Mon, 31 Dec 9999 23:59:59 -1400"]),
    "body": st.text(max_size=60),
}), max_size=4), st.integers(min_value=0, max_value=400))
def test_feeds_of_any_items_cut_anywhere_are_parsed_or_refused(items: list[dict], cut: int) -> None:
    doc = ('<?xml version="1.0"?><rss version="2.0"><channel><title>S</title>'
           + "".join(ITEM.format(**i) for i in items) + "</channel></rss>").encode("utf-8", "surrogatepass")
    for content in (doc, doc[:cut]):
        result = parse_feed(content, NOW)
        assert result.fatal is None or result.notices == []
        for notice in result.notices:
            assert notice.url is None or safe_url(notice.url) == notice.url


@FUZZ
@given(st.binary(max_size=300))
def test_arbitrary_bytes_as_a_feed_are_parsed_or_refused(data: bytes) -> None:
    result = parse_feed(data, NOW)
    assert result.fatal is None or result.notices == []


@FUZZ
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                        st.sampled_from(["incidents", "scheduled_maintenances", "components", "id", "name",
                                         "incident_updates", "status", "body", "display_at", "created_at",
                                         "shortlink", "impact", "affected_components", "scheduled_for"]),
                        inner, max_size=5), max_leaves=25))
def test_statuspage_json_of_any_shape_is_parsed_or_refused(doc: object) -> None:
    result = parse_documents({"incidents": json.dumps(doc).encode()})
    assert result.fatal is None or result.notices == []


@FUZZ
@given(st.text(max_size=200))
def test_sanitised_html_never_carries_a_link_outside_http_https_mailto(html: str) -> None:
    clean = sanitize(html + '<a href="' + html[:20] + '">x</a>')
    assert "javascript:" not in clean.lower() or 'href="javascript:' not in clean.lower()
    for attr in ('href="', 'src="'):
        start = 0
        while (i := clean.find(attr, start)) != -1:
            value = clean[i + len(attr):clean.find('"', i + len(attr))]
            assert value.split(":", 1)[0].lower() in ("http", "https", "mailto"), value
            start = i + 1
