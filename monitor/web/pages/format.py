"""How numbers, dates and times read on the pages.

Scores are rounded half up to one decimal (2.25 → 2,3, not the banker's 2,2) with a decimal
comma in Danish; times are shown in Europe/Copenhagen with the zone written out (CET/CEST),
because a lead reading "12:00" during the cut-over weekend must not have to guess.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from babel.numbers import format_decimal
from flask_babel import get_locale
from markupsafe import Markup, escape

from ...localtime import CPH

# Babel's thousands separator of each page language (CLDR: "." in Danish, "," in English).
GROUP_SYMBOL = {"da": ".", "en": ","}
MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def locale_name() -> str:
    """The current locale as 'da' or 'en' (Danish outside a request)."""
    try:
        loc = get_locale()
    except RuntimeError:  # outside a request: pages are Danish first
        return "da"
    return "en" if loc is not None and loc.language == "en" else "da"


def round_half_up(value: float | int | Decimal, digits: int = 1) -> Decimal:
    """`value` rounded half up (away from zero at .5) to `digits` decimals.

    The float goes through its shortest repr, so 2.25 is the 2.25 the reader sees, not
    2.2499999… in binary, and rounds to 2.3.
    """
    quantum = Decimal(1).scaleb(-digits)
    return Decimal(repr(float(value)) if isinstance(value, float) else value).quantize(quantum, ROUND_HALF_UP)


def number(value: float | int | None, digits: int = 1, lang: str | None = None, signed: bool = False) -> str:
    """A number for a page: rounded half up, grouped, decimal comma in Danish; '–' for none."""
    if value is None:
        return "–"
    lang = lang or locale_name()
    if digits == 0 and type(value) is int and lang in GROUP_SYMBOL:  # counts: the common case, done directly
        return _whole(value, GROUP_SYMBOL[lang], signed)
    try:
        rounded = round_half_up(value, digits)
    except (InvalidOperation, ValueError, OverflowError, TypeError):
        return "–"
    pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "")
    text = format_decimal(rounded, format=pattern, locale=lang, decimal_quantization=False)
    if signed and rounded > 0:
        text = "+" + text
    elif signed and rounded == 0:
        text = text.lstrip("-−")
    return text.replace("-", "−")  # a real minus sign reads better than a hyphen


def _whole(value: int, group: str, signed: bool) -> str:
    """`number(value, 0, lang, signed)` of an int, as Babel's "#,##0" writes it with `group` between thousands."""
    text = f"{value:,}" if group == "," else f"{value:,}".replace(",", group)
    if signed and value > 0:
        text = "+" + text
    return text.replace("-", "−")


def integer(value: int | float | None, lang: str | None = None) -> str:
    """A whole number with thousands grouped (1.234 in Danish, 1,234 in English)."""
    return number(value, 0, lang)


def percent(value: float | None, digits: int = 0, lang: str | None = None) -> str:
    """A ratio (0.42) as a percentage ('42 %' in Danish, '42%' in English)."""
    if value is None:
        return "–"
    text = number(value * 100, digits, lang)
    return f"{text}\u00a0%" if (lang or locale_name()) == "da" else f"{text}%"


def _aware(value: dt.datetime | str) -> dt.datetime | None:
    """`value` in Copenhagen time; None when it cannot be read or is beyond the calendar there.

    A row stored before the collector refused impossible times may hold 9999-12-31T23:59:59Z,
    which overflows when moved to Copenhagen: the page shows "–" rather than failing.
    """
    try:
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        if value.tzinfo is None:  # the database hands back UTC
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(CPH)
    except (OverflowError, ValueError):
        return None


def when(value: dt.datetime | str | None, lang: str | None = None) -> str:
    """An instant as Copenhagen wall-clock time with the zone: '28.11.2020 kl. 12:00 CET'."""
    t = _aware(value) if value is not None else None
    if t is None:
        return "–"
    zone = t.tzname() or "CET"
    if (lang or locale_name()) == "en":
        return f"{t.day} {MONTHS_EN[t.month - 1]} {t.year}, {t:%H:%M} {zone}"
    return f"{t:%d.%m.%Y} kl. {t:%H:%M} {zone}"


def day(value: dt.date | str | None, lang: str | None = None) -> str:
    """A calendar day: '28.11.2020' in Danish, '28 Nov 2020' in English."""
    if value is None:
        return "–"
    if isinstance(value, str):
        value = dt.date.fromisoformat(value[:10])
    if isinstance(value, dt.datetime):
        local = _aware(value)
        if local is None:
            return "–"
        value = local.date()
    if (lang or locale_name()) == "en":
        return f"{value.day} {MONTHS_EN[value.month - 1]} {value.year}"
    return f"{value:%d.%m.%Y}"


def time_tag(value: dt.datetime | str | None) -> Markup:
    """`when(value)` inside a <time> element carrying the ISO instant."""
    t = _aware(value) if value is not None else None
    if t is None:
        return Markup("–")
    return Markup('<time datetime="{}">{}</time>').format(t.isoformat(), when(t))


def day_tag(value: dt.date | str | None) -> Markup:
    """`day(value)` inside a <time> element."""
    if value is None:
        return Markup("–")
    if isinstance(value, str):
        value = dt.date.fromisoformat(value[:10])
    # An f-string of escaped parts: what Markup.format gives, without its formatter (90 a chart's table).
    return Markup(f'<time datetime="{escape(value.isoformat())}">{escape(day(value))}</time>')


def register(bp: object) -> None:
    """Make the formatters available in every template as filters."""
    for name, fn in {"number": number, "integer": integer, "percent": percent, "when": when,
                     "day": day, "time_tag": time_tag, "day_tag": day_tag}.items():
        bp.add_app_template_filter(fn, name)  # type: ignore[attr-defined]


__all__ = ["CPH", "day", "day_tag", "integer", "number", "percent", "register", "round_half_up",
           "time_tag", "when"]
