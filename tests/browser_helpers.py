"""Headless Chromium for the browser tests: one launch, one page that records its errors."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.conftest import need

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps dialling out of a closed network.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]
ARTIFACTS = Path(__file__).parent / "artifacts"


@contextmanager
def launched() -> Iterator[Any]:
    """Debian's Chromium through Playwright (browser downloads are impossible here); skips, or
    fails under MONITOR_REQUIRE_SERVICES=1, where it is missing."""
    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        need(f"headless Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def watched_page(browser: Any, width: int = 1280, height: int = 900) -> Any:
    """A new page whose console errors and uncaught exceptions collect in `page.errors`."""
    pg = browser.new_page(viewport={"width": width, "height": height})
    pg.errors = []
    pg.on("console", lambda m: pg.errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    return pg
