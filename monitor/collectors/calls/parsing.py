"""Reading import files: CSV (comma or semicolon, BOM or not) and JSON Lines, into checked rows.

Nothing here touches the database. `open_table` turns the bytes of a file into a header and
rows with their line numbers, or raises `Rejected` when the file as a whole is unusable
(empty, not UTF-8, required columns missing). The field parsers raise `FieldError` with a
reason from `MESSAGES`; docs/formats.md lists every message and a test keeps them in step.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from ...localtime import CPH

HEADER_LINE = 1

# Every reason an operator can be shown, one per kind of problem. Placeholders in braces.
MESSAGES = {
    "empty_file": "the file is empty",
    "no_rows": "the file has a header but no rows",
    "not_utf8": "not UTF-8 text (byte 0x{byte}); save the file as UTF-8 (\"CSV UTF-8\" in spreadsheets)",
    "missing_columns": "missing required column(s) {missing}; tried comma and semicolon as separator",
    "duplicate_column": "the column appears more than once in the header",
    "field_count": "the line has {found} fields, the header has {expected}",
    "bad_csv": "not readable as CSV from here on ({detail}); is a quote (\") left open?",
    "bad_json": "not a JSON object: {detail}",
    "not_plain": "not a plain value (text, number, true/false or null)",
    "required": "a value is required",
    "not_integer": "not a whole number",
    "negative": "a count cannot be negative",
    "errors_gt_calls": "errors ({errors}) exceed calls ({calls})",
    "bad_period": "not an ISO 8601 date (2020-11-28) or date-time with offset (2020-11-28T10:00:00+01:00)",
    "no_offset": "a date-time needs an offset, e.g. 2020-11-28T10:00:00+01:00 (without it the hour is ambiguous)",
    "not_whole_hour": "an hour's count must start on a whole hour",
    "bad_date": "not an ISO 8601 date such as 2020-11-28",
    "date_order": "valid_to must be after valid_from ({valid_from})",
    "bad_code": "not a municipality code (3 digits, such as 101 or 0101)",
    "unknown_municipality": "unknown municipality code",
    "bad_status": "unknown status; use active, pending, rejected or inactive "
                  "(aktiv/godkendt, afventer, afvist, inaktiv)",
    "bad_bool": "expected true/false, ja/nej, yes/no or 1/0",
    "duplicate_conflict": "conflicts with line {line}: same {what}, different values",
    "agreement_mismatch": "differs from line {line} of the same agreement ({value!r} there); "
                          "every row of an agreement must agree on {column}",
    "too_long": "longer than {limit} characters",
    "control_character": "contains the control character U+{code:04X}; only printable text is accepted",
    "too_large": "larger than {limit:,}; a count above 2^53 cannot be exact in JSON or in a spreadsheet",
    "population_too_large": "larger than {limit:,}; no Danish municipality has that many citizens",
    "too_early": "before {earliest}; no data this old is accepted",
    "in_future": "more than one day in the future (after {latest})",
    "not_one_of_98": "not one of the 98 municipalities; a municipalities file only updates them",
    "too_deep": "nested too deeply to read",
    "agreement_gone": "the agreement's id {id} is not in the agreements table; nothing was imported",
    "unreadable": "the file could not be read ({detail}); nothing was imported",
    "no_partition": "{detail}. The file itself is fine: once the partition exists, import it again "
                    "(copy it back into the inbox, or post it again); nothing was imported",
}

# Bounds on values (SPEC "Limits and bad input").
MAX_COUNT = 2**53
MAX_POPULATION = 10_000_000
EARLIEST_DAY = dt.date(2000, 1, 1)
# Dates that may lie ahead (an agreement valid until ...) still end within this century.
LATEST_VALIDITY = dt.date(2099, 12, 31)


def latest_day(now: dt.datetime) -> dt.date:
    """The last day data may be about: tomorrow in Copenhagen (a file may be a few hours ahead)."""
    return now.astimezone(CPH).date() + dt.timedelta(days=1)


def check_day(day: dt.date, latest: dt.date | None) -> None:
    """Raise `FieldError` for a day before 2000-01-01 or after `latest` (None: no upper bound)."""
    if day < EARLIEST_DAY:
        raise FieldError(message("too_early", earliest=EARLIEST_DAY))
    if latest is not None and day > latest:
        raise FieldError(message("in_future", latest=latest))

STATUS_WORDS = {
    "active": "active", "aktiv": "active", "godkendt": "active",
    "pending": "pending", "afventer": "pending",
    "rejected": "rejected", "afvist": "rejected",
    "inactive": "inactive", "inaktiv": "inactive",
}
BOOL_WORDS = {"true": True, "ja": True, "yes": True, "1": True,
              "false": False, "nej": False, "no": False, "0": False}


def message(key: str, **values: object) -> str:
    """The operator-facing reason `key`, filled in."""
    return MESSAGES[key].format(**values)


@dataclass(frozen=True, order=True)
class Problem:
    """One bad spot in a file: where it is, what was there, and why it is refused."""

    line: int
    column: str
    value: str
    reason: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", column {self.column}" if self.column else "")
        shown = self.value if len(self.value) <= 80 else self.value[:77] + "..."
        return f"{where}, value {shown!r}: {self.reason}"


class Rejected(Exception):
    """The file cannot be imported; `problems` says where and why."""

    def __init__(self, problems: Sequence[Problem], rows: int = 0):
        self.problems = sorted(problems)
        self.rows = rows  # data rows read, all of them refused with the file
        super().__init__("; ".join(str(p) for p in self.problems[:3]))


class FieldError(ValueError):
    """A single value is unusable; the message is the reason shown to the operator."""


@dataclass
class Table:
    """A decoded file: lower-cased column names and (line number, values) rows."""

    columns: list[str]
    rows: Iterator[tuple[int, list[str]]]
    format: str
    warnings: list[str] = field(default_factory=list)
    source: bytes | None = None  # a CSV file's bytes, for a reader that takes them whole
    delimiter: str = ","

    def index(self, name: str) -> int | None:
        """The position of column `name`, or None when the file does not have it."""
        return self.columns.index(name) if name in self.columns else None


def decode(data: bytes) -> str:
    """The file's text (UTF-8, a BOM dropped), or `Rejected` naming the line of the first bad byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        bad = data[exc.start:exc.start + 1].hex()
        raise Rejected([Problem(line, "", data[max(0, exc.start - 10):exc.start + 10].decode("utf-8", "replace"),
                                message("not_utf8", byte=bad))]) from None


