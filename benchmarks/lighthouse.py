"""Lighthouse on a phone: the map page, a results page and the embed, four category scores each.

Runs Node's ``lighthouse`` package (installed by this script with npm into
``benchmarks/out/node/``, git-ignored) with Debian's chromium
(``CHROME_PATH=/usr/bin/chromium``) against the real app serving the demo
catalogue (built once into ``benchmarks/out/lighthouse-demo/``, or
``--data-dir``), or against ``--url`` of a running finder::

    python benchmarks/lighthouse.py [--url http://127.0.0.1:5000] [--runs 3] [--json out.json]

Lighthouse's default mobile profile: a Moto G Power-sized screen, simulated
slow 4G and a 4× slower CPU.  Each page is measured ``--runs`` times and the
median score of each category is printed (scores move by a point or two from
run to run).  Map tiles come from ``settings.tile_url``; offline, the tile
requests fail (Best Practices counts those console errors against the page),
so compare runs made on the same network.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

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


def serve_demo(data_dir: Path) -> tuple[str, object]:
    """The app on a free loopback port, in a background thread (as tests/browser do)."""
    import logging

    from werkzeug.serving import make_server

    from findsupport.config import load_settings
    from findsupport.web import create_app

    settings = load_settings({"data_dir": data_dir, "cache_dir": REPO / ".cache", "rate_limits": "off"})
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request drowns the scores
    server = make_server("127.0.0.1", 0, create_app(settings), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}", server


def run_once(binary: Path, url: str) -> dict[str, int]:
    """One Lighthouse run on the default mobile profile: ``{category: score 0-100}``."""
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
        categories = json.loads(report.read_text())["categories"]
    return {name: round(categories[name]["score"] * 100) for name in CATEGORIES if categories[name]["score"] is not None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running finder (default: serve the demo catalogue here)")
    parser.add_argument("--data-dir", type=Path, help="serve this data dir (default: the demo catalogue)")
    parser.add_argument("--runs", type=int, default=3, help="runs per page; the median is printed (default 3)")
    parser.add_argument("--json", type=Path, help="also write every run's scores here")
    args = parser.parse_args(argv)

    binary = lighthouse_bin()
    server = None
    base = args.url
    if base is None:
        base, server = serve_demo(args.data_dir or demo_data_dir())
    results: dict[str, list[dict[str, int]]] = {}
    try:
        for name, path in PAGES.items():
            results[name] = [run_once(binary, base.rstrip("/") + path) for _ in range(args.runs)]
    finally:
        if server is not None:
            server.shutdown()
    print(f"Lighthouse ({LIGHTHOUSE}, mobile profile), median of {args.runs} run(s)")
    print(f"{'page':<10} " + " ".join(f"{c:>14}" for c in CATEGORIES))
    for name, runs in results.items():
        medians = [round(statistics.median(run.get(c, 0) for run in runs)) for c in CATEGORIES]
        print(f"{name:<10} " + " ".join(f"{m:>14}" for m in medians))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
