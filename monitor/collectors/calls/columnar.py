"""The calls file read column by column (pyarrow), for the large plain files nearly every supplier sends.

`parse_calls` in `records` checks a file row by row in Python, which is most of a million-row
import. This reads the same file with pyarrow's CSV reader and checks each column at once: a
file has few distinct periods and agreement ids, so each distinct text goes through the same
field parsers as in the row-by-row path, and the counts are checked as whole columns.

It takes only files it can read exactly as `csv.reader` does, and only files without a single
problem: plain ASCII, no quotes, no control characters, no blank lines (so a row's line number
is its position), every count plain digits, no key twice. For anything else it returns None,
and the row-by-row path reads the file, naming every bad line with its usual messages. A file
it takes gives the same `CallCounts` as that path.

A file of daily counts only (nearly every large file) stays in columns (`DailyColumns`) down to
the database: its agreement ids are mapped, its rows sorted into the day table's key order and,
on PostgreSQL, written as binary COPY data by numpy (`binary_chunks`), with no Python object per
row; `CallCounts.daily` is made from the columns only when something asks for it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

from ...localtime import CPH
from .parsing import Table, check_day, latest_day, parse_period, parse_uuid

log = logging.getLogger(__name__)

# Smaller files are read row by row: importing pyarrow costs more than it saves on them.
MIN_BYTES = 256 * 1024
# Bytes that `csv.reader` and pyarrow read alike: printable ASCII but the quote, and the line ends
# (\n, \r\n or \r: a line each for both). A blank line is a row of empty values to pyarrow, which
# fails the counts' check below; control characters (some of which `open_table` treats as line
# ends in the header) and any other byte send the file to the row-by-row path.
_PLAIN = bytes(b for b in range(0x20, 0x7F) if b != ord('"')) + b"\r\n"
COUNT_DIGITS = 15  # 15 digits are always below 2^53, as in `parsing.parse_count`'s fast path


# The daily and the hourly counts ((agreement UUID, period) -> (calls, errors, line)), and the rows;
# a file of daily counts only stays in columns (`DailyColumns`, below).
Counts = tuple[dict[tuple[str, dt.date], tuple[int, int | None, int]],
               dict[tuple[str, dt.datetime], tuple[int, int | None, int]], int]


# Two lines the warm-up reads: a daily and an hourly count, each plain.
_SAMPLE = (b"2020-11-27,aaaaaaaa-0000-4000-8000-000000000001,5,1\n"
           b"2020-11-27T10:00:00+01:00,aaaaaaaa-0000-4000-8000-000000000002,7,\n")


def preload() -> bool:
    """Load pyarrow and read a two-line sample through the same steps as a file, once per process,
    so that the first large file does not wait for them (0.3–0.6 s on a loaded machine). The
    scheduler calls this as it starts its jobs. False without pyarrow."""
    try:
        _pyarrow()
    except ImportError:
        return False
    sample = Table(["period_start", "agreement_uuid", "calls", "errors"], iter(()), "CSV, comma-separated",
                   source=_SAMPLE, delimiter=",")
    try:
        _parse(sample, _SAMPLE, None)
    except (ValueError, OverflowError):  # as `parse_calls`: a file would then be read row by row
        log.debug("the large-file reader's warm-up read failed", exc_info=True)
    return True


def parse_calls(table: Table, now: dt.datetime | None) -> Counts | DailyColumns | None:
    """The counts of `table`'s file read by columns, or None when the row-by-row path must read it."""
    data = table.source
    if data is None or len(data) < MIN_BYTES or table.delimiter not in (",", ";"):
        return None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if data.translate(None, _PLAIN):  # a byte other than plain ASCII
        return None
    ends = [i for i in (data.find(b"\n"), data.find(b"\r")) if i >= 0]
    if not ends or data[:1].isspace():
        return None
    header_end = min(ends)
    body = data[header_end + (2 if data[header_end:header_end + 2] == b"\r\n" else 1):]
    if not body:
        return None
    try:
        return _parse(table, body, now)
    except (ImportError, ValueError, OverflowError):  # FieldError and pyarrow's ArrowInvalid are ValueErrors
        return None


def _pyarrow() -> Any:
    """pyarrow, its memory pool set to the C library's allocator on first use.

    pyarrow's default pool (mimalloc) grows its arenas on a process's first large file, which
    cost 0.4–0.5 s more than every later one (300,000 rows; 0.9 s against 1.4 s, SQLite); with the
    system allocator the first file costs what the others do. pyarrow has no other user here.
    """
    import pyarrow as pa

    if pa.default_memory_pool().backend_name != "system":
        pa.set_memory_pool(pa.system_memory_pool())
    return pa