# What str.lstrip() and str.splitlines()[0] find, without copying or splitting a large file's text.
_LEADING_SPACE = re.compile(r"\s*")
_FIRST_LINE = re.compile("[^\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]*")


def _end_of(pattern: re.Pattern[str], text: str) -> int:
    """Where `pattern`, which matches the empty string too, stops matching at the start of `text`."""
    found = pattern.match(text)
    return found.end() if found else 0


def open_table(data: bytes, required: Sequence[str], optional: Sequence[str] = ()) -> Table:
    """Decode `data` and read its header; raises `Rejected` for an unusable file.

    JSON Lines is recognised by a first character ``{``. For CSV, the separator is the one
    (comma or semicolon) under which the header has all required columns.
    """
    text = decode(data)
    start = _end_of(_LEADING_SPACE, text)
    if start == len(text):
        raise Rejected([Problem(1, "", "", message("empty_file"))])
    if text[start] == "{":
        return _json_lines(text, required)
    first_line = text[:_end_of(_FIRST_LINE, text)]
    candidates = []
    for delimiter in (",", ";"):
        header = next(csv.reader([first_line], delimiter=delimiter))
        columns = [c.strip().lower() for c in header]
        missing = [c for c in required if c not in columns]
        candidates.append((len(missing), delimiter, columns, missing))
    candidates.sort(key=lambda c: c[0])
    _, delimiter, columns, missing = candidates[0]
    if missing:
        raise Rejected([Problem(HEADER_LINE, name, first_line, message("missing_columns", missing=", ".join(missing)))
                        for name in missing])
    _check_duplicate_columns(columns, first_line)
    name = "CSV, semicolon-separated" if delimiter == ";" else "CSV, comma-separated"
    table = Table(columns, _csv_rows(text, delimiter), name, source=data, delimiter=delimiter)
    known = set(required) | set(optional)
    ignored = [c for c in columns if c and c not in known]
    if ignored:
        table.warnings.append(f"ignored column(s) not used by this import: {', '.join(ignored)}")
    return table


