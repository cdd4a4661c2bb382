"""The file parsers without a database: formats, field parsers, and property tests on generated files."""

from __future__ import annotations

import contextlib
import datetime as dt
import json

import pyarrow.compute  # noqa: F401  (the columns' reader imports these on first use: here, not in an example)
import pyarrow.csv  # noqa: F401
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.collectors.calls import columnar
from monitor.collectors.calls.parsing import (
    FieldError,
    Rejected,
    open_table,
    parse_bool,
    parse_code,
    parse_count,
    parse_period,
    parse_status,
)
from monitor.collectors.calls.records import (
    AGREEMENTS_OPTIONAL,
    AGREEMENTS_REQUIRED,
    CALLS_OPTIONAL,
    CALLS_REQUIRED,
    parse_agreements,
    parse_calls,
)
from monitor.localtime import CPH


def read_calls(data: bytes, by_columns: bool):
    """`parse_calls` with the columns' reader (pyarrow) tried on any size of file, or never tried."""
    saved = columnar.MIN_BYTES
    columnar.MIN_BYTES = 0 if by_columns else 1 << 62
    try:
        return parse_calls(open_table(data, CALLS_REQUIRED, CALLS_OPTIONAL))
    except Rejected as exc:
        return exc
    finally:
        columnar.MIN_BYTES = saved


def calls_of(data: bytes):
    """The file read both ways: the columns' reader takes a file only to give exactly what the rows' reader gives."""
    by_rows, by_columns = read_calls(data, False), read_calls(data, True)
    if isinstance(by_rows, Rejected):
        assert isinstance(by_columns, Rejected) and by_columns.problems == by_rows.problems
        raise by_rows
    assert by_columns == by_rows
    return by_rows


def rejected(data: bytes, parse=calls_of) -> Rejected:
    with pytest.raises(Rejected) as info:
        parse(data)
    return info.value


# --- field parsers ------------------------------------------------------------------------

@pytest.mark.parametrize("text, code", [("101", "101"), ("0101", "101"), (" 851 ", "851"), ("1", "001")])
def test_a_municipality_code_is_read_with_or_without_a_leading_zero(text, code):
    assert parse_code(text) == code


@pytest.mark.parametrize("text", ["KBH", "1000", "0", "10.1", "-101", "１０１"])
def test_anything_but_a_municipality_code_is_refused(text):
    with pytest.raises(FieldError, match="not a municipality code"):
        parse_code(text)


@pytest.mark.parametrize("text, status", [
    ("active", "active"), ("AKTIV", "active"), ("Godkendt", "active"), ("afventer", "pending"),
    ("Pending", "pending"), ("afvist", "rejected"), ("inaktiv", "inactive"), (" Inactive ", "inactive")])
def test_status_words_are_english_or_danish_in_any_case(text, status):
    assert parse_status(text) == status


@pytest.mark.parametrize("text, value", [("ja", True), ("Nej", False), ("TRUE", True), ("0", False), ("yes", True)])
def test_true_and_false_words(text, value):
    assert parse_bool(text) is value


@pytest.mark.parametrize("text, reason", [
    ("-1", "negative"), ("1.5", "whole number"), ("1e3", "whole number"), ("", "required"), ("1_000", "whole number"),
    ("٣", "whole number"), ("²", "whole number")])
def test_a_count_is_a_plain_non_negative_whole_number(text, reason):
    with pytest.raises(FieldError, match=reason):
        parse_count(text)


def test_a_count_may_have_spaces_around_it_and_a_plus_sign():
    assert parse_count(" 12 ") == 12 and parse_count("+3") == 3 and parse_count("-0") == 0


@pytest.mark.parametrize("text, expected", [
    ("2020-11-28", dt.date(2020, 11, 28)),
    ("2020-11-28T10:00:00+01:00", dt.datetime(2020, 11, 28, 9, tzinfo=dt.UTC)),
    ("2020-11-28T10:00Z", dt.datetime(2020, 11, 28, 10, tzinfo=dt.UTC)),
    ("2020-10-25T02:00:00+01:00", dt.datetime(2020, 10, 25, 1, tzinfo=dt.UTC)),  # the repeated hour, second time
    ("2020-10-25T02:00:00+02:00", dt.datetime(2020, 10, 25, 0, tzinfo=dt.UTC)),  # ... and first time
])
def test_a_period_is_a_day_or_an_hour_in_utc(text, expected):
    assert parse_period(text) == expected


@pytest.mark.parametrize("text, reason", [
    ("2020-11-28T10:00:00", "needs an offset"), ("28-11-2020", "not an ISO 8601 date"),
    ("2020-13-01", "not an ISO 8601 date"), ("2020-11-28T10:15:00+01:00", "whole hour"),
    ("2020-11-28T10:00:00+05:30", "whole hour"), ("i går", "not an ISO 8601 date")])
