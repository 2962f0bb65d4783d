"""``findsupport serve [--host 127.0.0.1] [--port 5000]``: the development web server.

Production runs the same app factory under a WSGI server, with the request
limits of :mod:`findsupport.web.serving`:
``gunicorn -c python:findsupport.web.serving -w 4 'findsupport.web:create_app()'``
(settings from ``FINDSUPPORT_*``).
"""

from __future__ import annotations

import argparse

from ..config import Settings

__all__ = ["register", "run", "DEFAULT_HOST", "DEFAULT_PORT"]

#: Loopback only by default: the development server is not for the open internet.
DEFAULT_HOST = "127.0.0.1"
#: Flask's customary development port (the README and `make run` use it).
DEFAULT_PORT = 5000


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port must be a whole number from 1 to 65535; got {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be from 1 to 65535; got {port}")
    return port


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "serve",
        parents=[common],
        help="run the map page, widget and API (development server)",
        description="Serve the finder on http://HOST:PORT with Flask's development server. "
        "For production use a WSGI server: "
        "gunicorn -c python:findsupport.web.serving -w 4 'findsupport.web:create_app()'.",
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=_port, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    parser.add_argument("--debug", action="store_true", help="Flask debug mode (never on a public address)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from ..cli import progress_printer
    from ..web import create_app
    from ..web.serving import werkzeug_options

    say = progress_printer(args)
    app = create_app(settings, progress=say)
    if say:
        say(f"serving on http://{args.host}:{args.port}/ (Ctrl-C to stop)")
    try:
        # No reloader: it would build the engine twice; threads so the page's parallel
        # requests (search, counts, tiles) do not queue behind each other.
        # Its own errors (a request line or headers it cannot read) are problems too.
        app.run(host=args.host, port=args.port, debug=args.debug, use_reloader=False, threaded=True, **werkzeug_options())
    finally:
        app.extensions["findsupport"].close()
    return 0