def _check_duplicate_columns(columns: list[str], header_text: str) -> None:
    seen = set()
    for name in columns:
        if name and name in seen:
            raise Rejected([Problem(HEADER_LINE, name, header_text, message("duplicate_column"))])
        seen.add(name)


def _csv_rows(text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """The rows after the header. The reader is made on the first row asked for: its StringIO
    copies the whole text, which the large-file reader (`columnar`) never needs."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        next(reader)
        for row in reader:
            if row:  # a blank line
                yield reader.line_num, row
    except csv.Error as exc:  # e.g. a quote never closed swallowing the rest of the file
        raise Rejected([Problem(reader.line_num, "", "", message("bad_csv", detail=exc))]) from None


def _json_lines(text: str, required: Sequence[str]) -> Table:
    """JSON Lines: one object per line; columns are the keys, in order of first appearance."""
    objects: list[tuple[int, dict[str, object]]] = []
    problems = []
    columns: dict[str, None] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line, parse_int=_json_int)
        except json.JSONDecodeError as exc:
            problems.append(Problem(number, "", line[:200], message("bad_json", detail=exc.msg)))
            continue
        except ValueError as exc:  # a value json cannot hold; never a traceback without a line
            problems.append(Problem(number, "", line[:200], message("bad_json", detail=str(exc)[:200])))
            continue
        except RecursionError:  # [[[[...]]]] thousands deep
            problems.append(Problem(number, "", line[:80], message("bad_json", detail=message("too_deep"))))
            continue
        if not isinstance(obj, dict):
            problems.append(Problem(number, "", line, message("bad_json", detail=type(obj).__name__)))
            continue
        obj = {str(k).strip().lower(): v for k, v in obj.items()}
        for key in obj:
            columns.setdefault(key)
        objects.append((number, obj))
    if problems:
        raise Rejected(problems)
    names = list(columns)
    missing = [c for c in required if c not in columns]
    if missing:
        raise Rejected([Problem(HEADER_LINE, c, "", message("missing_columns", missing=", ".join(missing)))
                        for c in missing])

    def rows() -> Iterator[tuple[int, list[str]]]:
        for number, obj in objects:
            yield number, [_json_value(obj.get(c)) for c in names]

    return Table(names, rows(), "JSON Lines")


def _json_int(digits: str) -> int | str:
    """A JSON integer; one too long to be a count stays text, which the field parsers refuse with its line.

    Python will not convert more than 4,300 digits (`sys.get_int_max_str_digits`) and would
    raise ValueError from inside `json.loads`; no field of any import needs more than 30.
    """
    return int(digits) if len(digits) <= 30 else digits


class _NotPlain(str):
    """A JSON value that is not a scalar; the row parsers report it as `not_plain`."""


def _json_value(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    try:
        return _NotPlain(json.dumps(value, ensure_ascii=False)[:200])
    except (RecursionError, ValueError):
        return _NotPlain("[…]")


def check_plain(value: str) -> str:
    """Refuse a nested JSON value; return the text unchanged otherwise."""
    if isinstance(value, _NotPlain):
        raise FieldError(message("not_plain"))
    return value


# Field parsers: each takes the text of one cell and returns the value or raises FieldError.

def parse_count(text: str) -> int:
    """A non-negative whole number, at most 2^53."""
    check_plain(text)
    if text.isascii() and text.isdigit() and len(text) < 16:  # 15 digits are always below 2^53
        return int(text)
    t = text.strip()
    if not t:
        raise FieldError(message("required"))
    sign = t[0] in "+-"
    digits = t[1:] if sign else t
    if not (digits.isascii() and digits.isdigit()):
        raise FieldError(message("not_integer"))
    if len(digits) > 30:  # far past 2^53; int() of a million digits would be slow
        raise FieldError(message("too_large", limit=MAX_COUNT))
    value = int(digits)
    if t[0] == "-" and value != 0:
        raise FieldError(message("negative"))
    if value > MAX_COUNT:
        raise FieldError(message("too_large", limit=MAX_COUNT))
    return value


def parse_period(text: str) -> dt.date | dt.datetime:
    """A day (a date) or an hour (an aware UTC datetime on a whole hour)."""
    check_plain(text)
    t = text.strip()
    if not t:
        raise FieldError(message("required"))
    if len(t) <= 10:
        try:
            return dt.date.fromisoformat(t)
        except ValueError:
            raise FieldError(message("bad_period")) from None
    try:
        moment = dt.datetime.fromisoformat(t)
    except ValueError:
        raise FieldError(message("bad_period")) from None
    if moment.tzinfo is None:
        raise FieldError(message("no_offset"))
    # Checked before converting: 0001-01-01T00:00+01:00 has no UTC instant.
    if moment.year < EARLIEST_DAY.year:
        raise FieldError(message("too_early", earliest=EARLIEST_DAY))
    if moment.year > LATEST_VALIDITY.year:
        raise FieldError(message("in_future", latest=LATEST_VALIDITY))
    moment = moment.astimezone(dt.UTC)
    if moment.minute or moment.second or moment.microsecond:
        raise FieldError(message("not_whole_hour"))
    return moment


def parse_date(text: str, required: bool = True) -> dt.date | None:
    """An ISO date; None for an empty optional value."""
    t = check_plain(text).strip()
    if not t:
        if required:
            raise FieldError(message("required"))
        return None
    try:
        if len(t) != 10:
            raise ValueError(t)
        return dt.date.fromisoformat(t)
    except ValueError:
        raise FieldError(message("bad_date")) from None


def parse_code(text: str) -> str:
    """A municipality code, normalised to three digits ("0101" and "101" are the same)."""
    t = check_plain(text).strip()
    if not t:
        raise FieldError(message("required"))
    if not (t.isascii() and t.isdigit()) or not 0 < int(t) < 1000:
        raise FieldError(message("bad_code"))
    return f"{int(t):03d}"


def parse_status(text: str) -> str:
    """An agreement status, English or Danish, in any case, as its English word."""
    t = check_plain(text).strip().lower()
    if not t:
        raise FieldError(message("required"))
    try:
        return STATUS_WORDS[t]
    except KeyError:
        raise FieldError(message("bad_status")) from None


def parse_bool(text: str, required: bool = True) -> bool | None:
    """true/false, ja/nej, yes/no or 1/0 in any case; None for an empty optional value."""
    t = check_plain(text).strip().lower()
    if not t:
        if required:
            raise FieldError(message("required"))
        return None
    try:
        return BOOL_WORDS[t]
    except KeyError:
        raise FieldError(message("bad_bool")) from None


def parse_text(text: str, required: bool = True, limit: int = 200) -> str | None:
    """Trimmed text; None for an empty optional value."""
    t = check_plain(text).strip()
    if not t:
        if required:
            raise FieldError(message("required"))
        return None
    if len(t) > limit:
        raise FieldError(message("too_long", limit=limit))
    bad = next((c for c in t if unicodedata.category(c) == "Cc"), None)
    if bad is not None:  # ids are joined with control characters in queries; names never need them
        raise FieldError(message("control_character", code=ord(bad)))
    return t


def parse_uuid(text: str) -> str:
    """An identifier such as a ServiceAgreementUUID, trimmed and lower-cased (UUIDs ignore case)."""
    value = parse_text(text, limit=36)
    assert value is not None
    return value.lower()
