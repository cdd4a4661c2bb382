"""A command run without a usable config or database says so in one line, exits 2 and creates nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from monitor import cli as cli_module
from monitor.rating import service
from tests.conftest import PG_ADMIN_URL, need


def monitor(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("MONITOR_CONFIG", "MONITOR_DATABASE_URL")}
    return subprocess.run([sys.executable, "-m", "monitor", *args], cwd=cwd, capture_output=True, text=True,
                          env={**environ, **env}, timeout=120)


def everything_under(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*"))


@pytest.mark.parametrize("args", [("subscribers", "export", "a@example.dk"), ("rate",), ("users", "list"),
                                  ("serve",), ("collect", "calls"), ("notify",)])
def test_a_command_in_a_folder_without_config_says_what_to_run_and_creates_nothing(tmp_path, args):
    done = monitor(tmp_path, *args)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "no database at" in lines[0] and "no config.toml in" in lines[0]
    assert "--config" in lines[0] and "MONITOR_CONFIG" in lines[0] and "monitor db upgrade" in lines[0]
    assert "Traceback" not in done.stderr and everything_under(tmp_path) == []


def test_a_config_file_that_is_not_there_is_one_line_and_exit_2(tmp_path):
    done = monitor(tmp_path, "--config", str(tmp_path / "nope.toml"), "rate")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"Error: configuration: config file not found: {tmp_path / 'nope.toml'}"]


def test_an_unreachable_database_is_named_in_one_line(tmp_path):
    done = monitor(tmp_path, "rate", MONITOR_DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:9/none")
    assert done.returncode == 2
    line, = done.stderr.strip().splitlines()
    assert line.startswith("Error: cannot reach the database postgresql+psycopg://postgres@127.0.0.1:9/none: ")


def test_a_database_without_tables_asks_for_db_upgrade_and_gets_none(tmp_path):
    try:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:
        need(f"PostgreSQL not reachable at {PG_ADMIN_URL}")
    name = f"monitor_empty_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    try:
        done = monitor(tmp_path, "subscribers", "export", "a@example.dk", MONITOR_DATABASE_URL=url)
        assert done.returncode == 2
        line, = done.stderr.strip().splitlines()
        assert "has no tables: run `monitor db upgrade`" in line
        created = create_engine(url)
        with created.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")).scalar() == 0
        created.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_db_upgrade_creates_the_database_and_then_commands_run(tmp_path):
    assert monitor(tmp_path, "db", "upgrade").returncode == 0
    assert (tmp_path / "var" / "monitor.db").exists()
    assert monitor(tmp_path, "users", "list").returncode == 0


def test_an_unexpected_error_is_one_line_unless_debug(monkeypatch, capsys, settings):
    def broken(*args, **kwargs):
        raise RuntimeError("the disk is full\nand a second line")

    monkeypatch.setattr(cli_module.settings_module, "load", lambda path=None: settings)
    monkeypatch.setattr(service, "rate_and_store", broken)
    monkeypatch.setattr(sys, "argv", ["monitor", "rate"])
    with pytest.raises(SystemExit) as stopped:
        cli_module.main()
    assert stopped.value.code == 1
    assert capsys.readouterr().err == ("error: RuntimeError: the disk is full (run with --debug for the traceback)\n")
    monkeypatch.setattr(sys, "argv", ["monitor", "--debug", "rate"])
    with pytest.raises(RuntimeError, match="the disk is full"):
        cli_module.main()
