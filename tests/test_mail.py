"""Mails as files (the demo's backend), in both languages, and the text of a notice."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from monitor.notify.mail import html_to_text, one_line
from monitor.notify.outbox import deliver_due, enqueue_for_update
from monitor.settings import Settings
from tests.notify_helpers import add_notice, add_subscriber, add_update, eml_files, parts


def test_the_file_backend_writes_one_eml_per_delivery_and_never_again(
        session: Session, engine: Engine, settings: Settings, tmp_path: Path) -> None:
    add_subscriber(session, "a@k.dk", ("serviceplatformen",))
    add_subscriber(session, "b@k.dk")
    add_subscriber(session, "c@k.dk", ("organisation",))
    enqueue_for_update(session, add_notice(session))
    session.commit()
    assert deliver_due(engine, settings).sent == 2
    assert deliver_due(engine, settings).sent == 0
    mails = eml_files(tmp_path / "outbox")
    assert sorted(m["To"] for m in mails) == ["a@k.dk", "b@k.dk"]
    assert not list((tmp_path / "outbox").glob(".*.tmp"))
    for m in mails:
        assert m["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert m["From"].addresses[0].addr_spec == "driftstatus@infrastrukturmonitor.invalid"


def test_a_subscriber_who_chose_english_gets_english(session: Session, engine: Engine, settings: Settings,
                                                     tmp_path: Path) -> None:
    add_subscriber(session, "da@k.dk", language="da")
    add_subscriber(session, "en@k.dk", language="en")
    first = add_notice(session, kind="maintenance", status="scheduled")
    enqueue_for_update(session, first)
    enqueue_for_update(session, add_update(session, first, "completed", 60))
    session.commit()
    deliver_due(engine, settings)
    by_lang = {}
    for m in eml_files(tmp_path / "outbox"):
        by_lang.setdefault(m["To"], []).append(m)
    da_text = parts(by_lang["da@k.dk"][0])[0]
    en_text = parts(by_lang["en@k.dk"][0])[0]
    assert "Vedligeholdelse:" in da_text and "Komponenter:" in da_text  # the glossary's kind word
    assert "Vedligeholdelse" not in en_text and "Maintenance:" in en_text and "Komponenter:" not in en_text
    assert "Components" in en_text and "Serviceplatformen" in en_text
    assert "kl." in da_text and "kl." not in en_text
    assert len(by_lang["en@k.dk"]) == 2


def test_html_becomes_readable_text() -> None:
    assert html_to_text("<p>Første&nbsp;linje<br>anden</p><p>Tredje &amp; sidste</p>") == \
        "Første\xa0linje\nanden\n\nTredje & sidste"
    assert html_to_text("<script>x()</script><p>ok</p>") == "ok"
    assert html_to_text("") == ""


def test_a_header_never_gets_a_line_break() -> None:
    assert one_line("a\r\nBcc: x@y\n b") == "a Bcc: x@y b"
    assert len(one_line("x" * 500)) == 200
