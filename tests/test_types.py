"""The type checker is part of the test command: mypy passes over monitor/ as pyproject.toml configures it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_mypy_finds_no_type_error_in_the_package() -> None:
    # The venv's own mypy, from the project root so that it reads [tool.mypy] (files = monitor).
    done = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"mypy exited with {done.returncode}:\n{done.stdout}{done.stderr}"
