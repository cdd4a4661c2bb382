"""The pages: the blueprint (blueprint.py) and the modules that add their views to it.

overview.py and municipality.py are what an infrastructure lead opens; info.py the method and
accessibility pages, whatif.py the method's what-if view; status.py driftsstatus, cut-over and
service health; cutover.py the cut-over page's helpers and acknowledgements; calendar.py
/kalender.ics; component.py the availability bars and /driftsstatus/SLUG. documents.py reads
the seams' documents through the cache (cache.py), which the API shares; format.py, charts.py
and queries.py are the helpers they render with.
"""

from __future__ import annotations

from . import calendar, component, cutover, info, municipality, overview, status, whatif
from .blueprint import bp

__all__ = ["bp", "calendar", "component", "cutover", "info", "municipality", "overview", "status", "whatif"]
