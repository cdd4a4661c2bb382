"""The score colours: one rule, applied to the score as the page shows it, and stated in words.

Red below 4, yellow below 7, green from 7. The rule reads the value rounded half up to one
decimal (`format.round_half_up`, as `number` shows it), so a 3.96 shown as "4,0" is yellow and
counts in the 4–5 bar of the distribution: no colour contradicts its number. The macro
`score`, the histogram's bins and the legend on `/`, the municipality page and `/metode` all
read the thresholds from here.
"""

from __future__ import annotations

import math
from decimal import Decimal

from flask_babel import gettext as _

from .format import number, round_half_up

RED_BELOW = 4
YELLOW_BELOW = 7


def shown(value: float) -> Decimal:
    """The score as the page shows it: rounded half up to one decimal."""
    return round_half_up(value, 1)


def band(value: float | None) -> str:
    """The colour class of a score: 'low' (red), 'mid' (yellow), 'high' (green), or 'none'."""
    if value is None or not math.isfinite(value):
        return "none"
    rounded = shown(value)
    return "low" if rounded < RED_BELOW else ("mid" if rounded < YELLOW_BELOW else "high")


def bin_of(value: float) -> int:
    """The histogram bar (0 for 1–2 … 8 for 9–10) of a score as shown."""
    return min(8, max(0, int(shown(value)) - 1))


def legend() -> str:
    """The rule in words, in the page's language."""
    red, yellow = number(RED_BELOW), number(YELLOW_BELOW)
    return _("Farverne: rød under %(red)s, gul fra %(red)s til under %(yellow)s, grøn fra %(yellow)s. "
             "Farven følger scoren, som den vises med én decimal; det gælder også delscorerne.",
             red=red, yellow=yellow)


def ranges() -> list[tuple[str, str]]:
    """Each colour's class and the scores, as shown, that get it: ('low', '1,0–3,9') …"""
    bounds = [(1, RED_BELOW), (RED_BELOW, YELLOW_BELOW), (YELLOW_BELOW, 10)]
    return [(cls, f"{number(lo)}–{number(hi if cls == 'high' else hi - 0.1)}")
            for cls, (lo, hi) in zip(("low", "mid", "high"), bounds, strict=True)]


def register(bp: object) -> None:
    """`score_band` as a filter, `score_legend()` and `score_ranges()` in every template."""
    bp.add_app_template_filter(band, "score_band")  # type: ignore[attr-defined]
    bp.add_app_template_global(legend, "score_legend")  # type: ignore[attr-defined]
    bp.add_app_template_global(ranges, "score_ranges")  # type: ignore[attr-defined]
