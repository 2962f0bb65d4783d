"""Signed links: who may answer, cancel, manage or check in, without passwords.

Every link carries a token made by itsdangerous's ``URLSafeTimedSerializer``
with a secret kept in the database (table ``signing_keys``): created once per
database by whichever server starts first, shared by every server, rotated by
:meth:`TokenSigner.rotate` (the newest key signs, every kept key verifies, so
links already sent keep working until they expire).

One salt per purpose, so a token made for one link can never be used as
another:

``respond``
    The provider's Accept/Decline link; payload: the introduction id.
    Single-use *by the lifecycle*: answering is a conditional UPDATE on the
    introduction's state, so a replay finds it no longer pending
    (:class:`~findsupport.errors.AlreadyAnswered`, 409).
``manage``
    The provider's listing page; payload: the provider id.
``coach``
    The coach's cancel link; payload: the introduction id.
``outcome``
    The one-click check-in; payload: ``[introduction id, "coach"|"provider", met, helpful]``.
``form``
    A page's CSRF token (a hidden field of each form the web layer renders);
    payload: ``[form name, digest of the page's own link token]``, so a form
    token works only on the page, and for the form, it was made for.

Errors: a token that is not ours or is for another purpose is
:class:`~findsupport.errors.TokenInvalid` (404), a genuine but old one
:class:`~findsupport.errors.TokenExpired` (410).

Examples
--------
>>> from findsupport.db import create_db_engine
>>> signer = TokenSigner.open(create_db_engine("sqlite://"))
>>> signer.load(MANAGE, signer.dump(MANAGE, "p1"), max_age_s=60)
'p1'
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from itsdangerous import BadData, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from sqlalchemy.engine import Engine

from ..errors import TokenExpired, TokenInvalid
from .model import Clock, utc_clock
from .tables import signing_keys

__all__ = ["TokenSigner", "RESPOND", "MANAGE", "COACH", "OUTCOME", "FORM", "PURPOSES", "KEPT_KEYS", "MAX_TOKEN_CHARS"]

RESPOND = "respond"
MANAGE = "manage"
COACH = "coach"
OUTCOME = "outcome"
FORM = "form"
PURPOSES: tuple[str, ...] = (RESPOND, MANAGE, COACH, OUTCOME, FORM)
#: Keys kept for verification after a rotation: the newest and the one before, so links
#: sent just before a rotation keep working; older ones stop (that is what rotating is for).
KEPT_KEYS = 2
#: Longer "tokens" are not ours; refuse them before any work (a URL path segment, not a payload).
MAX_TOKEN_CHARS = 400
#: 256-bit secrets.
_SECRET_BYTES = 32
_SALT_PREFIX = "findsupport.introductions."


class TokenSigner:
    """Signs and checks link tokens with the database's keys.

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
    keys : list of str
        Secrets, oldest first (the last one signs).  Use :meth:`open`.
    clock : callable, optional
        Aware UTC now; stamps tokens and measures their age (tests pass their own).
    """

    def __init__(self, engine: Engine, keys: list[str], clock: Clock = utc_clock) -> None:
        if not keys:
            raise ValueError("a TokenSigner needs at least one key")
        self.engine = engine
        self.clock = clock
        signer = type("ClockedSigner", (TimestampSigner,), {"get_timestamp": lambda _self: int(clock().timestamp())})
        self._serializers = {
            purpose: URLSafeTimedSerializer(list(keys), salt=_SALT_PREFIX + purpose, signer=signer)
            for purpose in PURPOSES
        }

    @classmethod
    def open(cls, engine: Engine, clock: Clock = utc_clock) -> "TokenSigner":
        """The signer of this database, creating its first key if there is none (race-safe)."""
        signing_keys.create(engine, checkfirst=True)
        keys = _read_keys(engine)
        if not keys:
            try:
                with engine.begin() as conn:
                    conn.execute(sa.insert(signing_keys).values(id=1, secret=secrets.token_hex(_SECRET_BYTES),
                                                                created_at=_now()))
            except sa.exc.IntegrityError:
                pass  # another server made it first; use theirs
            keys = _read_keys(engine)
        return cls(engine, keys, clock)

    def rotate(self) -> "TokenSigner":
        """Add a new signing key, forget all but the newest :data:`KEPT_KEYS`; return a signer using them.

        Other servers pick the new key up when they next open a signer (at
        start-up); until then they still sign with the previous key, which
        every server keeps verifying.
        """
        with self.engine.begin() as conn:
            newest = conn.execute(sa.select(sa.func.max(signing_keys.c.id))).scalar() or 0
            conn.execute(sa.insert(signing_keys).values(id=newest + 1, secret=secrets.token_hex(_SECRET_BYTES),
                                                        created_at=_now()))
            conn.execute(sa.delete(signing_keys).where(signing_keys.c.id <= newest + 1 - KEPT_KEYS))
        return TokenSigner(self.engine, _read_keys(self.engine), self.clock)

    def dump(self, purpose: str, payload: Any) -> str:
        """A token for ``purpose`` carrying ``payload`` (JSON-serialisable), stamped now."""
        return self._serializer(purpose).dumps(payload)

    def load(self, purpose: str, token: Any, *, max_age_s: float) -> Any:
        """The payload of a genuine, unexpired token made for ``purpose``.

        Raises
        ------
        TokenInvalid
            Not a token of ours for this purpose (tampered, made for another
            link, or not text at all).
        TokenExpired
            Genuine but older than ``max_age_s``.
        """
        if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_CHARS:
            raise TokenInvalid("This link is not one we sent. Please use the link in your e-mail as it is.")
        try:
            return self._serializer(purpose).loads(token, max_age=max_age_s)
        except SignatureExpired:
            raise TokenExpired("This link has expired. Links in our e-mails work for a limited time.") from None
        except BadData:
            raise TokenInvalid("This link is not one we sent. Please use the link in your e-mail as it is.") from None

    def _serializer(self, purpose: str) -> URLSafeTimedSerializer:
        try:
            return self._serializers[purpose]
        except KeyError:
            raise ValueError(f"Got purpose={purpose!r}; purpose must be one of {', '.join(PURPOSES)}") from None


def _read_keys(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [row.secret for row in conn.execute(sa.select(signing_keys.c.secret).order_by(signing_keys.c.id))]


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
