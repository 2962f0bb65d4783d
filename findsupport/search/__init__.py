"""Search: the validated query, the engine that answers it, and the results' shapes.

The query type is defined below this package (:mod:`findsupport.query`, so
that the ranking package can rebuild logged queries without importing the
engine) and re-exported here.

Examples
--------
>>> from findsupport.search import parse_query
>>> parse_query({"postcode": "NE21 4LZ", "mode": "any"}).mode
'any'
"""

from ..query import SearchQuery, parse_query
from .engine import Engine, Snapshot
from .results import SearchResponse, SearchResult

__all__ = ["Engine", "Snapshot", "SearchQuery", "parse_query", "SearchResponse", "SearchResult"]
