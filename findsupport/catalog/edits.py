"""A provider's own edits of their listing, how imports treat them, and withdrawal of consent.

The manage page (reached by a signed manage link) lets a provider change the
fields in :data:`EDITABLE_FIELDS`.  Each value is checked by exactly the rules
of an import (:func:`findsupport.catalog.validation.parse_field`), stored in
the provider's row (so the public catalogue shows it) and remembered in
``provider_edits``, one row per provider and field, beside the value the
operator's file carried for that field when the provider first changed it.

Imports versus a provider's own newer edits
-------------------------------------------
**Per field, a provider's edit stands over every later import until the
operator's file changes that field's value** (compared with the value the file
carried when the provider made the edit; the order of list items does not
count as a change).  When the file does change it, the file's value wins, the
edit is dropped, and the import reports it for that provider and field
(``p012: availability: the file's value replaces the provider's own edit of
2026-12-01``), kept in ``provider_edit_notices`` with the import's id.  So:

* re-importing the same file keeps every edit (and changes nothing at all);
* a file that changes *another* field of the provider keeps the edit;
* a file that now carries the provider's own edited value simply agrees: the
  edit is absorbed (nothing is lost, nothing to report);
* a capacity edit below the file's new ``active_coaches`` gives way to the
  file's capacity (reported likewise), since a row may never hold more
  coaches than places;
* ``--replace`` removing a provider who has edits reports each discarded edit.

An edit is therefore never lost silently: it stands, the file agrees with it,
or the import report names it.

Withdrawal of consent
---------------------
:func:`withdraw` deletes the provider's row (name, e-mail, postcode, base
coordinates, club, bio), their edits and notices and their places row, and
keeps only a tombstone in ``provider_withdrawals``: a SHA-256 digest of the id
and the day of the withdrawal.  Import history rows (counts only) stay.  A
later import of a withdrawn id is **rejected** with a reason telling the
operator to remove the row from their file, because an operator's stale
spreadsheet must not undo a withdrawal; a provider who gives consent again is
re-admitted explicitly (``findsupport import FILE --readmit ID``).

Every edit and withdrawal bumps the revision in ``provider_edits_revision`` in
the same transaction; :meth:`CatalogStore.version` folds it in, so every
server reloads within its reload interval.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..config import Settings
from ..db import metadata
from ..errors import InvalidInput
from .model import Contact, join_list, split_list
from .tables import providers_table
from .validation import capacity_problem, parse_field

__all__ = [
    "EDITABLE_FIELDS",
    "FILE_CHANGED",
    "CAPACITY_BELOW_ACTIVE",
    "REMOVED",
    "EditNotice",
    "EditableView",
    "Withdrawal",
    "edits_table",
    "edit_notices_table",
    "withdrawals_table",
    "edits_revision_table",
    "EDIT_TABLES",
    "parse_changes",
    "record_edits",
    "edited_fields",
    "overlay_edits",
    "discard_edits",
    "notices_of",
    "forget",
    "record_withdrawal",
    "withdrawn_on",
    "clear_withdrawals",
    "ensure_revision_row",
    "bump",
    "revision",
]

#: What a provider may change themselves (issue #11).  Everything else (name, roles,
#: location, qualification, club, e-mail) is the operator's, from their file.
EDITABLE_FIELDS: tuple[str, ...] = ("availability", "capacity", "travel_km", "events", "online", "bio")
#: Columns holding ``;``-separated codes: their order is not part of their value.
_LIST_FIELDS = frozenset({"availability", "events"})

#: Notice kinds: the file changed an edited field; the file's ``active_coaches`` no
#: longer fits an edited capacity; ``--replace`` removed a provider with edits.
FILE_CHANGED = "file_changed"
CAPACITY_BELOW_ACTIVE = "capacity"
REMOVED = "removed"

_FIELD_CHARS = 32
_KIND_CHARS = 16
_DIGEST_CHARS = 64  # SHA-256 hex
_ID_CHARS = providers_table.c.id.type.length

edits_table = sa.Table(
    "provider_edits",
    metadata,
    sa.Column("provider_id", sa.String(_ID_CHARS), primary_key=True),
    sa.Column("field", sa.String(_FIELD_CHARS), primary_key=True),
    # JSON of the providers column's value: the provider's own, and the file's when they first edited it.
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("file_value", sa.Text, nullable=False),
    sa.Column("edited_at", sa.DateTime, nullable=False),
)

edit_notices_table = sa.Table(
    "provider_edit_notices",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("import_id", sa.Integer, nullable=False, index=True),
    sa.Column("provider_id", sa.String(_ID_CHARS), nullable=False, index=True),
    sa.Column("field", sa.String(_FIELD_CHARS), nullable=False),
    sa.Column("kind", sa.String(_KIND_CHARS), nullable=False),
    sa.Column("edited_at", sa.DateTime, nullable=False),
)

#: Tombstones: the digest of a withdrawn id and the day (not the time) it was withdrawn.
withdrawals_table = sa.Table(
    "provider_withdrawals",
    metadata,
    sa.Column("id_digest", sa.String(_DIGEST_CHARS), primary_key=True),
    sa.Column("withdrawn_on", sa.DateTime, nullable=False),
)

#: One row (id 1): bumped by every edit and withdrawal, read by the catalogue version.
edits_revision_table = sa.Table(
    "provider_edits_revision",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("revision", sa.Integer, nullable=False),
)

EDIT_TABLES = (edits_table, edit_notices_table, withdrawals_table, edits_revision_table)

_E = edits_table.c
_N = edit_notices_table.c
_P = providers_table.c


@dataclass(frozen=True, slots=True)
class EditNotice:
    """An import that overrode or discarded one of a provider's own edits."""

    import_id: int
    provider_id: str
    field: str
    kind: str
    edited_at: datetime

    def describe(self) -> str:
        """``"p012: availability: the file's value replaces the provider's own edit of 2026-12-01"``."""
        day = self.edited_at.date().isoformat()
        if self.kind == REMOVED:
            return (f"{self.provider_id}: {self.field}: the provider's own edit of {day} is discarded: "
                    "--replace removed the provider (their id is not in the file)")
        text = f"{self.provider_id}: {self.field}: the file's value replaces the provider's own edit of {day}"
        if self.kind == CAPACITY_BELOW_ACTIVE:
            text += " (the file's active_coaches is more than the edited capacity)"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {"import_id": self.import_id, "provider_id": self.provider_id, "field": self.field,
                "kind": self.kind, "edited_at": self.edited_at.isoformat(), "text": self.describe()}


