"""From a status feed to the outbox: the backfill sends nothing, a new update one mail per subscriber."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from monitor.notify.collect import poll_all
from monitor.notify.outbox import deliver_due
from tests.conftest import make_settings
from tests.notify_helpers import add_subscriber, eml_files

ITEM = """<item>
  <title>Forsinkelser på Serviceplatformen</title>
  <description>{body}</description>
  <pubDate>Sat, 28 Nov 2020 09:00:00 +0000</pubDate>
  <link>https://status.example/incidents/abc</link>
  <guid>https://status.example/incidents/abc</guid>
</item>"""
FIRST = ("&lt;p&gt;&lt;small&gt;Nov 28, 09:00 UTC&lt;/small&gt;&lt;br&gt;"
         "&lt;strong&gt;Investigating&lt;/strong&gt; - Vi undersøger.&lt;/p&gt;")
RESOLVED = ("&lt;p&gt;&lt;small&gt;Nov 28, 10:30 UTC&lt;/small&gt;&lt;br&gt;"
            "&lt;strong&gt;Resolved&lt;/strong&gt; - Løst.&lt;/p&gt;")


def write_feed(path: Path, body: str) -> None:
    path.write_text(f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Status</title><link>https://status.example</link>
<description>Status</description>{ITEM.format(body=body)}</channel></rss>""", encoding="utf-8")


def test_a_new_update_in_the_feed_puts_exactly_one_mail_per_subscriber_in_the_outbox(
        tmp_path: Path, db_url: str, engine: Engine, session: Session) -> None:
    feed = tmp_path / "status.rss"
    settings = make_settings(tmp_path, db_url, notices={"sources": [
        {"name": "demo", "url": str(feed), "kind": "feed", "components": ["serviceplatformen"]}]})
    add_subscriber(session, "sp@k.dk", ("serviceplatformen",))
    add_subscriber(session, "all@k.dk")
    add_subscriber(session, "org@k.dk", ("organisation",))
    session.commit()

    write_feed(feed, FIRST)
    poll_all(engine, settings)  # the backfill
    assert deliver_due(engine, settings).sent == 0

    write_feed(feed, RESOLVED + FIRST)
    poll_all(engine, settings)
    poll_all(engine, settings)  # a re-poll duplicates nothing
    assert deliver_due(engine, settings).sent == 2
    assert deliver_due(engine, settings).sent == 0
    mails = eml_files(tmp_path / "outbox")
    assert sorted(m["To"] for m in mails) == ["all@k.dk", "sp@k.dk"]
