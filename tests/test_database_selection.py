"""The PostgreSQL run keeps exactly the tests that get a database of its backend (``tests/databases.py``).

Collected as ``make test`` collects its PostgreSQL phase (collection opens no
connection, so any server URL will do): web tests that build an app on the
sample catalogue are kept, tests that never open a PostgreSQL database are
not, even in ``tests/web`` where every test on the catalogue gets one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _collected_on_postgres(*paths: str) -> set[str]:
    env = {**os.environ, "FINDSUPPORT_TEST_BACKEND": "postgresql",
           "FINDSUPPORT_TEST_POSTGRES_URL": os.environ.get("FINDSUPPORT_TEST_POSTGRES_URL") or "postgresql://nobody@127.0.0.1:9/none"}
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *paths],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return {line.split("[")[0] for line in done.stdout.splitlines() if "::" in line}


def test_the_postgresql_run_keeps_only_tests_that_use_its_database():
    kept = _collected_on_postgres("tests/web/test_feedback_attack.py", "tests/web/test_feedback_buffered.py",
                                  "tests/web/test_openapi_patterns.py", "tests/web/test_api.py")
    # The feedback replay logs to a SQLite file of its own and the patterns never open a database.
    assert not {t for t in kept if "test_feedback_attack.py" in t or "test_openapi_patterns.py" in t}
    # Two gunicorn workers writing feedback into the session's database, and apps on the sample catalogue.
    assert "tests/web/test_feedback_buffered.py::test_gunicorn_stopped_gracefully_writes_every_buffered_session" in kept
    assert "tests/web/test_feedback_buffered.py::test_a_view_right_after_its_search_is_recorded" in kept
    assert any(t.startswith("tests/web/test_api.py::") for t in kept)
