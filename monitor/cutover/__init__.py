"""Cut-over health: a pure core (`core`) and a thin query layer (`queries`).

`cutover_document(session, settings, now)` is the seam used by the API, the pages and the
metrics collector.
"""

from __future__ import annotations

from .core import GREY, PHASES, STATUSES, Window
from .queries import cutover_document, window_for, window_from

__all__ = ["GREY", "PHASES", "STATUSES", "Window", "cutover_document", "window_for", "window_from"]
