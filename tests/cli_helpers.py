"""Running the `monitor` command in a test, with the test's settings instead of a config file."""

from __future__ import annotations

import pytest
from click.testing import CliRunner, Result

from monitor import settings as settings_module
from monitor.cli import cli
from monitor.settings import Settings


def run_cli(monkeypatch: pytest.MonkeyPatch, settings: Settings, *args: str) -> Result:
    """`monitor ARGS…` as a user runs it, reading `settings` where it would read config.toml."""
    monkeypatch.setattr(settings_module, "load", lambda path=None: settings)
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def printed(result: Result) -> list[str]:
    """The lines the command printed on standard output."""
    return result.stdout.splitlines()
