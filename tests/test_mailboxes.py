"""Municipality mailboxes: `monitor municipalities contacts FILE`, validated like every import,
shown to operators on /drift and to nobody else, loaded by the demo, covered by export and erasure."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from monitor.demo import load_demo
from monitor.models import MunicipalityContact
from monitor.notify.privacy import erase, export_data
from tests.auth_helpers import sign_in
from tests.cli_helpers import printed, run_cli


def contacts(session) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    session.expire_all()
    return [(c.municipality_code, c.address, c.language) for c in
            session.scalars(select(MunicipalityContact).order_by(MunicipalityContact.municipality_code,
                                                                 MunicipalityContact.address))]


def test_a_contacts_file_is_imported_with_its_languages(monkeypatch, tmp_path, settings, session):
    file = tmp_path / "postkasser.csv"
    file.write_text("kode;email;sprog\n0101;Infrastruktur@KK.example.dk\n751;it@aarhus.example.dk;en\n"
                    "751;drift@aarhus.example.dk;da\n", encoding="utf-8")
    result = run_cli(monkeypatch, settings, "municipalities", "contacts", str(file))
    assert result.exit_code == 0, result.output
    assert printed(result) == ["contacts: 3 added, 0 kept, 0 removed"]
    assert contacts(session) == [("101", "infrastruktur@kk.example.dk", "da"), ("751", "drift@aarhus.example.dk", "da"),
                                 ("751", "it@aarhus.example.dk", "en")]


def test_a_second_import_keeps_a_known_mailbox_its_secret_and_removes_one_no_longer_named(monkeypatch, tmp_path,
                                                                                          settings, session):
    file = tmp_path / "postkasser.csv"
    file.write_text("101;infrastruktur@kk.example.dk\n751;it@aarhus.example.dk\n", encoding="utf-8")
    run_cli(monkeypatch, settings, "municipalities", "contacts", str(file))
    key = session.scalars(select(MunicipalityContact.link_key).where(MunicipalityContact.municipality_code == "101")).one()
    file.write_text("101;infrastruktur@kk.example.dk;en\n", encoding="utf-8")
    result = run_cli(monkeypatch, settings, "municipalities", "contacts", str(file))
    assert printed(result) == ["contacts: 0 added, 1 kept, 1 removed"]
    assert contacts(session) == [("101", "infrastruktur@kk.example.dk", "en")]
    assert session.scalars(select(MunicipalityContact.link_key)).one() == key


def test_an_unknown_code_or_a_bad_address_is_a_line_named_rejection_and_nothing_is_kept(monkeypatch, tmp_path,
                                                                                        settings, session):
    file = tmp_path / "postkasser.csv"
    file.write_text("101;infrastruktur@kk.example.dk\n101;existing@kk.example.dk\n", encoding="utf-8")
    run_cli(monkeypatch, settings, "municipalities", "contacts", str(file))
    before = contacts(session)
    file.write_text("101;ny@kk.example.dk\n999;x@example.dk\n751;ikke en adresse\n147;a@b.example.dk;de\n"
                    "461;a@b.example.dk;da;ekstra\n", encoding="utf-8")
    result = run_cli(monkeypatch, settings, "municipalities", "contacts", str(file))
    assert result.exit_code == 1
    lines = printed(result)
    assert lines[0] == "line 2: unknown municipality code '999'"
    assert lines[1].startswith("line 3: not a mail address 'ikke en adresse'")
    assert lines[2] == "line 4: language must be da or en, got 'de'"
    assert lines[3] == "line 5: expected code;email[;language], got 4 field(s)"
    assert lines[-1] == "rejected: 4 bad line(s); nothing was kept"
    assert contacts(session) == before


def test_a_file_that_cannot_be_read_is_refused_in_one_line(monkeypatch, tmp_path, settings):
    file = tmp_path / "postkasser.csv"
    file.write_bytes(b"101;\xff@kk.example.dk\n")
    result = run_cli(monkeypatch, settings, "municipalities", "contacts", str(file))
    assert result.exit_code == 2 and printed(result) == [f"refused: {file}: not UTF-8 text"]


def test_mailboxes_show_on_drift_for_operators_and_nowhere_in_public(app, client, session):
    session.add(MunicipalityContact(municipality_code="751", address="infrastruktur@aarhus.example.dk",
                                    language="da", stopped=["digest"]))
    session.commit()
    for path in ("/", "/kommune/751", "/skift", "/skift?kommune=751", "/api/v1/cutover", "/api/v1/municipalities/751"):
        assert "aarhus.example.dk" not in client.get(path).get_data(as_text=True), path
    assert client.get("/drift").status_code in (302, 303)
    page = sign_in(client).get("/drift").get_data(as_text=True)
    assert "Kommunernes postkasser" in page and "751 Aarhus" in page and "aarhus.example.dk" in page
    assert "digest" in page


def test_export_and_erasure_cover_a_mailbox(session):
    session.add(MunicipalityContact(municipality_code="751", address="it@aarhus.example.dk", language="en", stopped=[]))
    session.commit()
    assert export_data(session, "it@aarhus.example.dk")["mailboxes"][0]["municipality"] == "751"
    assert erase(session, "it@aarhus.example.dk")
    session.commit()
    assert contacts(session) == []


def test_the_demo_loads_a_mailbox_for_every_municipality(engine, settings, session):
    load_demo(engine, settings, seed=1, size="small", now=dt.datetime(2026, 11, 29, 3, 0, tzinfo=dt.UTC))
    loaded = contacts(session)
    assert len(loaded) == 98 and len({code for code, _, _ in loaded}) == 98
    assert all(address.endswith("@demo.invalid") for _, address, _ in loaded)
