"""Who a request came from, without knowing who they are: a keyed hash of the client address.

Rate limits, introductions and the feedback log all need to tell one client
from another (to count, deduplicate and cap what one client contributes)
without storing addresses.  :class:`ClientHasher` turns an address into an
HMAC-SHA-256 under a key kept in the shared database (row ``client_key`` of
the ``web_secrets`` table): created once per database by whichever process
comes first, then read by every server, so one client has one hash on every
server, and nobody holding only the log can turn a hash back into an address
by trying all IPv4 addresses.

The web layer holds one hasher (``WebState.client_key``) for everything it
records per client, so introductions, feedback and rate limits name a client
alike; the key is the row an older web layer kept in the same table, so
hashes stay stable across the upgrade.

Examples
--------
>>> from findsupport.db import create_db_engine
>>> hasher = ClientHasher(create_db_engine("sqlite://"))
>>> key = hasher.client_key("198.51.100.7")
>>> len(key), key == hasher.client_key("198.51.100.7"), key == hasher.client_key("198.51.100.8")
(64, True, False)
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

import sqlalchemy as sa

from .db import metadata
from .errors import CatalogError

__all__ = ["ClientHasher", "CLIENT_KEY_NAME", "CLIENT_KEY_CHARS", "KEYS_CACHED", "web_secrets"]

#: The name of the secret's row (shared with the web layer's introductions).
CLIENT_KEY_NAME = "client_key"
#: A client key is a hex SHA-256 digest.
CLIENT_KEY_CHARS = 64
#: Client keys a process remembers (:meth:`ClientHasher.client_key`): a busy server's recent clients.
KEYS_CACHED = 4096
#: 256-bit key: as long as the digest, so the key is never the weak part.
_SECRET_BYTES = 32

#: Small secrets every server shares (the client-address hash key).
web_secrets = sa.Table(
    "web_secrets",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(128), nullable=False),
)


class ClientHasher:
    """Keyed hashes of client addresses under the database's shared key.

    Parameters
    ----------
    db : sqlalchemy.engine.Engine
        The shared database; the ``web_secrets`` table is created if missing.
    """

    def __init__(self, db: sa.engine.Engine) -> None:
        try:
            metadata.create_all(db, tables=[web_secrets])
        except sa.exc.OperationalError:
            # Another process created the table between our check and our CREATE.
            metadata.create_all(db, tables=[web_secrets])
        except sa.exc.SQLAlchemyError as exc:
            raise CatalogError(f"The client-key table cannot be created: {exc.__class__.__name__}.") from None
        self._key = self._read_or_create_key(db)
        self._keys: dict[str, str] = {}

    @staticmethod
    def _read_or_create_key(db: sa.engine.Engine) -> bytes:
        t = web_secrets
        select = sa.select(t.c.value).where(t.c.name == CLIENT_KEY_NAME)
        with db.connect() as conn:
            row = conn.execute(select).first()
        if row is None:
            try:
                with db.begin() as conn:
                    conn.execute(sa.insert(t).values(name=CLIENT_KEY_NAME, value=secrets.token_hex(_SECRET_BYTES)))
            except sa.exc.IntegrityError:
                pass  # another process created it first; we read theirs below
            with db.connect() as conn:
                row = conn.execute(select).one()
        return bytes.fromhex(row.value)

    def client_key(self, address: str) -> str:
        """The keyed hash (64 hex characters) of a client address.

        Remembered for the process's :data:`KEYS_CACHED` most recent addresses
        (a dict look-up, not an HMAC, for each of a client's requests: every
        search asks twice, for its rate limit and its feedback session).  The
        addresses stay in this process's memory only, as the requests' own do.
        """
        address = str(address)
        key = self._keys.get(address)
        if key is None:
            if len(self._keys) >= KEYS_CACHED:
                self._keys.clear()
            key = self._keys[address] = hmac.new(self._key, address.encode(), hashlib.sha256).hexdigest()
        return key
