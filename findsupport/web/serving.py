"""The HTTP servers in front of the app, set up in one place: request limits and their errors.

Every error a client can cause is ``application/problem+json``, including
the ones no Flask code sees because the HTTP server answers them itself.
Three layers can refuse a request:

1. **The HTTP server** reads the request line and the headers before the app
   exists for that request.  A line or header past its buffer, too many
   headers or broken HTTP are answered there.  Werkzeug's server (``findsupport
   serve``) gets :class:`ProblemRequestHandler` (:func:`werkzeug_options`);
   gunicorn gets :func:`post_worker_init`, which makes the one function its
   workers write such errors with (``gunicorn.util.write_error``) write a
   problem instead of HTML.  Gunicorn's limits are set here, bounded (see
   :data:`GUNICORN_LIMIT_REQUEST_LINE` for why not ``0``).
2. **The app** refuses URLs longer than :data:`MAX_URL_CHARS` with a 414
   (:func:`install_url_limit`), so where the limit lies does not depend on
   which server runs it.
3. **Flask** refuses bodies over ``MAX_CONTENT_LENGTH`` with a 413 (see
   :func:`findsupport.web.create_app`); the app's error handlers make it a problem.

Both servers' bodies come from :func:`findsupport.web.problems.problem_body`,
like every other error.  Run gunicorn with these settings::

    gunicorn -c python:findsupport.web.serving -w 4 'findsupport.web:create_app()'

or build its options with :func:`gunicorn_options` (for an embedded server).
"""

from __future__ import annotations

import json
import selectors
import socket
from typing import Any

from flask import Flask, request
from werkzeug.exceptions import RequestURITooLarge
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.serving import WSGIRequestHandler

from .problems import PROBLEM_MIMETYPE, problem_body
from .state import EXTENSION_KEY

__all__ = [
    "MAX_URL_CHARS",
    "GUNICORN_LIMIT_REQUEST_LINE",
    "GUNICORN_LIMIT_REQUEST_FIELDS",
    "GUNICORN_LIMIT_REQUEST_FIELD_SIZE",
    "MAX_DISCARD_BYTES",
    "DISCARD_WAIT_S",
    "install_url_limit",
    "server_problem",
    "ProblemRequestHandler",
    "werkzeug_options",
    "write_problem",
    "post_worker_init",
    "worker_exit",
    "GUNICORN_TIMEOUT_S",
    "GUNICORN_GRACEFUL_TIMEOUT_S",
    "gunicorn_options",
]

#: The longest URL (path and query string) the app answers.  The longest the API documents
#: (every search parameter at its maximum: a 200-character id, all 21 slots) is under 1,000
#: characters; 4 KiB leaves room for percent-encoding and stays below every server's own
#: buffer (gunicorn's request line 8190 bytes, Werkzeug's 65536), so the app decides.
MAX_URL_CHARS = 4096
#: gunicorn's ``limit_request_line``: its largest bounded value.  ``0`` would mean "unlimited",
#: which gunicorn implements as buffering up to 1 MB per connection before parsing; a bounded
#: line costs nothing, since the app refuses anything past MAX_URL_CHARS anyway.
GUNICORN_LIMIT_REQUEST_LINE = 8190
#: gunicorn's ``limit_request_fields``: its default.  Browsers send about 20 headers.
GUNICORN_LIMIT_REQUEST_FIELDS = 100
#: gunicorn's ``limit_request_field_size``: its default (a long cookie or Accept list fits).
GUNICORN_LIMIT_REQUEST_FIELD_SIZE = 8190
#: gunicorn's ``timeout``: a worker silent this long is stuck (searches take milliseconds, an
#: import runs in its own command, not in a request) and is replaced.
GUNICORN_TIMEOUT_S = 30
#: gunicorn's ``graceful_timeout``: on stop or HUP, workers get this long to finish the requests
#: in flight and stop their background threads; below systemd's default 90 s stop timeout.
GUNICORN_GRACEFUL_TIMEOUT_S = 25

#: After answering an error of its own, a server reads (and drops) up to this much of what the
#: client is still sending, then closes: closing with unread data resets the connection, and
#: the client may lose the answer.  1 MiB covers any request line or header block worth answering.
MAX_DISCARD_BYTES = 1 << 20
#: How long to wait for more of it: the client is mid-send, so data arrives at once or never.
DISCARD_WAIT_S = 0.05

#: What the server-level errors mean, in words a client can act on.
_SERVER_DETAILS: dict[int, str] = {
    400: "The request is not valid HTTP/1.1 (its request line or a header could not be read).",
    414: f"The request line is longer than the server reads; URLs here are at most {MAX_URL_CHARS} characters.",
    431: "The request has too many header fields, or one that is too large.",
}


def _url_too_long_detail(length: int) -> str:
    return f"The URL has {length:,} characters; URLs here are at most {MAX_URL_CHARS:,} (see /openapi.json for the parameters)."


