"""Real ``findsupport serve`` processes for tests: start one, ask it over HTTP, stop it for sure.

Shared by the command's own tests (``tests/commands/test_serve.py``) and the
two-server test (``tests/web/test_several_servers.py``).
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

#: The console script installed beside this interpreter (``.venv/bin/findsupport``).
FINDSUPPORT = Path(sys.executable).with_name("findsupport")
#: Longest wait for one answer.
ANSWER_TIMEOUT_S = 30


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    stderr: Path
    name: str = "serve"
    env: dict[str, str] = field(default_factory=dict)

    def log(self) -> str:
        return self.stderr.read_text(encoding="utf-8", errors="replace")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """GET over a new connection: status, lower-cased headers, body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=ANSWER_TIMEOUT_S)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def launch(env: dict[str, str], stderr: Path, *options: str, name: str = "serve") -> Server:
    """Start ``findsupport serve`` on a free port in its own process group (as in a terminal); not yet waited for."""
    assert FINDSUPPORT.exists(), f"{FINDSUPPORT} is missing: install findsupport into this environment"
    port = free_port()
    with stderr.open("w") as sink:
        process = subprocess.Popen(
            [str(FINDSUPPORT), "serve", "--host", "127.0.0.1", "--port", str(port), *options],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=sink,
            start_new_session=True,  # Ctrl-C (SIGINT to the group) reaches every process, as in a terminal
        )  # fmt: skip
    return Server(process, port, stderr, name, env)


def wait_until_serving(server: Server, deadline: float) -> None:
    """Until ``/api/v1/health`` answers 200 (by ``deadline``, a ``time.monotonic()``); its log if it exits or never does."""
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"server {server.name} exited with {server.process.returncode}:\n{server.log()}")
        try:
            if get(server.port, "/api/v1/health")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"server {server.name} did not start in time:\n{server.log()}")


def kill(server: Server) -> None:
    """Make sure the server and its workers are gone (a test that stops it itself leaves nothing)."""
    if server.process.poll() is None:
        try:
            os.killpg(server.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        server.process.wait()
