"""The kinds of notice source, by name: each a module here, named by one line of
`monitor/collector_kinds.py` (`SOURCE_KINDS`) and imported when first used.

The order is the order in which `monitor collect notices --source` tries them when no
`--kind` is given.
"""

from __future__ import annotations

from ....collector_kinds import SOURCE_KINDS
from ...registry import Registry
from .base import Fetch, SourceKind

KINDS: Registry[SourceKind] = Registry(SOURCE_KINDS)

__all__ = ["KINDS", "Fetch", "SourceKind"]
