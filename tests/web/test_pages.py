"""The map page, the embed page, widget.js, vendored Leaflet, the OpenAPI document, serve and reload."""

from __future__ import annotations

import re
import threading

import pytest
from flask import Flask

from findsupport import cli, taxonomy
from findsupport.catalog import CatalogStore, load_demo
from findsupport.errors import ConfigError, DataUnavailable
from findsupport.geo import ATTRIBUTION
from findsupport.search.query import QUERY_FIELDS
from findsupport.web import create_app
from findsupport.web.openapi import build_openapi
from findsupport.web.ratelimit import parse_rate_limits
from findsupport.web.state import Reloader

from .conftest import make_app, web_settings


@pytest.mark.parametrize("path", ["/", "/embed"])
def test_pages_offer_the_whole_vocabulary(client, path):
    html = client.get(path).get_data(as_text=True)
    for code in (*taxonomy.ROLES, *taxonomy.EVENTS, *taxonomy.EVENT_GROUPS, *taxonomy.MODES, *taxonomy.QUALIFICATIONS):
        assert f'value="{code}"' in html
    assert len(re.findall(r'type="checkbox" name="slots"', html)) == len(taxonomy.SLOTS) == 21
    for slot in taxonomy.SLOTS:
        assert taxonomy.slot_label(slot) in html, "every checkbox has a spoken label"
    assert ATTRIBUTION in html
    assert 'role="status"' in html and 'aria-live="polite"' in html
    assert "Demo data" not in html
    assert "cdn" not in html.lower() and "unpkg" not in html


def test_embed_is_compact_and_the_map_page_is_not(client):
    assert 'data-compact="true"' in client.get("/embed").get_data(as_text=True)
    assert 'data-compact="false"' in client.get("/").get_data(as_text=True)


def test_tile_settings_reach_the_page_escaped(web_data_dir, cache_dir, web_engine, tmp_path):
    app = make_app(web_data_dir, cache_dir, web_engine, tmp_path, tile_url="https://tiles.club.example/{z}/{x}/{y}.png",
                   tile_attribution='&copy; <a href="https://club.example">Club "maps"</a>')
    html = app.test_client().get("/").get_data(as_text=True)
    assert 'data-tile-url="https://tiles.club.example/{z}/{x}/{y}.png"' in html
    assert "&amp;copy; &lt;a href=&#34;https://club.example&#34;&gt;Club &#34;maps&#34;&lt;/a&gt;" in html


@pytest.mark.parametrize(
    ("path", "mimetype"),
    [
        ("/vendor/leaflet/leaflet.js", "text/javascript"),
        ("/vendor/leaflet/leaflet.css", "text/css"),
        ("/vendor/leaflet/images/marker-icon.png", "image/png"),
        ("/vendor/markercluster/leaflet.markercluster.js", "text/javascript"),
        ("/vendor/markercluster/MarkerCluster.Default.css", "text/css"),
        ("/static/finder.js", "text/javascript"),
        ("/static/finder.css", "text/css"),
        ("/widget.js", "text/javascript"),
    ],
)
def test_front_end_files_are_served_locally(client, path, mimetype):
    response = client.get(path)
    assert response.status_code == 200
    assert response.mimetype == mimetype
    response.close()


@pytest.mark.parametrize("path", ["/", "/embed", "/widget"])
def test_pages_load_versioned_compressed_assets(client, path):
    """Every file a page loads is under /assets/ with a content hash, compressed, cached for good."""
    html = client.get(path).get_data(as_text=True)
    urls = re.findall(r'(?:href|src)="(/assets/[^"]+)"', html) + re.findall(r"/assets/\S+?\.css", html)
    assert urls and not re.search(r'(?:href|src)="/(?:static|vendor)/', html)
    for url in set(urls):
        assert re.search(r"\.[0-9a-f]{12}\.(js|css|svg)$", url), url
        with client.get(url, headers={"Accept-Encoding": "gzip"}) as response:
            assert response.status_code == 200
            assert "immutable" in response.headers["Cache-Control"]
            assert int(re.search(r"max-age=(\d+)", response.headers["Cache-Control"]).group(1)) >= 365 * 86_400
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            if not url.endswith(".svg") or len(response.get_data()) > 200:
                assert response.headers.get("Content-Encoding") == "gzip", url
        with client.get(url) as plain:
            assert "Content-Encoding" not in plain.headers


def test_leaflet_css_does_not_block_the_first_paint(client):
    html = client.get("/").get_data(as_text=True)
    blocking = re.findall(r'<link rel="stylesheet" href="([^"]+)"', html)
    assert len(blocking) == 1 and "/finder." in blocking[0]  # the map's CSS is loaded by finder.js
    assert "leaflet" in re.search(r'data-map-css="([^"]+)"', html).group(1).lower()


