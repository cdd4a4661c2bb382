"""Suppliers' bearer tokens for the HTTP import (`monitor tokens`, `POST /api/v1/imports/calls`).

A token is 32 random bytes, URL-safe base64, shown once when it is made. Only its SHA-256 is
stored, so the table alone lets nobody post a file; removing the row revokes it at once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import ImportToken

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
MAX_TOKEN_CHARS = 200  # a token is 43 characters; anything much longer is not one of ours


class TokenError(ValueError):
    """A token name that cannot be used; the message says why."""


def digest(token: str) -> str:
    """The SHA-256 (hex) a token is stored and looked up by."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def add_token(session: Session, name: str, now: dt.datetime) -> tuple[ImportToken, str]:
    """Make a token for supplier `name`; returns the row and the token, which is not kept anywhere."""
    if not NAME.fullmatch(name):
        raise TokenError("a name is 1–100 letters, digits, '.', '_' or '-', starting with a letter or digit")
    if session.scalar(select(ImportToken.id).where(ImportToken.name == name)) is not None:
        raise TokenError(f"{name} already has a token; remove it first to make a new one")
    token = secrets.token_urlsafe(32)
    row = ImportToken(name=name, token_sha256=digest(token), created_at=now)
    session.add(row)
    session.flush()
    return row, token


def remove_token(session: Session, name: str) -> bool:
    """Revoke the token of `name`; False when there is none."""
    row = session.scalar(select(ImportToken).where(ImportToken.name == name))
    if row is None:
        return False
    session.delete(row)
    return True


def list_tokens(session: Session) -> list[ImportToken]:
    """Every token's row (never the token), by name."""
    return list(session.scalars(select(ImportToken).order_by(ImportToken.name)))


def authenticate(session: Session, token: str, now: dt.datetime) -> ImportToken | None:
    """The row of a valid `token`, its `last_used_at` set to `now`; None for any other text."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        return None
    wanted = digest(token)
    row = session.scalar(select(ImportToken).where(ImportToken.token_sha256 == wanted))
    # The lookup is by a digest the caller cannot steer; the comparison is constant-time anyway.
    if row is None or not hmac.compare_digest(row.token_sha256, wanted):
        return None
    row.last_used_at = now
    return row
