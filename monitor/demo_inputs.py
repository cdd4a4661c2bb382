"""The demo's "dit input?" loop: a few leads' inputs, one answered and published, one correction.

A newcomer then sees the whole loop: the form, the inputs on /drift (one unconfirmed), a
published answer on a municipality page and on /metode, and a correction whose score the
page shows before and after, with both revisions in the history.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from .localtime import CPH
from .models import MethodInput, RatingRun
from .rating import corrections
from .settings import Settings

OPERATOR = "drift@demo.example"


def _unused_agreement(session: Session, as_of: dt.date) -> tuple[str, str] | None:
    """(municipality code, agreement uuid): the first conclusive municipality with an agreement unused only."""
    run = session.scalars(select(RatingRun).where(RatingRun.as_of == as_of)
                          .order_by(RatingRun.revision.desc()).limit(1)).first()
    if run is None:
        return None
    for result in sorted(run.results, key=lambda r: r.municipality_code):
        if result.score is None:
            continue
        doc: dict[str, Any] = result.document
        for r in doc["parts"]["service_agreements"]["inputs"].get("redundant_agreements", []):
            if r.get("reasons") == ["no_calls"]:
                return result.municipality_code, str(r["uuid"])
    return None


def add_demo_inputs(engine: Engine, settings: Settings, now: dt.datetime) -> int:
    """Add the demo's inputs and correction, then rate today again; returns how many inputs were added."""
    from .rating.service import store_snapshot

    today = now.astimezone(CPH).date()
    at = now.astimezone(dt.UTC)
    with Session(engine) as session, session.begin():
        found = _unused_agreement(session, today)
        rows = [MethodInput(municipality_code=None, part="method", language="da", published=True,
                            address="it-chef@kommune.example", created_at=at - dt.timedelta(days=6),
                            confirmed_at=at - dt.timedelta(days=6, minutes=-5),
                            text="Hvorfor tæller en aftale først som ubrugt efter 90 dage uden kald?",
                            answer="Nogle integrationer kalder kun ved kvartalsskiftet. 90 dage giver dem et "
                                   "kvartal at kalde i; et kortere vindue ville kalde dem overflødige.",
                            answered_at=at - dt.timedelta(days=5), answered_by=OPERATOR),
                MethodInput(municipality_code=None, part="calls_per_citizen", language="da", published=False,
                            address="arkitekt@kommune.example", created_at=at - dt.timedelta(hours=3),
                            text="Bør kald pr. borger ikke tage højde for, hvor mange borgere der er over 65?")]
        if found is not None:
            code, uuid = found
            rows.append(MethodInput(
                municipality_code=code, part="service_agreements", language="da", published=True,
                address="infrastruktur@kommune.example", created_at=at - dt.timedelta(days=2),
                confirmed_at=at - dt.timedelta(days=2, minutes=-10),
                text=f"Aftale {uuid} er talt som ubrugt, men den bruges til årsopgørelsen hver januar.",
                answer="Enig: aftalen tælles nu som i brug. Rettelsen står på siden med scoren før og efter.",
                answered_at=at - dt.timedelta(days=1), answered_by=OPERATOR))
        session.add_all(rows)
        session.flush()
        if found is not None:
            corrections.record(session, found[0], found[1], "Bruges til årsopgørelsen hver januar (demo).",
                               OPERATOR, at - dt.timedelta(days=1), input_id=rows[-1].id)
    if found is not None:
        store_snapshot(engine, settings, today, now=now)  # the next rating: a revision beside the first
    return len(rows)
