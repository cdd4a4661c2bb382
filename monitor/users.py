"""Operators, their sign-in links and the audit trail (no Flask here: callers own the session).

An operator signs in with a mailed link that is signed (itsdangerous, its own salt), expires
after `[web] login_link_minutes` and works once: the link carries a random nonce whose row in
`login_links` is marked used by the one UPDATE that signs in, so two clicks racing each other
still sign in once. No password is ever stored.

A sign-in opens a session kept on the server (`operator_sessions`): the cookie carries a
random token of that session alone, the table only its SHA-256. Logout, `monitor users
remove` and `monitor users sessions --revoke` end sessions there, so a copied cookie stops
working at once; a session also ends `[web] session_hours` after it began.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any, cast

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.orm import Session

from .db import utcnow
from .models import AuditEvent, LoginLink, OperatorSession, User

ROLES = ("operator",)
MAX_ADDRESS_LENGTH = 254
DETAIL_LIMIT = 500
MAX_TOKEN_LENGTH = 300
LOCAL_PART = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}$")
DOMAIN_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


class UserError(Exception):
    """A refused change to the operators (bad address, unknown role)."""


class LinkError(Exception):
    """A sign-in link that cannot be used; `reason` is "invalid", "expired" or "used"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def normalise_address(text: str) -> str:
    """An operator's address, checked and lower-cased; the domain in IDNA form.

    Stricter than the subscription form (an ASCII local part) but, unlike it, open to the
    reserved domains (``drift@demo.invalid``) that demo and test installations use.
    """
    text = (text or "").strip()
    local, at, domain = text.rpartition("@")
    if not at or not LOCAL_PART.match(local) or ".." in local or local[0] == "." or local[-1] == ".":
        raise UserError(f"not an email address: {text[:100]!r}")
    try:
        domain = domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise UserError(f"not a domain name: {domain[:100]!r}") from None
    labels = domain.split(".")
    if len(labels) < 2 or not all(DOMAIN_LABEL.match(label) for label in labels):
        raise UserError(f"not a domain name: {domain[:100]!r}")
    address = f"{local.lower()}@{domain}"
    if len(address) > MAX_ADDRESS_LENGTH:
        raise UserError("the address is too long")
    return address


def audit(session: Session, actor: str, action: str, detail: str = "", now: dt.datetime | None = None) -> None:
    """Record that `actor` did `action` (in the caller's transaction)."""
    session.add(AuditEvent(at=now or utcnow(), actor=actor[:MAX_ADDRESS_LENGTH], action=action[:50],
                           detail=detail[:DETAIL_LIMIT]))


def find_user(session: Session, text: str) -> User | None:
    """The operator with this address, or None (also for text that is no address at all)."""
    try:
        address = normalise_address(text)
    except UserError:
        return None
    return session.scalars(select(User).where(User.email == address)).first()


def add_user(session: Session, text: str, role: str, actor: str = "cli", now: dt.datetime | None = None) -> User:
    """Add an operator, or change the role of one that exists; audited."""
    if role not in ROLES:
        raise UserError(f"unknown role {role!r} (known: {', '.join(ROLES)})")
    address = normalise_address(text)
    user = session.scalars(select(User).where(User.email == address)).first()
    if user is None:
        user = User(email=address, role=role, created_at=now or utcnow())
        session.add(user)
    user.role = role
    session.flush()
    audit(session, actor, "users.add", f"{address} ({role})", now)
    return user


def remove_user(session: Session, text: str, actor: str = "cli", now: dt.datetime | None = None) -> bool:
    """Remove an operator: their sessions and unused links stop working at once. False if unknown."""
    user = find_user(session, text)
    if user is None:
        return False
    audit(session, actor, "users.remove", user.email, now)
    session.execute(delete(LoginLink).where(LoginLink.user_id == user.id))
    session.execute(delete(OperatorSession).where(OperatorSession.user_id == user.id))
    session.delete(user)
    return True


def list_users(session: Session) -> list[User]:
    """Every operator, by address."""
    return list(session.scalars(select(User).order_by(User.email)))


def _serializer(secret: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt="monitor.login")


def issue_link(session: Session, secret: str, user: User, minutes: int, now: dt.datetime) -> str:
    """A new signed sign-in token for `user`, valid for `minutes` from `now`, usable once."""
    nonce = secrets.token_urlsafe(24)
    session.add(LoginLink(nonce=nonce, user_id=user.id, created_at=now,
                          expires_at=now + dt.timedelta(minutes=minutes)))
    return _serializer(secret).dumps({"u": user.id, "n": nonce})


@dataclass(frozen=True)
class LinkCheck:
    """A sign-in link that is valid now: whose it is and its row."""

    user: User
    link: LoginLink


