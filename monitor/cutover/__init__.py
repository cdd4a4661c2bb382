"""Cut-over health: a pure core (`core`) and a thin query layer (`queries`).

`cutover_document(session, settings, now)` is the seam used by the API, the pages and the
metrics collector; `municipality_status(session, settings, now, code)` is one element of it,
read from that municipality's rows alone.
"""

from __future__ import annotations

from .core import GREY, PHASES, STATUSES, Window
from .queries import cutover_document, municipality_status, window_for, window_from

__all__ = ["GREY", "PHASES", "STATUSES", "Window", "cutover_document", "municipality_status", "window_for",
           "window_from"]
