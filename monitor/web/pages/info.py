"""The method page and the accessibility statement: text pages built from the configuration."""

from __future__ import annotations

import datetime as dt

from flask import render_template
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from ...models import RatingRun
from ...rating.method import VERSIONS
from ...rating.service import planned_outages
from ..state import db_session, state
from .blueprint import bp
from .format import locale_name

# The day of the last check of the pages against WCAG 2.1 AA that the statement rests on: axe-core
# on every page in both languages (tests/test_accessibility.py, which also runs in every CI run)
# and a person looking at every page at 390 px and with the keyboard. Change it when a person
# checks again (docs/pages.md).
ACCESSIBILITY_CHECKED = dt.date(2026, 11, 29)


@bp.get("/metode")
def method() -> ResponseReturnValue:
    """The rating formula, weights, bounds and version, in plain Danish."""
    rating = state().settings.rating
    newest = db_session().execute(
        select(RatingRun.as_of, RatingRun.method_version, RatingRun.computed_at)
        .order_by(RatingRun.as_of.desc(), RatingRun.revision.desc()).limit(1)).first()
    english = locale_name() == "en"
    versions = [{"version": v, "text": en if english else da} for v, da, en in VERSIONS]
    return render_template("pages/method.html", r=rating, w=rating.weights, newest=newest,
                           price_half=rating.price_per_citizen / 2, versions=versions,
                           outages=sorted(planned_outages(db_session(), state().settings), key=lambda o: o.start))


@bp.get("/tilgaengelighed")
def accessibility() -> ResponseReturnValue:
    """The accessibility statement (tilgængelighedserklæring) required of Danish public-sector sites."""
    return render_template("pages/accessibility.html", checked=ACCESSIBILITY_CHECKED,
                           contact=state().settings.web.accessibility_contact)
