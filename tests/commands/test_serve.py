"""``findsupport serve``: gunicorn by default, Flask's development server with ``--debug``.

Each server is the real command (the ``findsupport`` script of this
environment) in its own process, on a free port on 127.0.0.1, over a small
demo catalogue; requests go over plain sockets.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from servers import ANSWER_TIMEOUT_S, Server, get, kill, launch, wait_until_serving
from findsupport.cli import main
from findsupport.commands.serve import default_workers, gunicorn_settings
from findsupport.web.serving import GUNICORN_GRACEFUL_TIMEOUT_S

#: A loaded machine (2 cores shared with other test runs) may take this long to build the engine.
STARTUP_TIMEOUT_S = 180
#: A graceful stop with nothing in flight takes well under a second; "a few seconds" is the promise.
STOP_TIMEOUT_S = 10
#: A request line longer than any server's own buffer (gunicorn reads 8,190 bytes).
HUGE_QUERY_CHARS = 100_000
#: Demo providers to serve: enough for a search to find some, few enough to import in a second.
DEMO_PROVIDERS = 40


def _raw(port: int, data: bytes) -> bytes:
    """Send ``data`` as it is (no client library shortens it); the whole answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=ANSWER_TIMEOUT_S) as conn:
        try:
            conn.sendall(data)
        except OSError:
            pass  # the server answered and closed before reading everything; the answer is what counts
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def _children(pid: int) -> set[int]:
    """Pids of ``pid``'s child processes, from ``/proc/*/stat`` (its 4th field is the parent's pid)."""
    children = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        fields = stat.rpartition(")")[2].split()  # after "pid (command name)"
        if int(fields[1]) == pid:
            children.add(int(entry.name))
    return children


@pytest.fixture(scope="module")
def demo_env(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> dict[str, str]:
    """The environment of a server over a small demo catalogue in a data dir of its own."""
    root = tmp_path_factory.mktemp("serve")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("FINDSUPPORT_")},
        "FINDSUPPORT_DATA_DIR": str(root / "data"),
        "FINDSUPPORT_CACHE_DIR": str(cache_dir),
        "FINDSUPPORT_OUTBOX_DIR": str(root / "outbox"),  # no SMTP: any mail would be a file here
        "FINDSUPPORT_RATE_LIMITS": "off",
    }
    with pytest.MonkeyPatch.context() as patch:
        for name in [k for k in os.environ if k.startswith("FINDSUPPORT_")]:
            patch.delenv(name)
        for name, value in env.items():
            if name.startswith("FINDSUPPORT_"):
                patch.setenv(name, value)
        assert main(["--quiet", "demo", "--providers", str(DEMO_PROVIDERS)]) == 0
    return env


def _start(env: dict[str, str], tmp_path: Path, *options: str) -> Server:
    server = launch(env, tmp_path / f"serve-{time.monotonic_ns()}.err", *options)
    try:
        wait_until_serving(server, time.monotonic() + STARTUP_TIMEOUT_S)
    except AssertionError:
        kill(server)
        raise
    return server


def _stopped(server: Server) -> int:
    """The server's exit status, once it has stopped (within STOP_TIMEOUT_S)."""
    started = time.monotonic()
    status = server.process.wait(timeout=STOP_TIMEOUT_S)
    assert time.monotonic() - started < STOP_TIMEOUT_S
    return status


@pytest.fixture(scope="module")
def gunicorn_server(demo_env, tmp_path_factory) -> Iterator[Server]:
    """``findsupport serve --workers 2``, stopped by the last test of this module that uses it."""
    server = _start(demo_env, tmp_path_factory.mktemp("gunicorn"), "--workers", "2")
    try:
        yield server
    finally:
        kill(server)