def test_a_period_that_is_not_a_day_or_a_whole_hour_with_offset_is_refused(text, reason):
    with pytest.raises(FieldError, match=reason):
        parse_period(text)


# --- whole files --------------------------------------------------------------------------

def test_the_separator_is_detected_and_reported():
    assert open_table(b"a;b\n1;2\n", ["a", "b"]).format == "CSV, semicolon-separated"
    assert open_table(b"a,b\n1,2\n", ["a", "b"]).format == "CSV, comma-separated"
    assert open_table(b'\xef\xbb\xbf{"a": 1, "b": 2}\n', ["a", "b"]).format == "JSON Lines"


def test_a_semicolon_file_with_commas_inside_values_is_still_read_right():
    table = open_table("name;region\nLyngby-Taarbæk;Hovedstaden, nord\n".encode(), ["name", "region"])
    assert list(table.rows) == [(2, ["Lyngby-Taarbæk", "Hovedstaden, nord"])]


def test_missing_columns_are_named_after_trying_both_separators():
    problems = rejected(b"period_start;agreement_uuid\n2020-11-28;x\n").problems
    assert [(p.line, p.column) for p in problems] == [(1, "calls")]
    assert "tried comma and semicolon" in problems[0].reason


def test_a_quoted_value_over_two_lines_keeps_the_line_numbers_of_the_file():
    data = b'period_start,agreement_uuid,calls\n2020-11-28,"a\nb",1\n2020-11-28,x,-1\n'
    # The id with a line break is refused too, at the line where its record ends (3); the next
    # row is the file's line 4.
    assert [p.line for p in rejected(data).problems] == [3, 4]


def test_extra_columns_are_ignored_with_a_warning():
    table = open_table(b"period_start,agreement_uuid,calls,note\n2020-11-28,x,1,hi\n", CALLS_REQUIRED,
                       CALLS_OPTIONAL)
    assert table.warnings == ["ignored column(s) not used by this import: note"]


def test_an_agreement_with_several_services_is_one_record():
    data = (b"agreement_uuid,municipality_code,it_system_uuid,service,status\n"
            b"A,101,S,SF1520,aktiv\nA,0101,S,SF1601,Active\nB,851,S,SF1520,afvist\n")
    parsed = parse_agreements(open_table(data, AGREEMENTS_REQUIRED, AGREEMENTS_OPTIONAL), {"101", "851"})
    assert {u: (r.status, sorted(r.services)) for u, r in parsed.agreements.items()} == {
        "a": ("active", ["SF1520", "SF1601"]), "b": ("rejected", ["SF1520"])}


# --- property tests -----------------------------------------------------------------------

ZONES = st.sampled_from([dt.UTC, CPH, dt.timezone(dt.timedelta(hours=2)), dt.timezone(dt.timedelta(hours=-5))])
DAYS = st.dates(dt.date(2019, 1, 1), dt.date(2021, 12, 31))
HOURS = st.builds(lambda d, h: dt.datetime.combine(d, dt.time(h), tzinfo=dt.UTC), DAYS, st.integers(0, 23))


@st.composite
def count_rows(draw):
    """Distinct buckets with valid counts, each as (uuid, period, calls, errors, period text)."""
    uuids = draw(st.lists(st.uuids().map(str), min_size=1, max_size=5, unique=True))
    keys = draw(st.lists(st.tuples(st.sampled_from(uuids), st.one_of(DAYS, HOURS)), min_size=1, max_size=30,
                         unique=True))
    rows = []
    for uuid, period in keys:
        calls = draw(st.integers(0, 10**12))
        errors = draw(st.one_of(st.none(), st.integers(0, calls)))
        if isinstance(period, dt.datetime):
            text = period.astimezone(draw(ZONES)).isoformat()
        else:
            text = period.isoformat()
        rows.append((draw(st.sampled_from([uuid, uuid.upper()])), period, calls, errors, text))
    return rows


@st.composite
def count_file(draw):
    """A calls file in one of the accepted shapes, the rows it holds and the line of the first."""
    rows = draw(count_rows())
    shape = draw(st.sampled_from(["comma", "semicolon", "jsonl"]))
    header = [draw(st.sampled_from([c, c.upper(), c.title()])) for c in ("period_start", "agreement_uuid", "calls",
                                                                          "errors")]
    if shape == "jsonl":
        text = "".join(json.dumps(dict(zip(header, (t, u, c, e), strict=True))) + "\n" for u, _, c, e, t in rows)
    else:
        sep = "," if shape == "comma" else ";"
        lines = [sep.join(header)] + [sep.join([t, u, str(c), "" if e is None else str(e)]) for u, _, c, e, t in rows]
        text = "\n".join(lines) + draw(st.sampled_from(["\n", ""]))
        text = text.replace("\n", draw(st.sampled_from(["\n", "\r\n"])))
    bom = draw(st.sampled_from([b"", b"\xef\xbb\xbf"]))
    first_line = 1 if shape == "jsonl" else 2  # JSON Lines has no header line
    return bom + text.encode("utf-8"), rows, first_line


