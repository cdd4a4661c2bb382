"""Every page in a real browser, in both languages: axe-core finds no serious or critical
WCAG 2.1 AA violation, and at 390 px wide the chart labels are at least 11 px, no table
caption is cut off, nothing but a table scrolls sideways and no date is written the ISO way.
Screenshots at 390 px go to tests/artifacts/ for a person to look at.

axe-core is vendored in tests/vendor/axe-core/ (see its README.md): nothing is downloaded.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor import create_app
from monitor.db import make_engine, session_factory
from monitor.notify import subscriptions as subs
from monitor.notify.tokens import make_token
from monitor.users import add_user, issue_link
from tests.browser_helpers import ARTIFACTS, launched
from tests.conftest import make_settings
from tests.pages_helpers import PAGES, load_demo_world
from tests.serving import serving

pytestmark = pytest.mark.browser
AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
PHONE = {"width": 390, "height": 844}
MIN_LABEL_PX = 11
AXE_SHA256 = "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c"  # 4.14.1, see vendor/axe-core/README.md


def test_the_vendored_axe_core_is_the_documented_release():
    assert hashlib.sha256(AXE.read_bytes()).hexdigest() == AXE_SHA256


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[dict[str, Any]]:
    """The demo served by waitress, with one confirmed subscriber for the subscription pages."""
    tmp = tmp_path_factory.mktemp("a11y")
    shutil.copy(sqlite_template, tmp / "monitor.db")
    settings = make_settings(tmp, f"sqlite:///{tmp / 'monitor.db'}",
                             notices={"sources": [{"name": "Demo", "url": str(tmp / "demo-status.rss"), "kind": "feed"}]})
    engine = make_engine(settings.database.url)
    load_demo_world(engine, settings)
    with session_factory(engine)() as session, session.begin():
        pending = subs.subscribe(session, "ny@kommune.invalid", [], "da").subscriber
        active = subs.subscribe(session, "leder@kommune.invalid", ["serviceplatformen"], "da").subscriber
        session.flush()
        secret = settings.secret_key
        tokens = {"confirm": make_token(secret, "confirm", pending), "manage": make_token(secret, "manage", active),
                  "unsubscribe": make_token(secret, "unsubscribe", active)}
        active.confirmed_at = active.created_at
        operator = add_user(session, "drift@kommune.invalid", "operator")
        session.flush()
        now = dt.datetime.now(dt.UTC)
        tokens["login_page"] = issue_link(session, secret, operator, 60, now)
        for lang in ("da", "en", "phone-da", "phone-en"):  # a link works once: one for each signed-in run
            tokens[f"login-{lang}"] = issue_link(session, secret, operator, 60, now)
    engine.dispose()
    app = create_app(settings)
    with serving(app) as port:
        yield {"url": f"http://127.0.0.1:{port}", "tokens": tokens}
    app.extensions["monitor"].engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with launched() as b:
        yield b


def every_page(tokens: dict[str, str]) -> list[str]:
    """Every HTML page a signed-out visitor can reach, the subscription pages with real links."""
    return [*PAGES, "/metode/hvad-hvis?service_agreements=0.5&calls_per_citizen=0.3&it_systems_with_calls=0.2",
            "/metode/hvad-hvis?window_days=900", "/subscribe", f"/confirm/{tokens['confirm']}", f"/manage/{tokens['manage']}",
            f"/u/{tokens['unsubscribe']}", "/confirm/not-a-token", "/kommune/999", "/login",
            f"/login/{tokens['login_page']}", "/login/not-a-token"]


def sign_in(page: Any, site: dict[str, Any], lang: str) -> None:
    """Sign the browser context in as the operator through the sign-in link's button."""
    page.goto(f"{site['url']}/login/{site['tokens'][f'login-{lang}']}")
    page.click("main button[type=submit]")
    page.wait_for_load_state()


