"""Reading JSON request bodies: anything that is not a JSON value a client may send is a 400.

Flask reads every request body through ``app.json.loads`` (``request.get_json``,
``request.json``).  The standard library parser raises :class:`RecursionError`,
not :class:`ValueError`, on deeply nested input (30 KB of ``[`` is enough), and
Flask turns only ``ValueError`` into "400 Bad Request"; the rest was a 500.
:class:`RequestJSONProvider` makes over-deep nesting a ``ValueError`` like any
other malformed body, so every JSON body the app reads, now and later, answers
``400`` (``application/problem+json``, via :mod:`findsupport.web.problems`).

Examples
--------
>>> from flask import Flask
>>> app = Flask(__name__)
>>> app.json = RequestJSONProvider(app)
>>> with app.test_request_context(data="[" * 30_000, content_type="application/json"):
...     from flask import request
...     request.get_json(silent=True) is None
True
"""

from __future__ import annotations

from typing import Any

from flask.json.provider import DefaultJSONProvider

__all__ = ["RequestJSONProvider", "TooDeeplyNested"]


class TooDeeplyNested(ValueError):
    """A JSON document nested deeper than the parser can follow (a malformed body, not a bug)."""


class RequestJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider, with over-deep nesting reported as malformed JSON."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise TooDeeplyNested("The JSON is nested too deeply to read.") from None
