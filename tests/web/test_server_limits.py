"""Errors the HTTP server answers itself are problems too: real servers, raw requests over a socket.

``findsupport serve --debug`` (Werkzeug's server) and gunicorn with the settings of
:mod:`findsupport.web.serving` run in their own processes on 127.0.0.1; the
requests are written byte by byte, so nothing in between (a client library)
shortens or refuses them first.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from findsupport.web.serving import MAX_URL_CHARS

from .conftest import NEWCASTLE, web_settings

#: A loaded machine (2 cores, colleagues' tests) may take this long to open the engine.
STARTUP_TIMEOUT_S = 180
#: Longest wait for one answer.
ANSWER_TIMEOUT_S = 30
#: The request line of the audit: longer than any server's own buffer.
HUGE_QUERY_CHARS = 100_000


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def raw_request(port: int, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``data`` as it is; return the status, headers (lower-case names) and body."""
    with socket.create_connection(("127.0.0.1", port), timeout=ANSWER_TIMEOUT_S) as conn:
        try:
            conn.sendall(data)
            # Nothing more is coming: Werkzeug's server drains an unread body until the end.
            conn.shutdown(socket.SHUT_WR)
        except OSError:  # broken pipe, reset, not connected
            pass  # the server answered and closed before reading everything; the answer is what counts
        chunks = []
        while True:
            try:
                chunk = conn.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    answer = b"".join(chunks)
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


def _get(path: str, *extra_headers: str) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close", *extra_headers, "", ""]
    return "\r\n".join(lines).encode("latin-1")


def _wait_until_serving(process: subprocess.Popen, port: int) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode}:\n{process.stderr.read()}")
        try:
            status, _, _ = raw_request(port, _get("/api/v1/health"))
        except OSError:
            time.sleep(0.5)
            continue
        if status == 200:
            return
    raise AssertionError("the server did not start in time")


def _commands(port: int) -> dict[str, list[str]]:
    return {
        "werkzeug": [sys.executable, "-c", "from findsupport.cli import main; raise SystemExit(main())",
                     "serve", "--debug", "--host", "127.0.0.1", "--port", str(port)],
        "gunicorn": [sys.executable, "-m", "gunicorn", "-c", "python:findsupport.web.serving", "--workers", "1",
                     "--bind", f"127.0.0.1:{port}", "findsupport.web:create_app()"],
    }


@pytest.fixture(scope="module", params=["werkzeug", "gunicorn"])
def server_port(request, web_data_dir, cache_dir, tmp_path_factory) -> Iterator[int]:
    """A real server process on the sample catalogue; its port."""
    data_dir = web_data_dir[0]
    outbox = tmp_path_factory.mktemp("server-outbox")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FINDSUPPORT_")},
        "FINDSUPPORT_DATA_DIR": str(data_dir),
        "FINDSUPPORT_CACHE_DIR": str(cache_dir),
        "FINDSUPPORT_DATABASE_URL": web_settings(data_dir, cache_dir).resolved_database_url,
        "FINDSUPPORT_OUTBOX_DIR": str(outbox),  # no SMTP: any mail would be a file here
        "FINDSUPPORT_RATE_LIMITS": "off",
    }
    port = _free_port()
    process = subprocess.Popen(
        _commands(port)[request.param], env=env, cwd=Path(__file__).parent,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        _wait_until_serving(process, port)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stderr.close()


def _assert_problem(answer: tuple[int, dict[str, str], bytes], status: int) -> dict:
    got, headers, body = answer
    assert got == status, body[:300]
    assert headers["content-type"].split(";")[0] == "application/problem+json", body[:300]
    problem = json.loads(body)
    assert problem["status"] == status
    assert problem["type"].startswith("/problems/") and problem["title"] and problem["detail"]
    return problem


def test_a_100000_character_query_string_is_a_414_problem(server_port):
    path = "/api/v1/search?postcode=" + "A" * HUGE_QUERY_CHARS
    problem = _assert_problem(raw_request(server_port, _get(path)), 414)
    assert "A" * 100 not in json.dumps(problem), "the URL is not echoed back"


def test_a_url_past_the_apps_limit_is_a_414_problem_from_the_app(server_port):
    path = "/api/v1/search?postcode=NE1&id=" + "x" * MAX_URL_CHARS
    problem = _assert_problem(raw_request(server_port, _get(path)), 414)
    assert str(f"{MAX_URL_CHARS:,}") in problem["detail"]


def test_too_many_headers_are_a_431_problem(server_port):
    headers = [f"X-Filler-{i}: {i}" for i in range(200)]
    _assert_problem(raw_request(server_port, _get("/api/v1/health", *headers)), 431)


def test_a_broken_request_line_is_a_400_problem(server_port):
    # A space inside the target: four words where HTTP/1.1 has three.
    _assert_problem(raw_request(server_port, b"GET /api/v1/health now HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"), 400)


def test_a_body_past_the_apps_limit_is_a_413_problem(server_port):
    # Only the headers: the app refuses on Content-Length alone.  (A server closing on an
    # unread body resets the connection, and the client may never read the answer.)
    head = (
        "POST /api/v1/introductions HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        "Content-Type: application/json\r\nContent-Length: 2000000\r\n\r\n"
    )
    _assert_problem(raw_request(server_port, head.encode("latin-1")), 413)


def test_an_ordinary_search_still_answers(server_port):
    status, headers, body = raw_request(server_port, _get("/api/v1/search?postcode=" + NEWCASTLE.replace(" ", "%20")))
    assert status == 200, body[:300]
    assert json.loads(body)["results"]
