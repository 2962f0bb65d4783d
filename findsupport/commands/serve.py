"""``findsupport serve [--host 127.0.0.1] [--port 5000] [--workers N] [--debug]``: the web server.

By default the map page, widget and API run on gunicorn, in this process
(:func:`gunicorn_application`): the app and its engine are built once here, in the
master, and the workers are forked from it (``preload_app``), so they start at
once and share its memory.  The request limits, the problem+json answers to
gunicorn's own errors and the worker hooks come from
:func:`findsupport.web.serving.gunicorn_options`, as for deployments
(``deploy/gunicorn.conf.py``).  ``--debug`` runs Flask's development server
instead (one process, Flask's debugger; never on a public address).

gunicorn runs on Unix only.  On Windows use ``--debug``, or any WSGI server
that runs there on the factory, e.g. ``waitress-serve --call
findsupport.web:create_app``.
"""

from __future__ import annotations

import argparse
import os
import signal
from typing import Any

from ..config import Settings
from ..errors import ConfigError

__all__ = [
    "register",
    "run",
    "default_workers",
    "gunicorn_settings",
    "gunicorn_application",
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "WORKERS_PER_CORE",
]

#: Loopback only by default: reach it from elsewhere through a TLS proxy (see the README's "Deploy").
DEFAULT_HOST = "127.0.0.1"
#: Flask's customary port (the README and `make run` use it).
DEFAULT_PORT = 5000
#: Synchronous workers per CPU core: a search is CPU work (about a millisecond) with no I/O to
#: wait on, so more workers than cores only queue in the kernel instead of in gunicorn; and one
#: request at a time per process keeps the spatial index single-threaded (rtree is not thread-safe).
WORKERS_PER_CORE = 1

#: Shown where gunicorn cannot run (it needs Unix's fork and fcntl).
_NO_GUNICORN = (
    "gunicorn, the production server, runs on Unix only ({reason}). Use `findsupport serve --debug` "
    "(Flask's development server) on this machine, or another WSGI server on the app factory, "
    "e.g. `pip install waitress` then `waitress-serve --call findsupport.web:create_app`."
)


def default_workers() -> int:
    """One worker per CPU core this process may use (at least one); see :data:`WORKERS_PER_CORE`."""
    cores = os.process_cpu_count() if hasattr(os, "process_cpu_count") else None  # Python 3.13+: honours affinity
    if cores is None and hasattr(os, "sched_getaffinity"):
        cores = len(os.sched_getaffinity(0))
    return max(1, (cores or os.cpu_count() or 1) * WORKERS_PER_CORE)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port must be a whole number from 1 to 65535; got {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be from 1 to 65535; got {port}")
    return port


def _workers(text: str) -> int:
    try:
        workers = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"workers must be a whole number of at least 1; got {text!r}") from None
    if workers < 1:
        raise argparse.ArgumentTypeError(f"workers must be at least 1; got {workers}")
    return workers


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "serve",
        parents=[common],
        help="run the map page, widget and API (gunicorn; --debug for Flask's development server)",
        description="Serve the finder on http://HOST:PORT with gunicorn: the engine is built once, then "
        "WORKERS processes are forked from it (one per CPU core by default). SIGTERM or Ctrl-C stops it "
        "gracefully: requests in flight finish first. On the internet put it behind a TLS proxy "
        "(see the README's 'Deploy'). gunicorn runs on Unix only: on Windows use --debug, or "
        "`waitress-serve --call findsupport.web:create_app` (pip install waitress).",
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=_port, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    parser.add_argument(
        "--workers", type=_workers, default=None, metavar="N",
        help=f"gunicorn worker processes (default: one per CPU core, here {default_workers()})",
    )
    parser.add_argument(
        "--debug", action="store_true",
        help="Flask's development server in debug mode instead: one process, the interactive debugger; "
        "for development on this machine only, never on a public address",
    )
    parser.set_defaults(handler=run)


