"""The search query (defined in :mod:`findsupport.query`, below search and ranking; re-exported here)."""

from ..query import DEFAULT_MODE, MAX_DEPTH, MAX_ID_CHARS, QUERY_FIELDS, SORTS, SearchQuery, parse_query

__all__ = ["SearchQuery", "parse_query", "QUERY_FIELDS", "DEFAULT_MODE", "SORTS", "MAX_DEPTH", "MAX_ID_CHARS"]
