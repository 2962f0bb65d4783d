"""Who is an operator: one-time sign-in links, sessions and form tokens, without passwords.

The people who run findsupport are listed by address in ``settings.operator_emails``
(empty: there are no operator pages at all).  :class:`OperatorAccess` knows
nothing of Flask; :mod:`findsupport.web.operators` serves its pages.

Sign-in link
    ``{public_url}/operator/sign-in/{token}``, e-mailed to a listed address.  The
    token is signed with itsdangerous by the database's own signing keys (the
    ``signing_keys`` table of :mod:`findsupport.introductions.tokens`: one secret
    store for every link findsupport sends) under a salt of its own, so no other
    link can pass for it.  It works for ``operator_link_minutes`` and once: using
    it records its random id in ``operator_sign_in_links`` (a primary key, so two
    racing uses give one session), and a second use is :class:`~findsupport.errors.LinkUsed`.
    The address must still be listed when the link is used.
Session
    A random id, signed into the cookie; the database keeps only its SHA-256
    digest, the operator's address and when it ends (``operator_session_hours``
    after sign-in, or at sign-out), so signing out ends it on every server and
    a copied cookie stops working with it.
Form tokens (CSRF)
    Every POST carries a token signed for that form and tied to the session
    (or, before sign-in, to the page it was shown on); a token without its
    session, or a session cookie without a token, changes nothing.

Errors: a token that is not ours is :class:`~findsupport.errors.TokenInvalid`
(404), an old one :class:`~findsupport.errors.TokenExpired` (410).

Examples
--------
>>> from findsupport.config import load_settings
>>> from findsupport.db import create_db_engine
>>> access = OperatorAccess.open(create_db_engine("sqlite://"),
...                              load_settings({"operator_emails": "ops@example.org"}, environ={}))
>>> access.is_operator("OPS@example.org"), access.is_operator("coach@example.org")
(True, False)
>>> session = access.start_session(access.use_link(access.link_token("ops@example.org")))
>>> access.session_of(session.cookie).email
'ops@example.org'
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from itsdangerous import BadData, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from sqlalchemy.engine import Engine

from ..config import Settings
from ..db import metadata
from ..errors import LinkUsed, TokenExpired, TokenInvalid
from ..introductions.addresses import UnsafeAddress, safe_addr_spec
from ..introductions.model import Clock, naive_utc, utc_clock
from ..introductions.tables import signing_keys
from ..introductions.tokens import MAX_TOKEN_CHARS, TokenSigner

__all__ = [
    "OperatorAccess",
    "OperatorSession",
    "operator_addresses",
    "sign_in_links_table",
    "operator_sessions_table",
    "OPERATOR_TABLES",
    "CSRF_MAX_AGE",
]

#: A form shown before sign-in (the sign-in form, the confirm button) is answered within
#: minutes; an hour covers a coffee break and still makes old copied tokens useless.
CSRF_MAX_AGE = timedelta(hours=1)
#: 128 random bits: ids nobody guesses.
_ID_BYTES = 16
_DIGEST_CHARS = 64
_SALT_PREFIX = "findsupport.operators."
_LINK, _SESSION, _FORM = "sign-in-link", "session", "form"

sign_in_links_table = sa.Table(
    "operator_sign_in_links",
    metadata,
    # The random id inside a used link (not the link itself): a second use finds it here.
    sa.Column("link_id", sa.String(2 * _ID_BYTES), primary_key=True),
    sa.Column("used_at", sa.DateTime, nullable=False, index=True),
)

operator_sessions_table = sa.Table(
    "operator_sessions",
    metadata,
    # SHA-256 of the session id in the cookie: the database alone cannot make a cookie.
    sa.Column("digest", sa.String(_DIGEST_CHARS), primary_key=True),
    sa.Column("email", sa.String(254), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("ends_at", sa.DateTime, nullable=False, index=True),
)

OPERATOR_TABLES = (sign_in_links_table, operator_sessions_table)
_L = sign_in_links_table.c
_S = operator_sessions_table.c


def operator_addresses(setting: str) -> frozenset[str]:
    """The addresses of ``settings.operator_emails`` (commas or spaces between), normalised.

    Normalised as :func:`~findsupport.introductions.safe_addr_spec` does, then
    lower-cased: an operator types their address in any case.

    Raises
    ------
    ConfigError
        For an entry that is not a plain address (a typo must not lock an operator out silently).

    Examples
    --------
    >>> sorted(operator_addresses("Ops@Example.org, lead@example.org"))
    ['lead@example.org', 'ops@example.org']
    """
    from ..errors import ConfigError

    addresses = set()
    for entry in setting.replace(",", " ").split():
        try:
            addresses.add(safe_addr_spec(entry).lower())
        except UnsafeAddress:
            raise ConfigError(f"Got operator_emails entry {entry!r}; each entry must be a plain address such as "
                              "ops@example.org, separated by commas or spaces.", field="operator_emails") from None
    return frozenset(addresses)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class OperatorSession:
    """A signed-in operator: their address, and the session's cookie value and CSRF anchor."""

    email: str
    #: The signed value of the cookie (only :meth:`OperatorAccess.start_session` knows it).
    cookie: str = ""
    #: What form tokens are tied to: the session's digest, or ``sso:<address>`` for single sign-on.
    anchor: str = ""


