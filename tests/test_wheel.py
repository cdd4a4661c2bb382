"""The wheel: built from the checkout and installed into a fresh venv outside it, it serves a
page from its own templates and its own static files.

It needs a package index (or pip's cache) for the build backend and the dependencies: without
one it skips with the reason, and with MONITOR_REQUIRE_SERVICES=1 (CI) it fails instead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from tests.conftest import need

ROOT = Path(__file__).resolve().parent.parent
# What a build must not see: environments, caches and earlier build output (setuptools reuses
# build/, so a stale file there could reach the wheel and make this test pass by chance).
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
                                    ".hypothesis", ".ruff_cache", "var", "artifacts")
PIP_SECONDS = 600

pytestmark = pytest.mark.network

# Runs in the fresh venv, in a folder outside the checkout: a migrated SQLite database, the app
# from the installed package, the method page and the stylesheet it links to.
SCRIPT = r"""
import json, re, sys
from pathlib import Path

import monitor
from monitor import create_app
from monitor.db import make_engine
from monitor.migrate import upgrade
from monitor.settings import from_mapping

here = Path.cwd()
settings = from_mapping({"database": {"url": f"sqlite:///{here / 'monitor.db'}"},
                         "collectors": {"calls": {"inbox": str(here / "inbox")}},
                         "mail": {"backend": "file", "outbox_dir": str(here / "outbox")},
                         "demo": {"feed_path": str(here / "demo-status.rss")}},
                        str(here), environ={"MONITOR_SECRET_KEY": "wheel-test-secret"})
engine = make_engine(settings.database.url)
upgrade(engine, settings)
engine.dispose()
app = create_app(settings)
client = app.test_client()
page = client.get("/metode")
html = page.get_data(as_text=True)
css_url = re.search(r'href="([^"]*monitor\.css[^"]*)"', html)
css = client.get(css_url.group(1)) if css_url else None
json.dump({
    "monitor": monitor.__file__,
    "templates": list(app.jinja_loader.searchpath),
    "static": app.static_folder,
    "status": page.status_code,
    "html": html,
    "css_url": css_url.group(1) if css_url else None,
    "css_status": css.status_code if css else None,
    "css_type": css.content_type if css else None,
    "css": css.get_data(as_text=True) if css else None,
}, sys.stdout)
app.extensions["monitor"].engine.dispose()
"""


def _pip(python: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(python), "-m", "pip", "--disable-pip-version-check", *args], cwd=cwd,
                          env=_clean_env(), capture_output=True, text=True, timeout=PIP_SECONDS)


def _clean_env() -> dict[str, str]:
    """The environment without what points into the checkout or its venv (PYTHONPATH, MONITOR_*)."""
    return {k: v for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV") and not k.startswith("MONITOR_")}


def _inside(path: str | Path, folder: Path) -> bool:
    return Path(path).resolve().is_relative_to(folder.resolve())


def test_the_wheel_installed_in_a_fresh_venv_serves_a_page_and_its_stylesheet_from_itself(tmp_path):
    """Build the wheel from a copy of the checkout, install it into a fresh venv, run SCRIPT there."""
    probe = _pip(Path(sys.executable), "download", "--no-deps", "--dest", str(tmp_path / "probe"), "setuptools",
                 cwd=tmp_path)
    if probe.returncode != 0:
        need(f"no package index or pip cache to build and install the wheel: {probe.stderr.strip()[-300:]}")

    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)
    built = _pip(Path(sys.executable), "wheel", "--no-deps", "--wheel-dir", str(tmp_path / "dist"), str(source),
                 cwd=tmp_path)
    assert built.returncode == 0, built.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("infrastrukturmonitor-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {p.relative_to(ROOT).as_posix() for p in (ROOT / "monitor").rglob("*.py")}
    expected |= {f"monitor/{p.relative_to(ROOT).as_posix()}" for p in (ROOT / "templates").rglob("*") if p.is_file()}
    assert not expected - names, f"missing from the wheel: {sorted(expected - names)[:10]}"

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True, symlinks=True)
    python = env_dir / "bin" / "python"
    done = _pip(python, "install", "--quiet", str(wheel), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]

    run = tmp_path / "run"
    run.mkdir()
    out = subprocess.run([str(python), "-c", SCRIPT], cwd=run, env=_clean_env(), capture_output=True, text=True,
                         timeout=PIP_SECONDS)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout)

    # The package, its templates and its static files are the venv's, not the checkout's.
    assert _inside(got["monitor"], env_dir) and not _inside(got["monitor"], ROOT), got["monitor"]
    assert got["templates"] and all(_inside(p, env_dir) for p in got["templates"]), got["templates"]
    assert _inside(got["static"], env_dir), got["static"]

    assert got["status"] == 200
    assert "<h1>Sådan beregnes scoren</h1>" in got["html"]  # templates/pages/method.html
    assert got["css_url"], "the page links no monitor.css"
    assert (got["css_status"], got["css_type"]) == (200, "text/css; charset=utf-8")
    assert got["css"] == (ROOT / "monitor" / "static" / "monitor.css").read_text("utf-8")
