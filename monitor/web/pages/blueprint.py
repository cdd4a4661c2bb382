"""The pages' blueprint and what every page shares: the layout's helpers, the language cookie, 404.

The view modules (overview, municipality, info, status, cutover, calendar) add their routes
to `bp`; the package's __init__ imports them all.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ...rating.method import PARTS
from .. import security
from ..auth import is_operator
from ..state import LANGUAGES
from . import bands, run_summary
from .format import locale_name
from .format import register as register_formats

bp = Blueprint("pages", "monitor.web.pages")
security.init_app(bp)
register_formats(bp)
bands.register(bp)
run_summary.register(bp)

LANG_COOKIE_DAYS = 365

PART_LABELS = {"service_agreements": _l("Serviceaftaler"), "calls_per_citizen": _l("Kald pr. borger"),
               "it_systems_with_calls": _l("It-systemer med kald")}


@bp.app_context_processor
def layout_helpers() -> dict[str, Any]:
    """Helpers for base.html: the language, the switch link and the menu."""

    def lang_url(lang: str) -> str:
        args: dict[str, Any] = request.args.to_dict(flat=False) if request else {}
        args["lang"] = [lang]
        return url_for(request.endpoint or "pages.overview", **(request.view_args or {}), **args)

    def nav_items() -> list[tuple[str, str, str]]:
        items = [("pages.overview", url_for("pages.overview"), _("Oversigt")),
                 ("pages.driftsstatus", url_for("pages.driftsstatus"), _("Driftsstatus")),
                 ("pages.cutover", url_for("pages.cutover"), _("Skift af driftscenter")),
                 ("pages.method", url_for("pages.method"), _("Metode")),
                 ("subscribe", "/subscribe", _("Abonnér"))]
        if is_operator():  # everyone else would only meet a sign-in there
            items.append(("pages.service_health", url_for("pages.service_health"), _("Drift af tjenesten")))
        return items

    return {"page_lang": locale_name, "lang_url": lang_url, "nav_items": nav_items,
            "part_labels": PART_LABELS, "parts": PARTS}


def page_key(*parts: Any) -> tuple[Any, ...]:
    """The cache key of a rendered page: `parts`, the language and whether the menu is an operator's."""
    return ("page", *parts, locale_name(), is_operator())


@bp.after_app_request
def remember_language(response: Response) -> Response:
    """?lang=en (or da) is remembered in the `lang` cookie that select_locale reads."""
    lang = request.args.get("lang")
    if lang in LANGUAGES and request.cookies.get("lang") != lang:
        response.set_cookie("lang", lang, max_age=LANG_COOKIE_DAYS * 86400, samesite="Lax",
                            secure=request.is_secure, httponly=True)
    return response


@bp.app_errorhandler(404)
def not_found(error: Exception) -> tuple[str, int] | Any:
    """A page that helps back on track; JSON for the API."""
    if request.path.startswith("/api/"):
        return {"error": "not found"}, 404
    return render_template("pages/not_found.html"), 404