def _slug(path: str) -> str:
    return re.sub(r"[/.?&=]", "-", path.strip("/"))[:60] or "oversigt"


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.1 A and AA violations on the loaded page."""
    page.add_script_tag(path=str(AXE))
    return page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})"
                         ".then(r => r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
                         " targets: v.nodes.slice(0, 5).map(n => n.target.join(' '))})))", WCAG_AA)


def test_axe_reports_a_serious_violation_when_there_is_one(browser):
    page = browser.new_page()
    page.set_content('<!doctype html><html lang="da"><title>t</title><main><img src="x.png"></main></html>')
    assert {v["id"]: v["impact"] for v in axe_violations(page)}.get("image-alt") == "critical"
    page.close()


@pytest.mark.parametrize("signed_in", [False, True], ids=["signed-out", "signed-in"])
@pytest.mark.parametrize("lang", ["da", "en"])
def test_axe_finds_no_serious_or_critical_violation_on_any_page(site, browser, lang, signed_in):
    # The CSP allows no inline script; axe is injected as one, so this context bypasses it.
    context = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    paths = every_page(site["tokens"])
    if signed_in:
        sign_in(page, site, lang)
        page.goto(f"{site['url']}/drift")
        assert page.locator("form.signout").count() == 1, "signed in, /drift shows the operator's page"
        paths = [p for p in paths if not p.startswith("/login/")]  # the link was used up
    found = {}
    for path in paths:
        page.goto(f"{site['url']}{path}{'&' if '?' in path else '?'}lang={lang}")
        assert page.locator("html").get_attribute("lang") == lang
        bad = [v for v in axe_violations(page) if v["impact"] in ("serious", "critical")]
        if bad:
            found[path] = bad
    context.close()
    assert found == {}, "\n".join(f"{p}: {w} {n}" for p, (w, n) in found.items())


CHART_LABELS = """() => [...document.querySelectorAll('svg.chart')].flatMap(svg => {
  const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
  return [...svg.querySelectorAll('text')].map(t => parseFloat(getComputedStyle(t).fontSize) * scale);
})"""

CLIPPED_CAPTIONS = """() => [...document.querySelectorAll('caption')].filter(c => {
  const range = document.createRange();
  range.selectNodeContents(c);
  const text = range.getBoundingClientRect();
  const wrap = (c.closest('.table-wrap') || document.documentElement).getBoundingClientRect();
  return text.width > 0 && (text.left < wrap.left - 1 || text.right > Math.min(wrap.right, window.innerWidth) + 1);
}).map(c => c.textContent.trim().slice(0, 60))"""


TOO_WIDE = """() => [...document.body.querySelectorAll('*')].filter(e => !e.closest('.table-wrap')
  && e.getBoundingClientRect().right > window.innerWidth + 1).map(e => e.outerHTML.slice(0, 80))"""



@pytest.mark.parametrize("lang", ["da", "en"])
def test_at_390_px_labels_are_readable_captions_whole_and_dates_in_one_format(site, browser, lang):
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport=PHONE, device_scale_factor=1)
    page = context.new_page()
    labels_seen = 0
    for path in every_page(site["tokens"]):
        page.goto(f"{site['url']}{path}{'&' if '?' in path else '?'}lang={lang}")
        sizes = page.evaluate(CHART_LABELS)
        labels_seen += len(sizes)
        assert all(size >= MIN_LABEL_PX for size in sizes), (path, sorted(sizes)[:3])
        assert page.evaluate(CLIPPED_CAPTIONS) == [], path
        # Nothing but a table's own scroll area is wider than the phone.
        assert page.evaluate(TOO_WIDE) == [], path
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], path
        # One date format per language: no ISO dates in the text a reader sees.
        assert page.evaluate(r"document.body.innerText.match(/\b\d{4}-\d{2}-\d{2}\b/g)") is None, path
        if not path.startswith(("/confirm", "/manage", "/u/")):
            page.screenshot(path=str(ARTIFACTS / f"phone-{_slug(path)}-{lang}.png"), full_page=True)
    context.close()
    assert labels_seen > 0, "the overview and the municipality page have charts"


WIDE_TABLES = """() => [...document.querySelectorAll('main table')].filter(t => t.offsetParent !== null
  && t.getBoundingClientRect().width > window.innerWidth + 1)
  .map(t => (t.querySelector('caption') || t).textContent.trim().slice(0, 60) + ' (' + Math.round(t.getBoundingClientRect().width) + ' px)')"""

NARROW_CAPTIONS = """() => [...document.querySelectorAll('main caption')].filter(c => c.offsetParent !== null
  && c.getBoundingClientRect().width < 250)
  .map(c => c.textContent.trim().slice(0, 60) + ' (' + Math.round(c.getBoundingClientRect().width) + ' px)')"""

# Words (four letters or digits and more) that a table cell breaks over two lines: "Odsherr/ed".
# Ids and codes (code, .ref) are not words; a hyphen is a place to break, so it splits words here.
BROKEN_WORDS = """() => {
  const found = [];
  for (const t of document.querySelectorAll('main table')) {
    if (t.offsetParent === null) continue;
    const walker = document.createTreeWalker(t, NodeFilter.SHOW_TEXT);
    let node;
    while ((node = walker.nextNode())) {
      if (node.parentElement.closest('code, .ref, .visually-hidden, caption')) continue;
      const word = /[\\p{L}\\p{N}]{4,}/gu;
      let m;
      while ((m = word.exec(node.textContent))) {
        const range = document.createRange();
        range.setStart(node, m.index); range.setEnd(node, m.index + m[0].length);
        const lines = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
        if (lines.size > 1) found.push(m[0]);
      }
    }
  }
  return [...new Set(found)].slice(0, 10);
}"""


@pytest.mark.parametrize("lang", ["da", "en"])
def test_at_390_px_no_table_is_wider_than_the_phone_every_caption_is_at_least_250_px_and_no_word_is_broken(
        site, browser, lang) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport=PHONE, device_scale_factor=1)
    page = context.new_page()
    sign_in(page, site, f"phone-{lang}")  # /drift is an operator's page
    found = {}
    for path in [*PAGES, f"/manage/{site['tokens']['manage']}"]:
        page.goto(f"{site['url']}{path}{'&' if '?' in path else '?'}lang={lang}")
        wide, narrow, broken = page.evaluate(WIDE_TABLES), page.evaluate(NARROW_CAPTIONS), page.evaluate(BROKEN_WORDS)
        if wide or narrow or broken:
            found[path] = (wide, narrow, broken)
    context.close()
    assert found == {}, "\n".join(f"{p}: wide {w}, narrow captions {n}, broken words {b}" for p, (w, n, b) in found.items())