def test_serves_on_gunicorn_with_two_workers_forked_from_one_master(gunicorn_server):
    status, headers, _ = get(gunicorn_server.port, "/api/v1/health")
    assert status == 200 and headers["server"] == "gunicorn"
    # The first worker may answer before the master has forked the second.
    deadline = time.monotonic() + ANSWER_TIMEOUT_S
    while len(_children(gunicorn_server.process.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(_children(gunicorn_server.process.pid)) == 2
    log = gunicorn_server.log()
    assert "with gunicorn, 2 workers" in log and "Booting worker" in log


def test_a_search_answers(gunicorn_server):
    status, headers, body = get(gunicorn_server.port, "/api/v1/search?postcode=LS14%209HN&radius_km=100")
    assert status == 200, body[:300]
    assert headers["content-type"] == "application/json"
    answer = json.loads(body)
    assert answer["query"]["resolved"]["postcode"] == "LS14 9HN"
    assert isinstance(answer["results"], list)


def test_a_100000_character_request_line_is_gunicorns_414_problem(gunicorn_server):
    request = f"GET /api/v1/search?postcode={'A' * HUGE_QUERY_CHARS} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    answer = _raw(gunicorn_server.port, request.encode("ascii"))
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 414 "), answer[:300]
    assert b"Content-Type: application/problem+json" in head
    problem = json.loads(body)
    assert problem["status"] == 414 and problem["detail"]
    assert "AAAA" not in body.decode() and "AAAA" not in gunicorn_server.log(), "the URL is neither echoed nor logged"


def test_sigterm_stops_it_gracefully(gunicorn_server):
    """Last of the module's tests on this server: it stops it."""
    workers = _children(gunicorn_server.process.pid)
    gunicorn_server.process.send_signal(signal.SIGTERM)
    assert _stopped(gunicorn_server) == 0
    log = gunicorn_server.log()
    assert "Traceback" not in log, log
    assert log.count("Worker exiting") == 2 and "Shutting down: Master" in log
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers), "no worker outlives the master"


def test_ctrl_c_lets_the_request_in_flight_finish(demo_env, tmp_path):
    """Ctrl-C (SIGINT to the whole process group) is a graceful stop too, not gunicorn's quick one."""
    server = _start(demo_env, tmp_path, "--workers", "1")
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=ANSWER_TIMEOUT_S) as conn:
            conn.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # the worker is reading it
            time.sleep(0.5)
            os.killpg(server.process.pid, signal.SIGINT)
            time.sleep(0.5)  # gunicorn's quick stop would have dropped the connection by now
            conn.sendall(b"Connection: close\r\n\r\n")
            chunks = []
            while chunk := conn.recv(65536):
                chunks.append(chunk)
        assert b"".join(chunks).startswith(b"HTTP/1.1 200 "), b"".join(chunks)[:300]
        assert _stopped(server) == 0
        assert "Traceback" not in server.log(), server.log()
    finally:
        kill(server)


def test_debug_runs_flasks_development_server(demo_env, tmp_path):
    server = _start(demo_env, tmp_path, "--debug")
    try:
        status, headers, _ = get(server.port, "/api/v1/health")
        assert status == 200 and headers["server"].startswith("Werkzeug/")
        assert "Flask's development server" in server.log()
        assert not _children(server.process.pid), "one process, no workers"
    finally:
        server.process.terminate()
        server.process.wait(timeout=STOP_TIMEOUT_S)
        kill(server)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--workers", "0"], "workers must be at least 1; got 0"),
        (["--workers", "two"], "workers must be a whole number of at least 1; got 'two'"),
        (["--port", "70000"], "port must be from 1 to 65535; got 70000"),
    ],
)
def test_bad_options_are_refused_with_the_value(options, message, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["serve", *options])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_workers_default_to_one_per_core_and_the_engine_is_built_before_forking():
    options = gunicorn_settings("127.0.0.1", 5000, default_workers())
    assert options["workers"] == default_workers() >= 1
    assert options["preload_app"] is True
    assert options["accesslog"] is None, "paths carry link tokens: never logged"
    assert options["graceful_timeout"] == GUNICORN_GRACEFUL_TIMEOUT_S
