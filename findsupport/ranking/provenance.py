"""Where a model's data came from, and how much any one client may contribute to it.

Issue 12: about 1,250 scripted "search, then view provider X" sessions from
one address moved X from a mean position of 38 to 17, and training activated
the result.  Three defences live here, applied to the learning set before it
is split, so training *and* the activation judgement see the same data:

1. **Deduplicate.**  Sessions of one client with the same query count once
   (:func:`limit_clients` keeps one, chosen by session key): a script
   repeating a search and viewing the same provider makes one session, not a
   thousand.
2. **Cap.**  No client holds more than :data:`MAX_CLIENT_SHARE` of the
   sessions with a choice (nor of those without one, which steer the
   position-bias estimate): each client keeps at most ``c`` sessions, the
   largest ``c`` with ``c <= share * total(c)``.  With fewer than
   ``1 / share`` clients no ``c`` can do that; each then keeps at most the
   median client's count, so no client outweighs a typical one (and training
   will not activate, see point 3).
3. **Count clients.**  :func:`distinct_clients` lets training refuse to
   activate a model learnt from fewer than :data:`MIN_DISTINCT_CLIENTS`
   clients: with fewer, no cap can keep one client below its share.

A session without a client (logs from before clients were recorded, simulated
coaches) is a client of its own: there is nothing to group it by.

:func:`data_provenance` summarises what a model learnt from, for its model
file, ``findsupport model list`` and ``/api/v1/health``: ``kind`` (``real``,
``simulated`` or ``mixed``), sessions, distinct clients, date range.

Examples
--------
>>> per_client_cap([1000, 10, 10, 10], 0.25)
10
>>> per_client_cap([5], 0.25)
5
>>> per_client_cap([1250, 40, 60], 0.25)
60
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InvalidInput
from .dataset import RankingData
from .sessions import REAL, SIMULATED

__all__ = [
    "MAX_CLIENT_SHARE",
    "MIN_DISTINCT_CLIENTS",
    "MIXED",
    "ClientLimitReport",
    "per_client_cap",
    "limit_clients",
    "distinct_clients",
    "data_provenance",
    "provenance_kind",
]

#: Most any one client may contribute to a learning set: one in twenty.  An attacker
#: then needs twenty addresses to outweigh everyone else, while a club computer
#: used by several coaches (one address) still counts as a busy client.
MAX_CLIENT_SHARE = 0.05
#: Fewest distinct clients whose choices may activate a model: below 1/MAX_CLIENT_SHARE
#: the cap cannot hold (with 19 clients one of them has more than a twentieth).
MIN_DISTINCT_CLIENTS = int(round(1.0 / MAX_CLIENT_SHARE))
#: Provenance of a model learnt from real and simulated sessions together.
MIXED = "mixed"


@dataclass(frozen=True)
class ClientLimitReport:
    """What :func:`limit_clients` removed."""

    sessions_in: int = 0
    duplicates_dropped: int = 0
    capped_dropped: int = 0
    cap_with_choice: int = 0
    cap_without_choice: int = 0
    largest_client_share_before: float = 0.0

    def to_dict(self) -> dict[str, float | int]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items()}

    def lines(self) -> list[str]:
        """Plain-text summary for the CLI and notebooks."""
        out = []
        if self.duplicates_dropped:
            out.append(f"{self.duplicates_dropped:,} repeated sessions dropped (same client, same search: counted once)")
        if self.capped_dropped:
            out.append(
                f"{self.capped_dropped:,} sessions dropped so that no client holds more than {MAX_CLIENT_SHARE:.0%} "
                f"(at most {self.cap_with_choice:,} sessions with a choice per client; the largest client "
                f"had {self.largest_client_share_before:.0%})"
            )
        return out


def per_client_cap(counts: Sequence[int] | np.ndarray, share: float = MAX_CLIENT_SHARE) -> int:
    """The largest per-client count ``c`` with ``c <= share * sum(min(n, c))``.

    When there is none (fewer than ``1 / share`` clients), the median
    client's count: each client then weighs at most as much as a typical one.

    Parameters
    ----------
    counts : sequence of int
        Sessions per client.
    share : float
        Most of the total any one client may hold, in (0, 1].
    """
    if not 0.0 < share <= 1.0:
        raise InvalidInput(f"A client's share must be in (0, 1]; got {share}.", field="share")
    n = np.asarray(counts, dtype=np.int64)
    n = n[n > 0]
    if not len(n):
        return 1
    caps = np.arange(1, int(n.max()) + 1)
    totals = np.minimum(n[:, None], caps[None, :]).sum(axis=0)
    feasible = caps[caps <= share * totals + 1e-9]
    if len(feasible):
        return int(feasible.max())
    # Fewer than 1/share clients: even c=1 breaks the share (training refuses to
    # activate, see MIN_DISTINCT_CLIENTS); still, no client outweighs a typical one.
    return max(1, int(np.median(n)))


def _keep_capped(sessions: np.ndarray, clients: np.ndarray, keys: np.ndarray, share: float) -> tuple[np.ndarray, int]:
    """Of ``sessions`` (indices), the ones kept when each client is capped; and the cap."""
    if not len(sessions):
        return sessions, 0
    _, inverse, counts = np.unique(clients[sessions], return_inverse=True, return_counts=True)
    cap = per_client_cap(counts, share)
    # Deterministic choice within a client: by session key (a hash, so no order of logging is favoured).
    order = np.lexsort((keys[sessions], inverse))
    ranked = np.empty(len(sessions), dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    ranked[order] = np.arange(len(sessions)) - np.repeat(starts, counts)
    return sessions[ranked < cap], cap


def limit_clients(data: RankingData, share: float = MAX_CLIENT_SHARE) -> tuple[RankingData, ClientLimitReport]:
    """Deduplicate each client's repeated searches and cap every client's share (module docstring)."""
    n = data.n_sessions
    if n == 0:
        return data, ClientLimitReport()
    clients = np.array(data.client_ids(), dtype=object)
    keys = np.array(data.session_keys, dtype=object)
    queries = [json.dumps(q.feedback_query(), sort_keys=True, default=str) for q in data.queries]
    first: dict[tuple[str, str], int] = {}
    for i in np.argsort(keys, kind="stable"):
        first.setdefault((clients[i], queries[i]), int(i))
    unique = np.array(sorted(first.values()), dtype=np.int64)
    learnable = data.learnable()
    counts = np.unique(clients[learnable], return_counts=True)[1]  # as logged, before deduplication
    largest = float(counts.max() / counts.sum()) if len(counts) else 0.0
    with_choice, cap_with = _keep_capped(unique[learnable[unique]], clients, keys, share)
    without_choice, cap_without = _keep_capped(unique[~learnable[unique]], clients, keys, share)
    kept = np.sort(np.concatenate([with_choice, without_choice]))
    report = ClientLimitReport(
        sessions_in=n,
        duplicates_dropped=n - len(unique),
        capped_dropped=len(unique) - len(kept),
        cap_with_choice=cap_with,
        cap_without_choice=cap_without,
        largest_client_share_before=largest,
    )
    return (data if len(kept) == n else data.subset(kept)), report


def distinct_clients(data: RankingData, *, with_choice: bool = True) -> int:
    """How many clients the sessions (by default those with a choice) come from."""
    ids = np.array(data.client_ids(), dtype=object)
    if with_choice:
        ids = ids[data.learnable()]
    return int(len(set(ids.tolist())))


def provenance_kind(sources: Sequence[str]) -> str:
    """``"real"``, ``"simulated"`` or ``"mixed"`` for the sources of some sessions (empty: real)."""
    kinds = set(sources)
    if kinds <= {REAL}:
        return REAL
    if kinds == {SIMULATED}:
        return SIMULATED
    return MIXED


def data_provenance(data: RankingData, limits: ClientLimitReport | None = None) -> dict[str, Any]:
    """What a model learnt from: kind, sessions by source, distinct clients, date range."""
    sources = list(data.sources)
    dates = sorted(d for d in data.created if d)
    return {
        "kind": provenance_kind(sources),
        "sessions": data.n_sessions,
        "sessions_real": sources.count(REAL),
        "sessions_simulated": sources.count(SIMULATED),
        "sessions_with_choice": data.n_learnable,
        "clients": distinct_clients(data, with_choice=False),
        "clients_with_choice": distinct_clients(data),
        "sessions_without_client": sum(c is None for c in data.clients),
        "first_session": dates[0] if dates else None,
        "last_session": dates[-1] if dates else None,
        "max_client_share": MAX_CLIENT_SHARE,
        **({"client_limits": limits.to_dict()} if limits is not None else {}),
    }
