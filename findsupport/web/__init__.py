"""The web app: map finder, embeddable widget and JSON/GeoJSON API.

Nothing is built at import time.  :func:`create_app` reads the settings,
builds the search engine once (postcode directory, catalogue, index, ranking
model, feedback log) and holds it read-only while it serves::

    gunicorn -c python:findsupport.web.serving -w 4 'findsupport.web:create_app()'   # production (FINDSUPPORT_* settings)
    findsupport serve --port 5000                     # development server

Each worker checks every ``reload_check_seconds`` whether the catalogue or the
active model changed and, if so, lets the engine build a new snapshot beside
the old one and swap it in (requests in flight are not disturbed).  ``kill
-HUP`` on the gunicorn master restarts the workers gracefully as well.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask

from ..config import Settings, configure_logging, load_settings

__all__ = ["create_app", "MAX_BODY_BYTES_PER_CHAR", "BODY_OVERHEAD_BYTES"]

#: JSON may spell one character of a message as a 12-byte surrogate pair (\\ud83d\\ude00).
MAX_BODY_BYTES_PER_CHAR = 12
#: Room for the other members of an introduction (name, e-mail, ids) and the JSON syntax.
BODY_OVERHEAD_BYTES = 8192


def _open_store(engine: Any, settings: Settings) -> Any:
    """The catalogue store the engine reads (or one on the same database)."""
    store = getattr(engine, "store", None)
    if store is None:
        from ..catalog import CatalogStore

        store = CatalogStore.open(settings)
    return store


def create_app(
    config: Settings | Mapping[str, Any] | None = None,
    *,
    engine: Any = None,
    contacts: Callable[[str], Any] | None = None,
    progress: Callable[[str], None] | None = None,
    background: bool = True,
) -> Flask:
    """Build the Flask app.

    Parameters
    ----------
    config : Settings or mapping, optional
        A :class:`Settings`, or overrides on top of the defaults, the
        ``FINDSUPPORT_CONFIG`` file and ``FINDSUPPORT_*`` variables.
    engine : Engine, optional
        An engine built elsewhere (``Engine.from_catalog`` in notebooks, tests
        and benchmarks); by default ``Engine.open(settings)``.
    contacts : callable, optional
        ``provider_id -> Contact | None`` for the introduction e-mails; by
        default the catalogue store's ``contact_for`` (the engine's store, or
        ``CatalogStore.open(settings)``).  Introductions live in that store's
        database, beside the places they hold.
    progress : callable, optional
        Start-up progress messages (the CLI prints them).
    background : bool, default True
        Run the introduction worker (delivery, reminders, expiry, check-ins,
        retention) and the reload check in background threads of each
        worker.  Tests and tools that drive them by hand
        (``introductions.tick(mailer=...)``, ``reloader.check()``) turn this off.

    Raises
    ------
    ConfigError
        For settings the web app cannot use (bad rate limits, tile URL, frame ancestors).
    """
    from .api import blueprint as api_blueprint
    from .assets import install_assets
    from ..introductions import DEFAULT_PUBLIC_URL, IntroductionService, IntroductionWorker, mailer_for
    from .introductions import blueprint as introductions_blueprint
    from .introductions import next_matches_from
    from .jsonbody import RequestJSONProvider
    from .openapi import blueprint as openapi_blueprint
    from .links import blueprint as links_blueprint
    from .operators import install_operators
    from .pages import blueprint as pages_blueprint
    from .problems import blueprint as problems_blueprint
    from .problems import register_problem_handlers
    from .ratelimit import SharedLimiter, parse_rate_limits
    from ..db import engine_for
    from .security import install_security_headers
    from .serving import install_url_limit
    from .state import EXTENSION_KEY, Reloader, WebState

    settings = config if isinstance(config, Settings) else load_settings(config)
    configure_logging(settings.log_level)
    rules = parse_rate_limits(settings.rate_limits)

    app = Flask(__name__)
    app.json = RequestJSONProvider(app)  # over-deep JSON bodies are a 400 like any malformed one
    app.config["MAX_CONTENT_LENGTH"] = settings.max_message_chars * MAX_BODY_BYTES_PER_CHAR + BODY_OVERHEAD_BYTES
    app.json.sort_keys = False  # keep the documented member order (query, results, total...)
    if settings.trust_proxy:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]

    if engine is None:
        from ..search.engine import Engine

        engine = Engine.open(settings, progress=progress, batch_feedback=True)
    store = _open_store(engine, settings)
    introductions = IntroductionService(
        store.engine,
        settings,
        contacts=contacts or store.contact_for,
        feedback=getattr(engine, "feedback", None),
        next_matches=next_matches_from(engine, settings.public_url or DEFAULT_PUBLIC_URL),
        provider_ids_for_email=store.provider_ids_for_email,
    )
    # Cards say how soon a provider usually replies: worked out on each catalogue reload, not per search.
    engine.follow_responsiveness(introductions.replies_within_by_provider)
    state = WebState(
        settings=settings,
        engine=engine,
        rate_rules=rules,
        limiter=SharedLimiter(rules, engine_for(settings.resolved_database_url)),
        introductions=introductions,
        worker=IntroductionWorker(introductions, mailer_for(settings)),
        reloader=Reloader(engine, settings.reload_check_seconds),
        store=store,
        background=background,
    )
    app.extensions[EXTENSION_KEY] = state

    register_problem_handlers(app)
    install_url_limit(app)
    install_security_headers(app, settings)
    install_assets(app, settings)  # versioned, compressed front-end files at /assets/ (WhiteNoise)
    for blueprint in (pages_blueprint, api_blueprint, introductions_blueprint, links_blueprint, openapi_blueprint,
                      problems_blueprint):
        app.register_blueprint(blueprint)
    install_operators(app, state)  # /operator/...: 404 unless settings.operator_emails lists someone
    if background:
        app.before_request(state.ensure_started)
    return app
