"""CSV exports, checked as the bytes a spreadsheet receives: Danish `;`, a BOM and a decimal
comma; English `,`; headers and status words translated; formula cells neutralised (OWASP)."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import update

from monitor.models import Municipality
from monitor.web import csvexport
from tests.rating_helpers import add_agreement

BOM = "\ufeff".encode()


def test_the_danish_overview_csv_starts_with_a_bom_and_danish_headers_separated_by_semicolons(client):
    raw = client.get("/oversigt.csv").data
    header, first = raw.split(b"\r\n")[:2]
    assert header == BOM + "Kode;Kommune;Score;Status;Placering;Ændring på en måned;Serviceaftaler;Kald pr. borger;" \
                           "It-systemer med kald;Begrundelse;Seneste afgørende score;Beregnet for".encode()
    # On an empty database every municipality is inconclusive, with its reason in Danish.
    assert first.startswith(b"101;K\xc3\xb8benhavn;;ikke afg\xc3\xb8rende;;;;;;")


def test_the_english_overview_csv_is_comma_separated_with_english_headers(client):
    raw = client.get("/oversigt.csv?lang=en").data
    header, first = raw.split(b"\r\n")[:2]
    assert header == BOM + b"Code,Municipality,Score,Status,Rank,Change in a month,Service agreements," \
                           b"Calls per citizen,IT systems with calls,Reason,Last conclusive score,Rated for"
    assert first.startswith("101,København,,inconclusive,,,,,,".encode())


def test_a_cell_a_spreadsheet_would_run_as_a_formula_is_neutralised(client, session):
    session.execute(update(Municipality).where(Municipality.code == "101").values(name="=HYPERLINK(\"x\";\"y\")"))
    session.execute(update(Municipality).where(Municipality.code == "147").values(name="@SUM(1+1)"))
    session.commit()
    raw = client.get("/oversigt.csv").data
    assert b'\r\n101;"\'=HYPERLINK(""x"";""y"")";' in raw
    assert b"\r\n147;'@SUM(1+1);" in raw
    assert b";=" not in raw and b";@" not in raw


def test_numbers_use_the_decimal_mark_of_the_language():
    assert csvexport.number(4.25, "da") == "4,2500"
    assert csvexport.number(-0.5, "en") == "-0.5000"
    assert csvexport.number(None, "da") == ""
    assert csvexport.table(["a", "b"], [[csvexport.number(-0.5, "da"), "x"]], "da") == BOM + b"a;b\r\n-0,5000;x\r\n"


@given(st.text())
def test_no_neutralised_cell_starts_a_formula_unless_it_is_a_plain_number(text):
    cell = csvexport.neutralise(text)
    if cell.startswith(csvexport.FORMULA_START):
        assert cell == text and cell.lstrip("-").replace(",", "").replace(".", "").isdigit()
    else:
        assert cell in (text, "'" + text)


@given(st.lists(st.lists(st.text(), min_size=2, max_size=2), max_size=5), st.sampled_from(["da", "en"]))
def test_a_table_reads_back_cell_for_cell_apart_from_the_neutralising_apostrophe(rows, lang):
    raw = csvexport.table(["h1", "h2"], rows, lang)
    assert raw.startswith(BOM)
    text = raw.decode("utf-8")[1:]
    back = list(csv.reader(io.StringIO(text, newline=""), delimiter=csvexport.delimiter(lang)))
    assert back[0] == ["h1", "h2"]
    assert back[1:] == [[csvexport.neutralise(c) for c in row] for row in rows]


def test_a_municipality_agreements_export_in_danish_and_english(client, session):
    add_agreement(session, "=cmd|' /C calc'!A0")
    session.commit()
    raw = client.get("/kommune/101/aftaler.csv").data
    header, first = raw.split(b"\r\n")[:2]
    assert header == BOM + "Aftale;It-system;Leverandør;Services;Status;Kald (90 dage);Overflødig;Begrundelse".encode()
    assert first.startswith(b"'=cmd|' /C calc'!A0;System sys-a;")
    english = client.get("/kommune/0101/aftaler.csv?lang=en").data.split(b"\r\n")[0]
    assert english == BOM + b"Agreement,IT system,Supplier,Services,Status,Calls (90 days),Redundant,Reason"
    assert client.get("/kommune/999/aftaler.csv").status_code == 404


@pytest.mark.parametrize("code, found", [("101", True), ("0101", True), ("00101", False), ("10", False),
                                         ("999", False), ("abc", False), ("١٠١", False)])
def test_the_page_and_its_export_know_the_same_municipality_codes(client, session, code, found):
    add_agreement(session, "a")
    session.commit()
    for url in (f"/kommune/{code}", f"/kommune/{code}/aftaler.csv"):
        assert client.get(url).status_code == (200 if found else 404), url