@dataclass(frozen=True, slots=True)
class EditableView:
    """What the manage page shows a provider about their own listing (never anyone else's).

    ``edited`` maps each field the provider changed themselves, and that still
    stands, to when they changed it.  No e-mail, postcode or coordinates.
    """

    provider_id: str
    name: str
    availability: tuple[str, ...]
    capacity: int
    active_coaches: int
    travel_km: float
    events: tuple[str, ...]
    online: bool
    bio: str | None
    paused: bool
    edited: Mapping[str, datetime] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider_id": self.provider_id, "name": self.name, "availability": list(self.availability),
            "capacity": self.capacity, "active_coaches": self.active_coaches, "travel_km": self.travel_km,
            "events": list(self.events), "online": self.online, "bio": self.bio, "paused": self.paused,
            "edited": {name: when.isoformat() for name, when in sorted(self.edited.items())},
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class Withdrawal:
    """What :meth:`CatalogStore.withdraw` did, for the introductions layer.

    ``contact`` is the provider's name and address as they were, so one last
    confirmation can be sent *now*; it is stored nowhere any more (``repr``
    hides the address).  ``was_listed`` is False when the operator's file had
    already withdrawn consent.
    """

    provider_id: str
    withdrawn_at: datetime
    was_listed: bool
    contact: Contact = field(repr=False)


# ---------------------------------------------------------------------- values
def _stored(column: str, parsed: Any) -> Any:
    """A parsed value in the providers column's form (lists joined with ``;``)."""
    return join_list(parsed) if column in _LIST_FIELDS else parsed


def _same(column: str, a: Any, b: Any) -> bool:
    """Equal as values of ``column`` (list order does not count; 15 and 15.0 km are the same)."""
    if column in _LIST_FIELDS:
        return set(split_list(a or "")) == set(split_list(b or ""))
    if column == "travel_km":
        return float(a) == float(b)
    return a == b


