"""/metode/hvad-hvis: the ranking under other weights or choices, beside today's. Stores nothing.

A GET form that works without JavaScript. The form's values are checked by
`monitor.rating.whatif` (bounds, sums, order); a bad value answers 400 with the form and a
message naming the field. The recomputation is not cached: each set of values is its own.
"""

from __future__ import annotations

from typing import Any

from flask import render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from ...rating.documents import RatingsDocument
from ...rating.elements import elements
from ...rating.method import Parameters
from ...rating.whatif import BOUNDS, Invalid, current_values, parameters_from, what_if
from ..limits import client_limit, limiter
from ..state import db_session, state
from .blueprint import bp
from .documents import ratings_document, versions
from .format import locale_name


def _problem(invalid: Invalid, labels: dict[str, str]) -> str:
    """`invalid` in words, naming the field as the form labels it."""
    label = labels.get(invalid.name, invalid.name)
    bound = BOUNDS.get(invalid.name)
    if invalid.problem == "weights_sum":
        return _("De tre vægte skal tilsammen give 1.")
    if invalid.problem == "sub_weights_sum":
        return _("De tre delvægte for serviceaftaler skal tilsammen give 1.")
    if invalid.problem == "cpc_order":
        return _("Den nedre grænse for kald pr. borger skal være mindre end den øvre.")
    if invalid.problem == "not_whole":
        return _("%(field)s: skal være et helt tal.", field=label)
    if invalid.problem == "out_of_range" and bound is not None:
        return _("%(field)s: skal ligge mellem %(low)s og %(high)s.", field=label, low=f"{bound.low:g}",
                 high=f"{bound.high:g}")
    return _("%(field)s: ikke et tal.", field=label)


@bp.get("/metode/hvad-hvis")
@limiter.limit(client_limit)
def what_if_view() -> ResponseReturnValue:
    """Recompute the 98 scores with the form's weights and choices, beside today's."""
    settings = state().settings
    base = Parameters.from_mapping(settings.rating.parameters())
    english = locale_name() == "en"
    fields = [{"name": e.name, "origin": e.origin, "label": e.label_en if english else e.label_da,
               "value": request.args.get(e.name, "")[:40] or f"{current_values(base)[e.name]:g}"}
              for e in elements(base) if e.what_if]
    labels = {f["name"]: f["label"] for f in fields}
    asked = any(request.args.get(name, "").strip() for name in BOUNDS)
    params, invalid = parameters_from(request.args, base)
    result: Any = None
    today: RatingsDocument | None = None
    if asked and not invalid:
        session = db_session()
        today = ratings_document(session, settings, versions(session)["ratings"])
        if today["ratings"]:
            result = what_if(session, settings, params, today)
    body = render_template("pages/what_if.html", fields=fields, problems=[_problem(i, labels) for i in invalid],
                           result=result, asked=asked, today=today, version=settings.rating.method_version)
    return body, 400 if invalid else 200