def _parse(table: Table, body: bytes, now: dt.datetime | None) -> Counts | DailyColumns | None:
    pa = _pyarrow()
    import pyarrow.compute as pc
    from pyarrow import csv as pacsv

    width = len(table.columns)
    names = [f"c{i}" for i in range(width)]
    # The periods and agreement ids are read as dictionaries (a file has few distinct ones), every
    # other column as text.
    types = {n: pa.string() for n in names}
    for name in ("period_start", "agreement_uuid"):
        types[f"c{table.index(name)}"] = pa.dictionary(pa.int32(), pa.string())
    try:
        frame = pacsv.read_csv(
            pa.py_buffer(body),
            read_options=pacsv.ReadOptions(column_names=names, use_threads=False),
            parse_options=pacsv.ParseOptions(delimiter=table.delimiter, quote_char=False, escape_char=False,
                                             newlines_in_values=False, ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=False,
                                                 quoted_strings_can_be_null=False)).unify_dictionaries()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # a row with another number of fields
        return None
    rows = frame.num_rows
    if rows == 0:
        return None

    def column(name: str) -> Any:
        position = table.index(name)
        assert position is not None
        return frame.column(position).combine_chunks()

    calls_col = column("calls")
    if not _plain_counts(pc, calls_col, empty_allowed=False):
        return None
    calls = pc.cast(calls_col, pa.int64())
    errors: Any = None
    if table.index("errors") is not None:
        errors_col = column("errors")
        if not _plain_counts(pc, errors_col, empty_allowed=True):
            return None
        errors = pc.cast(pc.if_else(pc.equal(errors_col, ""), pa.scalar(None, pa.string()), errors_col), pa.int64())
        if pc.any(pc.greater(errors, calls)).as_py():
            return None

    # Each distinct text once through the field parsers; texts of the same value share one index.
    latest = latest_day(now) if now is not None else None
    periods = column("period_start")
    period_values: list[tuple[bool, dt.date]] = []
    period_index: dict[tuple[bool, dt.date], int] = {}
    period_of: list[int] = []
    for text in periods.dictionary.to_pylist():
        period = parse_period(text)
        check_day(period.astimezone(CPH).date() if isinstance(period, dt.datetime) else period, latest)
        key = (type(period) is dt.datetime, period)
        period_of.append(period_index.setdefault(key, len(period_index)))
        if len(period_values) < len(period_index):
            period_values.append(key)
    uuids = column("agreement_uuid")
    uuid_values: list[str] = []
    uuid_index: dict[str, int] = {}
    uuid_of: list[int] = []
    for text in uuids.dictionary.to_pylist():
        uuid = parse_uuid(text)
        uuid_of.append(uuid_index.setdefault(uuid, len(uuid_index)))
        if len(uuid_values) < len(uuid_index):
            uuid_values.append(uuid)

    period_at = pc.take(pa.array(period_of, pa.int64()), periods.indices)
    uuid_at = pc.take(pa.array(uuid_of, pa.int64()), uuids.indices)
    if _key_twice(pc.add(pc.multiply(uuid_at, len(period_values)), period_at), len(uuid_values) * len(period_values)):
        return None  # the row-by-row path merges or names it

    hourly_periods = {i for i, (is_hour, _) in enumerate(period_values) if is_hour}
    if not hourly_periods:
        return DailyColumns(uuid_values, [p for _, p in period_values],
                            uuid_at, period_at, calls, errors if errors is not None else pa.nulls(rows, pa.int64()))
    period_list = period_at.to_pylist()
    uuid_list = uuid_at.to_pylist()
    calls_list = calls.to_pylist()
    errors_list = errors.to_pylist() if errors is not None else [None] * rows
    day_of = [period for _, period in period_values]
    daily: dict[tuple[str, dt.date], tuple[int, int | None, int]] = {}
    hourly: dict[tuple[str, dt.date], tuple[int, int | None, int]] = {}
    for i, (u, p) in enumerate(zip(uuid_list, period_list, strict=True)):
        target = hourly if p in hourly_periods else daily
        target[uuid_values[u], day_of[p]] = (calls_list[i], errors_list[i], i + 2)
    # Keyed by datetimes, a subclass of date, as `records.parse_calls` keys them.
    return daily, cast("dict[tuple[str, dt.datetime], tuple[int, int | None, int]]", hourly), rows


def _key_twice(keys: Any, space: int) -> bool:
    """Whether a key (0 ≤ key < `space`) comes twice: counted per key when the keys are dense (as in a
    file of every agreement's days), else sorted; several times faster than pyarrow's count_distinct."""
    import numpy as np

    values = keys.to_numpy()
    if space <= 8 * len(values):
        return bool(np.bincount(values, minlength=space).max() > 1)
    ordered = np.sort(values)
    return bool((ordered[1:] == ordered[:-1]).any())