def check_link(session: Session, secret: str, token: str, now: dt.datetime) -> LinkCheck:
    """Verify `token` without using it; `LinkError` says why it cannot sign in."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise LinkError("invalid")  # ours are about 80 characters; refuse before any work
    try:
        data = _serializer(secret).loads(token)
    except BadSignature:
        raise LinkError("invalid") from None
    if not isinstance(data, dict) or not isinstance(data.get("u"), int) or not isinstance(data.get("n"), str):
        raise LinkError("invalid")
    link = session.get(LoginLink, data["n"])
    if link is None or link.user_id != data["u"]:
        raise LinkError("invalid")  # forged, or its operator was removed
    if link.used_at is not None:
        raise LinkError("used")
    if now >= link.expires_at:
        raise LinkError("expired")
    user = session.get(User, link.user_id)
    if user is None:
        raise LinkError("invalid")
    return LinkCheck(user, link)


def use_link(session: Session, secret: str, token: str, now: dt.datetime) -> User:
    """Spend `token` and return its operator; a second use raises `LinkError("used")`."""
    checked = check_link(session, secret, token, now)
    # A DML statement's result is a CursorResult (Session.execute is typed more widely).
    spent = cast(CursorResult[Any], session.execute(update(LoginLink).where(
        LoginLink.nonce == checked.link.nonce, LoginLink.used_at.is_(None)).values(used_at=now)))
    if spent.rowcount != 1:
        raise LinkError("used")  # another request spent it a moment ago
    checked.user.last_sign_in_at = now
    audit(session, checked.user.email, "sign_in", "", now)
    return checked.user


def purge_links(session: Session, now: dt.datetime) -> int:
    """Delete sign-in links that expired more than a day ago (used or not)."""
    result = cast(CursorResult[Any], session.execute(
        delete(LoginLink).where(LoginLink.expires_at < now - dt.timedelta(days=1))))
    return int(result.rowcount or 0)


def _session_key(token: str) -> str:
    return hashlib.sha256(b"fki-operator-session:" + token.encode("utf-8")).hexdigest()


def open_session(session: Session, user: User, hours: int, now: dt.datetime) -> str:
    """Start a session for `user` that lasts `hours`; the token to put in the cookie."""
    token = secrets.token_urlsafe(32)
    session.add(OperatorSession(id=_session_key(token), user_id=user.id, created_at=now,
                                expires_at=now + dt.timedelta(hours=hours)))
    return token


def session_user(session: Session, token: str, now: dt.datetime) -> User | None:
    """The operator of a live session with this token, or None (ended, expired, unknown, removed)."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    row = session.get(OperatorSession, _session_key(token))
    if row is None or row.revoked_at is not None or now >= row.expires_at:
        return None
    return session.get(User, row.user_id)


def end_session(session: Session, token: str, now: dt.datetime) -> bool:
    """End the session with this token (logout); False when it was not live."""
    result = cast(CursorResult[Any], session.execute(
        update(OperatorSession).where(OperatorSession.id == _session_key(token),
                                      OperatorSession.revoked_at.is_(None)).values(revoked_at=now)))
    return bool(result.rowcount)


@dataclass(frozen=True)
class LiveSession:
    """A session that is live now, as `monitor users sessions` shows it."""

    short_id: str  # the first characters of the stored key: enough to name it, useless as a cookie
    email: str
    created_at: dt.datetime
    expires_at: dt.datetime


SHORT_ID = 8


def _live(now: dt.datetime) -> Any:
    return (select(OperatorSession, User.email).join(User, User.id == OperatorSession.user_id)
            .where(OperatorSession.revoked_at.is_(None), OperatorSession.expires_at > now))


def live_sessions(session: Session, now: dt.datetime) -> list[LiveSession]:
    """Every live session, oldest first."""
    rows = session.execute(_live(now).order_by(OperatorSession.created_at, OperatorSession.id))
    return [LiveSession(row.id[:SHORT_ID], email, row.created_at, row.expires_at) for row, email in rows]


def revoke_sessions(session: Session, now: dt.datetime, target: str | None = None, actor: str = "cli") -> int:
    """End the live sessions of operator `target` (an address), or the one whose short id it is;
    every live session when `target` is None. Audited; returns how many ended."""
    query = _live(now)
    if target is not None:
        user = find_user(session, target)
        if user is not None:
            query = query.where(OperatorSession.user_id == user.id)
        elif re.fullmatch(rf"[0-9a-f]{{{SHORT_ID},64}}", target):
            query = query.where(OperatorSession.id.startswith(target, autoescape=True))
        else:
            return 0
    rows = [row for row, _email in session.execute(query)]
    for row in rows:
        row.revoked_at = now
    if rows:
        audit(session, actor, "sessions.revoke", f"{len(rows)} session(s) of {target or 'every operator'}", now)
    return len(rows)


def purge_sessions(session: Session, now: dt.datetime) -> int:
    """Delete sessions that expired or were ended more than a day ago."""
    cutoff = now - dt.timedelta(days=1)
    result = cast(CursorResult[Any], session.execute(delete(OperatorSession).where(
        (OperatorSession.expires_at < cutoff) | (OperatorSession.revoked_at < cutoff))))
    return int(result.rowcount or 0)


def recent_audit(session: Session, limit: int = 50) -> list[AuditEvent]:
    """The newest audit events, newest first."""
    return list(session.scalars(select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
                                .limit(limit)))
