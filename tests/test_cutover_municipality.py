"""One municipality's cut-over status read from its own rows equals its row of the country's
document, in every phase of the weekend; the municipality page uses it when the country's
document is not cached, and masks the operator's address either way."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from monitor import create_app, doccache, fingerprints
from monitor.cutover import cutover_document, municipality_status
from monitor.db import make_engine, session_factory
from monitor.demo import load_demo
from monitor.models import Agreement, CutoverAcknowledgement, CutoverTask, Municipality
from monitor.web.pages.cache import cache_of
from tests.conftest import make_settings

CET = dt.timezone(dt.timedelta(hours=1))
# The small demo loaded in the night after its window (28.11 13:00 – 29.11 23:00 CET), read at
# each phase of the weekend (as tests/test_cutover_screens.py reads the full one).
LOADED = dt.datetime(2026, 11, 30, 3, 30, tzinfo=CET)
PHASES = {"before": dt.datetime(2026, 11, 28, 10, 30, tzinfo=CET),
          "in_window": dt.datetime(2026, 11, 29, 12, 30, tzinfo=CET),
          "pending": dt.datetime(2026, 11, 29, 23, 30, tzinfo=CET),
          "after": LOADED}
OPERATOR = "drift@example.dk"


@pytest.fixture
def weekend(tmp_path, db_url) -> Iterator[tuple[Any, Any]]:
    """The small demo with tasks, and acknowledgements of the red and yellow municipalities after the
    window: whole ones and per silent agreement, held, expired, ended and not yet given."""
    settings = make_settings(tmp_path, db_url)
    engine = make_engine(settings.database.url)
    load_demo(engine, settings, seed=1, size="small", now=LOADED)
    with session_factory(engine)() as s:
        doc = cutover_document(s, settings, LOADED)
        flagged = [m for m in doc["municipalities"] if m["status"] in ("red", "yellow")]
        assert len(flagged) >= 4, [m["status"] for m in doc["municipalities"]]
        given = LOADED - dt.timedelta(hours=1)
        for i, m in enumerate(flagged):
            code = m["code"]
            silent = [a["agreement_uuid"] for a in m["silent_agreements"]]
            created, ended = [(given, None), (LOADED - dt.timedelta(hours=13), None),
                              (given, given + dt.timedelta(minutes=20)), (LOADED + dt.timedelta(hours=1), None)][i % 4]
            s.add(CutoverAcknowledgement(municipality_code=code, agreement_uuid=None, note=f"Kendt {code}",
                                         operator=OPERATOR, created_at=created, status="red", ended_at=ended))
            if silent:
                s.add(CutoverAcknowledgement(municipality_code=code, agreement_uuid=silent[0], note=f"Tavs {code}",
                                             operator=OPERATOR, created_at=given, status="yellow"))
        codes = list(s.scalars(select(Municipality.code).order_by(Municipality.code)))
        s.add_all(CutoverTask(municipality_code=code, task=f"Opgave {i}", done=i % 3 == 0,
                              deadline=dt.date(2026, 11, 27 + i % 3) if i % 2 else None)
                  for code in codes[:10] for i in range(code.count("1") + 1))
        s.commit()
    yield settings, engine
    engine.dispose()


@pytest.mark.parametrize("phase", list(PHASES))
def test_each_municipality_read_alone_equals_its_row_of_the_countrys_document(weekend, phase):
    settings, engine = weekend
    now = PHASES[phase]
    with session_factory(engine)() as s:
        doc = cutover_document(s, settings, now)
        assert doc["phase"] == phase
        assert len(doc["municipalities"]) == 98
        for row in doc["municipalities"]:
            assert municipality_status(s, settings, now, row["code"]) == row, row["code"]
    statuses = {m["status"] for m in doc["municipalities"]}
    if phase == "after":  # the fixture holds what each part of an element is made of
        assert {"red", "yellow", "green"} <= statuses
        assert any(m["acknowledgement"] for m in doc["municipalities"])
        assert any(a["acknowledgement"] for m in doc["municipalities"] for a in m["silent_agreements"])
        assert any(m["frozen_zone_changes"] for m in doc["municipalities"])
        assert any(m["tasks"] for m in doc["municipalities"])
    elif phase != "before":  # before the window the statuses are judged as any day's
        assert phase in statuses


def test_an_unknown_municipality_has_no_status(weekend):
    settings, engine = weekend
    with session_factory(engine)() as s:
        assert municipality_status(s, settings, LOADED, "999") is None


def test_a_municipality_without_agreements_is_read_alone_as_in_the_document(weekend):
    settings, engine = weekend
    with session_factory(engine)() as s:
        s.add(Municipality(code="998", name="Ny Kommune", population=0))
        s.flush()
        row = next(m for m in cutover_document(s, settings, LOADED)["municipalities"] if m["code"] == "998")
        assert municipality_status(s, settings, LOADED, "998") == row
        assert row["status"] == "unknown"
        s.rollback()


def test_the_element_comes_from_the_cached_document_when_there_is_one_and_is_computed_alone_otherwise(weekend):
    settings, engine = weekend
    cache = doccache.DocumentCache()
    version = ("a fingerprint",)
    with session_factory(engine)() as s:
        code = s.scalars(select(Agreement.municipality_code).order_by(Agreement.municipality_code)).first()
        assert code is not None
        alone = doccache.cutover_municipality(cache, s, settings, LOADED, code, version)
        assert alone is not None and alone["code"] == code
        assert cache.peek(("cutover", version)) == (False, None)  # the country was not computed for it
        whole = doccache.cutover(cache, s, settings, LOADED, ("another",))
        row = next(m for m in whole["municipalities"] if m["code"] == code)
        assert doccache.cutover_municipality(cache, s, settings, LOADED, code, ("another",)) is row


def test_a_cold_municipality_page_shows_its_acknowledgement_with_the_operator_masked(weekend):
    settings, engine = weekend
    with session_factory(engine)() as s:
        acks = s.scalars(select(CutoverAcknowledgement).where(CutoverAcknowledgement.agreement_uuid.is_(None),
                                                              CutoverAcknowledgement.ended_at.is_(None)))
        code = next(a.municipality_code for a in acks if a.created_at == LOADED - dt.timedelta(hours=1))
        version = fingerprints.versions(s, settings, LOADED)["cutover"]
    app = create_app(settings)
    app.config.update(TESTING=True, MONITOR_CLOCK=lambda: LOADED)
    client = app.test_client()
    cold = client.get(f"/kommune/{code}").get_data(as_text=True)
    assert cache_of(app).peek(("cutover", version)) == (False, None)  # the country was not computed for it
    cache_of(app).clear()
    client.get("/skift")  # the country's document is cached now, and the page takes its row
    warm = client.get(f"/kommune/{code}").get_data(as_text=True)
    app.extensions["monitor"].engine.dispose()
    for page in (cold, warm):
        assert f"Kendt {code}" in page
        assert "d…t@example.dk" in page and OPERATOR not in page
