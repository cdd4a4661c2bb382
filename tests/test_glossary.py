"""One vocabulary: docs/glossary.md gives every notice kind and status and every component
status in Danish and English, the code takes its words from monitor/vocabulary.py, and the
rendered pages and feed show only those words."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from monitor.notify.mail import translate
from monitor.vocabulary import COMPONENT_STATUS, NOTICE_KIND, NOTICE_STATUS
from tests.notify_helpers import add_notice

GLOSSARY = Path(__file__).resolve().parent.parent / "docs" / "glossary.md"
TABLES = {"kind": NOTICE_KIND, "status": NOTICE_STATUS, "component": COMPONENT_STATUS}


def glossary() -> dict[str, tuple[str, str]]:
    """code → (Danish, English), from every `| `code` | dansk | English |` row of the glossary."""
    rows = re.findall(r"^\| `([a-z_]+)` \| ([^|]+?) \| ([^|]+?) \|$", GLOSSARY.read_text(encoding="utf-8"), re.M)
    return {code: (da, en) for code, da, en in rows}


@pytest.mark.parametrize("table", TABLES)
def test_every_word_of_the_vocabulary_is_the_glossarys_in_both_languages(table: str) -> None:
    words = glossary()
    for code, danish in TABLES[table].items():
        assert code in words, f"{code} is missing from docs/glossary.md"
        assert (danish, translate("en", danish)) == words[code], code


def test_the_glossary_names_no_word_the_code_does_not_use() -> None:
    used = {code for table in TABLES.values() for code in table}
    assert set(glossary()) == used


@pytest.mark.parametrize("lang", ["da", "en"])
def test_driftsstatus_and_the_feed_show_every_notice_status_in_the_glossarys_words(
        client: FlaskClient, session: Session, lang: str) -> None:
    for i, status in enumerate(NOTICE_STATUS):
        kind = "maintenance" if status in ("scheduled", "in_progress", "verifying", "completed") else "incident"
        add_notice(session, kind=kind, status=status, title=f"Notice {i}", upstream_id=f"n-{i}")
    session.commit()
    words = {code: pair[0 if lang == "da" else 1] for code, pair in glossary().items()}
    page = client.get(f"/driftsstatus?lang={lang}").get_data(as_text=True)
    badges = re.findall(r'<span class="badge ([a-z_]+)">([^<]+)</span>', page)
    assert set(NOTICE_STATUS) <= {code for code, _ in badges}  # and the components' statuses
    assert all(word == words[code] for code, word in badges), badges
    feed = client.get(f"/notices.atom?lang={lang}").get_data(as_text=True)
    heads = re.findall(r"&lt;p&gt;([^&·]+) · ([^&·]+) · ", feed)
    assert heads and all(kind in (words["incident"], words["maintenance"]) and status in
                         {words[s] for s in NOTICE_STATUS} for kind, status in heads), heads