@dataclass(frozen=True)
class DailyColumns:
    """A file of daily counts only, kept as columns from the reader to the database.

    Each row's agreement and day are positions in the file's distinct (parsed) values; the rows
    are in the file's order, so row i is line i + 2.
    """

    uuids: list[str]
    days: list[dt.date]
    uuid_at: Any  # pyarrow int64 arrays, one value per row
    day_at: Any
    calls: Any
    errors: Any  # with nulls where the file gave none

    @property
    def rows(self) -> int:
        return len(self.calls)

    def as_dict(self) -> dict[tuple[str, dt.date], tuple[int, int | None, int]]:
        """(agreement UUID, day) -> (calls, errors, line), as `records.parse_calls` gives them."""
        uuids = [self.uuids[u] for u in self.uuid_at.to_pylist()]
        days = [self.days[d] for d in self.day_at.to_pylist()]
        return dict(zip(zip(uuids, days, strict=True),
                        zip(self.calls.to_pylist(), self.errors.to_pylist(), range(2, self.rows + 2), strict=True),
                        strict=True))

    def split(self, ids: dict[str, int]) -> tuple[Any, list[tuple[str, dt.date, int, int | None]]]:
        """The rows of known agreements as a pyarrow table (agreement_id, day, calls, errors) in
        `agreement_days`' key order (day, agreement_id), and the (UUID, day, calls, errors) of the rest."""
        pa = _pyarrow()
        import pyarrow.compute as pc

        agreement_at = pc.take(pa.array([ids.get(u) for u in self.uuids], pa.int32()), self.uuid_at)
        day_at = pc.take(pa.array(self.days, pa.date32()), self.day_at)
        table = pa.table({"agreement_id": agreement_at, "day": day_at, "calls": self.calls, "errors": self.errors})
        held: list[tuple[str, dt.date, int, int | None]] = []
        if agreement_at.null_count:
            unknown = pc.is_null(agreement_at)
            rest = table.filter(unknown)
            uuid_at = self.uuid_at.filter(unknown).to_pylist()
            held = list(zip([self.uuids[u] for u in uuid_at], rest["day"].to_pylist(), rest["calls"].to_pylist(),
                            rest["errors"].to_pylist(), strict=True))
            table = table.filter(pc.invert(unknown))
        return table.sort_by([("day", "ascending"), ("agreement_id", "ascending")]), held


# PostgreSQL's binary COPY: the signature, no flags, no header extension; a row is its field count
# and each field's length (-1 for NULL) and big-endian value; two bytes of -1 end the data.
COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
COPY_TRAILER = b"\xff\xff"
PG_EPOCH_DAYS = 10_957  # 2000-01-01, PostgreSQL's day 0, in days since 1970-01-01 (pyarrow's)
# A day row (agreement_id int4, day date, calls int8, errors int8, daily bool): 47 bytes, or 39
# with errors NULL, when the bool's length and value follow the -1 at once.
_FIELDS = [("count", ">i2"), ("agreement_len", ">i4"), ("agreement_id", ">i4"), ("day_len", ">i4"), ("day", ">i4"),
           ("calls_len", ">i4"), ("calls", ">i8"), ("errors_len", ">i4"), ("errors", ">i8"), ("daily_len", ">i4"),
           ("daily", "u1")]
_ROW_BYTES = 47
_NULL_ROW_BYTES = 39
# With errors NULL, the first five bytes of the errors field hold the bool's length (1) and value (1).
_NULL_ERRORS_TAIL = 1 << 32 | 1 << 24


def binary_chunks(table: Any, rows: int) -> Iterator[Any]:
    """The day rows of `table` (agreement_id int32, day date32, calls and errors int64, in key order)
    as PostgreSQL's binary COPY of (agreement_id, day, calls, errors, daily) with daily true, `rows`
    rows a chunk. The server then parses no text: 0.6–0.7× a CSV COPY's time into the keyed table."""
    import numpy as np

    row = np.dtype(_FIELDS)
    assert row.itemsize == _ROW_BYTES
    yield COPY_SIGNATURE
    for start in range(0, table.num_rows, rows):
        part = table.slice(start, rows)
        n = part.num_rows
        errors = part["errors"].combine_chunks()
        valid = errors.is_valid().to_numpy(zero_copy_only=False)
        out = np.empty(n, row)
        out["count"] = 5
        out["agreement_len"], out["day_len"], out["calls_len"], out["daily_len"] = 4, 4, 8, 1
        out["agreement_id"] = part["agreement_id"].to_numpy()
        out["day"] = part["day"].combine_chunks().view(_pyarrow().int32()).to_numpy() - PG_EPOCH_DAYS
        out["calls"] = part["calls"].to_numpy()
        out["errors_len"] = np.where(valid, 8, -1)
        out["errors"] = np.where(valid, errors.fill_null(0).to_numpy(), _NULL_ERRORS_TAIL)
        out["daily"] = 1
        data = out.view(np.uint8).reshape(n, _ROW_BYTES)
        if valid.all():
            yield data.reshape(-1).data
        else:
            keep = np.ones((n, _ROW_BYTES), bool)
            keep[~valid, _NULL_ROW_BYTES:] = False
            yield data[keep].data
    yield COPY_TRAILER


def _plain_counts(pc: Any, values: Any, empty_allowed: bool) -> bool:
    """Whether every value is 1 to 15 ASCII digits (or, when allowed, empty)."""
    lengths = pc.utf8_length(values)
    plain = pc.and_(pc.ascii_is_decimal(values), pc.less_equal(lengths, COUNT_DIGITS))
    if empty_allowed:
        plain = pc.or_(plain, pc.equal(lengths, 0))
    return bool(pc.all(plain).as_py())
