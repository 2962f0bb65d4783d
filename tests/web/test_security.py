"""Security headers, CSP, framing rules and CORS."""

from __future__ import annotations

import pytest

from findsupport.config import Settings
from findsupport.errors import ConfigError
from findsupport.web.security import check_frame_ancestors, page_policy, tile_origin, tile_sources

from .conftest import make_app


def csp(response) -> dict[str, str]:
    return {part.split(" ", 1)[0]: part.split(" ", 1)[1] if " " in part else "" for part in response.headers["Content-Security-Policy"].split("; ")}


@pytest.mark.parametrize("path", ["/", "/embed", "/problems/invalid-query"])
def test_pages_have_a_strict_csp(client, path):
    response = client.get(path)
    assert response.status_code == 200
    policy = csp(response)
    assert policy["script-src"] == "'self'", "no inline scripts, no eval"
    assert policy["object-src"] == "'none'"
    assert policy["base-uri"] == "'none'"
    assert "http://127.0.0.1:9" in policy["img-src"], "the configured tile server may serve images"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    html = response.get_data(as_text=True)
    assert "<script>" not in html and "onclick" not in html.lower() and "style=" not in html


def test_only_embed_may_be_framed_by_other_sites(client):
    assert csp(client.get("/embed"))["frame-ancestors"] == "*"
    assert "X-Frame-Options" not in client.get("/embed").headers
    assert csp(client.get("/"))["frame-ancestors"] == "'self'"
    assert client.get("/").headers["X-Frame-Options"] == "SAMEORIGIN"
    assert csp(client.get("/api/v1/health"))["frame-ancestors"] == "'none'"


def test_frame_ancestors_allow_list_is_configurable(web_data_dir, cache_dir, web_engine, tmp_path):
    app = make_app(web_data_dir, cache_dir, web_engine, tmp_path, embed_frame_ancestors="https://club.example https://*.harriers.example")
    response = app.test_client().get("/embed")
    assert csp(response)["frame-ancestors"] == "https://club.example https://*.harriers.example"


@pytest.mark.parametrize(
    "value",
    ["", "https://club.example; script-src *", "'unsafe-inline'", "'none' https://club.example", "javascript:alert(1)"],
)
def test_bad_frame_ancestors_are_refused(value):
    with pytest.raises(ConfigError):
        check_frame_ancestors(value)


@pytest.mark.parametrize(
    ("url", "sources"),
    [
        ("https://tile.openstreetmap.org/{z}/{x}/{y}.png", ["https://tile.openstreetmap.org"]),
        ("https://{s}.tile.example.org/{z}/{x}/{y}.png", ["https://*.tile.example.org"]),
        ("/tiles/{z}/{x}/{y}.png", ["'self'"]),
    ],
)
def test_tile_sources(url, sources):
    assert tile_sources(url) == sources


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://tile.openstreetmap.org/{z}/{x}/{y}.png", "https://tile.openstreetmap.org"),
        ("http://127.0.0.1:8123/{z}/{x}/{y}{r}.png", "http://127.0.0.1:8123"),  # an operator's own, high-density tiles
        ("https://{s}.tile.example.org/{z}/{x}/{y}.png", None),  # no single origin to connect to
        ("/tiles/{z}/{x}/{y}.png", None),  # this server: already connected
    ],
)
def test_tile_origin(url, origin):
    assert tile_origin(url) == origin


@pytest.mark.parametrize("path", ["/", "/embed", "/?postcode=NE1+4ST&role=mentor"])
def test_pages_connect_early_to_the_tile_server(client, path):
    """The first tiles are often the largest paint: the connection starts before the scripts load."""
    html = client.get(path).get_data(as_text=True)
    assert html.count('<link rel="preconnect" href="http://127.0.0.1:9">') == 1
    assert html.index('rel="preconnect"') < html.index('rel="stylesheet"') < html.index("<script")


def test_no_preconnect_for_tiles_from_this_server(web_data_dir, cache_dir, web_engine, tmp_path):
    app = make_app(web_data_dir, cache_dir, web_engine, tmp_path, tile_url="/tiles/{z}/{x}/{y}.png")
    response = app.test_client().get("/")
    assert 'rel="preconnect"' not in response.get_data(as_text=True)
    assert csp(response)["img-src"] == "'self' data:"


@pytest.mark.parametrize("url", ["tiles/{z}.png", "https://{z}.example.org/{x}/{y}.png"])
def test_bad_tile_urls_are_refused(url):
    with pytest.raises(ConfigError):
        page_policy(Settings(tile_url=url), embeddable=False)


@pytest.mark.parametrize(
    "path",
    ["/api/v1/health", "/api/v1/taxonomy", "/api/v1/search?postcode=NE1%204ST", "/api/v1/postcodes/NE1%204ST", "/openapi.json",
     "/api/v1/search?radius_km=1000"],
)
def test_read_only_api_is_open_to_any_origin(client, path):
    response = client.get(path, headers={"Origin": "https://club.example"})
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Retry-After" in response.headers["Access-Control-Expose-Headers"]


def test_cors_preflight_for_the_read_only_api(client):
    response = client.options("/api/v1/search", headers={"Origin": "https://club.example", "Access-Control-Request-Method": "GET"})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "GET" in response.headers["Access-Control-Allow-Methods"]
    assert "POST" not in response.headers["Access-Control-Allow-Methods"]


def test_introductions_are_not_open_cross_origin(client, sample):
    preflight = client.options(
        "/api/v1/introductions",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"},
    )
    assert "Access-Control-Allow-Origin" not in preflight.headers
    post = client.post("/api/v1/introductions", json={"provider_id": sample.ids[0]}, headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in post.headers


def test_trusted_proxy_address_is_used_for_limits(web_data_dir, cache_dir, web_engine, tmp_path):
    app = make_app(web_data_dir, cache_dir, web_engine, tmp_path, trust_proxy=True, rate_limits="search=1/minute")
    client = app.test_client()
    first = client.get("/api/v1/search?postcode=NE1%204ST", headers={"X-Forwarded-For": "203.0.113.1"})
    second = client.get("/api/v1/search?postcode=NE1%204ST", headers={"X-Forwarded-For": "203.0.113.2"})
    again = client.get("/api/v1/search?postcode=NE1%204ST", headers={"X-Forwarded-For": "203.0.113.1"})
    assert (first.status_code, second.status_code, again.status_code) == (200, 200, 429)
