"""The kinds of notice source, by name. A new kind is one module here and one line below.

The order is the order in which `monitor collect notices --source` tries them when no
`--kind` is given.
"""

from __future__ import annotations

from . import feed, statuspage
from .base import Fetch, SourceKind

KINDS: dict[str, SourceKind] = {kind.name: kind for kind in (
    feed.KIND,
    statuspage.KIND,
)}
NAMES = tuple(KINDS)

__all__ = ["KINDS", "NAMES", "Fetch", "SourceKind"]