def _refuse_long_urls() -> None:
    environ = request.environ
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw is None:
        query = environ.get("QUERY_STRING", "")
        raw = environ.get("PATH_INFO", "") + ("?" + query if query else "")
    if len(raw) > MAX_URL_CHARS:
        raise RequestURITooLarge(description=_url_too_long_detail(len(raw)))


def install_url_limit(app: Flask) -> None:
    """Make ``app`` answer a 414 problem for URLs longer than :data:`MAX_URL_CHARS`, before any view runs."""
    app.before_request(_refuse_long_urls)


def server_problem(status: int, reason: str | None = None) -> bytes:
    """The problem body (UTF-8 JSON) a server answers with for an error it meets before the app."""
    title = reason or HTTP_STATUS_CODES.get(status, "Error")
    detail = _SERVER_DETAILS.get(status, f"{title}.")
    return json.dumps(problem_body(status, title, detail), ensure_ascii=False).encode()


def _discard_unread(sock: socket.socket) -> None:
    """Drop what the client is still sending (bounded by MAX_DISCARD_BYTES), so the answer reaches it."""
    received = 0
    with selectors.DefaultSelector() as selector:
        selector.register(sock, selectors.EVENT_READ)
        while received < MAX_DISCARD_BYTES and selector.select(timeout=DISCARD_WAIT_S):
            try:
                chunk = sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                return  # the client is gone: nothing left to protect
            if not chunk:
                return
            received += len(chunk)


class ProblemRequestHandler(WSGIRequestHandler):
    """Werkzeug's request handler, answering its own errors (414, 431, 400) as problems.

    :meth:`http.server.BaseHTTPRequestHandler.send_error` writes an HTML page;
    this writes :func:`server_problem` with the same status line and headers.
    """

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        short = self.responses.get(code, ("Error", ""))[0]
        self.log_error("code %d, message %s", code, message)
        self.send_response(code, short)
        self.send_header("Connection", "close")
        body = b""
        if code >= 200 and code not in (204, 205, 304):
            body = server_problem(code, short)
            self.send_header("Content-Type", PROBLEM_MIMETYPE)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)
        self.wfile.flush()
        _discard_unread(self.connection)


def werkzeug_options() -> dict[str, Any]:
    """Keyword arguments for ``app.run`` / ``werkzeug.serving.run_simple``."""
    return {"request_handler": ProblemRequestHandler}


def write_problem(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """Drop-in for ``gunicorn.util.write_error``: the same response, as a problem.

    ``mesg`` (gunicorn's description, which may quote the request) is not
    echoed; the detail says what to change.
    """
    from gunicorn.util import write_nonblock

    body = server_problem(status_int, reason)
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\n"
        "Connection: close\r\n"
        f"Content-Type: {PROBLEM_MIMETYPE}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Cache-Control: no-store\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "\r\n"
    )
    write_nonblock(sock, head.encode("latin-1") + body)
    _discard_unread(sock)


def post_worker_init(worker: Any) -> None:
    """gunicorn hook: this worker writes the errors it answers itself as problems.

    Every such error goes through ``gunicorn.util.write_error`` (called from
    ``Worker.handle_error``); replacing it once per worker process, before any
    request, covers the sync and threaded workers alike.
    """
    import gunicorn.util

    gunicorn.util.write_error = write_problem


def worker_exit(server: Any, worker: Any) -> None:
    """gunicorn hook: a worker leaving stops its background threads first.

    The introduction worker and the reload check run in each worker process
    (:meth:`findsupport.web.state.WebState.ensure_started`); stopping them
    here lets a delivery or reload in progress finish instead of being cut
    off when the process exits, and writes the feedback sessions the worker
    still buffers (``feedback_write_batch_ms``; ``atexit`` does too).  Anything
    other than a findsupport app is left alone.
    """
    extensions = getattr(getattr(worker, "wsgi", None), "extensions", None)
    state = extensions.get(EXTENSION_KEY) if isinstance(extensions, dict) else None
    if state is not None:
        state.close()


def gunicorn_options() -> dict[str, Any]:
    """gunicorn settings for serving findsupport (for ``gunicorn.app.base.BaseApplication.load_config``)."""
    return {
        "limit_request_line": GUNICORN_LIMIT_REQUEST_LINE,
        "limit_request_fields": GUNICORN_LIMIT_REQUEST_FIELDS,
        "limit_request_field_size": GUNICORN_LIMIT_REQUEST_FIELD_SIZE,
        "timeout": GUNICORN_TIMEOUT_S,
        "graceful_timeout": GUNICORN_GRACEFUL_TIMEOUT_S,
        "post_worker_init": post_worker_init,
        "worker_exit": worker_exit,
    }


# ``gunicorn -c python:findsupport.web.serving`` reads its settings from these module names.
limit_request_line = GUNICORN_LIMIT_REQUEST_LINE
limit_request_fields = GUNICORN_LIMIT_REQUEST_FIELDS
limit_request_field_size = GUNICORN_LIMIT_REQUEST_FIELD_SIZE
timeout = GUNICORN_TIMEOUT_S
graceful_timeout = GUNICORN_GRACEFUL_TIMEOUT_S
