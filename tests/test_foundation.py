"""The foundation: settings, schema, reference data, CLI skeleton."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, text

from monitor.cli import cli
from monitor.migrate import upgrade
from monitor.models import Component, Municipality
from monitor.settings import ConfigError, from_mapping, load

ROOT = Path(__file__).parent.parent


def test_the_shipped_config_loads_and_every_default_key_is_valid():
    settings = load(ROOT / "config.toml", environ={})
    assert settings.rating.method_version == "2020.12"
    assert settings.rating.weights.it_systems_with_calls == 0.5
    assert "serviceplatformen" in settings.component_slugs()


@pytest.mark.parametrize("data, message", [
    ({"ratng": {}}, "ratng: unknown key"),
    ({"rating": {"window_dayz": 3}}, "rating.window_dayz: unknown key"),
    ({"rating": {"window_days": "30"}}, "rating.window_days: expected an integer"),
    ({"rating": {"weights": {"service_agreements": 0.5}}}, "rating.weights: must sum to 1"),
    ({"rating": {"weights": {"service_agreements": -0.3, "calls_per_citizen": 0.8}}},
     "rating.weights.service_agreements: must not be negative"),
    ({"rating": {"active_ref": 0.5}}, "rating.active_ref: must be at least 1"),
    ({"rating": {"cpc_lo": 60.0}}, "need 0 < cpc_lo < cpc_hi"),
    ({"cutover": {"start": "2020-11-28"}}, "cutover.start: expected an offset date-time"),
    ({"cutover": {"start": dt.datetime(2020, 11, 28, 8)}}, "cutover.start: expected an offset date-time"),
    ({"mail": {"backend": "carrier-pigeon"}}, "mail.backend"),
    ({"mail": {"smtp_password": "x"}}, "mail.smtp_password: unknown key"),
    ({"served_url": "http://elsewhere:8000"}, "served_url: unknown key"),
    ({"notices": {"sources": [{"name": "x", "url": "y", "kind": "rss"}]}}, "notices.sources[0].kind"),
    ({"notices": {"sources": [{"url": "y"}]}}, "notices.sources[0].name: required key is missing"),
    ({"components": [{"slug": "Service Platform", "name": "x"}]}, "components[0].slug"),
])
def test_a_bad_config_value_is_refused_with_a_message_naming_the_key(data, message):
    with pytest.raises(ConfigError) as info:
        from_mapping(data, ".", environ={})
    assert message in str(info.value)


def test_a_config_with_three_mistakes_is_refused_once_naming_all_three():
    data = {"cutover": {"green_ratio": 1.5}, "web": {"base_url": "ftp://monitor"}, "rating": {"window_days": "30"}}
    with pytest.raises(ConfigError) as info:
        from_mapping(data, ".", environ={})
    assert sorted(info.value.errors) == [
        "cutover.green_ratio: must be between 0 and 1, got 1.5",
        "rating.window_days: expected an integer, got '30'",
        "web.base_url: expected an http(s) URL such as https://monitor.example.dk, got 'ftp://monitor'",
    ]
    assert str(info.value).splitlines()[0] == "3 problems:"
    assert all(error in str(info.value) for error in info.value.errors)


def test_one_mistake_is_the_whole_message():
    with pytest.raises(ConfigError) as info:
        from_mapping({"digest": {"hour": 24}}, ".", environ={})
    assert str(info.value) == "digest.hour: 0 to 23 (Copenhagen time), got 24"
    assert info.value.errors == ("digest.hour: 0 to 23 (Copenhagen time), got 24",)


@pytest.mark.parametrize("data, expected", [
    # green_ratio cannot be read: the check of red_ratio against it says nothing false.
    ({"cutover": {"green_ratio": "high", "red_ratio": 0.7}}, ["cutover.green_ratio: expected a number, got 'high'"]),
    # A weight that cannot be read does not make the weights seem not to sum to 1.
    ({"rating": {"weights": {"service_agreements": "x", "calls_per_citizen": 0.5}}},
     ["rating.weights.service_agreements: expected a number, got 'x'"]),
    # A component without a name is left out, so a source naming its slug is not judged against the rest.
    ({"components": [{"slug": "odd"}], "notices": {"sources": [{"name": "a", "url": "b", "components": ["odd"]}]}},
     ["components[0].name: required key is missing"]),
    # Mistakes inside lists are each named, and a readable entry beside them is still checked.
    ({"notices": {"sources": [{"name": "a", "url": "b", "kind": "rss"}, {"url": "c"}, "text"]},
      "logging": {"level": "LOUD"}, "unknown": {}},
     ["logging.level: expected DEBUG, INFO, WARNING or ERROR, got 'LOUD'",
      "notices.sources[0].kind: expected \"feed\" or \"statuspage\", got 'rss'",
      "notices.sources[1].name: required key is missing",
      "notices.sources[2]: expected a table, got str",
      "unknown: unknown key"]),
])
def test_a_value_that_cannot_be_read_is_named_without_false_problems_from_checks_that_read_it(data, expected):
    with pytest.raises(ConfigError) as info:
        from_mapping(data, ".", environ={})
    assert sorted(info.value.errors) == expected


def test_the_command_line_shows_every_problem_of_the_config_at_once(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text('[cutover]\ngreen_ratio = 1.5\n[web]\nbase_url = "ftp://monitor"\n[digest]\nhour = 24\n')
    done = subprocess.run([sys.executable, "-m", "monitor", "--config", str(cfg), "serve"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "Error: configuration: 3 problems:",
        "  cutover.green_ratio: must be between 0 and 1, got 1.5",
        "  web.base_url: expected an http(s) URL such as https://monitor.example.dk, got 'ftp://monitor'",
        "  digest.hour: 0 to 23 (Copenhagen time), got 24",
    ]
    assert list(tmp_path.iterdir()) == [cfg]


def test_the_environment_overrides_the_database_url_and_relative_paths_follow_the_config_file(tmp_path):
    cfg = tmp_path / "etc" / "config.toml"
    cfg.parent.mkdir()
    cfg.write_text('[database]\nurl = "sqlite:///var/x.db"\n[collectors.calls]\ninbox = "in"\n')
    s = load(cfg, environ={})
    assert s.path(s.collectors.calls.inbox) == tmp_path / "etc" / "in"
    from monitor.settings import database_url
    assert database_url(s) == f"sqlite:///{tmp_path}/etc/var/x.db"
    s2 = load(cfg, environ={"MONITOR_DATABASE_URL": "sqlite:////tmp/other.db"})
    assert database_url(s2) == "sqlite:////tmp/other.db"


def test_upgrade_loads_the_98_reference_municipalities_once(engine, settings, session):
    upgrade(engine, settings)  # a second time on top of the migrated template
    assert session.scalar(select(func.count()).select_from(Municipality)) == 98
    kbh = session.get(Municipality, "101")
    assert kbh.name == "København" and kbh.population == 632340 and kbh.region == "Region Hovedstaden"
    assert session.get(Municipality, "860").name == "Hjørring"
    assert sum(m.population for m in session.scalars(select(Municipality))) == 5_822_679
    slugs = list(session.scalars(select(Component.slug).order_by(Component.position)))
    assert slugs[0] == "serviceplatformen" and len(slugs) == 9


def test_upgrade_keeps_imported_population_values(engine, settings, session):
    session.get(Municipality, "101").population = 640000
    session.commit()
    upgrade(engine, settings)
    session.expire_all()
    assert session.get(Municipality, "101").population == 640000


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path, sqlite_url):
    from monitor.db import make_engine
    engine = make_engine(sqlite_url)
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 5000
    engine.dispose()


def test_the_help_lists_every_command_of_the_contract():
    result = CliRunner().invoke(cli, ["--help"])
    for command in ("db", "demo", "import", "collect", "rate", "serve", "scheduler", "notify"):
        assert f"  {command} " in result.output


def test_python_dash_m_monitor_is_the_same_command():
    out = subprocess.run([sys.executable, "-m", "monitor", "--help"], capture_output=True, text=True, check=True)
    assert "demo" in out.stdout


def test_a_broken_config_stops_the_command_with_the_key_named(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text("[rating]\nwindow_days = -1\n")
    result = CliRunner().invoke(cli, ["--config", str(cfg), "db", "upgrade"])
    assert result.exit_code != 0
    assert "rating.window_days: must be at least 1" in result.output


def test_healthz_and_readyz_answer(client):
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").get_json() == {"status": "ok"}


def test_without_a_secret_key_in_the_environment_every_process_signs_with_the_one_in_the_database(
        tmp_path, sqlite_url):
    from monitor import create_app
    from monitor.db import make_engine, session_factory
    from monitor.signing import secret_key

    settings = from_mapping({"database": {"url": sqlite_url}}, str(tmp_path), environ={})
    first, second = create_app(settings), create_app(settings)
    assert first.secret_key is None  # nothing read while building the app
    # The first request of a process may well be a form: it must get its CSRF token.
    page = first.test_client().get("/subscribe")
    assert page.status_code == 200 and 'name="csrf_token" value="' in page.get_data(as_text=True)
    second.test_client().get("/healthz")
    engine = make_engine(sqlite_url)
    assert first.secret_key == second.secret_key == secret_key(settings, session_factory(engine))
    engine.dispose()
    for app in (first, second):
        app.extensions["monitor"].engine.dispose()
