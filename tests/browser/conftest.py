"""A real Chromium (Debian's ``/usr/bin/chromium``, driven by Playwright) against a live server.

The finder runs in a background thread (werkzeug ``make_server``) on a free
loopback port, on the sample catalogue imported through the catalogue store
(see ``tests/web/conftest.py``).  A second server on another port plays a
club's website, so ``/embed`` and ``widget.js`` are tested from another origin.

Without chromium the tests are skipped, except under ``CI=true``, where a
missing browser is a failure.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask, Response
from werkzeug.serving import make_server

from findsupport.catalog import CatalogStore, import_file
from findsupport.web import create_app

from web.conftest import SampleCatalog, web_settings, write_sample_csv  # noqa: E402  (tests/web helpers)

CHROMIUM = os.environ.get("FINDSUPPORT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@dataclass
class LiveServer:
    url: str
    app: Flask
    outbox: Path
    sample: SampleCatalog


def serve_in_thread(app: Flask, host: str = "127.0.0.1") -> tuple[str, object]:
    server = make_server(host, 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, name=f"live-{server.server_port}", daemon=True).start()
    return f"http://{host}:{server.server_port}", server


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing; CI must install Debian's chromium (see .ci/run)")
        pytest.skip(f"{CHROMIUM} is not installed")
    return CHROMIUM


@pytest.fixture(scope="session")
def browser(chromium_path: str) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory, cache_dir, directory) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("browser-instance")
    outbox = data_dir / "outbox"
    settings = web_settings(data_dir, cache_dir, outbox_dir=outbox)
    sample = write_sample_csv(data_dir / "providers.csv", directory)
    assert import_file(sample.csv_path, CatalogStore.open(settings), directory, settings).ok
    app = create_app(settings)  # Engine.open, background outbox: as in production
    url, server = serve_in_thread(app)
    yield LiveServer(url=url, app=app, outbox=outbox, sample=sample)
    server.shutdown()
    app.extensions["findsupport"].close()


def club_site(finder: str) -> Flask:
    """A club's website on another origin, embedding the finder both ways."""
    club = Flask("club")

    def page(title: str, body: str) -> Response:
        html = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:Georgia,serif;background:#f6f1e7;margin:0}} header{{background:#7a1f1f;color:#fff;padding:1rem 2rem}}
main{{max-width:760px;margin:1rem auto;padding:0 1rem}} h2{{color:#7a1f1f}}</style></head>
<body><header><h1>Tyneside Harriers</h1><p>Athletics club since 1901</p></header>
<main><h2>Find a mentor near the club</h2><p>Coaches: use the finder below to get support.</p>{body}</main></body></html>"""
        return Response(html, mimetype="text/html")

    @club.get("/favicon.ico")
    def favicon() -> Response:
        return Response(status=204)

    @club.get("/iframe")
    def iframe() -> Response:
        src = f"{finder}/embed?postcode=NE1%204ST&amp;event=jumps&amp;role=mentor"
        return page("Club page with an iframe", f'<iframe src="{src}" title="Find coaching support" width="100%" height="900" style="border:0"></iframe>')

    @club.get("/widget")
    def widget() -> Response:
        return page("Club page with the widget", f'<div id="finder-box"><script src="{finder}/widget.js" data-postcode="NE1 4ST" data-event="jumps" data-role="mentor" async></script></div>')

    @club.get("/widget-list")
    def widget_list() -> Response:
        # The compact list view in a narrow sidebar, in the club's colour; the page records the finder's events.
        listen = ("<script>window.__events = []; for (const type of ['findsupport:search', 'findsupport:introduction']) "
                  "document.addEventListener(type, (e) => window.__events.push({type, detail: e.detail}));</script>")
        widget = (f'<script src="{finder}/widget.js" data-postcode="NE1 4ST" data-view="list" data-height="500" '
                  'data-accent="#7a1f1f" data-title="Find a mentor" async></script>')
        return page("Club page with the compact widget", f'{listen}<div id="sidebar" style="width:150px">{widget}</div>')

    return club


@pytest.fixture(scope="session")
def club_server(live_server: LiveServer) -> Iterator[str]:
    # "localhost" and another port: a different origin from the finder's 127.0.0.1.
    url, server = serve_in_thread(club_site(live_server.url), host="localhost")
    yield url
    server.shutdown()


@pytest.fixture
def page(browser, request) -> Iterator[object]:
    """A fresh page that records console errors, CSP violations and uncaught exceptions."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, geolocation={"longitude": -1.6178, "latitude": 54.9783},
                                  permissions=["geolocation"])
    page = context.new_page()
    page.problems = []
    page.on("pageerror", lambda error: page.problems.append(f"uncaught: {error}"))

    def console(message) -> None:
        text = message.text
        # Tiles come from an address that cannot answer (offline by design): expected.
        if message.type == "error" and "ERR_UNSAFE_PORT" not in text and "ERR_CONNECTION_REFUSED" not in text:
            page.problems.append(f"console: {text}")

    page.on("console", console)
    yield page
    context.close()