def _bind(host: str, port: int) -> str:
    """gunicorn's ``bind`` for ``host``: IPv6 addresses go in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def gunicorn_settings(host: str, port: int, workers: int, *, log_level: str = "info") -> dict[str, Any]:
    """Every gunicorn setting ``findsupport serve`` uses (:func:`~findsupport.web.serving.gunicorn_options` and these).

    Examples
    --------
    >>> options = gunicorn_settings("::1", 8000, 2)
    >>> options["bind"], options["workers"], options["preload_app"]
    (['[::1]:8000'], 2, True)
    """
    from ..web.serving import gunicorn_options

    return {
        **gunicorn_options(),
        "bind": [_bind(host, port)],
        "workers": workers,
        # Synchronous workers, as in deploy/gunicorn.conf.py (see WORKERS_PER_CORE).
        "worker_class": "sync",
        # The engine (postcode directory, catalogue snapshot, index, model) is built once,
        # here, before forking: workers start at once and share its memory copy-on-write.
        "preload_app": True,
        # No access log: the respond, manage, cancel, outcome and operator sign-in links carry
        # their tokens in the path, and a search's query string is a coach's postcode.  Errors
        # and worker events go to stderr.
        "accesslog": None,
        "errorlog": "-",
        "loglevel": log_level.lower(),
        # serving.post_worker_init, and Ctrl-C as a graceful stop.
        "post_worker_init": _post_worker_init,
        "proc_name": "findsupport",
        # gunicorn >= 25.1 otherwise opens a management socket at one fixed path per user
        # ($XDG_RUNTIME_DIR/gunicorn.ctl), which a second server on the machine would contend for.
        "control_socket_disable": True,
    }


def _post_worker_init(worker: Any) -> None:
    """The deployment hook, and Ctrl-C as a graceful stop in each worker too.

    A terminal's Ctrl-C reaches every process of the group; gunicorn's
    workers would quit at once on SIGINT, dropping requests in flight.  Here
    it means what SIGTERM means: finish the current request, then exit.
    """
    from ..web.serving import post_worker_init

    post_worker_init(worker)
    signal.signal(signal.SIGINT, worker.handle_exit)
    signal.siginterrupt(signal.SIGINT, False)


def _require_gunicorn() -> None:
    """Raise :class:`ConfigError`, saying what to do instead, where gunicorn does not import."""
    try:
        import gunicorn.app.base  # noqa: F401 - the import is the check
    except ImportError as exc:  # Windows: no fcntl
        raise ConfigError(_NO_GUNICORN.format(reason=exc)) from None


def gunicorn_application(app: Any, options: dict[str, Any]) -> Any:
    """A ``gunicorn.app.base.BaseApplication`` serving ``app``, already built, from this process.

    Parameters
    ----------
    app : WSGI application
        What the workers serve (forked from this process with it).
    options : dict
        gunicorn settings (:func:`gunicorn_settings`).  Names this gunicorn
        does not know (``control_socket_disable`` before 25.1) are left out.

    Returns
    -------
    gunicorn.app.base.BaseApplication
        ``.run()`` serves until stopped, then exits the process (``SystemExit``)
        with gunicorn's status: 0 after a graceful stop.

    Raises
    ------
    ConfigError
        Where gunicorn does not run (Windows), or cannot start.

    Notes
    -----
    gunicorn is imported here, not with this module: the CLI imports every
    command's module, and gunicorn does not import on Windows.
    """
    _require_gunicorn()
    from gunicorn.app.base import BaseApplication
    from gunicorn.arbiter import Arbiter

    class GracefulArbiter(Arbiter):
        """gunicorn's master, stopping gracefully on SIGINT (Ctrl-C) as it does on SIGTERM."""

        def handle_int(self) -> None:
            self.handle_term()

    class FindSupportApplication(BaseApplication):
        def load_config(self) -> None:
            known = self.cfg.settings
            for name, value in options.items():
                if name in known:
                    self.cfg.set(name, value)

        def load(self) -> Any:
            return app

        def run(self) -> None:
            # BaseApplication.run, with the graceful master and the CLI's error reporting.
            try:
                GracefulArbiter(self).run()
            except RuntimeError as exc:
                raise ConfigError(f"gunicorn could not start: {exc}") from None

    return FindSupportApplication()


def run(args: argparse.Namespace, settings: Settings) -> int:
    from ..cli import progress_printer
    from ..web import create_app

    say = progress_printer(args)
    if args.debug:
        return _run_development(args, settings, say)
    workers = args.workers or default_workers()
    options = gunicorn_settings(args.host, args.port, workers, log_level="warning" if say is None else settings.log_level)
    _require_gunicorn()  # before the engine is built: a machine without it learns so at once
    app = create_app(settings, progress=say)
    state = app.extensions["findsupport"]
    try:
        server = gunicorn_application(app, options)
        if say:
            noun = "worker" if workers == 1 else "workers"
            say(f"serving on http://{_bind(args.host, args.port)}/ with gunicorn, {workers} {noun} "
                "(Ctrl-C to stop)")
        server.run()
    finally:
        # This (master) process's own threads, if any; each worker closes its own (worker_exit).
        state.close()
    return 0


def _run_development(args: argparse.Namespace, settings: Settings, say: Any) -> int:
    """Flask's development server, with the request limits of :mod:`findsupport.web.serving`."""
    from ..web import create_app
    from ..web.serving import werkzeug_options

    if args.workers is not None:
        raise ConfigError("--workers is for gunicorn; the development server (--debug) is one process")
    app = create_app(settings, progress=say)
    if say:
        say(f"serving on http://{_bind(args.host, args.port)}/ with Flask's development server in debug mode "
            "(for development only; without --debug it runs on gunicorn) (Ctrl-C to stop)")
    try:
        # No reloader: it would build the engine twice; threads so the page's parallel
        # requests (search, counts, tiles) do not queue behind each other.
        # Its own errors (a request line or headers it cannot read) are problems too.
        app.run(host=args.host, port=args.port, debug=True, use_reloader=False, threaded=True, **werkzeug_options())
    finally:
        app.extensions["findsupport"].close()
    return 0

