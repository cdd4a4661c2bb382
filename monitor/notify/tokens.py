"""Signed links for subscribers: confirm, manage and unsubscribe; and for invitations.

A token is an itsdangerous `URLSafeTimedSerializer` payload signed with the app's secret
key, one salt per purpose so that a manage link can never be used as a confirmation. It
carries the subscriber's id, `token_version` and `link_key`; bumping the version (on
unsubscribe or a change of address) voids every link mailed before. The key is a random
secret of the row alone: ids are never reused, and even if one were, a row created later has
another key, so no link can open it (`matches`). Links mailed before keys existed carry none
and match only a row that has none either.
"""

from __future__ import annotations

import functools
import hmac
from dataclasses import dataclass
from typing import Protocol

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from ..models import Subscriber

PURPOSES = ("confirm", "manage", "unsubscribe", "invite")


class TokenError(Exception):
    """A link that cannot be used; `reason` is "expired" or "invalid"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class TokenPayload:
    """What a valid token says: whose it is, for which version of their links, and maybe a new address."""

    subscriber_id: int
    version: int
    address: str | None = None
    key: str | None = None

    def names(self, subscriber: Subscriber | None) -> bool:
        """Whether this token was made for `subscriber`'s row: same id and same key (its version aside)."""
        if subscriber is None or subscriber.id != self.subscriber_id:
            return False
        if subscriber.link_key is None or self.key is None:
            return subscriber.link_key is None and self.key is None
        return hmac.compare_digest(subscriber.link_key.encode(), self.key.encode())


class LinkHolder(Protocol):
    """What a link token names: a subscriber row (or the outbox's plain copy of one)."""

    @property
    def id(self) -> int: ...
    @property
    def token_version(self) -> int: ...
    @property
    def link_key(self) -> str | None: ...


@functools.lru_cache(maxsize=32)
def _serializer(secret: str, purpose: str) -> URLSafeTimedSerializer:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}")
    return URLSafeTimedSerializer(secret, salt=f"monitor.notify.{purpose}")


def make_token(secret: str, purpose: str, subscriber: LinkHolder, address: str | None = None) -> str:
    """Sign a link token for `subscriber`; `address` is set when confirming a new address."""
    payload: dict[str, object] = {"s": subscriber.id, "v": subscriber.token_version or 0}
    if subscriber.link_key is not None:
        payload["k"] = subscriber.link_key
    if address is not None:
        payload["a"] = address
    return _serializer(secret, purpose).dumps(payload)


def read_token(secret: str, purpose: str, token: str, max_age_seconds: int | None = None) -> TokenPayload:
    """Verify `token` for `purpose`; raise `TokenError` when it is expired, forged or malformed."""
    try:
        data = _serializer(secret, purpose).loads(token, max_age=max_age_seconds)
    except SignatureExpired:
        raise TokenError("expired") from None
    except BadSignature:
        raise TokenError("invalid") from None
    if (not isinstance(data, dict) or not isinstance(data.get("s"), int) or not isinstance(data.get("v"), int)
            or not isinstance(data.get("a", ""), str) or not isinstance(data.get("k", ""), str)):
        raise TokenError("invalid")
    return TokenPayload(data["s"], data["v"], data.get("a"), data.get("k"))


@dataclass(frozen=True)
class InvitationPayload:
    """What a valid invitation link says: the invited address, the offered components and language."""

    address: str
    components: tuple[str, ...]
    language: str
    campaign: str


def make_invitation_token(secret: str, address: str, components: list[str], language: str, campaign: str) -> str:
    """Sign an invitation link for `address` (no subscriber exists until they accept)."""
    return _serializer(secret, "invite").dumps({"a": address, "c": list(components), "l": language, "k": campaign})


def read_invitation_token(secret: str, token: str, max_age_seconds: int) -> InvitationPayload:
    """Verify an invitation token; `TokenError` when it is expired, forged or malformed."""
    try:
        data = _serializer(secret, "invite").loads(token, max_age=max_age_seconds)
    except SignatureExpired:
        raise TokenError("expired") from None
    except BadSignature:
        raise TokenError("invalid") from None
    if (not isinstance(data, dict) or not isinstance(data.get("a"), str) or not isinstance(data.get("l"), str)
            or not isinstance(data.get("k"), str) or not isinstance(data.get("c"), list)
            or not all(isinstance(c, str) for c in data["c"])):
        raise TokenError("invalid")
    return InvitationPayload(data["a"], tuple(data["c"]), data["l"], data["k"])
