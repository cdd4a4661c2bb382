"""Files that ship with the code and are found by path: the Jinja templates."""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def templates_folder() -> str:
    """The Jinja templates: templates/ at the top of a checkout (an editable install), which a
    wheel ships inside the package as monitor/templates (setup.py)."""
    installed = PACKAGE / "templates"
    return str(installed if installed.is_dir() else PACKAGE.parent / "templates")
