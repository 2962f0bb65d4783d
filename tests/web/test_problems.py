"""Every error is application/problem+json from one function: one contract test walks every endpoint."""

from __future__ import annotations

import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from findsupport.web.api import SEARCH_PARAMETERS

from .schemas import check_schema

#: (method, path, keyword arguments of the test client call, expected status): bad input for every endpoint.
BAD_REQUESTS = [
    ("GET", "/api/v1/health?verbose=1", {}, 400),
    ("GET", "/api/v1/postcodes/NOTAPOSTCODE", {}, 400),
    ("GET", "/api/v1/postcodes/NE21%204ZZ", {}, 404),
    ("GET", "/api/v1/postcodes/BT1%201AA", {}, 422),
    ("GET", "/api/v1/postcodes/NE21%204LZ?x=1", {}, 400),
    ("GET", "/api/v1/search", {}, 400),
    ("GET", "/api/v1/search?postcode=NE1%204ST&radius_km=-3", {}, 400),
    ("GET", "/api/v1/search?postcode=NE1%204ST&limit=1e9", {}, 400),
    ("GET", "/api/v1/search?postcode=NE1%204ST&role=mentor&role=co_coach", {}, 400),
    ("GET", "/api/v1/search?postcode=%00%01%02", {}, 400),
    ("GET", "/api/v1/search?postcode=" + "N" * 500, {}, 400),
    ("GET", "/api/v1/search?postcode=" + "N" * 5000, {}, 414),  # past MAX_URL_CHARS: refused before any view
    ("GET", "/api/v1/providers/fs-000?search_id=a%E2%80%A8b", {}, 400),  # U+2028, a line separator
    ("GET", "/api/v1/search?lon=400000&lat=560000", {}, 400),  # grid reference, not degrees
    ("GET", "/api/v1/search?lon=54.97&lat=-1.61", {}, 400),  # swapped
    ("GET", "/api/v1/search?postcode=JE2%203AB", {}, 422),
    ("GET", "/api/v1/search/count?postcode=NE1%204ST&format=geojson", {}, 400),
    ("GET", "/api/v1/providers/nobody", {}, 404),
    ("GET", "/api/v1/providers/nobody?search_id=x&search_id=y", {}, 400),
    ("GET", "/api/v1/taxonomy?lang=fr", {}, 400),
    ("POST", "/api/v1/introductions", {"json": {"provider_id": "x"}}, 400),
    ("POST", "/api/v1/introductions", {"data": "x", "content_type": "text/plain"}, 415),
    ("POST", "/api/v1/introductions", {"data": b"{" + b" " * 200_000 + b"}", "content_type": "application/json"}, 413),
    ("GET", "/api/v1/introductions", {}, 405),
    ("POST", "/api/v1/search", {"json": {}}, 405),
    ("DELETE", "/api/v1/providers/fs-000", {}, 405),
    ("GET", "/api/v2/search", {}, 404),
    ("GET", "/no-such-page", {}, 404),
    ("GET", "/vendor/leaflet/../../secrets", {}, 404),
    ("GET", "/vendor/nolib/x.js", {}, 404),
    ("GET", "/problems/no-such-problem", {}, 404),
]


@pytest.mark.parametrize(("method", "path", "kwargs", "status"), BAD_REQUESTS)
def test_every_error_is_problem_json(client, sample, method, path, kwargs, status):
    response = client.open(path, method=method, **kwargs)
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    check_schema(body, "Problem")
    assert body["status"] == response.status_code
    assert body["title"] and body["detail"]
    assert body["type"].startswith("/problems/")
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and 'File "' not in text
    for private in (*sample.emails, *sample.postcodes):
        assert private not in text
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    if status == 405:
        assert response.headers["Allow"]
    # The type names a page that explains it.
    assert client.get(body["type"]).status_code == 200


def test_unexpected_errors_are_a_plain_500_and_logged(app, client, caplog, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("secret internals: private-0@provider.invalid at /srv/app.py line 3")

    monkeypatch.setattr(app.extensions["findsupport"].engine, "search", broken)
    with caplog.at_level(logging.ERROR, logger="findsupport.web.problems"):
        response = client.get("/api/v1/search?postcode=NE1%204ST")
    assert response.status_code == 500
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    check_schema(body, "Problem")
    assert "secret" not in response.get_data(as_text=True)
    assert "RuntimeError" not in response.get_data(as_text=True)
    assert body["incident"] in body["detail"]
    # The detail is in the server log, with the traceback, under the same incident id.
    record = next(r for r in caplog.records if body["incident"] in r.getMessage())
    assert record.exc_info and "secret internals" in str(record.exc_info[1])


def test_rate_limited_search_is_a_429_problem(web_data_dir, cache_dir, web_engine, tmp_path):
    from .conftest import make_app

    app = make_app(web_data_dir, cache_dir, web_engine, tmp_path, rate_limits="search=2/minute")
    client = app.test_client()
    codes = [client.get("/api/v1/search?postcode=NE1%204ST").status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    limited = client.get("/api/v1/search/count?postcode=NE1%204ST")
    assert limited.status_code == 429
    assert limited.mimetype == "application/problem+json"
    assert 1 <= int(limited.headers["Retry-After"]) <= 66  # the period and one slot (findsupport.web.ratelimit)
    # Other clients are not affected.
    other = client.get("/api/v1/search?postcode=NE1%204ST", environ_base={"REMOTE_ADDR": "198.51.100.20"})
    assert other.status_code == 200

_values = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["NE1 4ST", "NE1", "BT1 1AA", "-1.6", "54.9", "25", "0", "1e400", "nan", "mentor", "jumps", "tue_eve,sat_am", "geojson"]),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(params=st.lists(st.tuples(st.sampled_from([*SEARCH_PARAMETERS, "radius", "x"]), _values), max_size=6))
def test_any_query_string_gets_results_or_a_4xx_problem(client, params):
    response = client.get("/api/v1/search", query_string=params)
    if response.status_code == 200:
        assert response.mimetype in ("application/json", "application/geo+json")
    else:
        assert 400 <= response.status_code < 500
        assert response.mimetype == "application/problem+json"
        assert response.get_json()["status"] == response.status_code