def parse_changes(changes: Mapping[str, object], settings: Settings) -> dict[str, Any]:
    """Check a provider's changes by the import's rules; the providers column values.

    Raises
    ------
    InvalidInput
        A field that is not editable, or a value that breaks its rule:
        ``extra["field"]`` names the first, ``extra["problems"]`` lists each
        ``{"field", "message"}`` so a form can mark every bad field at once.
    """
    values: dict[str, Any] = {}
    problems: list[dict[str, str]] = []
    for column, value in changes.items():
        if column not in EDITABLE_FIELDS:
            problems.append({"field": str(column)[:_FIELD_CHARS],
                             "message": f"{str(column)[:_FIELD_CHARS]!r} cannot be changed here; you can change "
                                        f"{', '.join(EDITABLE_FIELDS)} (ask your organiser for anything else)"})
            continue
        try:
            values[column] = _stored(column, parse_field(column, value, settings))
        except InvalidInput as exc:
            problems.append({"field": column, "message": exc.message})
    if problems:
        raise InvalidInput("; ".join(p["message"] for p in problems), field=problems[0]["field"], problems=problems)
    return values


# ---------------------------------------------------------------------- edits
def edited_fields(conn: Connection, provider_id: str) -> dict[str, datetime]:
    """The provider's standing edits: field → when they made it."""
    query = sa.select(_E.field, _E.edited_at).where(_E.provider_id == provider_id)
    return dict(conn.execute(query).all())


