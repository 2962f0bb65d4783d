"""Introductions as coverage counts them: one row per request, with where the coach was and how it ended.

The source is the introduction lifecycle table (``introduction_requests`` of
:mod:`findsupport.introductions`): it knows every state, ``expired``
included, and the coach's sector.  Where that table is empty or does not
exist (an installation from before the introduction loop, whose table the
migrations created empty), :func:`introductions_from_feedback`
counts the feedback log's actions instead — it cannot see expiries, and is the
one function to drop once every installation has the table.

Closed introductions are deleted after ``Settings.introduction_retention_days``
(personal data), so figures for periods older than that undercount them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .. import taxonomy
from .demand import ANY

__all__ = ["introductions_from_table", "introductions_from_feedback", "introduction_rows", "INTRODUCTION_COLUMNS"]

#: The columns both sources give.
INTRODUCTION_COLUMNS: tuple[str, ...] = ("created_at", "district", "role", "event_group", "mode", "state")
_TABLE = "introduction_requests"


def introduction_rows(engine: Engine, demand: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The introductions of an installation and where they came from (``"introductions"`` or ``"feedback"``)."""
    table = introductions_from_table(engine)
    if table is not None and len(table):
        return table, "introductions"
    return introductions_from_feedback(demand), "feedback"


def introductions_from_table(engine: Engine) -> pd.DataFrame | None:
    """Every introduction in the lifecycle table, or ``None`` when the table does not exist."""
    if not sa.inspect(engine).has_table(_TABLE):
        return None
    requests = sa.Table(_TABLE, sa.MetaData(), autoload_with=engine)
    columns = [requests.c[name] for name in ("created_at", "sector", "role", "event", "mode", "state")]
    with engine.connect() as conn:
        rows = conn.execute(sa.select(*columns)).all()
    frame = pd.DataFrame(rows, columns=["created_at", "sector", "role", "event", "mode", "state"])
    # Stored as naive UTC (see findsupport.introductions.tables).
    frame["created_at"] = pd.to_datetime(frame["created_at"], errors="coerce").dt.tz_localize("UTC")
    sector = frame["sector"].fillna("").astype(str)
    # "NE21 4" → "NE21"; split, not rpartition: rpartition of an empty column has no columns at all.
    frame["district"] = sector.str.rsplit(" ", n=1).str[0].str.strip()
    frame["role"] = frame["role"].where(frame["role"].isin(taxonomy.ROLES), ANY)
    frame["event_group"] = [
        taxonomy.group_of(e) if isinstance(e, str) and taxonomy.is_event_or_group(e) else ANY for e in frame["event"]
    ]
    frame["mode"] = frame["mode"].where(frame["mode"].isin(taxonomy.MODES), "in_person")
    return frame[list(INTRODUCTION_COLUMNS)]


def introductions_from_feedback(demand: pd.DataFrame) -> pd.DataFrame:
    """Introductions as the feedback log saw them (the fallback; see the module docstring).

    ``demand`` is :func:`~.demand.demand_table`'s result: each requested
    result becomes a row whose state is ``accepted``, ``declined`` or
    ``requested`` (answer unknown to the log).
    """
    requested = demand["requested"].to_numpy(dtype=np.int64)
    accepted = demand["accepted"].to_numpy(dtype=np.int64)
    declined = demand["declined"].to_numpy(dtype=np.int64)
    other = np.maximum(requested - accepted - declined, 0)
    parts = []
    for state, count in (("accepted", accepted), ("declined", declined), ("requested", other)):
        rows = demand.loc[np.repeat(demand.index.to_numpy(), count), ["created_at", "district", "role", "event_group", "mode"]]
        parts.append(rows.assign(state=state))
    return pd.concat(parts, ignore_index=True)[list(INTRODUCTION_COLUMNS)]