@given(count_file())
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_valid_calls_file_round_trips_exactly(generated):
    data, rows, first = generated
    parsed = calls_of(data)
    expected_daily = {(u.lower(), p): (c, e, line) for line, (u, p, c, e, _) in enumerate(rows, start=first)
                      if not isinstance(p, dt.datetime)}
    expected_hourly = {(u.lower(), p): (c, e, line) for line, (u, p, c, e, _) in enumerate(rows, start=first)
                       if isinstance(p, dt.datetime)}
    assert parsed.daily == expected_daily
    assert parsed.hourly == expected_hourly
    assert parsed.rows == len(rows)


CORRUPTIONS = {
    "negative calls": ("calls", lambda r: r | {"calls": "-1"}, "negative"),
    "decimal calls": ("calls", lambda r: r | {"calls": "3.5"}, "whole number"),
    "empty calls": ("calls", lambda r: r | {"calls": ""}, "required"),
    "errors above calls": ("errors", lambda r: r | {"calls": "3", "errors": "4"}, "exceed calls"),
    "negative errors": ("errors", lambda r: r | {"errors": "-2"}, "negative"),
    "date-time without offset": ("period_start", lambda r: r | {"period_start": "2020-11-28T10:00:00"}, "offset"),
    "unreadable date": ("period_start", lambda r: r | {"period_start": "28.11.2020"}, "ISO 8601"),
    "half hour": ("period_start", lambda r: r | {"period_start": "2020-11-28T10:30:00+01:00"}, "whole hour"),
    "empty agreement": ("agreement_uuid", lambda r: r | {"agreement_uuid": " "}, "required"),
}


@given(count_rows(), st.data(), st.sampled_from(sorted(CORRUPTIONS)), st.sampled_from([",", ";"]))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_any_corruption_of_one_row_rejects_the_whole_file_naming_that_line(rows, data, corruption, sep):
    target = data.draw(st.integers(0, len(rows) - 1))
    column, corrupt, reason = CORRUPTIONS[corruption]
    records = [{"period_start": t, "agreement_uuid": u, "calls": str(c), "errors": "" if e is None else str(e)}
               for u, _, c, e, t in rows]
    records[target] = corrupt(records[target])
    lines = [sep.join(records[0])] + [sep.join(r.values()) for r in records]
    problems = rejected("\n".join(lines).encode()).problems
    assert [(p.line, p.column) for p in problems] == [(target + 2, column)]
    assert reason in problems[0].reason


@given(count_rows(), st.data())
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_a_repeated_bucket_with_another_count_is_a_conflict_naming_both_lines(rows, data):
    target = data.draw(st.integers(0, len(rows) - 1))
    u, _, c, e, t = rows[target]
    lines = ["period_start,agreement_uuid,calls,errors"] + [
        f"{t_},{u_},{c_},{'' if e_ is None else e_}" for u_, _, c_, e_, t_ in rows] + [f"{t},{u},{c + 1},"]
    problems = rejected("\n".join(lines).encode()).problems
    assert [(p.line, p.column) for p in problems] == [(len(rows) + 2, "calls")]
    assert f"conflicts with line {target + 2}" in problems[0].reason


@st.composite
def agreement_rows(draw):
    agreements = draw(st.lists(st.tuples(st.uuids().map(str), st.sampled_from(["101", "147", "851"]),
                                         st.sampled_from(["s1", "s2"]), st.sampled_from(["active", "afventer"]),
                                         st.lists(st.sampled_from(["SF1520", "SF1601", "SF1500"]), min_size=1,
                                                  max_size=3, unique=True)),
                              min_size=1, max_size=6, unique_by=lambda a: a[0]))
    rows = [(u, code, system, service, status) for u, code, system, status, services in agreements
            for service in services]
    return agreements, draw(st.permutations(rows))


@given(agreement_rows())
@settings(max_examples=100)
def test_any_valid_agreements_file_round_trips_in_any_row_order(generated):
    agreements, rows = generated
    data = "agreement_uuid;municipality_code;it_system_uuid;service;status\n" + "".join(
        ";".join(r) + "\n" for r in rows)
    parsed = parse_agreements(open_table(data.encode(), AGREEMENTS_REQUIRED, AGREEMENTS_OPTIONAL),
                              {"101", "147", "851"})
    assert {u: (r.municipality_code, r.it_system_uuid, r.status, r.services) for u, r in parsed.agreements.items()} \
        == {u: (c, s, "pending" if st_ == "afventer" else st_, set(sv)) for u, c, s, st_, sv in agreements}