def record_edits(conn: Connection, row: Mapping[str, Any], values: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """Remember the changed fields of ``values`` against the stored ``row``; the columns that change.

    A value equal to the stored one is no edit (saving an untouched form
    records nothing); a value equal to the file's own undoes the edit.

    Raises
    ------
    InvalidInput
        The capacity would be below the coaches the operator counts for them.
    """
    changed = {c: v for c, v in values.items() if not _same(c, v, row[c])}
    capacity = changed.get("capacity", row["capacity"])
    if capacity_problem(capacity, row["active_coaches"]) is not None:
        raise InvalidInput(
            f"capacity {capacity} is less than the {row['active_coaches']} coaches your organiser counts you as "
            f"supporting already; give at least {row['active_coaches']}, or ask them to update their count.",
            field="capacity", problems=[{"field": "capacity", "message": "less than your current coaches"}],
        )  # fmt: skip
    if not changed:
        return {}
    provider_id = row["id"]
    standing = {r.field: r for r in conn.execute(sa.select(edits_table).where(_E.provider_id == provider_id))}
    for column, value in changed.items():
        if column in standing:
            file_value = json.loads(standing[column].file_value)
            key = (_E.provider_id == provider_id) & (_E.field == column)
            if _same(column, value, file_value):  # back to the file's value: no edit any more
                conn.execute(sa.delete(edits_table).where(key))
            else:
                conn.execute(sa.update(edits_table).where(key).values(value=json.dumps(value), edited_at=now))
        else:  # no standing edit: the stored value is the file's
            conn.execute(sa.insert(edits_table).values(
                provider_id=provider_id, field=column, value=json.dumps(value),
                file_value=json.dumps(row[column]), edited_at=now,
            ))  # fmt: skip
    return changed


def overlay_edits(conn: Connection, rows: Iterable[dict[str, Any]], import_id: int) -> list[dict[str, Any]]:
    """Apply standing edits over an import's rows (in place) by the precedence rule; the rows changed.

    Edits the file overrides are deleted and noted against ``import_id``;
    edits the file now agrees with are deleted quietly.
    """
    standing: dict[str, list[Any]] = {}
    for edit in conn.execute(sa.select(edits_table)):
        standing.setdefault(edit.provider_id, []).append(edit)
    if not standing:
        return []
    touched, dropped, notices = [], [], []
    for row in rows:
        provider_edits = standing.get(row["id"])
        if not provider_edits:
            continue
        file_row = dict(row)
        kept = {}
        for edit in provider_edits:
            value = json.loads(edit.value)
            if _same(edit.field, row[edit.field], json.loads(edit.file_value)):
                row[edit.field] = value
                kept[edit.field] = edit
                continue
            dropped.append((edit.provider_id, edit.field))
            if not _same(edit.field, row[edit.field], value):
                notices.append((edit, FILE_CHANGED))
        if "capacity" in kept and capacity_problem(row["capacity"], row["active_coaches"]) is not None:
            row["capacity"] = file_row["capacity"]
            dropped.append((row["id"], "capacity"))
            notices.append((kept["capacity"], CAPACITY_BELOW_ACTIVE))
        if row != file_row:
            touched.append(row)
    for provider_id, column in dropped:
        conn.execute(sa.delete(edits_table).where(_E.provider_id == provider_id, _E.field == column))
    _note(conn, import_id, notices)
    return touched


def discard_edits(conn: Connection, provider_ids: Collection[str], import_id: int) -> None:
    """Providers removed by ``--replace``: note and delete their edits."""
    if not provider_ids:
        return
    removed = set(provider_ids)
    edits = [e for e in conn.execute(sa.select(edits_table)) if e.provider_id in removed]
    _note(conn, import_id, [(edit, REMOVED) for edit in edits])
    for edit in edits:
        conn.execute(sa.delete(edits_table).where(_E.provider_id == edit.provider_id, _E.field == edit.field))


def _note(conn: Connection, import_id: int, notices: list[tuple[Any, str]]) -> None:
    if notices:
        conn.execute(sa.insert(edit_notices_table), [
            {"import_id": import_id, "provider_id": edit.provider_id, "field": edit.field, "kind": kind,
             "edited_at": edit.edited_at}
            for edit, kind in sorted(notices, key=lambda n: (n[0].provider_id, EDITABLE_FIELDS.index(n[0].field)))
        ])  # fmt: skip


def notices_of(conn: Connection, import_id: int) -> list[EditNotice]:
    """The notices of one import, by provider and field."""
    query = sa.select(_N.import_id, _N.provider_id, _N.field, _N.kind, _N.edited_at).where(_N.import_id == import_id)
    return [EditNotice(*row) for row in conn.execute(query.order_by(_N.id))]


# ---------------------------------------------------------------------- withdrawal
def _digest(provider_id: str) -> str:
    return hashlib.sha256(provider_id.encode()).hexdigest()


def forget(conn: Connection, provider_id: str) -> None:
    """Delete the provider's edits and the notices that name them."""
    conn.execute(sa.delete(edits_table).where(_E.provider_id == provider_id))
    conn.execute(sa.delete(edit_notices_table).where(_N.provider_id == provider_id))


def record_withdrawal(conn: Connection, provider_id: str, now: datetime) -> None:
    """Leave the tombstone: the id's digest and the day of the withdrawal (kept: a second withdrawal is a no-op)."""
    day = datetime(now.year, now.month, now.day)
    digest = withdrawals_table.c.id_digest
    if conn.execute(sa.select(digest).where(digest == _digest(provider_id))).first() is None:
        conn.execute(sa.insert(withdrawals_table).values(id_digest=_digest(provider_id), withdrawn_on=day))


def withdrawn_on(conn: Connection, provider_ids: Iterable[str]) -> dict[str, datetime]:
    """Which of ``provider_ids`` withdrew through their manage page, and on which day."""
    by_digest = {_digest(provider_id): provider_id for provider_id in provider_ids}
    if not by_digest:
        return {}
    tombstones = dict(conn.execute(sa.select(withdrawals_table.c.id_digest, withdrawals_table.c.withdrawn_on)).all())
    return {by_digest[d]: day for d, day in tombstones.items() if d in by_digest}


def clear_withdrawals(conn: Connection, provider_ids: Iterable[str]) -> int:
    """Re-admit providers who gave consent again: remove their tombstones; how many there were."""
    digests = [_digest(provider_id) for provider_id in provider_ids]
    if not digests:
        return 0
    return conn.execute(sa.delete(withdrawals_table).where(withdrawals_table.c.id_digest.in_(digests))).rowcount


# ---------------------------------------------------------------------- revision
def ensure_revision_row(engine: Engine) -> None:
    """Make the revision row if missing, in a transaction of its own (a racing store may make it first)."""
    t = edits_revision_table
    with engine.connect() as conn:
        if conn.execute(sa.select(t.c.id).where(t.c.id == 1)).first() is not None:
            return
    try:
        with engine.begin() as conn:
            conn.execute(sa.insert(t).values(id=1, revision=0))
    except sa.exc.IntegrityError:
        pass  # another store made it first


def bump(conn: Connection) -> None:
    """Count one edit or withdrawal.  Call it first in a transaction: the UPDATE takes the write lock."""
    t = edits_revision_table
    conn.execute(sa.update(t).where(t.c.id == 1).values(revision=t.c.revision + 1))


def revision(conn: Connection) -> int:
    """The edits revision (0 before any edit or withdrawal)."""
    t = edits_revision_table
    return int(conn.execute(sa.select(t.c.revision).where(t.c.id == 1)).scalar() or 0)
