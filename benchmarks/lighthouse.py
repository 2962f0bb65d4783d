"""Lighthouse on a phone: the map page, a results page and the embed, four category scores each.

Runs Node's ``lighthouse`` package (installed by this script with npm into
``benchmarks/out/node/``, git-ignored) with Debian's chromium
(``CHROME_PATH=/usr/bin/chromium``) against the real app serving the demo
catalogue (built once into ``benchmarks/out/lighthouse-demo/``, or
``--data-dir``), or against ``--url`` of a running finder::

    python benchmarks/lighthouse.py [--url http://127.0.0.1:5000] [--runs 3] [--json out.json]
    python benchmarks/lighthouse.py --before-js old-finder.js --runs 3

Lighthouse's default mobile profile: a Moto G Power-sized screen, simulated
slow 4G and a 4× slower CPU.  Each page is measured ``--runs`` times and the
median score of each category is printed (scores move by a point or two from
run to run), with the audits that cost points (``--audits``: in every run).

Map tiles: when the script serves the demo itself, ``tile_url`` points at a
tiny tile server started here on loopback (:func:`serve_tiles`: a valid blank
PNG for every tile, 512 pixels for high-density screens), as an operator
running their own tile server would configure it (the page's CSP follows
``tile_url``).  The measurement is then the same online and offline, and does
not load OpenStreetMap's servers; ``--osm-tiles`` keeps the default tile server
instead (offline, its requests fail and Best Practices counts the console
errors; online, its tiles have no high-density version).

Performance follows the machine's load, so a change to the finder's script is
measured side by side: ``--before-js FILE`` also serves the demo with that
``finder.js`` in place of the current one (same catalogue, templates and tile
server) and alternates the two on each page (before, after, after, before, ...),
printing the medians of both.

The app is measured as deployed: behind ``deploy/nginx/findsupport.conf``,
which gzips pages and JSON (:class:`GzipLikeNginx` does the same here; the
files under ``/assets/`` come pre-compressed from the app itself).
"""

from __future__ import annotations

import argparse
import gzip
import http.server
import json
import os
import re
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import zlib
from pathlib import Path
from unittest import mock

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "benchmarks" / "out"
NODE_DIR = OUT / "node"
#: Lighthouse 12: the version the issue's baseline numbers came from.
LIGHTHOUSE = "lighthouse@12"
CHROME_PATH = os.environ.get("CHROME_PATH", "/usr/bin/chromium")
CHROME_FLAGS = "--headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage"
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
#: The pages measured: the empty map page, a search's results, and the club widget's page.
PAGES = {
    "map page": "/",
    "results": "/?postcode=NE1+4ST&role=mentor",
    "embed": "/embed?postcode=NE1+4ST&event=jumps",
}
#: One Lighthouse run may take this long on a loaded machine (it loads the page several times).
RUN_TIMEOUT_S = 300


def lighthouse_bin() -> Path:
    """The ``lighthouse`` command, installed with npm into :data:`NODE_DIR` the first time."""
    binary = NODE_DIR / "node_modules" / ".bin" / "lighthouse"
    if not binary.exists():
        NODE_DIR.mkdir(parents=True, exist_ok=True)
        print(f"installing {LIGHTHOUSE} into {NODE_DIR} (once)", file=sys.stderr)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error", "--prefix", str(NODE_DIR), LIGHTHOUSE], check=True)
    return binary


def demo_data_dir() -> Path:
    from findsupport.catalog import CatalogStore, load_demo
    from findsupport.config import load_settings
    from findsupport.geo import PostcodeDirectory

    data_dir = OUT / "lighthouse-demo"
    settings = load_settings({"data_dir": data_dir, "cache_dir": REPO / ".cache"})
    store = CatalogStore.open(settings)
    if not store.has_catalog():
        load_demo(store, PostcodeDirectory.load(settings.resolved_cache_dir), settings)
    return data_dir


