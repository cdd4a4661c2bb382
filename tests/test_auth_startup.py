"""The limiter's storage going away, and the secret key a serving process must have."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor import create_app
from monitor.cli import cli
from monitor.settings import from_mapping
from monitor.signing import MissingSecretKey
from tests.auth_helpers import csrf
from tests.conftest import make_settings
from tests.notify_helpers import free_port

NOWHERE = "postgresql+psycopg://postgres@127.0.0.1:9/nowhere?connect_timeout=2"


def storage_up_line(client) -> str:  # type: ignore[no-untyped-def]
    body = client.get("/metrics").get_data(as_text=True)
    return next(line for line in body.splitlines() if line.startswith("fki_ratelimit_storage_up "))


def test_an_unreachable_redis_is_logged_counted_in_memory_and_shown_as_down(
        tmp_path: Path, sqlite_url: str, caplog: pytest.LogCaptureFixture) -> None:
    closed = f"redis://127.0.0.1:{free_port()}/0"
    app = create_app(make_settings(tmp_path, sqlite_url, web={"ratelimit_storage": closed}))
    options = app.config["RATELIMIT_STORAGE_OPTIONS"]
    assert options["socket_connect_timeout"] <= 0.2 and options["socket_timeout"] <= 0.2
    client = app.test_client()
    with caplog.at_level(logging.WARNING, logger="monitor.web.limits"):
        answer = client.post("/login", data={"email": "x@example.dk", "csrf_token": csrf(client)})
    assert answer.status_code == 200, "the request is served, counted in this process's memory"
    assert any("rate-limit storage unreachable" in r.getMessage() for r in caplog.records)
    assert storage_up_line(client) == "fki_ratelimit_storage_up 0.0"
    app.extensions["monitor"].engine.dispose()


def test_a_reachable_redis_is_shown_as_up(tmp_path: Path, sqlite_url: str) -> None:
    import redis

    try:
        redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=0.2).ping()
    except redis.RedisError:
        from tests.conftest import need

        need("Redis not reachable at 127.0.0.1:6379")
    app = create_app(make_settings(tmp_path, sqlite_url, web={"ratelimit_storage": "redis://127.0.0.1:6379/15"}))
    client = app.test_client()
    assert client.post("/login", data={"email": "x@example.dk", "csrf_token": csrf(client)}).status_code == 200
    assert storage_up_line(client) == "fki_ratelimit_storage_up 1.0"
    app.extensions["monitor"].engine.dispose()


def test_without_a_key_and_without_the_database_the_sign_in_form_answers_503_not_500(tmp_path: Path) -> None:
    app = create_app(from_mapping({"database": {"url": NOWHERE}}, str(tmp_path), environ={}))
    client = app.test_client()
    response = client.get("/login")
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert client.get("/healthz").status_code == 200


def _config(tmp_path: Path, url: str) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "{url}"\n[demo]\nenabled = false\n')
    return config


def test_monitor_serve_refuses_in_one_line_when_no_key_can_be_had(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MONITOR_SECRET_KEY", raising=False)
    result = CliRunner().invoke(cli, ["--config", str(_config(tmp_path, NOWHERE)), "serve", "--no-scheduler"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    # The database that would keep the key is away: the command line says so before it looks for the key.
    assert len(lines) == 1 and lines[0].startswith("Error: cannot reach the database ")
    assert "Traceback" not in result.output


def test_the_wsgi_factory_refuses_when_no_key_can_be_had(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MONITOR_SECRET_KEY", raising=False)
    monkeypatch.setenv("MONITOR_CONFIG", str(_config(tmp_path, NOWHERE)))
    with pytest.raises(MissingSecretKey, match=r"^no secret key: MONITOR_SECRET_KEY is unset") as info:
        create_app()
    assert "\n" not in str(info.value)


def test_the_wsgi_factory_signs_with_the_key_kept_in_the_database_when_the_environment_has_none(
        tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from monitor.db import make_engine, session_factory
    from monitor.signing import secret_key

    monkeypatch.delenv("MONITOR_SECRET_KEY", raising=False)
    monkeypatch.setenv("MONITOR_CONFIG", str(_config(tmp_path, sqlite_url)))
    app = create_app()
    engine = make_engine(sqlite_url)
    settings = from_mapping({"database": {"url": sqlite_url}}, str(tmp_path), environ={})
    assert app.secret_key == secret_key(settings, session_factory(engine))
    engine.dispose()
    app.extensions["monitor"].engine.dispose()
