"""The demo end to end: subscribe to Serviceplatformen, confirm, and a new Serviceplatformen update
in the demo feed puts exactly one mail in var/outbox; unsubscribing stops them."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from monitor import demo_feed, demo_live
from monitor.demo import load_demo
from monitor.notify.collect import poll_all
from monitor.notify.outbox import deliver_due
from tests.conftest import make_settings
from tests.notify_helpers import eml_files, link, parts

NOW = dt.datetime(2020, 11, 29, 22, 30, tzinfo=dt.UTC)


def csrf(client, path: str) -> str:  # type: ignore[no-untyped-def]
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True))
    assert found
    return found.group(1)


def test_a_demo_subscriber_gets_one_mail_per_new_update_of_their_component_until_unsubscribing(
        tmp_path: Path, sqlite_url: str) -> None:
    settings = make_settings(tmp_path, sqlite_url, demo={"enabled": True}, notices={"sources": [
        {"name": "Demo-driftstatus", "url": str(tmp_path / "demo-status.rss"), "kind": "feed"}]})
    from monitor import create_app
    from monitor.db import make_engine

    engine = make_engine(settings.database.url)
    load_demo(engine, settings, seed=1, size="small", now=NOW)
    poll_all(engine, settings, NOW)  # the first poll is the backfill: nobody is told about history
    app = create_app(settings)
    client = app.test_client()
    outbox = tmp_path / "outbox"

    client.post("/subscribe", data={"email": "it@kommune.dk", "components": ["serviceplatformen"],
                                    "language": "da", "csrf_token": csrf(client, "/subscribe")})
    assert eml_files(outbox) == []  # queued with the subscriber; the scheduler's next run sends it
    deliver_due(engine, settings)
    [confirmation] = eml_files(outbox)
    path = link(confirmation, "confirm")
    assert client.post(path, data={"csrf_token": csrf(client, path)}).status_code == 200

    every = dt.timedelta(minutes=settings.demo.feed_update_minutes)
    # The demo's live stream: four updates about Organisation, then Serviceplatformen's first.
    for step in range(1, 6):
        at = NOW + step * every
        assert demo_live.update_feed(engine, settings, now=at)
        poll_all(engine, settings, at)
    deliver_due(engine, settings)
    notices = [m for m in eml_files(outbox) if "/confirm/" not in parts(m)[0]]
    assert len(notices) == 1, [m["Subject"] for m in notices]
    [mail] = notices
    assert mail["To"] == "it@kommune.dk"
    assert demo_feed.LIVE_COMPONENTS[1][1] in mail["Subject"]

    # One-click unsubscribe from the mail's header, then the next update sends nothing.
    unsubscribe = re.search(r"<https?://[^/>]+(/u/[^>]+)>", mail["List-Unsubscribe"]).group(1)  # type: ignore[union-attr]
    assert client.post(unsubscribe, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    at = NOW + 6 * every
    demo_live.update_feed(engine, settings, now=at)
    poll_all(engine, settings, at)
    deliver_due(engine, settings)
    assert len(eml_files(outbox)) == 2  # the confirmation and the one notice mail, nothing more
    app.extensions["monitor"].engine.dispose()
    engine.dispose()