def tile_png(size: int = 256, grey: int = 0xEE) -> bytes:
    """A valid single-colour greyscale PNG of ``size`` × ``size`` pixels (what a blank map tile looks like)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0)  # 8-bit greyscale, no interlace
    rows = (b"\0" + bytes([grey]) * size) * size  # filter type 0 before each row
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


def serve_tiles() -> tuple[str, http.server.ThreadingHTTPServer]:
    """A loopback tile server: ``(tile_url, server)``.

    It answers ``/{z}/{x}/{y}.png`` with a 256-pixel :func:`tile_png` and
    ``/{z}/{x}/{y}@2x.png`` with a 512-pixel one, and ``tile_url`` asks for the
    latter on high-density screens (Leaflet's ``{r}``), as it should wherever
    the tile server offers them: a phone's 256 CSS pixels are 448 device
    pixels, and Lighthouse counts a blurry 256-pixel tile against Best Practices
    (``image-size-responsive``).
    """
    tiles = {"": tile_png(256), "@2x": tile_png(512)}
    path = re.compile(r"^/\d+/\d+/\d+(@2x)?\.png$")

    class Tiles(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            match = path.match(self.path.split("?", 1)[0])
            if match is None:
                self.send_error(404)
                return
            tile = tiles[match.group(1) or ""]
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(tile)))
            self.send_header("Cache-Control", "public, max-age=86400")
            self.end_headers()
            try:
                self.wfile.write(tile)
            except (BrokenPipeError, ConnectionResetError):
                pass  # Lighthouse closed the page while this tile was on its way

        def log_message(self, *args: object) -> None:  # one line per tile drowns the scores
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Tiles)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}/{{z}}/{{x}}/{{y}}{{r}}.png", server


class GzipLikeNginx:
    """WSGI middleware standing in for the deployment's nginx ``gzip`` settings (same types, level and minimum).

    Answers that are already encoded (the app's ``/assets/``), too short, of
    other types, or under a secret-link path (BREACH) pass as they are.
    """

    TYPES = ("text/html", "application/json", "application/geo+json", "application/problem+json",
             "text/css", "application/javascript", "text/javascript", "image/svg+xml")  # fmt: skip
    MIN_LENGTH = 512
    LEVEL = 5
    SECRET_PATHS = ("/respond/", "/manage/", "/outcome/", "/cancel/")

    def __init__(self, app) -> None:  # noqa: ANN001 (a WSGI application)
        self.app = app

    def __call__(self, environ, start_response):  # noqa: ANN001, ANN204
        if "gzip" not in environ.get("HTTP_ACCEPT_ENCODING", "") or environ.get("PATH_INFO", "").startswith(self.SECRET_PATHS):
            return self.app(environ, start_response)
        answer: dict = {}

        def keep(status, headers, exc_info=None):  # noqa: ANN001, ANN202
            answer.update(status=status, headers=headers)
            return lambda data: None  # the app writes through its return value (Flask does)

        chunks = self.app(environ, keep)
        try:
            body = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        headers = answer["headers"]
        names = {name.lower(): value for name, value in headers}
        kind = names.get("content-type", "").split(";")[0].strip()
        if kind in self.TYPES and "content-encoding" not in names and len(body) >= self.MIN_LENGTH:
            body = gzip.compress(body, self.LEVEL)
            headers = [(n, v) for n, v in headers if n.lower() not in ("content-length", "vary")]
            vary = ", ".join(filter(None, [names.get("vary"), "Accept-Encoding"]))
            headers += [("Content-Encoding", "gzip"), ("Vary", vary), ("Content-Length", str(len(body)))]
        start_response(answer["status"], headers)
        return [body]


def serve_demo(data_dir: Path, tile_url: str | None = None, finder_js: Path | None = None) -> tuple[str, object]:
    """The app on a free loopback port, in a background thread (as tests/browser do).

    With ``finder_js``, the app serves that script as its ``finder.js`` (from a
    temporary copy of the static folder): the "before" side of ``--before-js``.
    """
    import logging

    from werkzeug.serving import make_server

    from findsupport.config import load_settings
    from findsupport.web import assets, create_app

    overrides: dict[str, object] = {"data_dir": data_dir, "cache_dir": REPO / ".cache", "rate_limits": "off"}
    if tile_url is not None:
        overrides["tile_url"] = tile_url
    settings = load_settings(overrides)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request drowns the scores
    if finder_js is None:
        app = create_app(settings)
    else:
        static = Path(tempfile.mkdtemp(prefix="lighthouse-before-")) / "static"
        shutil.copytree(REPO / "findsupport" / "web" / "static", static)
        shutil.copyfile(finder_js, static / "finder.js")
        build = assets.build_assets
        # The bundle is built from the package's static folder; only here is it built from another.
        with mock.patch.object(assets, "build_assets", lambda cache_dir, _static, vendor: build(cache_dir, static, vendor)):
            app = create_app(settings)
    server = make_server("127.0.0.1", 0, GzipLikeNginx(app), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}", server


def run_once(binary: Path, url: str) -> tuple[dict[str, int], list[str]]:
    """One Lighthouse run on the default mobile profile: ``({category: score 0-100, "tbt": ms}, [audits that cost points])``."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        subprocess.run(
            [
                str(binary), url, "--quiet", f"--chrome-flags={CHROME_FLAGS}",
                f"--only-categories={','.join(CATEGORIES)}", "--output=json", f"--output-path={report}",
            ],
            check=True,
            timeout=RUN_TIMEOUT_S,
            env={**os.environ, "CHROME_PATH": CHROME_PATH},
        )  # fmt: skip
        result = json.loads(report.read_text())
    categories = result["categories"]
    scores = {name: round(categories[name]["score"] * 100) for name in CATEGORIES if categories[name]["score"] is not None}
    audits = result["audits"]
    scores["tbt"] = round(audits["total-blocking-time"]["numericValue"])  # what performance mostly loses here
    losing = []
    for name in CATEGORIES:
        for ref in categories[name]["auditRefs"]:
            audit = audits[ref["id"]]
            if ref["weight"] > 0 and audit["score"] is not None and audit["score"] < 1:
                shown = audit.get("displayValue") or f"score {audit['score']:.2f}"
                losing.append(f"{name}: {ref['id']} ({shown})")
    # Lighthouse's own measure of the machine's speed while it ran (higher is faster): a run
    # with a low one beside others' high ones was slowed by the machine, not the page.
    losing.append(f"benchmarkIndex {result['environment']['benchmarkIndex']:.0f}")
    return scores, losing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running finder (default: serve the demo catalogue here)")
    parser.add_argument("--data-dir", type=Path, help="serve this data dir (default: the demo catalogue)")
    parser.add_argument("--runs", type=int, default=3, help="runs per page; the median is printed (default 3)")
    parser.add_argument("--json", type=Path, help="also write every run's scores here")
    parser.add_argument("--osm-tiles", action="store_true", help="serve the demo with the default tile_url, not a local tile server")
    parser.add_argument("--audits", action="store_true", help="print the audits that cost points in each run")
    parser.add_argument("--before-js", type=Path, help="also measure the demo serving this finder.js, alternating with the current one")
    args = parser.parse_args(argv)
    if args.before_js is not None and args.url is not None:
        parser.error("--before-js needs the demo served here (no --url)")

    binary = lighthouse_bin()
    servers: list = []
    base = args.url
    if base is None:
        tile_url = None
        if not args.osm_tiles:
            tile_url, tiles = serve_tiles()
            servers.append(tiles)
        base, server = serve_demo(args.data_dir or demo_data_dir(), tile_url)
        servers.append(server)
    bases = {"": base}
    if args.before_js is not None:
        before, server = serve_demo(args.data_dir or demo_data_dir(), tile_url, finder_js=args.before_js)
        servers.append(server)
        bases = {" before": before, " after": base}
    results: dict[str, list[dict[str, int]]] = {}
    # Performance scores follow the machine's load (Lighthouse scales the main-thread time it
    # observes), so the load is printed beside them.
    load_before = os.getloadavg()[0]
    try:
        for name, path in PAGES.items():
            for run in range(args.runs):
                # Alternating which goes first, so that neither is always measured in the other's wake.
                for side, side_base in list(bases.items())[:: 1 if run % 2 == 0 else -1]:
                    scores, losing = run_once(binary, side_base.rstrip("/") + path)
                    results.setdefault(name + side, []).append(scores)
                    if args.audits or len(bases) > 1:
                        print(f"{name}{side} {scores}: " + ("; ".join(losing) if args.audits else ""), file=sys.stderr)
    finally:
        for server in servers:
            server.shutdown()
    print(f"Lighthouse ({LIGHTHOUSE}, mobile profile), median of {args.runs} run(s); "
          f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, {os.cpu_count()} CPUs")
    print(f"{'page':<17} " + " ".join(f"{c:>14}" for c in (*CATEGORIES, "tbt")))
    for name, runs in results.items():
        medians = [round(statistics.median(run.get(c, 0) for run in runs)) for c in (*CATEGORIES, "tbt")]
        print(f"{name:<17} " + " ".join(f"{m:>14}" for m in medians))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
