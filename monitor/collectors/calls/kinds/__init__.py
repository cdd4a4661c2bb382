"""The kinds of import file, by name: each a module here, named by one line of
`monitor/collector_kinds.py` (`FILE_KINDS`) and imported when first used."""

from __future__ import annotations

from typing import Any

from ....collector_kinds import FILE_KINDS
from ...registry import Registry
from .base import FileKind, Stored

KINDS: Registry[FileKind[Any]] = Registry(FILE_KINDS)

__all__ = ["KINDS", "FileKind", "Stored"]
