"""Docs that cannot drift: every config key is in config.toml with a comment, every command in the README."""

from __future__ import annotations

import dataclasses
import re
import tomllib
import typing
from pathlib import Path

from click.testing import CliRunner

from monitor import settings as s
from monitor.cli import cli

ROOT = Path(__file__).resolve().parent.parent
ENV_ONLY = {"smtp_username", "smtp_password"}


def keys(cls: type, prefix: str = "") -> list[str]:
    out = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in ("base_dir", "secret_key", "served_url") or f.name in ENV_ONLY:
            continue
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            out += keys(tp, f"{prefix}{f.name}.")
        elif typing.get_origin(tp) is tuple and dataclasses.is_dataclass(typing.get_args(tp)[0]):
            out += keys(typing.get_args(tp)[0], f"{prefix}{f.name}[].")
        else:
            out.append(prefix + f.name)
    return out


def keys_by_section(text: str) -> set[str]:
    """Every key of config.toml as `section.sub.name` (`section[].name` inside an array of
    tables), counting keys that are commented out (optional date-times) where they stand."""
    found, section = set(), ""
    for line in text.splitlines():
        if m := re.match(r"^#?\s*(\[\[?)([a-z_.]+)\]\]?\s*$", line):
            section = m.group(2) + ("[]" if m.group(1) == "[[" else "")
        elif m := re.match(r"^#?\s*([a-z_]+)\s*=", line):
            found.add(f"{section}.{m.group(1)}" if section else m.group(1))
    return found


def test_the_section_reader_tells_a_key_in_one_section_from_the_same_name_in_another():
    text = "[web]\nport = 1\n[mail]\n# port = 2\n[[notices.sources]]\nname = 'x'\n"
    assert keys_by_section(text) == {"web.port", "mail.port", "notices.sources[].name"}


def test_every_setting_is_in_config_toml_in_its_own_section():
    text = (ROOT / "config.toml").read_text()
    data = tomllib.loads(text)
    present = keys_by_section(text)
    missing = [key for key in keys(s.Settings) if key not in present]
    assert not missing, f"config.toml lacks {missing}"
    # And the shipped file is valid as it stands.
    s.from_mapping(data, str(ROOT), environ={})


def test_every_line_with_a_key_in_config_toml_is_explained_by_a_comment_nearby():
    lines = (ROOT / "config.toml").read_text().splitlines()
    unexplained, explained = [], set()
    for i, line in enumerate(lines):
        if m := re.match(r"^([a-z_]+)\s*=", line):
            window = lines[max(0, i - 8):i]
            if any(w.startswith("#") for w in window):
                explained.add(m.group(1))
            elif m.group(1) not in explained:  # repeated tables ([[components]]) are explained once
                unexplained.append(line)
    assert not unexplained, unexplained


def test_every_command_is_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    runner = CliRunner()
    top = runner.invoke(cli, ["--help"]).output
    commands = re.findall(r"^  (\w+)\s", top.split("Commands:")[1], re.M)
    assert commands
    for command in commands:
        assert f"monitor {command}" in readme, command
