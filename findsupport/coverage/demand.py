"""Demand: one row per logged search, with where it came from and whether it found good in-person help.

What a "good in-person match" is (the one definition; everything else uses :func:`good_in_person`)
---------------------------------------------------------------------------------------------------
A search is **met in person** when at least one result it *showed* is a
provider, still listed, who

1. **reaches the coach**: the coach's point lies in the provider's service area
   (their ``travel_km`` circle, or their explicit area), and the provider's
   public location is within the search radius — exactly the engine's
   in-person candidate rule (:func:`findsupport.ranking.candidates.candidate_geometry`);
2. **does what was asked**: has the asked role, and covers the asked event (the
   event itself, or any event of an asked group).  These are the ranking's two
   hard-won features (``event_exact``/``event_group``) at their strongest: a
   same-group provider for a specific event scores lower and is *not* counted
   as good, because the coach asked for a specialist.

An **unmet** search is one that wanted in-person help (mode ``in_person`` or
``any``) and was not met in person.  Online-only searches are counted as
searches but are never unmet in person.

Why from the log and the catalogue and not from scores: the feedback log keeps
what was shown (positions and actions), not the scores, and scores of
different model versions are not comparable; the rule above reads the same
for every model, needs nothing new logged and matches what a coach developer
means by "nobody suitable nearby".  Its limits: a provider who has left the
catalogue since the search no longer counts as a good match (the figures for a
long-past period lean towards unmet), and a match the engine would have found
but the page did not show (position 11 and beyond) does not count either —
which is what the coach experienced.

The coach's point is their logged **sector**'s centroid (the log keeps no
finer location, issue 11), or the logged longitude/latitude.  The radius is
the logged ``radius_km`` when there is one, else ``Settings.default_radius_km``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from .. import taxonomy
from ..catalog.public import PublicCatalog
from ..errors import FindSupportError
from ..geo import PostcodeDirectory, to_bng
from ..ranking.candidates import candidate_geometry
from ..search.query import DEFAULT_MODE

__all__ = ["demand_table", "good_in_person", "ANY", "IN_PERSON_MODES", "REQUEST_ACTIONS", "ACCEPT_ACTIONS"]

#: The value of a dimension the coach left open (no role, no event).
ANY = "(any)"
#: Searches that want in-person help, and so can be unmet in person.
IN_PERSON_MODES: tuple[str, ...] = ("in_person", "any")
#: Feedback actions that mean an introduction was requested (the log keeps the strongest action).
REQUEST_ACTIONS: frozenset[str] = frozenset({"requested", "declined", "accepted", "met"})
#: Feedback actions that mean the provider accepted.
ACCEPT_ACTIONS: frozenset[str] = frozenset({"accepted", "met"})

_COLUMNS = (
    "created_at", "district", "role", "event_group", "mode", "x", "y", "unmet",
    "requested", "accepted", "declined",
)


def good_in_person(
    catalog: PublicCatalog,
    positions: np.ndarray,
    x: float,
    y: float,
    *,
    radius_m: float,
    role: str | None,
    event: str | None,
) -> np.ndarray:
    """Which catalogue ``positions`` are good in-person matches for a coach at ``(x, y)`` (module docstring).

    Examples
    --------
    >>> from findsupport.catalog.public import PublicProvider
    >>> p = PublicProvider(id="p1", name="Sam", roles=("mentor",), events=("high_jump",), availability=(),
    ...                    online=False, travel_km=20.0, capacity=1, active_coaches=0, qualification=None,
    ...                    club=None, bio=None, area="NE21 4", easting=417000.0, northing=563000.0, lon=0, lat=0)
    >>> catalog = PublicCatalog.from_providers([p])
    >>> good_in_person(catalog, [0], 420000.0, 567000.0, radius_m=25_000, role="mentor", event="jumps").tolist()
    [True]
    >>> good_in_person(catalog, [0], 420000.0, 567000.0, radius_m=25_000, role="mentor", event="long_jump").tolist()
    [False]
    """
    positions = np.asarray(positions, dtype=np.intp)
    distance, inside = candidate_geometry(catalog, positions, x, y)
    good = inside & (distance <= radius_m)
    if role is not None:
        good &= (catalog.role_mask[positions] & np.uint8(taxonomy.role_mask([role]))) != 0
    if event is not None:
        good &= (catalog.event_mask[positions] & np.uint32(taxonomy.event_mask([event]))) != 0
    return good


def demand_table(
    sessions: Iterable[Mapping[str, Any]],
    catalog: PublicCatalog,
    directory: PostcodeDirectory,
    *,
    default_radius_km: float,
) -> pd.DataFrame:
    """One row per session: ``created_at`` (UTC, ``NaT`` when not logged), ``district``, ``role``,
    ``event_group``, ``mode``, the coach's point ``x``, ``y`` (metres), ``unmet`` (bool), and the
    introductions the log saw requested, accepted and declined (results with
    those actions).

    Sessions whose location cannot be resolved have district ``""`` and are never unmet.
    Unknown codes (a hand-edited log) become :data:`ANY`.
    """
    rows: list[dict[str, Any]] = []
    shown: list[list[str]] = []
    radius: list[float] = []
    events: list[str | None] = []
    for session in sessions:
        query = session.get("query") or {}
        results = session.get("results") or []
        role = query.get("role") if query.get("role") in taxonomy.ROLES else None
        event = query.get("event") if isinstance(query.get("event"), str) and taxonomy.is_event_or_group(query["event"]) else None
        mode = query.get("mode") if query.get("mode") in taxonomy.MODES else DEFAULT_MODE
        actions = [r.get("action") for r in results if isinstance(r, Mapping)]
        rows.append({
            "created_at": session.get("created_at"),
            "postcode": query.get("postcode") if isinstance(query.get("postcode"), str) else None,
            "lon": query.get("lon"),
            "lat": query.get("lat"),
            "role": role or ANY,
            "event_group": taxonomy.group_of(event) if event else ANY,
            "mode": mode,
            "requested": sum(a in REQUEST_ACTIONS for a in actions),
            "accepted": sum(a in ACCEPT_ACTIONS for a in actions),
            "declined": sum(a == "declined" for a in actions),
        })
        shown.append([r["provider_id"] for r in results if isinstance(r, Mapping) and isinstance(r.get("provider_id"), str)])
        asked_km = query.get("radius_km")
        radius.append(float(asked_km) if isinstance(asked_km, (int, float)) and asked_km > 0 else default_radius_km)
        events.append(event)
    if not rows:
        return pd.DataFrame({name: pd.Series(dtype=_dtype(name)) for name in _COLUMNS})
    table = pd.DataFrame(rows)
    table["created_at"] = pd.to_datetime(table["created_at"], utc=True, errors="coerce", format="ISO8601")
    _locate(table, directory)
    wants = table["mode"].isin(IN_PERSON_MODES).to_numpy() & (table["district"] != "").to_numpy()
    met = np.zeros(len(table), dtype=bool)
    position_of = {provider.id: i for i, provider in enumerate(catalog.providers)}
    positions = [[position_of.get(pid, -1) for pid in ids] for ids in shown]
    x, y = table["x"].to_numpy(), table["y"].to_numpy()
    roles = table["role"].to_numpy()
    # One candidate_geometry call per distinct coach point (a sector centroid) and ask, not per session.
    keys = pd.DataFrame({"x": x, "y": y, "role": roles, "event": [e or "" for e in events], "radius": radius})
    groups = keys[wants].groupby(["x", "y", "role", "event", "radius"], sort=False).indices
    for (gx, gy, role, event, radius_km), members in groups.items():
        members = np.flatnonzero(wants)[members]
        lengths = np.array([sum(p >= 0 for p in positions[i]) for i in members])
        flat = np.array([p for i in members for p in positions[i] if p >= 0], dtype=np.intp)
        if not len(flat):
            continue
        good = good_in_person(
            catalog, flat, gx, gy, radius_m=radius_km * 1000.0, role=None if role == ANY else role, event=event or None
        )
        owner = np.repeat(members, lengths)
        met[np.unique(owner[good])] = True
    table["unmet"] = wants & ~met
    return table[list(_COLUMNS)]


def _dtype(name: str) -> Any:
    if name == "created_at":
        return "datetime64[ns, UTC]"
    if name in ("x", "y"):
        return float
    if name == "unmet":
        return bool
    if name in ("requested", "accepted", "declined"):
        return np.int64
    return object


def _locate(table: pd.DataFrame, directory: PostcodeDirectory) -> None:
    """Add ``district``, ``x``, ``y``: from the logged postcode (sector), else from lon/lat."""
    n = len(table)
    district = np.full(n, "", dtype=object)
    x = np.full(n, np.nan)
    y = np.full(n, np.nan)
    texts = table["postcode"].to_numpy()
    resolved: dict[str, tuple[str, float, float] | None] = {}
    for text in pd.unique(texts[pd.notna(texts)]):
        try:
            location = directory.lookup(text)
        except FindSupportError:
            resolved[text] = None
        else:
            resolved[text] = (location.outcode, location.easting, location.northing)
    found = pd.Series(texts, dtype=object).map(resolved)
    for i in np.flatnonzero(found.notna().to_numpy()):
        district[i], x[i], y[i] = found.iat[i]
    by_point = np.flatnonzero(pd.isna(texts))
    lon = pd.to_numeric(table["lon"], errors="coerce").to_numpy()
    lat = pd.to_numeric(table["lat"], errors="coerce").to_numpy()
    by_point = by_point[np.isfinite(lon[by_point]) & np.isfinite(lat[by_point])]
    if len(by_point):
        e, nn = to_bng(lon[by_point], lat[by_point])
        nearest, _ = directory.nearest_many(e, nn)
        x[by_point], y[by_point] = e, nn
        district[by_point] = [directory.postcode_at(int(i))[:-4] for i in nearest]
    table["district"] = district
    table["x"] = x
    table["y"] = y
