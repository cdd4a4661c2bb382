"""Danish done right on the pages: plural forms through Babel, one date format per language,
job runs on /drift in the reader's language, charts that say when they have no data, captions
that tell the truth, glyphs every common font has, and an accessibility statement with a
contact and the date of its last check."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from flask_babel import force_locale
from hypothesis import given
from hypothesis import strategies as st

from monitor.models import CollectorRun
from monitor.settings import ConfigError
from monitor.web.pages import charts
from monitor.web.pages.municipality import silent_first
from monitor.web.pages.overview import reason_text
from monitor.web.pages.run_summary import code_word, job_name, run_summary
from tests.auth_helpers import sign_in
from tests.conftest import make_settings

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
T0 = dt.datetime(2020, 11, 28, 11, 0, tzinfo=dt.UTC)

# A count placed before a noun whose Danish form depends on it, in a plain gettext call.
COUNT_BEFORE_NOUN = re.compile(
    r"""\b_\((["'])[^"']*%\(\w+\)[sd] (dage|filer|aftaler|overflødige|it-systemer|kommuner|indbyggere|timer)\b""")
# What every common font (DejaVu, Liberation, Arial, Segoe UI, Roboto) has: Latin-1 and the
# punctuation the pages use. Anything else is drawn as inline SVG or written as a word.
COMMON = set(map(chr, range(0x20, 0x7F))) | set(map(chr, range(0xA0, 0x100))) | set("\n\t–—‘’“”…−€•")


def _say(app, lang, fn, *args):  # type: ignore[no-untyped-def]
    with app.test_request_context(f"/?lang={lang}"), force_locale(lang):
        return fn(*args)


def test_no_template_puts_a_count_before_a_noun_without_ngettext():
    offenders = [f"{path.relative_to(ROOT)}: {m.group(0)}" for path in TEMPLATES.rglob("*.html")
                 for m in COUNT_BEFORE_NOUN.finditer(path.read_text())]
    assert offenders == []


@pytest.mark.parametrize(("lang", "one", "two"), [
    ("da", "Demo: 1 ny meddelelse, 1 ny opdatering, 1 rettet, 1 udsendelse sat i kø",
     "Demo: 2 nye meddelelser, 2 nye opdateringer, 2 rettede, 2 udsendelser sat i kø"),
    ("en", "Demo: 1 new notice, 1 new update, 1 edited, 1 notification queued",
     "Demo: 2 new notices, 2 new updates, 2 edited, 2 notifications queued"),
])
def test_a_notice_run_is_worded_with_the_plural_form_its_counts_need(app, lang, one, two):
    def source(n: int) -> dict:
        return {"sources": [{"name": "Demo", "state": "stored", "new_notices": n, "new_updates": n, "edited": n,
                             "queued": n, "backfill": False, "problems": 0}]}

    assert _say(app, lang, run_summary, "notices", source(1)) == one
    assert _say(app, lang, run_summary, "notices", source(2)) == two


def test_runs_of_every_job_are_worded_in_both_languages(app):
    files = {"files": {"imported": 1, "rejected": 2}, "not_imported": ["b.csv", "c.csv"], "errors": 0}
    assert _say(app, "da", run_summary, "calls", files) == "1 fil importeret; 2 filer afvist; ikke importeret: b.csv, c.csv"
    assert _say(app, "en", run_summary, "calls", files) == "1 file imported; 2 files rejected; not imported: b.csv, c.csv"
    assert _say(app, "da", run_summary, "calls", {"files": {}, "errors": 0}) == "ingen filer"
    sent = {"sent": 1, "retry": 0, "failed": 2, "cancelled": 0, "error": 0}
    assert _say(app, "da", run_summary, "notify", sent) == "1 sendt, 0 prøves igen, 2 opgivet"
    assert _say(app, "en", run_summary, "notify", sent) == "1 sent, 0 to be retried, 2 given up"
    rating = {"as_of": "2020-11-28", "revision": 2}
    assert _say(app, "da", run_summary, "rating", rating) == "beregnet for 28.11.2020, version 2"
    assert _say(app, "en", run_summary, "rating", rating) == "rated for 28 Nov 2020, revision 2"
    same = {"as_of": "2020-11-28", "revision": 2, "unchanged": 1}
    assert _say(app, "da", run_summary, "rating", same) == "beregnet for 28.11.2020: uændret, version 2 gælder fortsat"
    assert _say(app, "en", run_summary, "rating", same) == "rated for 28 Nov 2020: unchanged, revision 2 still holds"
    unchanged = {"sources": [{"name": "Demo", "state": "not_modified"}]}
    assert _say(app, "da", run_summary, "notices", unchanged) == "Demo: uændret siden sidst"
    assert _say(app, "en", job_name, "notices") == "Fetching operational notices"
    assert _say(app, "da", run_summary, "rating", None) is None  # an old run: its message is shown
    assert [_say(app, "en", code_word, c) for c in ("feed", "calls", "webhook", "new-kind")] == \
        ["RSS/Atom feed", "call counts", "webhook", "new-kind"]


@pytest.mark.parametrize("lang", ["da", "en"])
def test_drift_shows_a_recorded_run_in_the_page_language_and_not_its_english_message(client, session, lang):
    session.add(CollectorRun(collector="notices", started_at=T0, finished_at=T0, outcome="success",
                             message="Demo: 0 new notice(s), 0 new update(s), 0 edited, 0 notification(s) queued",
                             details={"sources": [{"name": "Demo", "state": "stored", "new_notices": 0,
                                                   "new_updates": 1, "edited": 0, "queued": 0, "backfill": False,
                                                   "problems": 0}]}))
    session.commit()
    sign_in(client)  # /drift is the operator's page
    html = client.get(f"/drift?lang={lang}").get_data(as_text=True)
    assert "notice(s)" not in html
    expected = "Demo: 0 nye meddelelser, 1 ny opdatering" if lang == "da" else "Demo: 0 new notices, 1 new update"
    assert expected in html


def test_a_missing_day_in_a_reason_is_written_in_the_page_date_format(app):
    rating = {"reason": "call_data_incomplete", "reason_text": "Kaldsdata mangler for 1 dage i vinduet: 2020-11-27"}
    assert _say(app, "da", reason_text, rating, ["2020-11-27"]) == "Kaldsdata mangler for 1 dag i perioden: 27.11.2020."
    assert _say(app, "en", reason_text, rating, ["2020-11-26", "2020-11-27"]) == \
        "Call data is missing for 2 days in the period: 26 Nov 2020, 27 Nov 2020."


def test_silent_it_systems_come_first_as_the_caption_says():
    systems = [{"name": "Calling", "uuid": "a", "active_agreements": 1, "with_calls": True},
               {"name": "No agreement", "uuid": "b", "active_agreements": 0, "with_calls": False},
               {"name": "Silent B", "uuid": "c", "active_agreements": 2, "with_calls": False},
               {"name": "Silent A", "uuid": "d", "active_agreements": 1, "with_calls": False}]
    assert [s["name"] for s in silent_first(systems)] == ["Silent A", "Silent B", "Calling", "No agreement"]


@pytest.mark.parametrize("chart", [
    lambda: charts.calls([], "t"),
    lambda: charts.calls([(dt.date(2020, 11, 1), 0), (dt.date(2020, 11, 2), 0)], "t"),
    lambda: charts.history([], "t"),
    lambda: charts.history([(dt.date(2020, 11, 1), None)], "t"),
    lambda: charts.distribution([None, None], "t", "Score"),
])
def test_a_chart_without_data_says_ingen_data_and_draws_no_ticks(app, chart):
    svg = str(_say(app, "da", chart))
    assert "ingen data" in svg and 'class="tick"' not in svg and "<rect" not in svg
    assert "no data" in str(_say(app, "en", chart))


def test_call_axis_ticks_are_round_numbers_in_the_same_format_for_small_and_large_municipalities(app):
    small = str(_say(app, "da", charts.calls, [(dt.date(2020, 11, 1), 6018)], "t"))
    large = str(_say(app, "da", charts.calls, [(dt.date(2020, 11, 1), 35_000)], "t"))
    ticks = [re.findall(r'class="tick">([^<]+)<', svg) for svg in (small, large)]
    assert ticks[0][:4] == ["2.000", "4.000", "6.000", "8.000"]
    assert ticks[1][:4] == ["10.000", "20.000", "30.000", "40.000"]
    assert not any(t.endswith(("k", "mio.")) for t in ticks[0] + ticks[1])


@given(st.integers(min_value=1, max_value=10**9))
def test_nice_ticks_start_at_zero_cover_the_top_and_step_by_one_two_or_five_times_ten(top):
    ticks = charts.nice_ticks(top)
    step = ticks[1] - ticks[0]
    assert ticks[0] == 0 and ticks[-1] >= top and ticks[-2] < top
    assert all(b - a == step for a, b in zip(ticks, ticks[1:], strict=False))
    assert str(step).rstrip("0") in ("1", "2", "5") and 2 <= len(ticks) <= 7


def test_templates_and_the_stylesheet_use_only_glyphs_every_common_font_has():
    files = [*TEMPLATES.rglob("*.html"), *TEMPLATES.rglob("*.txt"), ROOT / "monitor/static/monitor.css"]
    rare = {f"{p.relative_to(ROOT)}: U+{ord(ch):04X}" for p in files for ch in p.read_text() if ch not in COMMON}
    assert rare == set()


@pytest.mark.parametrize("path", ["/", "/kommune/101", "/metode", "/tilgaengelighed", "/driftsstatus", "/skift",
                                  "/subscribe"])
def test_rendered_pages_use_only_glyphs_every_common_font_has(client, path):
    for lang in ("da", "en"):
        html = client.get(f"{path}?lang={lang}").get_data(as_text=True)
        assert {f"U+{ord(ch):04X}" for ch in html if ch not in COMMON} == set(), (path, lang)


def test_the_accessibility_statement_gives_the_contact_and_the_date_of_the_last_check(client, settings):
    html = client.get("/tilgaengelighed").get_data(as_text=True)
    contact = settings.web.accessibility_contact
    assert f'<a href="mailto:{contact}">{contact}</a>' in html
    assert 'Siderne blev senest kontrolleret <time datetime="2026-11-29">29.11.2026</time>' in html
    assert "2020" not in html
    assert "The pages were last checked on" in client.get("/tilgaengelighed?lang=en").get_data(as_text=True)


@pytest.mark.parametrize("bad", ["", "no-at-sign", "a@b", "two@@x.dk", "sp ace@x.dk", "<x@y.dk>", "x@" + "a" * 260 + ".dk"])
def test_an_accessibility_contact_that_is_not_a_mail_address_stops_the_start(tmp_path, bad):
    with pytest.raises(ConfigError, match="web.accessibility_contact"):
        make_settings(tmp_path, "sqlite://", web={"accessibility_contact": bad})