def test_changed_files_get_new_names(tmp_path):
    from pathlib import Path

    import findsupport.web
    from findsupport.web.assets import build_assets
    from findsupport.web.pages import vendor_folders

    static = tmp_path / "static"
    static.mkdir()
    for name in ("finder.js", "finder.css", "favicon.svg"):
        (static / name).write_bytes((Path(findsupport.web.__file__).parent / "static" / name).read_bytes())
    first = build_assets(tmp_path / "cache", static, vendor_folders())
    assert build_assets(tmp_path / "cache", static, vendor_folders()) == first  # built once, then reused
    (static / "finder.js").write_text("// changed\nexport const changed = true;\n")
    second = build_assets(tmp_path / "cache", static, vendor_folders())
    assert second.url("finder.js") != first.url("finder.js") and second.url("finder.css") == first.url("finder.css")
    assert (second.root / second.urls["finder.js"]).read_text() == "export const changed=true;"  # minified
    assert (first.root / first.urls["finder.js"]).exists()  # a running worker's files stay
    assert second.url("leaflet/images/layers.png") == "/assets/leaflet/images/layers.png"


def test_widget_builder_page(client):
    with client.get("/widget") as response:
        html = response.get_data(as_text=True)
        assert response.status_code == 200
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert "<script>" not in html  # no inline script (the builder is a module)
    assert 'id="snippet"' in html and 'id="preview"' in html and 'id="copy-snippet"' in html
    assert "http://localhost/widget.js" in html
    for code in (*taxonomy.ROLES, *taxonomy.EVENTS):
        assert f'value="{code}"' in html
    assert "findsupport:search" in html and "findsupport:introduction" in html


def test_widget_reads_its_settings_and_checks_message_origins(client):
    with client.get("/widget.js") as response:
        script = response.get_data(as_text=True)
    for attribute in ("postcode", "role", "event"):
        assert f'"{attribute}"' in script
    assert re.search(r"event\.origin\s*!==\s*finderOrigin", script)
    assert re.search(r"event\.source\s*!==\s*frame\.contentWindow", script)
    assert "innerHTML" not in script


