"""Parsing status pages: real captures, the update timeline inside an item, broken feeds."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.collectors.notices.feedparse import parse_feed
from monitor.collectors.notices.statuspage import endpoints, parse_documents
from monitor.collectors.notices.updatehtml import parse_time, parse_updates
from monitor.collectors.notices.upstream import affected_names, safe_url, sanitize

FEEDS = Path(__file__).parent / "fixtures" / "feeds"
PARSE_RSS = Path(__file__).parent / "fixtures" / "statuspage-parse-history.rss"
NOW = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
UTC = dt.UTC


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def by_id(result, upstream_id):  # type: ignore[no-untyped-def]
    return next(n for n in result.notices if n.upstream_id == upstream_id)


def test_the_parse_capture_gives_every_incident_with_its_timeline_newest_first() -> None:
    result = parse_feed(PARSE_RSS.read_bytes(), NOW)
    assert result.clean
    assert len(result.notices) == 17
    first = by_id(result, "http://status.parse.com/incidents/lzf7mjchpy20")
    assert (first.title, first.kind, first.status) == ("Elevated error rates", "incident", "resolved")
    assert [(u.status, u.at) for u in first.updates] == [
        ("resolved", utc(2014, 1, 1, 17, 9)), ("identified", utc(2014, 1, 1, 17, 0)),
        ("investigating", utc(2014, 1, 1, 16, 17))]
    assert first.updates[0].body_html == "We have restored the system to its normal level of operation."
    assert first.resolved_at == utc(2014, 1, 1, 17, 9)
    assert first.started_at == utc(2014, 1, 1, 16, 17)


def test_an_update_word_keeps_the_previous_status() -> None:
    analytics = by_id(parse_feed(PARSE_RSS.read_bytes(), NOW), "http://status.parse.com/incidents/x7yb1mmd4721")
    assert [u.status for u in analytics.updates] == ["resolved", "identified", "identified"]


def test_a_postmortem_closes_the_incident_at_its_resolution() -> None:
    result = parse_feed(PARSE_RSS.read_bytes(), NOW)
    notice = by_id(result, "http://status.parse.com/incidents/p9hy357zjvb3")
    assert notice.status == "postmortem"
    assert notice.resolved_at == utc(2013, 12, 24, 19, 21)


def test_the_github_atom_capture_reads_var_markup_and_keeps_same_minute_updates_apart() -> None:
    result = parse_feed((FEEDS / "githubstatus-history.atom").read_bytes(), NOW)
    assert result.clean and len(result.notices) == 6
    crossing = by_id(result, "tag:www.githubstatus.com,2005:Incident/17980092")
    assert crossing.url == "https://www.githubstatus.com/incidents/xfmyxxhcknvj"
    assert crossing.updates[-1].at == utc(2023, 7, 27, 22, 4)
    assert crossing.updates[0].at == utc(2023, 7, 28, 1, 8)
    same_minute = by_id(result, "tag:www.githubstatus.com,2005:Incident/17959889")
    keys = [(u.status, u.at) for u in same_minute.updates]
    assert len(set(keys)) == 3
    assert "&lt;1%" in same_minute.updates[1].body_html


def test_the_staffbase_capture_reads_cet_times() -> None:
    result = parse_feed((FEEDS / "staffbase-history.rss").read_bytes(), NOW)
    blank = by_id(result, "https://status.staffbase.com/incidents/77004ltfxlkv")
    assert blank.updates[-1].at == utc(2021, 12, 22, 10, 12)
    assert [u.status for u in blank.updates] == ["resolved", "monitoring", "monitoring", "investigating",
                                                 "investigating"]


def test_a_danish_feed_reads_danish_status_words_affected_lines_and_maintenance() -> None:
    result = parse_feed((FEEDS / "danish-status.rss").read_bytes(), NOW)
    assert result.clean
    maint = by_id(result, "https://driftstatus.example.invalid/incidents/org-vedligehold")
    assert (maint.kind, maint.status) == ("maintenance", "in_progress")
    assert maint.component_names == ["Organisation", "Klassifikation"]
    assert all("berørte" not in u.body_html for u in maint.updates)
    beskeder = by_id(result, "https://driftstatus.example.invalid/incidents/beskeder-forsinket")
    assert [u.status for u in beskeder.updates] == ["resolved", "identified", "identified", "investigating"]
    assert beskeder.component_names == ["Beskedfordeler"]


def test_an_update_of_new_years_eve_in_an_item_of_new_years_day_keeps_the_old_year() -> None:
    result = parse_feed((FEEDS / "danish-status.rss").read_bytes(), NOW)
    cpr = by_id(result, "https://driftstatus.example.invalid/incidents/cpr-nytaar")
    assert [u.at for u in cpr.updates] == [utc(2021, 1, 1, 0, 30), utc(2020, 12, 31, 22, 45)]
    assert cpr.status == "monitoring" and cpr.resolved_at is None


@pytest.mark.parametrize(("text", "reference", "expected"), [
    ("Jan  1, 09:09 PST", utc(2014, 1, 1, 17, 9), utc(2014, 1, 1, 17, 9)),
    ("Dec 31, 23:50 UTC", utc(2021, 1, 1, 0, 10), utc(2020, 12, 31, 23, 50)),
    ("Jan 2, 00:10 UTC", utc(2020, 12, 31, 23, 0), utc(2021, 1, 2, 0, 10)),
    ("Nov 24, 09:12 CET", utc(2020, 11, 24, 9, 0), utc(2020, 11, 24, 8, 12)),
    ("Jul 28, 15:45 CEST", utc(2020, 7, 28, 14, 0), utc(2020, 7, 28, 13, 45)),
    ("24. nov. 2019 kl. 09.12 CET", utc(2020, 11, 24, 9, 0), utc(2019, 11, 24, 8, 12)),
    ("Sep 25, 16:01:05 GMT+0", utc(2026, 9, 25, 16, 0), utc(2026, 9, 25, 16, 1, 5)),
    ("Okt 3, 10:00 UTC+2", utc(2020, 10, 3, 8, 0), utc(2020, 10, 3, 8, 0)),
    ("Feb 29, 10:00 UTC", utc(2021, 3, 1), utc(2020, 2, 29, 10, 0)),
])
def test_update_times_take_the_year_nearest_the_item_date_and_their_zone(text, reference, expected) -> None:
    assert parse_time(text, reference, UTC) == expected


def test_a_time_in_an_unknown_zone_takes_the_offset_the_item_date_was_written_with() -> None:
    plus_one = dt.timezone(dt.timedelta(hours=1))
    assert parse_time("Nov 24, 09:12 XYZ", utc(2020, 11, 24), plus_one) == utc(2020, 11, 24, 8, 12)


@pytest.mark.parametrize("text", ["", "yesterday", "Nov 24", "09:12 UTC", "Nov 24, 25:99 UTC", "Nov 31, 10:00 UTC"])
def test_an_unreadable_time_is_none(text: str) -> None:
    assert parse_time(text, NOW, UTC) is None


def test_an_update_without_time_or_status_is_reported_and_left_out() -> None:
    html = ("<p><small>Nov 24, 10:00 UTC</small><br><strong>Resolved</strong> - ok</p>"
            "<p><small>sometime</small><br><strong>Identified</strong> - lost</p>"
            "<p><small>Nov 24, 09:00 UTC</small><br>no status here</p>")
    updates, problems = parse_updates(html, utc(2020, 11, 24, 10))
    assert [(u.word, u.body_html) for u in updates] == [("Resolved", "ok")]
    assert any("'sometime'" in p and "cannot be read" in p for p in problems)
    assert any("no <strong>status</strong>" in p for p in problems)


def test_sanitising_strips_scripts_and_event_handlers() -> None:
    html = ('<p><small>Nov 24, 10:00 UTC</small><br><strong>Investigating</strong> - '
            '<a href="https://x.invalid" onclick="steal()">link</a><script>alert(1)</script></p>')
    updates, _ = parse_updates(html, utc(2020, 11, 24, 10))
    assert "onclick" not in updates[0].body_html and "<script" not in updates[0].body_html
    assert "alert" not in updates[0].body_html and 'href="https://x.invalid"' in updates[0].body_html
    assert sanitize('<img src=https://x.invalid/a.png onerror="x()">') == '<img src="https://x.invalid/a.png">'


@pytest.mark.parametrize("link", ["javascript:alert(1)", " JavaScript:alert(1)", "data:text/html,<b>x</b>",
                                  "vbscript:x", "ftp://x.invalid/", "/relative/into/this/site", "//x.invalid/",
                                  "java\tscript:alert(1)", "http://"])
def test_links_and_images_from_upstream_keep_only_http_https_and_mailto(link: str) -> None:
    html = sanitize(f'<a href="{link}">tekst</a><img src="{link}">')
    assert html == '<a rel="noopener noreferrer">tekst</a><img>'
    assert safe_url(link) is None


@pytest.mark.parametrize("link", ["https://status.example/incidents/1", "http://x.invalid/a?b=c",
                                  "mailto:drift@x.invalid"])
def test_http_https_and_mailto_links_from_upstream_are_kept(link: str) -> None:
    assert f'href="{link}"' in sanitize(f'<a href="{link}">tekst</a>')
    assert safe_url(link) == link


@pytest.mark.parametrize(("text", "names"), [
    ("This incident affected: Git Operations, Webhooks, and API Requests.", ["Git Operations", "Webhooks", "API Requests"]),
    ("This scheduled maintenance affected: Actions.", ["Actions"]),
    ("Denne hændelse berørte: Serviceplatformen og Beskedfordeler.", ["Serviceplatformen", "Beskedfordeler"]),
    ("No components here.", []),
])
def test_affected_lines_name_components(text: str, names: list[str]) -> None:
    assert affected_names(text)[0] == names


def _feed(items: str, head: str = '<?xml version="1.0" encoding="UTF-8"?>') -> bytes:
    return f'{head}<rss version="2.0"><channel><title>t</title>{items}</channel></rss>'.encode()


ITEM = ("<item><title>{title}</title><guid>{guid}</guid><pubDate>Tue, 24 Nov 2020 09:00:00 +0000</pubDate>"
        "<description>&lt;p&gt;&lt;small&gt;Nov 24, 09:00 UTC&lt;/small&gt;&lt;br&gt;&lt;strong&gt;Investigating"
        "&lt;/strong&gt; - x&lt;/p&gt;</description></item>")


def test_an_item_without_title_or_id_is_reported_and_not_stored_half() -> None:
    items = ITEM.format(title="ok", guid="a") + ITEM.format(title="", guid="b") + ITEM.format(title="no id", guid="")
    result = parse_feed(_feed(items), NOW)
    assert [n.upstream_id for n in result.notices] == ["a"]
    assert any("no title" in p for p in result.problems)
    assert any("no id" in p for p in result.problems)
    assert not result.clean


def test_a_truncated_feed_keeps_only_its_complete_items() -> None:
    content = PARSE_RSS.read_bytes()
    cut = content[:7000]
    result = parse_feed(cut, NOW)
    assert result.fatal is None
    assert len(result.notices) == cut.count(b"</item>") == 3
    assert any("cut off" in p for p in result.problems)
    whole = {n.upstream_id: n for n in parse_feed(content, NOW).notices}
    for n in result.notices:
        assert n.updates == whole[n.upstream_id].updates


@pytest.mark.parametrize(("content", "message"), [
    (b"", "empty"), (b"   \n", "empty"),
    (b"\x00\xff\xfe garbage", "not an RSS or Atom feed"),
    (b"<html><body><p>Service Unavailable</p></body></html>", "not an RSS or Atom feed"),
])
def test_garbage_and_empty_documents_are_fatal_with_a_message(content: bytes, message: str) -> None:
    result = parse_feed(content, NOW)
    assert result.fatal is not None and message in result.fatal
    assert result.notices == []


def test_a_wrongly_encoded_feed_is_read_and_reported() -> None:
    latin1 = _feed(ITEM.format(title="Beskedfordeleren er langsom – ø", guid="a")).decode().encode("cp1252")
    result = parse_feed(latin1, NOW)
    assert [n.title for n in result.notices] == ["Beskedfordeleren er langsom – ø"]
    assert any("wrong encoding" in p for p in result.problems)


def test_the_discord_statuspage_json_gives_impact_components_and_the_maintenance_window() -> None:
    docs = {name: (FEEDS / "discordstatus" / f"{name}.json").read_bytes()
            for name in ("incidents", "scheduled-maintenances", "components")}
    result = parse_documents(docs)
    assert result.clean
    incident = by_id(result, "n4njzfn1mqy0")
    assert (incident.kind, incident.status, incident.impact) == ("incident", "resolved", "minor")
    assert incident.component_names == ["API"]
    assert incident.resolved_at == dt.datetime(2022, 2, 15, 21, 37, 37, 388000, tzinfo=UTC)
    assert [u.status for u in incident.updates] == ["resolved", "monitoring", "investigating", "investigating"]
    maint = by_id(result, "chkt3cr0jf7b")
    assert (maint.kind, maint.status) == ("maintenance", "completed")
    assert maint.scheduled_for == utc(2015, 9, 22, 8, 0) and maint.scheduled_until == utc(2015, 9, 22, 8, 30)
    assert "<br>" in maint.updates[0].body_html


def test_broken_statuspage_json_keeps_the_documents_that_parse() -> None:
    docs = {"incidents": (FEEDS / "discordstatus" / "incidents.json").read_bytes(),
            "scheduled-maintenances": b'{"scheduled_maintenances": [{"name": "no id"}]',
            "components": b"<html>"}
    result = parse_documents(docs)
    assert [n.upstream_id for n in result.notices] == ["n4njzfn1mqy0"]
    assert len(result.problems) == 2 and not result.clean
    assert parse_documents({"incidents": b"nope"}).fatal


def test_statuspage_endpoints_sit_under_api_v2() -> None:
    assert endpoints("https://status.example.invalid/")["incidents"] == \
        "https://status.example.invalid/api/v2/incidents.json"
    assert endpoints("https://s.invalid/api/v2/summary.json")["components"] == "https://s.invalid/api/v2/components.json"


# --- property tests: the update parser never raises and never invents updates -------------

STATUS = st.sampled_from(["Investigating", "Identified", "Monitoring", "Resolved", "Update", "Undersøger",
                          "Løst", "Opdatering", "Planlagt", "I gang", "Afsluttet", "Postmortem"])
BODY = st.text(alphabet=st.characters(blacklist_characters="<>&", blacklist_categories=("Cs", "Cc")), max_size=40)
MOMENT = st.datetimes(min_value=dt.datetime(2001, 1, 1), max_value=dt.datetime(2099, 12, 1)).map(
    lambda t: t.replace(second=0, microsecond=0, tzinfo=UTC))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300), MOMENT)
def test_the_update_parser_never_raises_and_finds_at_most_one_update_per_time_tag(text: str, ref: dt.datetime) -> None:
    updates, problems = parse_updates(text, ref)
    assert len(updates) + len(problems) <= text.lower().count("<small")


@settings(max_examples=200, deadline=None)
@given(MOMENT, st.lists(st.tuples(STATUS, st.integers(0, 150 * 24 * 60), BODY), max_size=6),
       st.lists(st.sampled_from(["<small>", "</small>", "<strong>", "<p>", "</p>", "<br>", " - "]), max_size=5))
def test_well_formed_updates_come_back_exactly_and_noise_never_adds_any(newest, offsets, noise) -> None:
    # A timeline spans less than half a year, so a time without a year is never ambiguous.
    entries = sorted(((s, newest - dt.timedelta(minutes=m), b) for s, m, b in offsets),
                     key=lambda e: e[1], reverse=True)
    html = "".join(f"<p><small>{t:%b %d, %H:%M} UTC</small><br><strong>{s}</strong> - {b}</p>"
                   for s, t, b in entries)
    reference = entries[0][1] if entries else NOW
    updates, problems = parse_updates(html, reference)
    assert problems == []
    assert [(u.word, u.at) for u in updates] == [(s, t) for s, t, _ in entries]
    assert [u.body_html for u in updates] == [sanitize(b.strip()) for _, _, b in entries]
    noisy, _ = parse_updates(html + "".join(noise), reference)
    assert [(u.word, u.at) for u in noisy] == [(s, t) for s, t, _ in entries]


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=18057), st.binary(max_size=20))
def test_any_cut_of_a_real_feed_never_raises_and_never_invents_or_changes_items(cut: int, tail: bytes) -> None:
    content = PARSE_RSS.read_bytes()
    whole = {n.upstream_id: n for n in parse_feed(content, NOW).notices}
    result = parse_feed(content[:cut] + tail, NOW)
    ids = [n.upstream_id for n in result.notices]
    assert len(ids) == len(set(ids))
    for n in result.notices:
        if n.upstream_id in whole:
            assert n.updates == whole[n.upstream_id].updates
