"""A ceiling, not a server to run: the real app with a search's page built and encoded for free.

``web_load.py --page-free`` serves this module beside the real app and
measures both in the same rounds.  Every search here still parses and checks
its query, locates the postcode, ranks the catalogue (``find_matches``), keeps
the page in the page cache, logs a feedback session and answers through Flask
and gunicorn, exactly as the real app does; only the page itself (its
providers, features, contributions and reasons: ``Engine._page``) and its
results' JSON (``web.api._rendered``) are made once, for the first search, and
handed back for every later one.  Its search-to-health ratio is therefore what
the real app would reach if building and encoding a page cost nothing: the
most any faster page-building code could give.
"""

from __future__ import annotations

from typing import Any

import findsupport.search.engine as engine_module
import findsupport.web.api as api_module
from findsupport.web import create_app

_made: dict[str, Any] = {}
_page = engine_module.Engine._page
_rendered = api_module._rendered


def _first_page(self, snapshot, replies_within, query, context, ranked):  # type: ignore[no-untyped-def]
    if "page" not in _made:
        _made["page"] = _page(self, snapshot, replies_within, query, context, ranked)
    return _made["page"]


def _first_rendered(response, output):  # type: ignore[no-untyped-def]
    if output not in _made:
        _made[output] = _rendered(response, output)
    return _made[output]


engine_module.Engine._page = _first_page
api_module._rendered = _first_rendered
app = create_app()
