"""The pages: the map finder (``/``), its compact embeddable form (``/embed``), ``/widget.js`` and its builder ``/widget``.

The pages are server-rendered HTML forms (vocabulary from the taxonomy,
limits from the settings) brought to life by one static ES module,
``static/finder.js``; there is no inline script, so the Content Security
Policy can forbid inline code entirely.  Leaflet and its marker-cluster plugin
are served from the ``xstatic-leaflet`` packages installed with findsupport,
never from a CDN.

``/widget.js`` is the one-line embed for club sites::

    <script src="https://finder.example/widget.js" data-postcode="NE21 4LZ" data-event="jumps" async></script>

It creates an ``<iframe>`` of ``/embed`` where the script tag stands, so the
club's CSS and ours never meet, and grows the frame to the finder's height (up
to the window's) from ``postMessage`` messages it accepts only from the
finder's own origin; ``data-view="list"`` gives a compact list of a set height,
``data-accent`` the club's colour.  ``/widget`` builds the line (options,
preview, copy); the events a host page can listen for are documented there and
in ``static/widget.js``.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from flask import Blueprint, Response, abort, render_template, request, send_from_directory, url_for

from .. import taxonomy
from ..geo import ATTRIBUTION

__all__ = ["blueprint", "vendor_folders", "STATIC_MAX_AGE_S"]

#: Vendored libraries change only with a package upgrade; a day of caching is safe.
STATIC_MAX_AGE_S = 86_400
#: Radius choices offered in the form: the steps a coach thinks in (the settings bound them).
RADIUS_CHOICES_KM = (5, 10, 25, 50, 100, 200)
#: widget.js is fetched by every club page view; an hour balances caching and updates.
WIDGET_MAX_AGE_S = 3600

blueprint = Blueprint("pages", __name__)


def vendor_folders() -> dict[str, Path]:
    """Folders of the vendored front-end libraries, from their Python packages."""
    import xstatic.pkg.leaflet as leaflet
    import xstatic.pkg.leaflet_markercluster as markercluster

    return {"leaflet": Path(leaflet.BASE_DIR), "markercluster": Path(markercluster.BASE_DIR)}


def _search_choices() -> dict[str, list]:
    """The finder's and the widget builder's menus, ``(code, label)`` pairs in the taxonomy's order.

    ``roles`` and ``modes`` are ``[(code, label), ...]``; ``event_groups`` is
    ``[(group, label, [(event, label), ...]), ...]``.  Both pages offer the same
    searches, so both take their menus from here (as template keyword arguments).
    """
    return {
        "roles": [(code, taxonomy.ROLE_LABELS[code]) for code in taxonomy.ROLES],
        "event_groups": taxonomy.event_group_choices(),
        "modes": [(code, taxonomy.MODE_LABELS[code]) for code in taxonomy.MODES],
    }


def _search_in_url(settings) -> str | None:  # noqa: ANN001 (Settings)
    """A short description of the search a shared URL runs (``None`` when it runs none).

    The page starts laid out as it will be once the results arrive (form folded
    away on a phone, the results' heading in place), so nothing moves under the
    coach's eyes.  Only for display (escaped by the template): the API validates
    the search itself.
    """
    args = request.args
    place = (args.get("postcode") or "").strip().upper()[:16] or ("your location" if args.get("lon") and args.get("lat") else "")
    if not place:
        return None
    parts = [place, taxonomy.ROLE_LABELS.get(args.get("role", ""), "Any help")]
    if args.get("event") in taxonomy.EVENT_LABELS or args.get("event") in taxonomy.EVENT_GROUP_LABELS:
        parts.append(taxonomy.EVENT_LABELS.get(args["event"]) or taxonomy.EVENT_GROUP_LABELS[args["event"]])
    mode = args.get("mode", "in_person")
    radius = args.get("radius_km") or f"{settings.default_radius_km:g}"
    parts.append("Online" if mode == "online" else f"{taxonomy.MODE_LABELS.get(mode, 'In person')}, {radius[:6]} km")
    return " · ".join(parts)


def _page(template: str, *, compact: bool) -> str:
    from .state import web_state

    state = web_state()
    settings = state.settings
    slot_rows = [
        (day, taxonomy.DAY_LABELS[day], [(f"{day}_{p}", taxonomy.slot_label(f"{day}_{p}")) for p in taxonomy.PERIODS])
        for day in taxonomy.DAYS
    ]
    radii = sorted(
        {float(r) for r in RADIUS_CHOICES_KM if settings.min_radius_km <= r <= settings.max_radius_km}
        | {settings.default_radius_km}
    )
    radius_options = [(f"{r:g}", r == settings.default_radius_km) for r in radii]
    return render_template(
        template,
        searching=_search_in_url(settings),
        radius_options=radius_options,
        api_base=url_for("api.health").removesuffix("/health"),
        compact=compact,
        settings=settings,
        demo=state.demo,
        os_attribution=ATTRIBUTION,
        **_search_choices(),
        levels=[(code, taxonomy.QUALIFICATION_LABELS[code]) for code in taxonomy.QUALIFICATIONS],
        periods=[(p, taxonomy.PERIOD_LABELS[p]) for p in taxonomy.PERIODS],
        slot_rows=slot_rows,
    )


@blueprint.get("/")
def index() -> str:
    """The map finder."""
    return _page("finder.html", compact=False)


@blueprint.get("/embed")
def embed() -> str:
    """The finder in a compact layout for an ``<iframe>``, pre-filled from the URL."""
    return _page("finder.html", compact=True)


@blueprint.get("/widget")
def widget_builder() -> str:
    """The page where a club's webmaster picks the widget's options, previews it and copies its line."""
    widget_src = url_for("pages.widget", _external=True)
    return render_template(
        "widget_builder.html",
        widget_src=widget_src,
        finder_origin=widget_src.removesuffix(url_for("pages.widget")),
        **_search_choices(),
    )


@functools.cache
def _widget_script() -> tuple[bytes, str]:
    """``widget.js`` as served, and its ETag: minified once per process like the bundle's scripts.

    It keeps its own unversioned URL (club pages link to it for years), so it is
    not in the hashed bundle; the ETag lets browsers revalidate it cheaply.
    """
    from .assets import minify

    body = minify("widget.js", (Path(__file__).parent / "static" / "widget.js").read_bytes())
    return body, hashlib.sha256(body).hexdigest()[:20]


@blueprint.get("/widget.js")
def widget() -> Response:
    """The script that embeds the finder into a club's page."""
    body, etag = _widget_script()
    response = Response(body, mimetype="text/javascript")
    response.cache_control.public = True
    response.cache_control.max_age = WIDGET_MAX_AGE_S
    response.set_etag(etag)
    # Club pages on any origin load this script; let them (e.g. with crossorigin="anonymous").
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response.make_conditional(request)


@blueprint.get("/vendor/<library>/<path:filename>")
def vendor(library: str, filename: str) -> Response:
    """Leaflet and Leaflet.markercluster files from their xstatic packages."""
    folder = vendor_folders().get(library)
    if folder is None:
        abort(404)
    return send_from_directory(folder, filename, max_age=STATIC_MAX_AGE_S)
