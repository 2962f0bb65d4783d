"""Screenshots of the map page, of the widget on a sample club page and of the operators' coverage map, for the README.

Serves the real app (the demo catalogue, built once into ``benchmarks/out/``,
or ``--data-dir``) and a sample club page on another origin, drives Debian's
chromium with Playwright, and writes ``map.png``, ``phone.png``,
``widget.png``, ``coverage.png``, and the provider's ``respond.png`` and
``manage.png`` (at phone width, from the links of a real introduction's
e-mail in the outbox) into the folder given::

    python benchmarks/screenshots.py docs/screenshots [--postcode "NE1 4ST"] [--data-dir instance]

Map tiles come from ``settings.tile_url`` (``FINDSUPPORT_TILE_URL``); on a
machine without internet access the map background stays plain and the page
says so, while markers and the list work.

The coverage map needs searches to count: the demo data dir gets
:data:`COVERAGE_SESSIONS` SYNTHETIC sessions from the coach simulator, logged
as the web app would log them, once; and the district outlines, built (about
a minute) into the shared cache the first time.  The operator is signed in by
the single sign-on header (``operator_sso_header`` behind ``trust_proxy``),
as a deployment behind an authenticating proxy would.

The PNGs are committed (the README shows them on the forge), so each is
reduced to a palette of :data:`PALETTE_COLOURS` colours and compressed
hard: a few tens of kilobytes instead of a few hundred, with text as crisp as
the original.  ``make screenshots`` regenerates them.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path
from urllib.parse import quote_plus

from flask import Flask, Response
from PIL import Image
from werkzeug.serving import make_server

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
#: Long enough for a search, a map fit and the widget's resize on a slow machine.
WAIT_MS = 20_000
#: A page of flat colours and anti-aliased text: 64 colours look the same and weigh a third.
PALETTE_COLOURS = 64
#: The README's images are committed: each must stay small.
MAX_PNG_BYTES = 200_000
SHOTS = ("map.png", "phone.png", "widget.png", "coverage.png", "respond.png", "manage.png")
#: A phone's CSS width, as the provider most often opens the e-mail.
PHONE = {"width": 390, "height": 844}
#: Enough simulated searches for most districts around the busy areas to pass the "<5" rule.
COVERAGE_SESSIONS = 6_000
#: The operator the screenshot signs in as (a listed address; the SSO header names them).
OPERATOR = "planner@example.org"
SSO_HEADER = "X-Remote-User"


def shrink(path: Path) -> int:
    """Rewrite the screenshot ``path`` as a palette PNG, compressed hard; its new size in bytes."""
    with Image.open(path) as shot:
        # No dithering: flat UI colours stay flat, and flat areas compress far better.
        small = shot.convert("RGB").quantize(PALETTE_COLOURS, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    small.save(path, optimize=True)
    size = path.stat().st_size
    if size > MAX_PNG_BYTES:
        raise SystemExit(f"{path} is {size:,} bytes after shrinking; the README's images must stay under {MAX_PNG_BYTES:,}")
    return size


def demo_data_dir() -> Path:
    from findsupport.catalog import CatalogStore, load_demo
    from findsupport.config import load_settings
    from findsupport.geo import PostcodeDirectory

    data_dir = REPO / "benchmarks" / "out" / "screenshots-demo"
    settings = load_settings({"data_dir": data_dir, "cache_dir": REPO / ".cache"})
    store = CatalogStore.open(settings)
    if not store.has_catalog():
        load_demo(store, PostcodeDirectory.load(settings.resolved_cache_dir), settings)
    return data_dir


def log_simulated_searches(settings) -> None:
    """Fill an empty feedback log with synthetic coaches' sessions, logged as the web app logs searches."""
    from findsupport.catalog import CatalogStore
    from findsupport.geo import PostcodeDirectory
    from findsupport.ranking.feedback import FeedbackLog
    from findsupport.ranking.simulator import CoachSimulator

    log = FeedbackLog.open(settings)
    if log.count() >= COVERAGE_SESSIONS:  # filled by an earlier run (beside the screenshots' own searches)
        return
    catalog = CatalogStore.open(settings).public_catalog()
    simulator = CoachSimulator(catalog, PostcodeDirectory.load(settings.resolved_cache_dir), seed=7)
    for session in simulator.feedback(COVERAGE_SESSIONS):
        results = session["results"]
        search_id = log.log_search(session["query"], [(r["provider_id"], r["position"]) for r in results], "simulated")
        for result in results:
            if result["action"] != "shown":
                log.record(search_id, result["provider_id"], result["action"])


def ensure_outlines(settings) -> None:
    """The district outlines in the cache (built once; the coverage page only ever reads them)."""
    from findsupport.geo import DistrictOutlines, PostcodeDirectory

    cache = settings.resolved_cache_dir
    DistrictOutlines.load(cache, PostcodeDirectory.load(cache))


