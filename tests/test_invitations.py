"""Invitations for the people who got the old notices, and a subscriber's data: export and erasure."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from monitor.cli import cli
from monitor.models import Delivery, Mail, Subscriber, SuppressedAddress
from monitor.notify import privacy
from monitor.notify.invitations import InviteRow, invite, read_rows
from monitor.notify.outbox import deliver_due, enqueue_for_update, queue_summary
from monitor.settings import Settings
from tests import mailgrammar
from tests.notify_helpers import add_notice, add_subscriber, eml_files, parts

LATER = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


def config(tmp_path: Path, db_url: str, per_minute: int = 30) -> str:
    path = tmp_path / "config.toml"
    path.write_text(f'[database]\nurl = "{db_url}"\n[mail]\ninvitations_per_minute = {per_minute}\n',
                    encoding="utf-8")
    return str(path)


def run(cfg: str, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["--config", cfg, "subscribers", *args])


def csrf(client: FlaskClient, path: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True))
    assert found
    return found.group(1)


def test_a_file_is_read_as_one_address_a_line_or_as_csv_with_either_delimiter() -> None:
    assert read_rows("\ufeffa@k.dk\n\n# a comment\nb@k.dk\n") == [InviteRow(1, "a@k.dk"), InviteRow(4, "b@k.dk")]
    assert read_rows("Email;Components;Language\na@k.dk;organisation beskedfordeler;en\n") == [
        InviteRow(2, "a@k.dk", "organisation beskedfordeler", "en")]
    assert read_rows("email,language\nb@k.dk,da\n") == [InviteRow(2, "b@k.dk", "", "da")]


def test_rerunning_a_campaign_never_mails_an_address_twice_and_the_report_says_why(
        tmp_path: Path, db_url: str, session: Session, engine: Engine, settings: Settings) -> None:
    cfg = config(tmp_path, db_url)
    add_subscriber(session, "active@k.dk")
    add_subscriber(session, "left@k.dk", unsubscribed=True)
    privacy.suppress(session, "erased@k.dk", "erased")
    session.commit()
    listing = tmp_path / "modtagere.csv"
    listing.write_text("email;components;language\nny@k.dk;serviceplatformen;en\nActive@K.dk;;\nleft@k.dk;;\n"
                       "erased@k.dk;;\nny@k.dk;;\nnot-an-address;;\nx@k.dk;no-such-component;\n"
                       "y@k.dk;;de\n", encoding="utf-8")
    first = run(cfg, "invite", str(listing), "--campaign", "serviceplatformen-2020")
    assert first.exit_code == 1, first.output  # some lines were refused
    assert "campaign 'serviceplatformen-2020': invited 1, skipped 4, refused 3" in first.output
    assert "skipped 1: already subscribed" in first.output
    assert "skipped 1: unsubscribed before: never invited" in first.output
    assert "skipped 1: erased before: never invited" in first.output
    assert "skipped 1: twice in the file" in first.output
    assert "line 7: refused 'not-an-address'" in first.output
    assert "line 8: refused 'x@k.dk': unknown component(s): no-such-component" in first.output
    assert "line 9: refused 'y@k.dk': language" in first.output
    second = run(cfg, "invite", str(listing), "--campaign", "serviceplatformen-2020")
    assert "invited 0, skipped 5" in second.output and "already invited in this campaign" in second.output
    assert deliver_due(engine, settings, now=LATER).sent == 1
    assert deliver_due(engine, settings, now=LATER).sent == 0
    assert session.scalar(select(func.count()).select_from(Subscriber)) == 2  # nobody new is subscribed
    [mail] = eml_files(tmp_path / "outbox")
    assert mail["To"] == "ny@k.dk" and "Invitation" in str(mail["Subject"])


def test_invitations_leave_the_outbox_at_the_configured_rate(
        session: Session, engine: Engine, settings: Settings, now: dt.datetime) -> None:
    rows = [InviteRow(i, f"p{i}@k.dk") for i in range(1, 7)]
    report = invite(session, settings, rows, "rate", now=now, smtputf8=lambda: True)
    session.commit()
    assert len(report.invited) == 6
    slots = session.scalars(select(Mail.next_attempt_at).order_by(Mail.id)).all()
    step = dt.timedelta(seconds=60 / settings.mail.invitations_per_minute)
    assert [b - a for a, b in zip(slots, slots[1:], strict=False)] == [step] * 5
    assert slots[0] == now
    # A second campaign queues after the first, never at once beside it.
    invite(session, settings, [InviteRow(1, "late@k.dk")], "next", now=now, smtputf8=lambda: True)
    session.commit()
    assert session.scalar(select(Mail.next_attempt_at).where(Mail.campaign == "next")) == slots[-1] + step
    assert queue_summary(session)["depth"] == 7  # the service-health page and the metric count them
    assert deliver_due(engine, settings, now=now + 2 * step).sent == 3  # only those whose time has come
    assert deliver_due(engine, settings, now=now + 10 * step).sent == 4


def test_an_invitation_subscribes_only_on_its_button_and_its_header_opts_out_in_one_click(
        session: Session, engine: Engine, settings: Settings, client: FlaskClient, tmp_path: Path) -> None:
    invite(session, settings, [InviteRow(1, "leder@k.dk", "organisation", "en"),
                               InviteRow(2, "nej@k.dk")], "c1", smtputf8=lambda: True)
    session.commit()
    deliver_due(engine, settings, now=LATER)
    by_address = {m["To"]: m for m in eml_files(tmp_path / "outbox")}
    accept = re.search(r"https?://[^\s/]+(/invitation/[A-Za-z0-9_.\-]+\?lang=en)\s", parts(by_address["leder@k.dk"])[0])
    assert accept is not None
    page = client.get(accept.group(1))
    assert page.status_code == 200
    assert re.search(r'value="organisation" id="c-organisation"\s+checked', page.get_data(as_text=True))
    assert session.scalar(select(func.count()).select_from(Subscriber)) == 0  # the GET changed nothing
    done = client.post(accept.group(1), data={"components": ["organisation"], "language": "en",
                                              "csrf_token": csrf(client, accept.group(1))})
    assert done.status_code == 200
    sub = session.scalars(select(Subscriber)).one()
    assert sub.address == "leder@k.dk" and sub.confirmed_at is not None and sub.language == "en"
    assert [s.component_slug for s in sub.subscriptions] == ["organisation"]

    raw_optout = str(by_address["nej@k.dk"]["List-Unsubscribe"]).strip()
    path = re.fullmatch(r"<https?://[^/]+(/invitation/[^>]+/nej\?lang=da)>", raw_optout)
    assert path is not None, raw_optout
    assert client.post(path.group(1), data="List-Unsubscribe=One-Click",
                       content_type="application/x-www-form-urlencoded").status_code == 200
    again = invite(session, settings, [InviteRow(1, "nej@k.dk")], "c2", smtputf8=lambda: True)
    assert again.skipped == [(1, "nej@k.dk", "declined before: never invited")]


def test_an_invitation_passes_the_raw_bytes_grammar(
        session: Session, engine: Engine, settings: Settings, tmp_path: Path) -> None:
    invite(session, settings, [InviteRow(1, "leder@k.dk")], "c1", smtputf8=lambda: True)
    session.commit()
    deliver_due(engine, settings, now=LATER)
    [path] = sorted((tmp_path / "outbox").glob("*.eml"))
    mail = mailgrammar.read(path.read_bytes())
    assert "/invitation/" in mail.part("text/plain") and mail.one("List-Unsubscribe").endswith("/nej?lang=da>")


def test_an_unsubscribed_address_is_never_invited_even_after_its_record_is_deleted(
        session: Session, engine: Engine, settings: Settings, client: FlaskClient) -> None:
    from monitor.notify.mail import subscriber_links
    from monitor.notify.subscriptions import purge_unsubscribed

    sub = add_subscriber(session, "gone@k.dk")
    session.commit()
    path = subscriber_links(settings, "test-secret", sub)["unsubscribe"].split("8000", 1)[1]
    assert client.post(path, data="List-Unsubscribe=One-Click",
                       content_type="application/x-www-form-urlencoded").status_code == 200
    assert purge_unsubscribed(engine, settings, now=LATER) == 1
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Subscriber)) == 0
    report = invite(session, settings, [InviteRow(1, "gone@k.dk")], "c1", smtputf8=lambda: True)
    assert report.skipped == [(1, "gone@k.dk", "unsubscribed before: never invited")]
    # What is kept is a hash, not the address.
    assert "gone" not in " ".join(session.scalars(select(SuppressedAddress.address_hash)))


def test_the_manage_page_downloads_my_data_and_deletes_me_at_once(
        session: Session, engine: Engine, settings: Settings, client: FlaskClient, tmp_path: Path) -> None:
    from monitor.notify.mail import subscriber_links

    sub = add_subscriber(session, "leder@k.dk", ("organisation",))
    enqueue_for_update(session, add_notice(session, components=("organisation",), title="Organisation nede"))
    session.commit()
    deliver_due(engine, settings)
    manage = subscriber_links(settings, "test-secret", sub)["manage"].split("8000", 1)[1].removesuffix("?lang=da")
    page = client.get(manage).get_data(as_text=True)
    assert "Hent mine data" in page and "Slet mig nu" in page
    download = client.post(f"{manage}/data", data={"csrf_token": csrf(client, manage)})
    assert download.status_code == 200 and download.mimetype == "application/json"
    assert "attachment" in download.headers["Content-Disposition"]
    data = json.loads(download.get_data(as_text=True))
    assert data["address"] == "leder@k.dk" and data["subscriber"]["components"] == ["organisation"]
    assert [d["notice"] for d in data["deliveries"]] == ["Organisation nede"]
    assert client.post(f"{manage}/data", data={}).status_code == 400  # no CSRF token, no data

    gone = client.post(f"{manage}/delete", data={"csrf_token": csrf(client, manage), "confirm": "yes"})
    assert gone.status_code == 200 and "Du er slettet" in gone.get_data(as_text=True)
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Subscriber)) == 0
    assert session.scalar(select(func.count()).select_from(Delivery)) == 0
    assert client.get(manage).status_code == 410  # the link is void: nobody is left behind it
    assert privacy.suppression(session, "leder@k.dk") == "erased"


def test_the_operator_exports_and_deletes_an_address_with_the_same_functions(
        tmp_path: Path, db_url: str, session: Session) -> None:
    cfg = config(tmp_path, db_url)
    add_subscriber(session, "leder@k.dk", ("organisation",), language="en")
    session.commit()
    exported = run(cfg, "export", "Leder@K.dk")
    assert exported.exit_code == 0, exported.output
    document = json.loads(exported.output)
    assert document["subscriber"]["language"] == "en" and document["address"] == "leder@k.dk"
    deleted = run(cfg, "delete", "leder@k.dk")
    assert deleted.exit_code == 0 and "deleted everything held on leder@k.dk" in deleted.output
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Subscriber)) == 0
    assert json.loads(run(cfg, "export", "leder@k.dk").output)["subscriber"] is None
    assert "nothing was held" in run(cfg, "delete", "leder@k.dk").output


def test_the_command_lists_invite_export_and_delete() -> None:
    result = CliRunner().invoke(cli, ["subscribers", "--help"])
    assert result.exit_code == 0
    for command in ("invite", "export", "delete"):
        assert re.search(rf"^\s+{command}\s", result.output, re.M), result.output


def accept_path(session: Session, engine: Engine, settings: Settings, tmp_path: Path) -> str:
    """Invite leder@k.dk and return the path of the accept link in the mail."""
    invite(session, settings, [InviteRow(1, "leder@k.dk")], "c1", smtputf8=lambda: True)
    session.commit()
    deliver_due(engine, settings, now=LATER)
    [mail] = eml_files(tmp_path / "outbox")
    found = re.search(r"https?://[^\s/]+(/invitation/[A-Za-z0-9_.\-]+)\?lang=da\s", parts(mail)[0])
    assert found is not None
    return found.group(1)


def accept_form(client: FlaskClient, path: str) -> dict[str, object]:
    return {"components": [], "language": "da", "csrf_token": csrf(client, "/subscribe")}


@pytest.mark.parametrize("how", ["unsubscribed", "declined", "erased"])
def test_an_invitation_is_void_once_its_address_unsubscribed_declined_or_was_erased(
        session: Session, engine: Engine, settings: Settings, client: FlaskClient, tmp_path: Path, how: str) -> None:
    from monitor.notify.mail import subscriber_links

    accept = accept_path(session, engine, settings, tmp_path)
    if how == "declined":
        assert client.post(f"{accept}/nej", data="List-Unsubscribe=One-Click",
                           content_type="application/x-www-form-urlencoded").status_code == 200
    else:
        assert client.post(accept, data=accept_form(client, accept)).status_code == 200
        sub = session.scalars(select(Subscriber)).one()
        links = {k: v.split("8000", 1)[1] for k, v in subscriber_links(settings, "test-secret", sub).items()}
        if how == "unsubscribed":
            assert client.post(links["unsubscribe"], data="List-Unsubscribe=One-Click",
                               content_type="application/x-www-form-urlencoded").status_code == 200
        else:
            manage = links["manage"].removesuffix("?lang=da")
            assert client.post(f"{manage}/delete", data={"csrf_token": csrf(client, manage), "confirm": "yes"}).status_code == 200
    session.expire_all()
    before = [(s.id, s.confirmed_at, s.unsubscribed_at) for s in session.scalars(select(Subscriber))]

    page = client.get(accept)
    assert page.status_code == 410 and "Invitationen gælder ikke længere" in page.get_data(as_text=True)
    again = client.post(accept, data=accept_form(client, accept))
    assert again.status_code == 410
    session.expire_all()
    assert [(s.id, s.confirmed_at, s.unsubscribed_at) for s in session.scalars(select(Subscriber))] == before
    assert privacy.suppression(session, "leder@k.dk") == how
    assert session.scalar(select(func.count()).select_from(Mail).where(Mail.kind != "invitation")) == 0


@pytest.mark.parametrize(("language", "date"), [("da", "30. november 2020"), ("en", "30 November 2020")])
def test_an_invitation_names_the_new_source_and_the_day_the_old_notices_stop(
        session: Session, engine: Engine, settings: Settings, tmp_path: Path, language: str, date: str) -> None:
    invite(session, settings, [InviteRow(1, "leder@k.dk", "", language)], "c1", smtputf8=lambda: True)
    session.commit()
    deliver_due(engine, settings, now=LATER)
    [path] = sorted((tmp_path / "outbox").glob("*.eml"))
    mail = mailgrammar.read(path.read_bytes())
    for part in (mail.part("text/plain"), mail.part("text/html")):
        flat = " ".join(part.split())
        assert "driftstatus.kombit.dk" in flat and date in flat and "serviceplatformen.dk" in flat


def test_slet_mig_nu_deletes_nothing_until_its_box_is_ticked(
        session: Session, settings: Settings, client: FlaskClient) -> None:
    from monitor.notify.mail import subscriber_links

    sub = add_subscriber(session, "leder@k.dk", ("organisation",))
    session.commit()
    manage = subscriber_links(settings, "test-secret", sub)["manage"].split("8000", 1)[1].removesuffix("?lang=da")
    assert 'name="confirm" value="yes"' in client.get(manage).get_data(as_text=True)
    refused = client.post(f"{manage}/delete", data={"csrf_token": csrf(client, manage)})
    assert refused.status_code == 400 and "Intet er slettet" in refused.get_data(as_text=True)
    session.expire_all()
    assert session.scalars(select(Subscriber)).one().address == "leder@k.dk"
    gone = client.post(f"{manage}/delete", data={"csrf_token": csrf(client, manage), "confirm": "yes"})
    assert gone.status_code == 200
    session.expire_all()
    assert session.scalars(select(Subscriber)).one_or_none() is None
