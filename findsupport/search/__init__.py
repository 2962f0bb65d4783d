"""Search: the validated query, the engine that answers it, and the results' shapes.

``Engine`` and ``Snapshot`` are imported on first use (PEP 562): the query
and result types are contracts the ranking package imports too, and the
engine imports the ranking package, so importing them eagerly here would
be circular.

Examples
--------
>>> from findsupport.search import parse_query
>>> parse_query({"postcode": "NE21 4LZ", "mode": "any"}).mode
'any'
"""

from typing import Any

from .query import SearchQuery, parse_query
from .results import SearchResponse, SearchResult

__all__ = ["Engine", "Snapshot", "SearchQuery", "parse_query", "SearchResponse", "SearchResult"]


def __getattr__(name: str) -> Any:
    if name in ("Engine", "Snapshot"):
        from . import engine

        return getattr(engine, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