def introduction_links(app: Flask, finder: str, page) -> dict[str, str]:
    """Ask a provider of a search for an introduction; the respond and manage links of the e-mail they get."""
    import email
    import re
    import time
    from email import policy

    found = page.request.get(f"{finder}/api/v1/search?postcode=NE1+4ST&role=mentor&event=jumps&slots=tue_eve,thu_eve"
                             "&has_room=true&limit=1").json()
    provider_id = found["results"][0]["id"]
    coach = f"robin.{int(time.time())}@example.org"  # a new coach each run: a repeat would be "already asked"
    answer = page.request.post(f"{finder}/api/v1/introductions", headers={"Content-Type": "application/json"},
                               data=json.dumps({"provider_id": provider_id, "name": "Robin Coach", "email": coach,
                                                "search_id": found["search_id"],
                                                "message": "Could you mentor me on jumps drills?\nEvenings suit me."}))
    if answer.status != 202:
        raise SystemExit(f"the introduction was refused: {answer.status} {answer.text()}")
    state = app.extensions["findsupport"]
    with app.app_context():
        introduction = next(i for i in state.introductions.list(state="pending") if i.provider_id == provider_id)
    outbox = state.settings.resolved_outbox_dir
    deadline = time.monotonic() + WAIT_MS / 1000
    while time.monotonic() < deadline:
        for path in outbox.glob(f"*-{introduction.id}-*.eml"):
            message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
            if message["X-Findsupport-Kind"] == "request":
                text = message.get_body(("plain",)).get_content()
                return {kind: finder + re.search(r"https?://[^/\s]+(/" + kind + r"/[A-Za-z0-9._-]+)", text).group(1)
                        for kind in ("respond", "manage")}
        time.sleep(0.2)
    raise SystemExit(f"no request e-mail for introduction {introduction.id} in {outbox}")


def serve(app: Flask, host: str) -> tuple[str, object]:
    server = make_server(host, 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://{host}:{server.server_port}", server


def club_page(finder: str, postcode: str) -> Flask:
    club = Flask("club")

    @club.get("/")
    def page() -> Response:
        return Response(
            f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Tyneside Harriers — coaching support</title>
<style>body{{font-family:Georgia,serif;background:#f6f1e7;margin:0;color:#222}}header{{background:#7a1f1f;color:#fff;padding:1rem 2rem}}
nav a{{color:#fff;margin-right:1rem}}main{{max-width:820px;margin:1rem auto;padding:0 1rem}}h2{{color:#7a1f1f}}</style></head>
<body><header><h1>Tyneside Harriers</h1><nav><a href="#">Home</a><a href="#">Training</a><a href="#">Coaching</a></nav></header>
<main><h2>Coaching support near the club</h2><p>New to coaching? Find a mentor, a coach developer or a technical advisor
near the track. Pick your event and ask for an introduction.</p>
<div id="finder-box"><script src="{finder}/widget.js" data-postcode="{postcode}" data-event="jumps" data-role="mentor" async></script></div>
</main></body></html>""",
            mimetype="text/html",
        )

    @club.get("/favicon.ico")
    def favicon() -> Response:
        return Response(status=204)

    return club


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="where to write the PNG files")
    parser.add_argument("--data-dir", type=Path, help="serve this data dir (default: the demo catalogue)")
    parser.add_argument("--postcode", default="NE1 4ST")
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright

    from findsupport.config import load_settings
    from findsupport.web import create_app

    data_dir = args.data_dir or demo_data_dir()
    settings = load_settings({"data_dir": data_dir, "cache_dir": REPO / ".cache", "rate_limits": "off",
                              "operator_emails": OPERATOR, "trust_proxy": True, "operator_sso_header": SSO_HEADER})
    log_simulated_searches(settings)
    ensure_outlines(settings)
    app = create_app(settings)
    finder, finder_server = serve(app, "127.0.0.1")
    club, club_server = serve(club_page(finder, args.postcode), "localhost")
    args.folder.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page.goto(f"{finder}/?postcode={quote_plus(args.postcode)}&role=mentor&event=jumps")
            page.wait_for_selector(".result", timeout=WAIT_MS)
            page.locator(".result").first.get_by_role("button", name="Details").click()
            page.locator(".result .details dl").first.wait_for(timeout=WAIT_MS)
            page.wait_for_timeout(800)  # the map's fit-to-results animation
            page.evaluate("() => window.scrollTo(0, 0)")
            page.screenshot(path=str(args.folder / "map.png"))

            phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
            phone.goto(f"{finder}/?postcode={quote_plus(args.postcode)}&role=mentor")
            phone.wait_for_selector(".result", timeout=WAIT_MS)
            phone.wait_for_timeout(800)
            phone.screenshot(path=str(args.folder / "phone.png"))

            club_tab = browser.new_page(viewport={"width": 1280, "height": 1400})
            club_tab.goto(club)
            club_tab.frame_locator("#finder-box iframe").locator(".result").first.wait_for(timeout=WAIT_MS)
            club_tab.wait_for_timeout(800)  # the frame's resize message
            club_tab.screenshot(path=str(args.folder / "widget.png"))

            operator = browser.new_page(viewport={"width": 1280, "height": 1500}, extra_http_headers={SSO_HEADER: OPERATOR})
            operator.goto(f"{finder}/operator/coverage")
            operator.wait_for_function("() => document.querySelectorAll('path.leaflet-interactive').length > 20",
                                       timeout=WAIT_MS * 3)
            operator.wait_for_timeout(800)
            operator.screenshot(path=str(args.folder / "coverage.png"), full_page=True)

            provider = browser.new_page(viewport=PHONE, is_mobile=True, has_touch=True)
            links = introduction_links(app, finder, provider)
            for kind, url in links.items():
                provider.goto(url)
                provider.wait_for_selector("main", timeout=WAIT_MS)
                # The answer page whole; of the (long) manage form, the first screen.
                provider.screenshot(path=str(args.folder / f"{kind}.png"), full_page=kind == "respond")
            browser.close()
    finally:
        finder_server.shutdown()
        club_server.shutdown()
        app.extensions["findsupport"].close()
    for name in SHOTS:
        print(f"{args.folder / name}: {shrink(args.folder / name):,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