@given(agreement_rows(), st.data())
@settings(max_examples=100)
def test_a_row_that_disagrees_with_its_agreement_is_rejected_naming_both_lines(generated, data):
    agreements, rows = generated
    many = [i for i, r in enumerate(rows) if sum(1 for o in rows if o[0] == r[0]) > 1]
    if not many:
        rows = [*rows, (*rows[0][:3], "SF9999", rows[0][4])]
        many = [0, len(rows) - 1]
    target = data.draw(st.sampled_from(many))
    first = min(i for i, r in enumerate(rows) if r[0] == rows[target][0])
    if target == first:
        target = max(i for i, r in enumerate(rows) if r[0] == rows[target][0])
    u, code, system, service, status = rows[target]
    rows = list(rows)
    rows[target] = (u, code, system, service, "inactive" if status == "active" else "active")
    text = "agreement_uuid,municipality_code,it_system_uuid,service,status\n" + "".join(
        ",".join(r) + "\n" for r in rows)
    problems = rejected(text.encode(), lambda d: parse_agreements(
        open_table(d, AGREEMENTS_REQUIRED, AGREEMENTS_OPTIONAL), {"101", "147", "851"})).problems
    assert [(p.line, p.column) for p in problems] == [(target + 2, "status")]
    assert f"differs from line {first + 2}" in problems[0].reason


# Characters str.isspace() and str.splitlines() treat specially, and a few that they do not.
SPACE_AND_BREAKS = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u2028\u2029\u3000"


@given(st.text(alphabet=st.sampled_from(SPACE_AND_BREAKS + "a{;,é"), max_size=12))
def test_the_header_and_the_first_character_are_found_as_strip_and_splitlines_would_find_them(text):
    from monitor.collectors.calls import parsing

    start = parsing._end_of(parsing._LEADING_SPACE, text)
    assert (start == len(text)) == (not text.strip())
    if text.strip():
        assert text[start] == text.lstrip()[0]
        assert text[:parsing._end_of(parsing._FIRST_LINE, text)] == text.splitlines()[0]


# --- the columns' reader ----------------------------------------------------------------------

PLAIN = ("period_start,agreement_uuid,calls,errors\n2020-11-27,A1,5,1\n2020-11-28,a1,6,\n"
         "2020-11-28T10:00:00+01:00,a2,7,0\n")


@pytest.mark.parametrize("data", [
    PLAIN.encode(), PLAIN.replace("\n", "\r\n").encode(), PLAIN.replace("\n", "\r").encode(),
    b"\xef\xbb\xbf" + PLAIN.replace(",", ";").encode(), PLAIN.rstrip("\n").encode(),
    PLAIN.replace("calls,errors", "calls").replace(",1\n", "\n").replace(",\n", "\n").replace(",0\n", "\n").encode(),
    "".join(line + ",x\n" for line in PLAIN.splitlines()).encode(),
], ids=["lf", "crlf", "cr", "bom-semicolon", "no-final-newline", "no-errors-column", "extra-column"])
def test_a_plain_file_is_read_by_columns_with_its_line_numbers(data):
    table = open_table(data, CALLS_REQUIRED, CALLS_OPTIONAL)
    saved, columnar.MIN_BYTES = columnar.MIN_BYTES, 0
    try:
        assert columnar.parse_calls(table, None) is not None
    finally:
        columnar.MIN_BYTES = saved
    parsed = calls_of(data)
    assert parsed.daily[("a1", dt.date(2020, 11, 28))][2] == 3


@pytest.mark.parametrize("data", [
    PLAIN.replace("\n2020-11-28,", "\n\n2020-11-28,"),  # a blank line
    PLAIN.replace("a2", '"a2"'),  # a quote
    PLAIN.replace("a2", "æ2"),  # not ASCII
    PLAIN.replace(",7,", ", 7,"),  # a space around a count
    PLAIN.replace("a1,6", "A1,6").replace("2020-11-28,", "2020-11-27,"),  # the same key twice, identical
    PLAIN.replace(",6,", ",6,7"),  # errors above calls
    PLAIN.replace("2020-11-28,a1", "2030-11-28,a1"),  # in the future
    PLAIN.replace(",5,1", ",5"),  # a field short
])
def test_a_file_the_columns_reader_cannot_read_exactly_goes_row_by_row(data):
    table = open_table(data.encode(), CALLS_REQUIRED, CALLS_OPTIONAL)
    saved, columnar.MIN_BYTES = columnar.MIN_BYTES, 0
    try:
        assert columnar.parse_calls(table, dt.datetime(2026, 12, 7, tzinfo=dt.UTC)) is None
    finally:
        columnar.MIN_BYTES = saved
    with contextlib.suppress(Rejected):  # a bad file: rejected alike by both, as calls_of checks
        calls_of(data.encode())
