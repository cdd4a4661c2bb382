"""The kinds of import file, by name. A new kind is one module here and one line below."""

from __future__ import annotations

from typing import Any

from . import agreements, calls, municipalities, tasks
from .base import FileKind, Stored

KINDS: dict[str, FileKind[Any]] = {kind.name: kind for kind in (
    municipalities.KIND,
    agreements.KIND,
    calls.KIND,
    tasks.KIND,
)}
NAMES = tuple(KINDS)

__all__ = ["KINDS", "NAMES", "FileKind", "Stored"]