def test_widget_script_is_served_minified_and_revalidates(client):
    from pathlib import Path

    import findsupport.web

    source = (Path(findsupport.web.__file__).parent / "static" / "widget.js").read_bytes()
    first = client.get("/widget.js")
    assert first.status_code == 200 and len(first.data) < 0.8 * len(source)
    assert first.headers["Access-Control-Allow-Origin"] == "*" and "max-age=3600" in first.headers["Cache-Control"]
    again = client.get("/widget.js", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and not again.data


def test_finder_never_puts_data_into_html():
    from pathlib import Path

    import findsupport.web

    source = (Path(findsupport.web.__file__).parent / "static" / "finder.js").read_text()
    code = [line for line in source.splitlines() if not line.strip().startswith("//")]
    uses = [line.strip() for line in code if "innerHTML" in line]
    # innerHTML is only *read* from elements whose text we set with textContent: the OS
    # attribution (escaped for Leaflet) and the markers' numbers (Leaflet's divIcon takes HTML).
    assert uses == [
        "map.attributionControl.addAttribution(os.innerHTML);",
        "return window.L.divIcon({ html: wrapper.innerHTML, className: \"num-cluster\", iconSize: null, iconAnchor: [20, 17] });",
        "return window.L.divIcon({ html: inner.innerHTML, className: `num-marker ${group}`, iconSize: [30, 30], iconAnchor: [15, 36], popupAnchor: [0, -34] });",
    ]
    assert "insertAdjacentHTML" not in source and "eval(" not in source


def _own(database_url: str | None) -> dict:
    """``web_settings`` overrides for a test's own database (a fresh PostgreSQL one on that run)."""
    return {"database_url": database_url} if database_url else {}


def test_demo_catalogue_is_labelled(directory, cache_dir, tmp_path, database_url):
    settings = web_settings(tmp_path / "demo", cache_dir, demo_providers=60, **_own(database_url))
    store = CatalogStore.open(settings)
    assert load_demo(store, directory, settings).ok
    app = create_app(settings, background=False)
    client = app.test_client()
    assert client.get("/api/v1/health").get_json()["demo"] is True
    html = client.get("/").get_data(as_text=True)
    assert "Demo data." in html and "synthetic" in html


def test_openapi_describes_every_api_route(app: Flask, client):
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.1")
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/") or rule.rule == "/openapi.json":
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                routes.add((path, method.lower()))
    described = {(path, method) for path, item in spec["paths"].items() for method in item}
    assert routes == described
    search = spec["paths"]["/api/v1/search"]["get"]
    # An exploded object parameter (the place: postcode, or lon and lat) stands for its properties.
    names = [
        name
        for p in search["parameters"]
        for name in (p["schema"]["properties"] if p.get("explode") and p["schema"]["type"] == "object" else [p["name"]])
    ]
    assert names == [*QUERY_FIELDS, "format"]
    radius = next(p for p in search["parameters"] if p["name"] == "radius_km")["schema"]
    assert (radius["minimum"], radius["maximum"]) == (1.0, 200.0)
    role = next(p for p in search["parameters"] if p["name"] == "role")["schema"]
    assert role["enum"] == list(taxonomy.ROLES)


def test_openapi_schemas_are_valid_json_schema():
    from jsonschema import Draft202012Validator

    from findsupport.config import Settings

    for schema in build_openapi(Settings())["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize(
    ("text", "rules"),
    [
        ("off", {}),
        ("", {}),
        ("search=120/minute", {"search": (120, 60.0)}),
        ("search=5/second; introductions=3/hours", {"search": (5, 1.0), "introductions": (3, 3600.0)}),
        ("providers=10/day", {"providers": (10, 86400.0)}),
    ],
)
def test_rate_limit_rules(text, rules):
    parsed = parse_rate_limits(text)
    assert {k: (r.limit, r.period_s) for k, r in parsed.items()} == rules


@pytest.mark.parametrize("text", ["search=0/minute", "search=ten/minute", "search=5/fortnight", "everything=5/minute", "search 5"])
def test_bad_rate_limit_rules(text):
    with pytest.raises(ConfigError):
        parse_rate_limits(text)


def test_serve_debug_runs_the_app_on_the_development_server(monkeypatch, cli_env, capsys):
    """``serve --debug`` hands the app to Flask's development server (plain ``serve`` is gunicorn:
    tests/commands/test_serve.py starts it for real)."""
    started = {}

    def fake_run(self, host=None, port=None, **kwargs):
        started.update(host=host, port=port, threaded=kwargs.get("threaded"), reloader=kwargs.get("use_reloader"),
                       routes={r.rule for r in self.url_map.iter_rules()})

    monkeypatch.setattr(Flask, "run", fake_run)
    assert cli.main(["serve", "--port", "5123", "--quiet", "--debug"]) == 0
    assert started["host"] == "127.0.0.1" and started["port"] == 5123
    assert started["threaded"] is True and started["reloader"] is False
    assert "/api/v1/search" in started["routes"]


@pytest.mark.parametrize("port", ["0", "70000", "http"])
def test_serve_rejects_bad_ports(cli_env, port, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["serve", "--port", port])
    assert exit_info.value.code == 2
    assert "port" in capsys.readouterr().err


def test_new_import_is_served_after_a_reload_check(directory, cache_dir, tmp_path, database_url):
    """A ``--replace`` import reaches a serving app at its next reload check (on PostgreSQL through the
    shared snapshot of the new catalogue version too), and searches never fail meanwhile."""
    settings = web_settings(tmp_path / "reload", cache_dir, demo_providers=40, **_own(database_url))
    store = CatalogStore.open(settings)
    load_demo(store, directory, settings, seed=1)
    app = create_app(settings, background=False)
    client = app.test_client()
    before = client.get("/api/v1/health").get_json()
    load_demo(store, directory, settings, seed=2, providers=60, replace=True)
    # Searches keep working while the new snapshot is built beside the old one.
    errors: list[int] = []

    def keep_searching() -> None:
        for _ in range(20):
            status = app.test_client().get("/api/v1/search?postcode=NE1%204ST&radius_km=200").status_code
            if status != 200:
                errors.append(status)

    worker = threading.Thread(target=keep_searching)
    worker.start()
    assert app.extensions["findsupport"].reloader.check() is True
    worker.join()
    after = client.get("/api/v1/health").get_json()
    assert errors == []
    assert after["catalog_version"] != before["catalog_version"]
    assert after["providers"] == len(store.public_catalog()) > before["providers"]
    assert app.extensions["findsupport"].reloader.check() is False, "nothing changed since"


def test_a_failed_reload_keeps_serving(caplog):
    class Engine:
        def reload(self):
            raise DataUnavailable("the store is locked")

    assert Reloader(Engine(), interval=0).check() is False
    assert "the store is locked" in caplog.text
