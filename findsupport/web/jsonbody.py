"""The app's JSON: request bodies that are not JSON a client may send are a 400; responses via orjson.

Flask reads every request body through ``app.json.loads`` (``request.get_json``,
``request.json``).  The standard library parser raises :class:`RecursionError`,
not :class:`ValueError`, on deeply nested input (30 KB of ``[`` is enough), and
Flask turns only ``ValueError`` into "400 Bad Request"; the rest was a 500.
:class:`RequestJSONProvider` makes over-deep nesting a ``ValueError`` like any
other malformed body, so every JSON body the app reads, now and later, answers
``400`` (``application/problem+json``, via :mod:`findsupport.web.problems`).

Responses (``jsonify``, a view returning a dict) are written with orjson: a
ten-result search page (about 10 kB) in a fraction of the standard library's
time (see BENCHMARKS.md, "Web API under load").  The JSON *value* is the same:
the same members in the same order (``sort_keys`` is honoured), the same
numbers (both write the shortest text that reads back as the same float), and
what orjson does not know (dates, decimals, ``__html__``, dataclasses) goes to
Flask's own ``default``.  The text differs only where JSON allows it: non-ASCII
characters are written as UTF-8 rather than ``\\u`` escapes, and an exponent
may be spelled ``1e-7`` rather than ``1e-07``.  Whatever orjson refuses (an
integer beyond 64 bits, a non-text key, a NumPy scalar) falls back to the
standard library for that response, so every answer is JSON either way; debug
mode's indented output is the standard library's too.  ``dumps`` (templates'
``tojson``) is unchanged.

A member may be :class:`EncodedJSON`: JSON text made earlier (a repeated
search's page of results, :mod:`findsupport.web.api`), which orjson embeds as
it is and the standard library reads back first, so both write the same value.

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

import json
from typing import Any

import orjson
from flask import Response
from flask.json.provider import DefaultJSONProvider

__all__ = ["RequestJSONProvider", "TooDeeplyNested", "ORJSON_OPTIONS", "EncodedJSON"]

#: Types Flask's ``default`` renders its own way (dates as HTTP dates, dataclasses via
#: ``asdict``) go to it rather than orjson's native form, so the values stay Flask's.
ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


class EncodedJSON:
    """JSON text made once, written into many responses as it is.

    Parameters
    ----------
    text : bytes
        A complete JSON value, UTF-8 (as ``orjson.dumps`` makes it).
    """

    __slots__ = ("text", "fragment")

    def __init__(self, text: bytes) -> None:
        self.text = text
        self.fragment = orjson.Fragment(text)


def _stdlib_default(value: Any) -> Any:
    """Flask's ``default``, plus :class:`EncodedJSON` read back as its value (the standard library's path)."""
    if isinstance(value, EncodedJSON):
        return json.loads(value.text)
    return DefaultJSONProvider.default(value)


class TooDeeplyNested(ValueError):
    """A JSON document nested deeper than the parser can follow (a malformed body, not a bug)."""


class RequestJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider, with over-deep nesting reported as malformed JSON and responses via orjson."""

    default = staticmethod(_stdlib_default)  # type: ignore[assignment]

    def _orjson_default(self, value: Any) -> Any:
        """What orjson does not know: :class:`EncodedJSON` embedded as it is, the rest as Flask renders it."""
        if isinstance(value, EncodedJSON):
            return value.fragment
        return self.default(value)

    def _option(self) -> int:
        return ORJSON_OPTIONS | (orjson.OPT_SORT_KEYS if self.sort_keys else 0)

    def encoded(self, value: Any) -> EncodedJSON | None:
        """``value`` as this provider writes it, to embed in later responses; ``None`` if orjson cannot."""
        try:
            return EncodedJSON(orjson.dumps(value, default=self._orjson_default, option=self._option()))
        except (orjson.JSONEncodeError, TypeError):
            return None

    def response(self, *args: Any, **kwargs: Any) -> Response:
        """``jsonify``: the body written by orjson (see the module docstring), newline-terminated as Flask's."""
        obj = self._prepare_response_obj(args, kwargs)
        if (self.compact is None and self._app.debug) or self.compact is False:
            return super().response(obj)  # indented for people: the standard library's
        try:
            body = orjson.dumps(obj, default=self._orjson_default, option=self._option())
        except (orjson.JSONEncodeError, TypeError):
            return super().response(obj)
        return self._app.response_class(body + b"\n", mimetype=self.mimetype)

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise TooDeeplyNested("The JSON is nested too deeply to read.") from None
