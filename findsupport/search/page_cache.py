"""The ranked pages of recent searches, kept per process for the queries that repeat (issue 13).

A club's widget runs the club's preset search on every page view of its
site, so most real traffic repeats the same handful of queries.  Ranking the
candidates and explaining the page is the whole cost of such a search
(about 0.8 ms of CPU at 100,000 providers); :class:`PageCache` keeps what
:meth:`Engine.search <findsupport.search.Engine.search>` computed that does
not depend on the request — where the coach is, the page of results, the
totals and the notes — so a repeat costs a lookup.  It never holds a search
id: every search served with ``log=True`` still records its own feedback
session.

An entry (:class:`CachedPage`) remembers the snapshot and the
"usually replies within" figures it was computed from, and a lookup answers
only while both are still the ones serving: a reload that brings a new
catalogue (a provider who withdrew, places taken) or a newly activated model
is seen by the very next search, whether or not the engine has replaced its
cache yet.  The engine starts an empty cache whenever it swaps either, so
the old snapshot is not kept alive by pages nobody can read.

The key is the parsed query (:func:`page_key`): equal queries mean equal
answers, because the answer is a function of the query's fields, the
snapshot, the figures and the engine's settings and postcode directory
(which never change in an engine's life).

Examples
--------
>>> from findsupport.search.query import SearchQuery
>>> page_key(SearchQuery(postcode="NE21 4LZ", id="7")) == page_key(SearchQuery(postcode="NE21 4LZ"))
True
>>> page_key(SearchQuery(lon=0.0, lat=51.5)) == page_key(SearchQuery(lon=-0.0, lat=51.5))
False
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..geo import PostcodeLocation
from .query import SearchQuery
from .results import SearchResult

__all__ = ["PageCache", "CachedPage", "page_key"]


@dataclass(frozen=True, slots=True, eq=False)
class CachedPage:
    """What one search computed that any repeat of it may serve.

    Attributes
    ----------
    snapshot : Snapshot
        The engine snapshot the page was ranked on.
    replies_within : mapping
        The "usually replies within" figures the results carry.
    location : PostcodeLocation
    results : tuple of SearchResult
        Frozen, and shared by every response served from this entry (their
        ``features`` dicts too: read them, never change them).
    total : int
    totals : dict or None
        Copied into each response (a caller may change its own).
    notes : tuple of str
    rendered : dict
        The results as the web layer rendered them for an earlier response
        (its encoded JSON, by format), for the next
        (:attr:`SearchResponse.rendered <findsupport.search.results.SearchResponse.rendered>`).
    """

    snapshot: Any
    replies_within: Mapping[str, int]
    location: PostcodeLocation
    results: tuple[SearchResult, ...]
    total: int
    totals: dict[str, int] | None
    notes: tuple[str, ...]
    rendered: dict[str, Any] = field(default_factory=dict)


def page_key(query: SearchQuery) -> Hashable:
    """The cache key of ``query``: the query itself, but for two details of how it is echoed.

    The batch ``id`` is left out (a response echoes its own query, never the
    cached one's).  A point's coordinates are also keyed by their exact
    spelling: ``0.0 == -0.0``, but the two are echoed differently.
    """
    if query.id is not None:
        query = dataclasses.replace(query, id=None)
    return query if query.postcode is not None else (query, repr(query.lon), repr(query.lat))


class PageCache:
    """A bounded, thread-safe map of query keys to :class:`CachedPage`, least recently used out first.

    Parameters
    ----------
    capacity : int
        How many pages are kept (``settings.search_cache_entries``); 0 keeps
        none, and every search is computed.

    Notes
    -----
    One lock guards the map: a lookup moves its entry to the back of the
    order, which must not interleave with an insertion evicting from the
    front.  It is held for a dict operation (a microsecond or two), far less
    than the search it saves.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 0:
            raise ValueError(f"capacity must be 0 (off) or positive; got {capacity}.")
        self._capacity = capacity
        self._pages: OrderedDict[Hashable, CachedPage] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def capacity(self) -> int:
        """How many pages are kept at most."""
        return self._capacity

    def __len__(self) -> int:
        return len(self._pages)

    def get(self, key: Hashable, snapshot: Any, replies_within: Mapping[str, int]) -> CachedPage | None:
        """The page kept for ``key``, when it was computed from exactly ``snapshot`` and ``replies_within``."""
        with self._lock:
            page = self._pages.get(key)
            if page is None:
                return None
            if page.snapshot is not snapshot or page.replies_within is not replies_within:
                # Computed before a swap: nobody may read it again.
                del self._pages[key]
                return None
            self._pages.move_to_end(key)
        return page

    def put(self, key: Hashable, page: CachedPage) -> None:
        """Keep ``page`` under ``key``, forgetting the least recently used page when full."""
        if not self._capacity:
            return
        with self._lock:
            self._pages[key] = page
            self._pages.move_to_end(key)
            while len(self._pages) > self._capacity:
                self._pages.popitem(last=False)
