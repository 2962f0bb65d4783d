"""The pages: the map finder (``/``), its compact embeddable form (``/embed``) and ``/widget.js``.

The pages are server-rendered HTML forms (vocabulary from the taxonomy,
limits from the settings) brought to life by one static ES module,
``static/finder.js``; there is no inline script, so the Content Security
Policy can forbid inline code entirely.  Leaflet and its marker-cluster plugin
are served from the ``xstatic-leaflet`` packages installed with findsupport,
never from a CDN.

``/widget.js`` is the one-line embed for club sites::

    <script src="https://finder.example/widget.js" data-postcode="NE21 4LZ" data-event="jumps" async></script>

It creates an ``<iframe>`` of ``/embed`` where the script tag stands, so the
club's CSS and ours never meet, and grows the frame to the finder's height
from ``postMessage`` messages it accepts only from the finder's own origin.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, abort, render_template, send_from_directory, url_for

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
        radius_options=radius_options,
        api_base=url_for("api.health").removesuffix("/health"),
        compact=compact,
        settings=settings,
        demo=state.demo,
        os_attribution=ATTRIBUTION,
        roles=[(code, taxonomy.ROLE_LABELS[code]) for code in taxonomy.ROLES],
        event_groups=[
            (group, taxonomy.EVENT_GROUP_LABELS[group], [(e, taxonomy.EVENT_LABELS[e]) for e in events])
            for group, events in taxonomy.EVENT_GROUPS.items()
        ],
        modes=[(code, taxonomy.MODE_LABELS[code]) for code in taxonomy.MODES],
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


@blueprint.get("/widget.js")
def widget() -> Response:
    """The script that embeds the finder into a club's page."""
    response = send_from_directory(Path(__file__).parent / "static", "widget.js", mimetype="text/javascript", max_age=WIDGET_MAX_AGE_S)
    # Club pages on any origin load this script; let them (e.g. with crossorigin="anonymous").
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@blueprint.get("/vendor/<library>/<path:filename>")
def vendor(library: str, filename: str) -> Response:
    """Leaflet and Leaflet.markercluster files from their xstatic packages."""
    folder = vendor_folders().get(library)
    if folder is None:
        abort(404)
    return send_from_directory(folder, filename, max_age=STATIC_MAX_AGE_S)
