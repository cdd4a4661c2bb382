"""The key every process signs with: tokens in mails, sign-in links and the web's cookies.

The key is $MONITOR_SECRET_KEY, or else one generated once and kept in the database (`meta`),
which is what the embedded default (`monitor demo && monitor serve`, SQLite) uses. A process
that is to serve settles the key before it serves (`settled`): when the environment has none
and the database cannot give one, it stops with `MissingSecretKey`, one line saying so.
"""

from __future__ import annotations

import dataclasses
import secrets
import uuid

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from .models import Meta
from .settings import Settings


class MissingSecretKey(RuntimeError):
    """No key to sign with: $MONITOR_SECRET_KEY is unset and the database cannot give one."""


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


def install_id(sessions: sessionmaker[Session]) -> str:
    """A random UUID made once per database and kept in `meta`: what makes this installation's
    Message-IDs its own, so that a reinstall (a fresh database) never repeats one, whatever the key."""
    with sessions() as session:
        row = session.get(Meta, "install_id")
        if row is None:
            session.add(Meta(key="install_id", value=str(uuid.uuid4())))
            try:
                session.commit()
            except Exception:  # another process created it first
                session.rollback()
            row = session.scalars(select(Meta).where(Meta.key == "install_id")).one()
        return str(row.value)


def settled(settings: Settings, sessions: sessionmaker[Session]) -> Settings:
    """`settings` with the key filled in (from the environment or the database), or `MissingSecretKey`."""
    if settings.secret_key:
        return settings
    try:
        key = secret_key(settings, sessions)
    except SQLAlchemyError as exc:
        reason = type(getattr(exc, "orig", None) or exc).__name__
        raise MissingSecretKey(f"no secret key: MONITOR_SECRET_KEY is unset and the database that keeps the key "
                               f"cannot give it ({reason}); set MONITOR_SECRET_KEY or make the database "
                               f"reachable and migrated (monitor db upgrade)") from None
    return dataclasses.replace(settings, secret_key=key)
