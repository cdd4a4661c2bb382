"""One vocabulary: docs/glossary.md gives every notice kind and status and every component
status in Danish and English, the code takes its words from monitor/vocabulary.py, and the
rendered pages and feed show only those words."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from monitor.notify.mail import translate
from monitor.vocabulary import (
    COMPONENT_STATUS,
    CUTOVER_STATUS,
    CUTOVER_STATUS_SHORT,
    NOTICE_KIND,
    NOTICE_STATUS,
)
from tests.notify_helpers import add_notice

GLOSSARY = Path(__file__).resolve().parent.parent / "docs" / "glossary.md"
TABLES = {"kind": NOTICE_KIND, "status": NOTICE_STATUS, "component": COMPONENT_STATUS, "cutover": CUTOVER_STATUS}
ROOT = GLOSSARY.parent.parent
PO = ROOT / "monitor/translations/en/LC_MESSAGES/messages.po"


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


def test_a_mail_says_a_cut_over_status_as_the_pages_do_before_the_colon() -> None:
    assert set(CUTOVER_STATUS_SHORT) == set(CUTOVER_STATUS)
    for code, short in CUTOVER_STATUS_SHORT.items():
        assert short == CUTOVER_STATUS[code].split(":")[0].lower(), code
        assert translate("en", short) == translate("en", CUTOVER_STATUS[code]).split(":")[0].lower(), code


def avoided() -> list[tuple[str, re.Pattern[str], str]]:
    """(language, pattern, the word to use) from the glossary's "Words we do not use"."""
    rows = re.findall(r"^\| (da|en) \| `([^`]+)` \| ([^|]+?) \|$", GLOSSARY.read_text(encoding="utf-8"), re.M)
    return [(lang, re.compile(r"(?<![\w./\[$-])" + pattern), use) for lang, pattern, use in rows]


def catalogue_texts() -> Iterator[tuple[str, str]]:
    """(language, text) of every entry of the English catalogue: the Danish msgid and its English."""
    from babel.messages.pofile import read_po

    with PO.open("rb") as fh:
        for m in read_po(fh):
            if not m.id:
                continue
            for text in (m.id if isinstance(m.id, tuple) else (m.id,)):
                yield "da", text
            for text in (m.string if isinstance(m.string, tuple) else (m.string,)):
                yield "en", text


def deploy_texts() -> Iterator[tuple[str, str]]:
    """The Danish words of the Grafana dashboards and the alert rules (titles, descriptions, summaries)."""
    def strings(node: object) -> Iterator[str]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("title", "description", "summary") and isinstance(value, str):
                    yield value
                else:
                    yield from strings(value)
        elif isinstance(node, list):
            for item in node:
                yield from strings(item)

    import yaml

    for path in sorted((ROOT / "deploy/grafana/dashboards").glob("*.json")):
        yield from (("da", t) for t in strings(json.loads(path.read_text(encoding="utf-8"))))
    for path in sorted((ROOT / "deploy/prometheus/rules").glob("*.yml")):
        yield from (("da", t) for t in strings(yaml.safe_load(path.read_text(encoding="utf-8"))))


def words_not_used(texts: Iterator[tuple[str, str]]) -> list[str]:
    patterns = avoided()
    return sorted({f"{lang}: {p.pattern} in {text[:80]!r} (use: {use})" for text_lang, text in texts
                   for lang, p, use in patterns if lang == text_lang and p.search(text)})


def test_the_glossary_lists_words_not_to_use_and_finds_them() -> None:
    patterns = avoided()
    assert len(patterns) >= 10
    found = words_not_used(iter([("da", "Skift af driftcenter"), ("da", "Planlagt vedligehold"),
                                 ("en", "the data center"), ("da", "planlagt vedligeholdelse i skiftevinduet"),
                                 ("da", "se /api/v1/cutover og [cutover] start")]))
    assert [f.split(" in ")[1] for f in found] == ["'Skift af driftcenter' (use: driftscenter)",
                                                   "'Planlagt vedligehold' (use: vedligeholdelse)",
                                                   "'the data center' (use: data centre)"]


def test_no_text_of_the_catalogue_grafana_or_the_alert_rules_uses_a_word_the_glossary_replaces() -> None:
    found = words_not_used(iter([*catalogue_texts(), *deploy_texts()]))
    assert not found, "\n".join(found)


@pytest.mark.parametrize("lang", ["da", "en"])
def test_no_rendered_page_feed_or_calendar_uses_a_word_the_glossary_replaces(
        client: FlaskClient, session: Session, lang: str) -> None:
    add_notice(session, kind="maintenance", status="scheduled", title="Opdatering", upstream_id="m-1")
    add_notice(session, kind="incident", status="identified", title="Fejl", upstream_id="i-1")
    session.commit()
    texts = []
    for path in ("/", "/metode", "/driftsstatus", "/skift", "/tilgaengelighed", "/subscribe", "/notices.atom",
                 "/kalender.ics", "/login"):
        response = client.get(f"{path}?lang={lang}")
        assert response.status_code == 200, path
        body = response.get_data(as_text=True)
        # Identifiers are not words: UIDs, ids and addresses in attributes and URLs.
        body = re.sub(r"(?m)^UID:.*$|\b(?:id|href|src|class|for|action|data-[a-z-]+)=\"[^\"]*\"", "", body)
        texts.append((lang, body))
    found = words_not_used(iter(texts))
    assert not found, "\n".join(found)


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