class OperatorAccess:
    """Operator sign-in on one database.

    Parameters
    ----------
    engine : sqlalchemy.engine.Engine
    settings : Settings
    keys : list of str
        The database's signing secrets, oldest first (the last one signs).  Use :meth:`open`.
    clock : callable, optional
        Aware UTC now; read at every use, so tests may replace ``access.clock``.
    """

    def __init__(self, engine: Engine, settings: Settings, keys: list[str], clock: Clock = utc_clock) -> None:
        self.engine = engine
        self.settings = settings
        self.operators = operator_addresses(settings.operator_emails)
        self.clock = clock
        signer = type("ClockedSigner", (TimestampSigner,),
                      {"get_timestamp": lambda _self: int(self.clock().timestamp())})
        self._serializers = {
            purpose: URLSafeTimedSerializer(list(keys), salt=_SALT_PREFIX + purpose, signer=signer)
            for purpose in (_LINK, _SESSION, _FORM)
        }

    @classmethod
    def open(cls, engine: Engine, settings: Settings, clock: Clock = utc_clock) -> "OperatorAccess":
        """Operator access on ``engine``'s database (its signing key made if missing, tables created)."""
        TokenSigner.open(engine)  # the database's first signing key, made race-safe there
        metadata.create_all(engine, tables=list(OPERATOR_TABLES))
        with engine.connect() as conn:
            keys = [row.secret for row in conn.execute(sa.select(signing_keys.c.secret).order_by(signing_keys.c.id))]
        return cls(engine, settings, keys, clock)

    # ------------------------------------------------------------------ who
    @property
    def enabled(self) -> bool:
        """Whether there are operator pages at all (some address is listed)."""
        return bool(self.operators)

    def is_operator(self, address: Any) -> bool:
        """Whether ``address`` is listed (any case; anything not an address is not)."""
        try:
            return safe_addr_spec(address).lower() in self.operators
        except UnsafeAddress:
            return False

    def sso_operator(self, header_value: Any) -> OperatorSession | None:
        """The operator named by the single sign-on header, when listed (else ``None``)."""
        if not self.is_operator(header_value):
            return None
        email = safe_addr_spec(header_value).lower()
        return OperatorSession(email=email, anchor=f"sso:{email}")

    # ------------------------------------------------------------------ links
    def link_token(self, address: str) -> str:
        """A one-time sign-in token for a listed ``address`` (the caller checked :meth:`is_operator`)."""
        return self._dump(_LINK, {"e": safe_addr_spec(address).lower(), "j": secrets.token_hex(_ID_BYTES)})

    def check_link(self, token: Any) -> str:
        """The address of a genuine, unexpired, unused link whose address is still listed.

        Raises
        ------
        TokenInvalid
            Not ours, or for an address no longer listed.
        TokenExpired
            Older than ``operator_link_minutes``.
        LinkUsed
            Already used.
        """
        email, link_id = self._link_payload(token)
        with self.engine.connect() as conn:
            if conn.execute(sa.select(_L.link_id).where(_L.link_id == link_id)).first():
                raise LinkUsed("This sign-in link has already been used. Ask for a new one on the sign-in page.")
        return email

    def use_link(self, token: Any) -> str:
        """Spend a sign-in link once; its address (the errors of :meth:`check_link`)."""
        email, link_id = self._link_payload(token)
        now = naive_utc(self.clock())
        try:
            with self.engine.begin() as conn:
                conn.execute(sa.insert(sign_in_links_table).values(link_id=link_id, used_at=now))
                # Used ids older than any link could be are of no more use.
                conn.execute(sa.delete(sign_in_links_table).where(_L.used_at < now - self._link_age - self._link_age))
        except sa.exc.IntegrityError:
            raise LinkUsed("This sign-in link has already been used. Ask for a new one on the sign-in page.") from None
        return email

    def _link_payload(self, token: Any) -> tuple[str, str]:
        payload = self._load(_LINK, token, self._link_age)
        if (not isinstance(payload, dict) or not isinstance(payload.get("e"), str)
                or not isinstance(payload.get("j"), str) or not self.is_operator(payload["e"])):
            raise TokenInvalid("This link is not one we sent. Please use the link in your e-mail as it is.")
        return payload["e"], payload["j"]

    @property
    def _link_age(self) -> timedelta:
        return timedelta(minutes=self.settings.operator_link_minutes)

    @property
    def session_lifetime(self) -> timedelta:
        """How long a session lasts after sign-in (the cookie's ``Max-Age`` too)."""
        return timedelta(hours=self.settings.operator_session_hours)

    # ------------------------------------------------------------------ sessions
    def start_session(self, email: str) -> OperatorSession:
        """A new session for ``email`` (from :meth:`use_link`)."""
        session_id = secrets.token_urlsafe(_ID_BYTES)
        now = naive_utc(self.clock())
        with self.engine.begin() as conn:
            conn.execute(sa.delete(operator_sessions_table).where(_S.ends_at < now))
            conn.execute(sa.insert(operator_sessions_table).values(
                digest=_digest(session_id), email=email, created_at=now, ends_at=now + self.session_lifetime))
        return OperatorSession(email=email, cookie=self._dump(_SESSION, session_id), anchor=_digest(session_id))

    def session_of(self, cookie: Any) -> OperatorSession | None:
        """The live session of a cookie value whose address is still listed, else ``None``."""
        if not cookie:
            return None
        try:
            session_id = self._load(_SESSION, cookie, self.session_lifetime)
        except (TokenInvalid, TokenExpired):
            return None
        if not isinstance(session_id, str):
            return None
        digest = _digest(session_id)
        query = sa.select(_S.email).where(_S.digest == digest, _S.ends_at > naive_utc(self.clock()))
        with self.engine.connect() as conn:
            email = conn.execute(query).scalar()
        if email is None or not self.is_operator(email):
            return None
        return OperatorSession(email=email, cookie=cookie, anchor=digest)

    def end_session(self, session: OperatorSession) -> None:
        """Sign out: the session ends everywhere (a no-op for single sign-on)."""
        with self.engine.begin() as conn:
            conn.execute(sa.delete(operator_sessions_table).where(_S.digest == session.anchor))

    # ------------------------------------------------------------------ forms
    def form_token(self, form: str, anchor: str) -> str:
        """The hidden CSRF field of ``form`` for a session's ``anchor`` (or a page name before sign-in)."""
        return self._dump(_FORM, [form, _digest(anchor)[:32]])

    def form_token_ok(self, form: str, anchor: str, value: Any, max_age: timedelta | None = None) -> bool:
        """Whether ``value`` is the form token of ``form`` for ``anchor``, made within ``max_age``."""
        try:
            payload = self._load(_FORM, value, max_age or CSRF_MAX_AGE)
        except (TokenInvalid, TokenExpired):
            return False
        return payload == [form, _digest(anchor)[:32]]

    # ------------------------------------------------------------------ signing
    def _dump(self, purpose: str, payload: Any) -> str:
        return self._serializers[purpose].dumps(payload)

    def _load(self, purpose: str, token: Any, max_age: timedelta) -> Any:
        if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_CHARS:
            raise TokenInvalid("This link is not one we sent. Please use the link in your e-mail as it is.")
        try:
            return self._serializers[purpose].loads(token, max_age=max_age.total_seconds())
        except SignatureExpired:
            raise TokenExpired("This sign-in link has expired. Ask for a new one on the sign-in page.") from None
        except BadData:
            raise TokenInvalid("This link is not one we sent. Please use the link in your e-mail as it is.") from None
