"""The catalogues: Danish source strings, an English catalogue that is complete, compiled from
the current .po, and keeps every placeholder; numbers and times read the Danish way."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from hypothesis import given
from hypothesis import strategies as st

from monitor.web.pages.format import day, number, percent, round_half_up, when

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "monitor/translations/en/LC_MESSAGES/messages.po"
MO = PO.with_suffix(".mo")
PLACEHOLDER = re.compile(r"%(?:\([a-z_]+\))?[sd]|%%")


def _tuple(value):  # type: ignore[no-untyped-def]
    return tuple(value) if isinstance(value, (list, tuple)) else value


def _messages(catalog) -> dict:  # type: ignore[no-untyped-def]
    return {_tuple(m.id): _tuple(m.string) for m in catalog if m.id}


def _read(path: Path, reader=read_po):  # type: ignore[no-untyped-def]
    with path.open("rb") as fh:
        return _messages(reader(fh))


def test_the_compiled_catalogue_is_compiled_from_the_current_po():
    po = _read(PO)
    mo = _read(MO, read_mo)
    assert mo == po, "run pybabel compile -d monitor/translations (see docs/pages.md)"


def test_every_english_translation_is_there_and_keeps_the_placeholders():
    for msgid, string in _read(PO).items():
        ids = msgid if isinstance(msgid, tuple) else (msgid,)
        strings = string if isinstance(string, tuple) else (string,)
        assert all(strings), f"untranslated: {msgid!r}"
        for i, s in zip(ids, strings, strict=False):
            assert sorted(PLACEHOLDER.findall(i)) == sorted(PLACEHOLDER.findall(s)), msgid


def test_the_catalogue_holds_every_string_in_the_code(tmp_path):
    pot = tmp_path / "messages.pot"
    subprocess.run([str(Path(sys.executable).parent / "pybabel"), "extract", "-F", "babel.cfg", "-k", "_l",
                    "-k", "lazy_gettext", "-o", str(pot), "."], cwd=ROOT, check=True, capture_output=True)
    missing = set(_read(pot)) - set(_read(PO))
    assert not missing, f"re-extract and translate (docs/pages.md): {sorted(map(str, missing))[:10]}"
    with pot.open("rb") as fh:
        sources = {Path(path).parts[0] for m in read_po(fh) for path, _ in m.locations}
    assert {"monitor", "templates"} <= sources, f"babel.cfg found strings only in {sorted(sources)}"


def test_an_english_page_shows_no_danish_interface_text(client):
    html = client.get("/metode?lang=en").get_data(as_text=True)
    assert "How the score is calculated" in html and "Service agreements" in html
    assert "Sådan beregnes scoren" not in html and "Spring til indholdet" not in html


def test_numbers_round_half_up_with_a_decimal_comma_in_danish():
    assert number(2.25, lang="da") == "2,3"
    assert number(2.35, lang="da") == "2,4"
    assert number(2.25, lang="en") == "2.3"
    assert number(1234.56, lang="da") == "1.234,6"
    assert number(None) == "–"
    assert number(-0.04, signed=True, lang="da") == "0,0"
    assert number(0.26, signed=True, lang="da") == "+0,3"
    assert percent(0.425, lang="da") == "43\u00a0%"


@given(st.decimals(min_value=-1000, max_value=1000, places=2, allow_nan=False))
def test_rounding_half_up_never_differs_from_decimal_arithmetic_on_the_shown_digits(value):
    expected = value.quantize(Decimal("0.1"), rounding="ROUND_HALF_UP")
    assert round_half_up(float(value)) == expected
    text = number(float(value), lang="da")
    assert Decimal(text.replace(".", "").replace(",", ".").replace("−", "-")) == expected


def test_times_are_shown_in_copenhagen_with_the_zone():
    winter = dt.datetime(2020, 11, 28, 11, 0, tzinfo=dt.UTC)
    summer = dt.datetime(2020, 7, 1, 22, 30, tzinfo=dt.UTC)
    assert when(winter, "da") == "28.11.2020 kl. 12:00 CET"
    assert when(summer, "da") == "02.07.2020 kl. 00:30 CEST"
    assert when(summer, "en") == "2 Jul 2020, 00:30 CEST"
    assert day(dt.date(2020, 11, 28), "en") == "28 Nov 2020"
