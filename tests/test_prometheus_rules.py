"""The Prometheus scrape config and rules pass promtool, and the alert unit tests pass."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import need

PROMETHEUS = Path(__file__).parent.parent / "deploy" / "prometheus"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool") or ("/usr/bin/promtool" if Path("/usr/bin/promtool").exists() else None)
    if binary is None:
        need("promtool is not installed (Debian package prometheus)")
    return subprocess.run([binary, *args], cwd=PROMETHEUS, capture_output=True, text=True)


@pytest.mark.prometheus
def test_the_scrape_config_is_valid():
    result = promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.prometheus
def test_the_recording_and_alert_rules_are_valid():
    result = promtool("check", "rules", *sorted(str(p.relative_to(PROMETHEUS)) for p in PROMETHEUS.glob("rules/*.yml")))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "alerts.yml\n  SUCCESS: 8 rules found" in result.stdout
    assert "recording.yml\n  SUCCESS: 7 rules found" in result.stdout


@pytest.mark.prometheus
def test_the_alert_unit_tests_pass():
    result = promtool("test", "rules", "tests/alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.prometheus
def test_a_broken_alert_expectation_fails(tmp_path):
    # The unit tests can fail: the same file with a wrong expectation must be refused.
    broken = (PROMETHEUS / "tests" / "alerts_test.yml").read_text(encoding="utf-8").replace(
        "- eval_time: 29m", "- eval_time: 31m", 1).replace("../rules/", str(PROMETHEUS / "rules") + "/")
    path = tmp_path / "broken_test.yml"
    path.write_text(broken, encoding="utf-8")
    result = promtool("test", "rules", str(path))
    assert result.returncode != 0
    assert "FkiMunicipalityRed" in result.stdout + result.stderr


@pytest.mark.prometheus
def test_the_burn_rate_alerts_fire_on_a_fast_and_a_slow_burn_and_not_without_one(tmp_path):
    result = promtool("test", "rules", "tests/availability_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    # The same file expecting silence a few minutes into the outage, when the fast alert fires, is refused.
    broken = (PROMETHEUS / "tests" / "availability_test.yml").read_text(encoding="utf-8").replace(
        "- eval_time: 122m", "- eval_time: 135m", 1).replace("../rules/", str(PROMETHEUS / "rules") + "/")
    path = tmp_path / "broken_test.yml"
    path.write_text(broken, encoding="utf-8")
    result = promtool("test", "rules", str(path))
    assert result.returncode != 0
    assert "FkiAvailabilityBudgetBurnFast" in result.stdout + result.stderr
