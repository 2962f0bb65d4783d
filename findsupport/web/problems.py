"""Every error the web app answers with is ``application/problem+json`` (RFC 9457), made here.

:func:`problem_response` is the one function that builds an error body.  The
handlers registered by :func:`register_problem_handlers` route everything
through it: :class:`~findsupport.errors.FindSupportError` (its ``http_status``,
``title``, ``message`` and safe ``extra``), Werkzeug's HTTP errors (404, 405,
413, 415, ...) and unexpected exceptions, which answer a plain 500 with an
incident id while the traceback goes only to the server log.

The ``type`` of a problem is ``/problems/<code>`` on this server; that page
(served by :data:`blueprint`) says what the problem means.

Examples
--------
>>> from flask import Flask
>>> app = Flask(__name__)
>>> with app.test_request_context("/api/v1/search"):
...     response = problem_response(400, "Invalid search", "radius_km must be between 1 and 200; got 500.",
...                                 code="invalid-query", field="radius_km")
>>> response.status_code, response.mimetype, response.get_json()["field"]
(400, 'application/problem+json', 'radius_km')
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Flask, Response, abort, json, render_template, request
from werkzeug.exceptions import HTTPException

from .. import errors

__all__ = [
    "PROBLEM_MIMETYPE",
    "problem_body",
    "problem_response",
    "error_response",
    "register_problem_handlers",
    "problem_types",
    "blueprint",
]

log = logging.getLogger(__name__)

PROBLEM_MIMETYPE = "application/problem+json"
#: Longest echo of request text (a path, a method) inside a problem's ``detail``.
MAX_ECHO_CHARS = 80

#: Problem codes for plain HTTP errors (slugs of the status phrase), so every ``type`` is ours.
_HTTP_CODES: dict[int, str] = {
    400: "bad-request",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    413: "payload-too-large",
    414: "uri-too-long",
    415: "unsupported-media-type",
    429: "rate-limited",
    431: "header-fields-too-large",
    500: "internal-error",
}

_HTTP_DETAILS: dict[int, str] = {
    404: "There is nothing at {path}. The API is described at /openapi.json.",
    405: "{method} is not allowed on {path}; use {allowed}.",
    413: "The request body is too large for {path}.",
    415: "{path} accepts only a JSON body (Content-Type: application/json).",
}


def _echo(text: str) -> str:
    return text if len(text) <= MAX_ECHO_CHARS else text[:MAX_ECHO_CHARS] + "…"


def _json_safe(value: Any) -> Any:
    """Only plain JSON values may leave in a problem body (never an object's repr)."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    return str(value)


def problem_body(status: int, title: str, detail: str, *, code: str | None = None, instance: str | None = None, **extra: Any) -> dict[str, Any]:
    """The JSON members of a problem: the only place an error body is made.

    :func:`problem_response` wraps it for the app; the HTTP servers in front of
    the app (:mod:`findsupport.web.serving`) use it directly for the errors
    they answer themselves (a request line too long to read, broken headers).
    Parameters are those of :func:`problem_response`; ``instance`` is the path.
    """
    code = code or _HTTP_CODES.get(status, "error")
    body: dict[str, Any] = {
        "type": f"/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": _echo(instance) if instance is not None else None,
    }
    for key, value in extra.items():
        if value is not None and key not in body:
            body[key] = _json_safe(value)
    return body


def problem_response(
    status: int,
    title: str,
    detail: str,
    *,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> Response:
    """Build an ``application/problem+json`` response from :func:`problem_body`.

    Parameters
    ----------
    status : int
        The HTTP status; also the body's ``status``.
    title : str
        Short, stable summary of the kind of problem.
    detail : str
        What went wrong in this request and how to fix it.  Must be safe to
        show: no private provider data, no traceback.
    code : str, optional
        Slug naming the problem; ``type`` becomes ``/problems/<code>``.
    headers : mapping, optional
        Extra response headers (``Retry-After``, ``Allow``).
    **extra
        Extension members (``field``, ``allowed``, ``suggestions``...); ``None`` values are dropped.
    """
    body = problem_body(status, title, detail, code=code, instance=request.path if request else None, **extra)
    response = Response(json.dumps(body, ensure_ascii=False), status=status, mimetype=PROBLEM_MIMETYPE)
    response.headers["Cache-Control"] = "no-store"
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def error_response(error: errors.FindSupportError) -> Response:
    """The problem for a :class:`FindSupportError` (its message is safe by contract)."""
    headers = {}
    retry_after = error.extra.get("retry_after")
    if retry_after is not None:
        headers["Retry-After"] = str(int(retry_after))
    return problem_response(error.http_status, error.title, error.message, code=error.code, headers=headers, **error.extra)


def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    if status >= 500:
        return _unexpected(error)
    template = _HTTP_DETAILS.get(status)
    headers: dict[str, str] = {}
    allowed = ""
    if status == 405:
        allowed_methods = getattr(error, "valid_methods", None) or []
        allowed = ", ".join(sorted(allowed_methods))
        headers["Allow"] = allowed
    if template:
        detail = template.format(path=_echo(request.path), method=_echo(request.method), allowed=allowed)
    else:
        # Werkzeug's own descriptions (or ours, given to abort()) say nothing private.
        detail = error.description or error.name
    return problem_response(status, error.name, detail, headers=headers)


def _unexpected(error: BaseException) -> Response:
    """A bug: log it with its traceback under an incident id; tell the client only the id."""
    incident = uuid.uuid4().hex[:12]
    log.error("unexpected error (incident %s) on %s %s", incident, request.method, request.path, exc_info=error)
    return problem_response(
        500,
        "Something went wrong",
        f"An unexpected error occurred and was logged as incident {incident}; please try again later.",
        code="internal-error",
        incident=incident,
    )


def _find_support_error(error: errors.FindSupportError) -> Response:
    if error.http_status >= 500:
        # Operator trouble (configuration, data): log it; the message is still safe to show.
        log.error("%s on %s %s: %s", type(error).__name__, request.method, request.path, error.message)
    return error_response(error)


def register_problem_handlers(app: Flask) -> None:
    """Route every error of ``app`` through :func:`problem_response`."""
    app.register_error_handler(errors.FindSupportError, _find_support_error)
    app.register_error_handler(HTTPException, _http_error)
    # Anything else is a bug; answering 500 with an incident id (not a traceback) is
    # the point of catching it here, and the traceback is logged, not hidden.
    app.register_error_handler(Exception, _unexpected)


def problem_types() -> dict[str, dict[str, Any]]:
    """Every problem code the API may answer with: ``{code: {title, status, description}}``."""
    types: dict[str, dict[str, Any]] = {}
    for name in errors.__all__:
        cls = getattr(errors, name)
        doc = (cls.__doc__ or "").strip().split("\n\n")[0]
        types[cls.code] = {"title": cls.title, "status": cls.http_status, "description": " ".join(doc.split())}
    from werkzeug.http import HTTP_STATUS_CODES

    for status, code in _HTTP_CODES.items():
        types.setdefault(code, {"title": HTTP_STATUS_CODES[status], "status": status, "description": ""})
    return types


blueprint = Blueprint("problems", __name__)


@blueprint.get("/problems/<code>")
def describe_problem(code: str):
    """The human-readable page a problem's ``type`` points to."""
    described = problem_types().get(code)
    if described is None:
        abort(404)
    return render_template("problem.html", code=code, **described)
