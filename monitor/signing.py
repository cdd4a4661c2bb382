"""The key every process signs with: tokens in mails, sign-in links and the web's cookies."""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from .models import Meta
from .settings import Settings


def secret_key(settings: Settings, sessions: sessionmaker[Session]) -> str:
    """$MONITOR_SECRET_KEY, or else one generated once and kept in the database.

    Every process using the same database then signs and verifies with the same key.
    """
    if settings.secret_key:
        return settings.secret_key
    with sessions() as session:
        row = session.get(Meta, "secret_key")
        if row is None:
            session.add(Meta(key="secret_key", value=secrets.token_urlsafe(32)))
            try:
                session.commit()
            except Exception:  # another process created it first
                session.rollback()
            row = session.scalars(select(Meta).where(Meta.key == "secret_key")).one()
        return str(row.value)
