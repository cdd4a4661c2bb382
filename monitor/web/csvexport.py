"""Tables as CSV for spreadsheets, in the reader's language.

Danish Excel splits on `;` and reads a decimal comma; English spreadsheets split on `,` and read
a decimal point. Both get a UTF-8 byte-order mark, without which Excel guesses a legacy code
page and garbles "æ", "ø" and "å". A cell that a spreadsheet would run as a formula (one that
starts with `=`, `+`, `-`, `@`, a tab or a carriage return) is neutralised with a leading
apostrophe (OWASP "CSV injection"); only the plain numbers this module writes itself, such as
"-0,1234", are left as they are so that they stay numbers.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence

BOM = "\ufeff"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"-?[0-9]+(?:[.,][0-9]+)?\Z")


def delimiter(lang: str) -> str:
    """The field separator a spreadsheet in `lang` expects: ';' in Danish, ',' in English."""
    return ";" if lang == "da" else ","


def neutralise(cell: object) -> str:
    """`cell` as text that no spreadsheet will run as a formula."""
    text = "" if cell is None else str(cell)
    if text.startswith(FORMULA_START) and not _PLAIN_NUMBER.match(text):
        return "'" + text
    return text


def number(value: float | int | None, lang: str, digits: int = 4) -> str:
    """An unrounded-looking number for a spreadsheet: fixed decimals, no grouping, the
    language's decimal mark; empty for none."""
    if value is None:
        return ""
    text = f"{value:.{digits}f}" if digits else str(int(value))
    return text.replace(".", ",") if lang == "da" else text


def table(header: Sequence[object], rows: Iterable[Sequence[object]], lang: str) -> bytes:
    """The whole file: BOM, header row, rows, CRLF line ends (RFC 4180), UTF-8 bytes."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter(lang), lineterminator="\r\n")
    writer.writerow([neutralise(h) for h in header])
    for row in rows:
        writer.writerow([neutralise(c) for c in row])
    return (BOM + out.getvalue()).encode("utf-8")


__all__ = ["delimiter", "neutralise", "number", "table"]
