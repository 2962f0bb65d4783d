"""What one app holds while it serves: the engine, limits, the introduction service and its worker, reloader.

Built once by :func:`findsupport.web.create_app` and kept in
``app.extensions["findsupport"]``; views reach it with :func:`web_state`.
Everything here is read-only while serving, except the engine's own atomic
snapshot swap on reload.

Background threads (the introduction worker: delivery, reminders, expiry,
check-ins, retention; and the reload check) start on the first
request *of each process*, so they also run under ``gunicorn --preload``,
whose workers are forked after the app was built (threads do not survive a
fork).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from flask import current_app, request

from ..clients import ClientHasher
from ..config import Settings
from ..db import engine_for
from ..errors import FindSupportError, InvalidInput
from ..introductions import IntroductionService, IntroductionWorker
from .ratelimit import RateRule, SharedLimiter

__all__ = ["WebState", "Reloader", "web_state", "catalog_is_demo", "EXTENSION_KEY"]

log = logging.getLogger(__name__)

EXTENSION_KEY = "findsupport"


class Reloader:
    """Ask the engine every ``interval`` seconds whether the catalogue or model changed.

    ``engine.reload()`` does a cheap version check and, only when something
    changed, builds a new snapshot beside the old one and swaps one reference:
    requests in flight finish on the snapshot they started with.  A failed
    reload is logged and the old snapshot keeps serving.
    """

    def __init__(self, engine: Any, interval: float) -> None:
        self.engine = engine
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None

    def start(self) -> None:
        if self.interval <= 0:
            return
        if self._thread is not None and self._thread.is_alive() and self._pid == os.getpid():
            return
        self._pid = os.getpid()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="findsupport-reload", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None and self._thread.is_alive() and self._pid == os.getpid():
            self._thread.join(timeout)

    def check(self) -> bool:
        """One reload check now; True when a new snapshot was swapped in."""
        try:
            changed = bool(self.engine.reload())
        except FindSupportError as exc:
            log.warning("reload failed, still serving the previous snapshot: %s", exc.message)
            return False
        if changed:
            log.info("reloaded: catalogue %s, model %s", self.engine.catalog.version, self.engine.model_version)
        return changed

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check()
            except Exception:  # noqa: BLE001 - a bug in a rebuild must not stop later reloads; logged in full
                log.exception("reload check crashed; still serving the previous snapshot")


@dataclass
class WebState:
    """The app's long-lived parts (see module docstring)."""

    settings: Settings
    engine: Any
    rate_rules: dict[str, RateRule]
    limiter: SharedLimiter
    introductions: IntroductionService
    worker: IntroductionWorker
    reloader: Reloader
    store: Any = None
    #: Whether the introduction worker and reload threads run (off when a caller drives them by hand).
    background: bool = True
    _started_pid: int | None = field(default=None, repr=False)
    _demo: tuple[str, bool] | None = field(default=None, repr=False)
    #: Keyed hashes of client addresses (key in the shared database); built once here.
    clients: ClientHasher | None = None
    _health_model: tuple[float, str | None, dict[str, Any]] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.clients is None:
            self.clients = ClientHasher(engine_for(self.settings.resolved_database_url))

    def serving_model(self) -> dict[str, Any]:
        """What ``/api/v1/health`` says of the model: :func:`~findsupport.ranking.registry.serving_model`.

        Read from the database at most once per reload interval (per served
        version), like the reload check itself: health is what monitors and
        load balancers poll, so it costs no database round trip per request,
        and ``activated`` is at most one reload interval old, as is what the
        server serves.  With reloads off (``reload_check_seconds`` 0) it is
        read every time.
        """
        from ..ranking.registry import serving_model

        version = self.engine.model_version
        now = time.monotonic()
        cached = self._health_model
        ttl = self.settings.reload_check_seconds
        if cached is not None and cached[1] == version and now - cached[0] < ttl:
            return cached[2]
        model = serving_model(self.settings, version)
        self._health_model = (now, version, model)
        return model

    @property
    def demo(self) -> bool:
        """True when the catalogue being served is the synthetic demo catalogue.

        Read from the store's import history (newest first): a ``demo`` import
        since the last import that replaced the whole catalogue means demo
        providers are listed.  Cached per catalogue version.
        """
        version = self.engine.catalog.version
        if self._demo is None or self._demo[0] != version:
            self._demo = (version, catalog_is_demo(self.store))
        return self._demo[1]

    def ensure_started(self) -> None:
        """Start this process's background threads (cheap after the first call)."""
        if self._started_pid != os.getpid():
            self._started_pid = os.getpid()
            self.worker.start()
            self.reloader.start()

    def close(self) -> None:
        """Stop background threads and write the buffered feedback (tests, orderly shutdown)."""
        self.worker.stop()
        self.reloader.stop()
        self.limiter.close()
        feedback = getattr(self.engine, "feedback", None)
        if feedback is not None and hasattr(feedback, "close"):
            feedback.close()

    def client_address(self) -> str:
        """The client's address (the proxy's ``X-Forwarded-For`` hop when ``trust_proxy``)."""
        return request.remote_addr or "unknown"

    def client_key(self) -> str:
        """The keyed hash of this request's client address (what feedback and introductions record)."""
        assert self.clients is not None  # set in __post_init__
        return self.clients.client_key(self.client_address())

    def limit(self, bucket: str) -> None:
        """Charge one request to ``bucket`` for this client (429 when over), counted with every server's."""
        if bucket in self.limiter.rules:  # no hash to compute for a bucket without a rule
            self.limiter.check(bucket, self.client_key())

    def record_feedback(self, search_id: str, provider_id: str, action: str, *, strict: bool) -> None:
        """Record a feedback action on a served search.

        ``strict`` turns a search id the log does not accept (unknown, or the
        provider was not shown in it) into a 400; otherwise it is only logged,
        as for introductions, whose answer must not vary.

        Every view is charged to this client's ``views`` bucket; over the
        limit the view is not recorded (and the caller's answer
        does not change): the ranking learns from these, and a script viewing
        one provider after every search must not outweigh real coaches
        (issue 12).
        """
        feedback = getattr(self.engine, "feedback", None)
        if feedback is None:
            return
        if action == "viewed" and self.limiter.hit("views", self.client_key()) is not None:
            log.info("feedback %s not recorded: the client is over its views limit", action)
            return
        try:
            feedback.record(search_id, provider_id, action)
        except InvalidInput as exc:
            if strict:
                raise InvalidInput(
                    "search_id does not name a search that showed this provider; "
                    "open providers from the results of a search, or leave search_id out.",
                    field="search_id",
                ) from exc
            log.info("feedback %s not recorded: %s", action, type(exc).__name__)


def catalog_is_demo(store: Any) -> bool:
    """Whether the store's import history says demo providers are in the catalogue."""
    if store is None:
        return False
    for record in store.history(limit=None):
        if record.format == "demo":
            return True
        if record.replace:
            return False
    return False


def web_state() -> WebState:
    """The :class:`WebState` of the current app."""
    return current_app.extensions[EXTENSION_KEY]
