"""Security headers, Content Security Policy, framing rules and CORS for every response.

* Every HTML page gets a strict CSP: scripts, styles and connections only from
  this server (no inline script anywhere; the pages load static ES modules),
  images also from the configured tile server (``settings.tile_url``), no
  plugins, no ``<base>``.  Templates get that server's origin as
  ``tile_origin`` (:func:`tile_origin`) to connect to it early.
* ``frame-ancestors``: ``/embed`` may be framed by ``settings.embed_frame_ancestors``
  (any site by default, so clubs can embed it); every other page only by this
  server itself.  JSON and scripts get ``default-src 'none'; frame-ancestors 'none'``.
* ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy:
  strict-origin-when-cross-origin`` everywhere: the page URL holds the coach's
  postcode, and other sites (the tile server) see only our origin.
* Pages under a signed-link path (``/respond/``, ``/manage/``, ``/cancel/``,
  ``/outcome/``: :data:`findsupport.introductions.LINK_PATHS`) answer
  ``Referrer-Policy: no-referrer`` and ``Cache-Control: no-store``, whatever
  the answer (a page, a problem, a 404): the token in their URL must not
  reach another site or a shared cache.
* CORS: the read-only GET API (``/api/v1/...`` except introductions) and
  ``/openapi.json`` answer ``Access-Control-Allow-Origin: *`` so any site can
  build on the data; ``POST /api/v1/introductions`` gets no CORS headers, so a
  browser on another site cannot post one (the JSON content type forces a
  preflight, which fails) — introductions are sent from our own pages, including
  ``/embed`` inside a club's site.

Examples
--------
>>> tile_sources("https://{s}.tile.example.org/{z}/{x}/{y}.png")
['https://*.tile.example.org']
>>> tile_origin("https://tiles.example.org:8443/{z}/{x}/{y}{r}.png")
'https://tiles.example.org:8443'
>>> check_frame_ancestors("https://club.example 'self'")
"https://club.example 'self'"
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask import Flask, Response, request

from ..config import Settings
from ..errors import ConfigError
from ..introductions import LINK_PATHS

__all__ = [
    "tile_sources",
    "tile_origin",
    "check_frame_ancestors",
    "page_policy",
    "install_security_headers",
    "CORS_MAX_AGE_S",
    "EMBED_ENDPOINTS",
    "TOKEN_PATH_PREFIXES",
]

#: Browsers may cache a CORS preflight answer this long (a day; the API's CORS rules
#: change only with a deployment).
CORS_MAX_AGE_S = 86_400

#: Endpoints whose page may be framed by other sites (``embed_frame_ancestors``).
EMBED_ENDPOINTS = frozenset({"pages.embed"})

#: API paths that must not be readable or callable cross-origin.
_NO_CORS_PATHS = ("/api/v1/introductions", "/api/v1/manage-links")
#: Paths whose URL carries a signed token (see the module docstring).
TOKEN_PATH_PREFIXES: tuple[str, ...] = tuple(LINK_PATHS.values())

_SOURCE = re.compile(r"^(\*|'self'|'none'|(https?|wss?):(//(\*\.)?[A-Za-z0-9.-]+(:(\d+|\*))?)?/?|[A-Za-z0-9.-]+)$")


def tile_sources(tile_url: str) -> list[str]:
    """CSP sources that cover a Leaflet tile URL template (``{s}`` subdomains become ``*.``)."""
    if tile_url.startswith("/") and not tile_url.startswith("//"):
        return ["'self'"]
    parts = urlsplit(tile_url)
    host = parts.netloc
    if not parts.scheme or not host:
        raise ConfigError(f"tile_url {tile_url!r} must be an absolute http(s) URL or a path on this server.", field="tile_url")
    if "{s}" in host:
        host = "*." + host.split("{s}.", 1)[-1]
    if "{" in host:
        raise ConfigError(f"tile_url {tile_url!r}: only {{s}} may appear in the host name.", field="tile_url")
    return [f"{parts.scheme}://{host}"]


def tile_origin(tile_url: str) -> str | None:
    """The one origin every map tile comes from, for a ``preconnect`` hint (``None``: this server, or ``{s}`` hosts).

    The first tiles are often a page's largest paint, and a phone on a slow
    network spends a round trip or three on connecting to the tile server:
    pages start that while their scripts load.
    """
    (source,) = tile_sources(tile_url)
    return None if source == "'self'" or "*" in source else source


def check_frame_ancestors(value: str) -> str:
    """Validate ``embed_frame_ancestors`` (CSP source expressions, space separated)."""
    sources = value.split()
    if not sources:
        raise ConfigError("embed_frame_ancestors is empty; use * (any site), 'none', or a list of origins.")
    for source in sources:
        if not _SOURCE.match(source):
            raise ConfigError(
                f"Got embed_frame_ancestors source {source!r}; use *, 'self', 'none', or origins such as "
                "https://club.example or https://*.club.example, separated by spaces.",
                field="embed_frame_ancestors",
            )
    if "'none'" in sources and len(sources) > 1:
        raise ConfigError("embed_frame_ancestors: 'none' cannot be combined with other sources.")
    return " ".join(sources)


def page_policy(settings: Settings, *, embeddable: bool) -> str:
    """The Content-Security-Policy of an HTML page."""
    images = " ".join(dict.fromkeys(["'self'", "data:", *tile_sources(settings.tile_url)]))  # once each
    ancestors = check_frame_ancestors(settings.embed_frame_ancestors) if embeddable else "'self'"
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src {images}",
            "connect-src 'self'",
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            f"frame-ancestors {ancestors}",
        ]
    )


#: JSON, scripts and anything else that is not a page: nothing may run or frame it.
RESOURCE_POLICY = "default-src 'none'; frame-ancestors 'none'"


def _is_public_read(path: str) -> bool:
    if path == "/openapi.json":
        return True
    return path.startswith("/api/v1/") and not path.startswith(_NO_CORS_PATHS)


def install_security_headers(app: Flask, settings: Settings) -> None:
    """Add the headers above to every response of ``app`` (validating the settings now)."""
    policies = {False: page_policy(settings, embeddable=False), True: page_policy(settings, embeddable=True)}
    app.jinja_env.globals["tile_origin"] = tile_origin(settings.tile_url)

    @app.after_request
    def _security_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        if request.path.startswith(TOKEN_PATH_PREFIXES):
            headers["Referrer-Policy"] = "no-referrer"
            headers["Cache-Control"] = "no-store"
        headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        if response.mimetype == "text/html":
            embeddable = request.endpoint in EMBED_ENDPOINTS
            headers["Content-Security-Policy"] = policies[embeddable]
            # "Use my location" is for our own origin only, also when framed.
            headers["Permissions-Policy"] = "geolocation=(self), camera=(), microphone=(), payment=()"
            if not embeddable:
                headers["X-Frame-Options"] = "SAMEORIGIN"  # for browsers without frame-ancestors
        else:
            headers.setdefault("Content-Security-Policy", RESOURCE_POLICY)
        if _is_public_read(request.path) and request.method in ("GET", "HEAD", "OPTIONS"):
            headers["Access-Control-Allow-Origin"] = "*"
            headers["Access-Control-Expose-Headers"] = "Retry-After, Link"
            if request.method == "OPTIONS":
                headers["Access-Control-Allow-Methods"] = "GET, HEAD, OPTIONS"
                headers["Access-Control-Allow-Headers"] = "Accept"
                headers["Access-Control-Max-Age"] = str(CORS_MAX_AGE_S)
        return response
