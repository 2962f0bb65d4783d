"""The OpenAPI document states what the server enforces: a bounded schemathesis run finds nothing.

Schemathesis reads ``/openapi.json`` from the app (over WSGI, no network) and
runs its own engine, as ``schemathesis run`` would: every phase (the
document's examples, coverage of each parameter's edges, fuzzing, and the
stateful phase that follows the document's links from a search into the
provider view and introductions) and every check (no 5xx, documented status
codes, content types and headers, bodies matching the schemas, valid data
accepted and invalid data rejected, ...).

The run is bounded and deterministic (a fixed number of examples per
operation, derandomized generation) so it takes seconds and fails the same
way every time.  The app has rate limits off (they would answer 429 to the
run itself), no background threads, and an outbox under the test's tmp dir:
introductions become ``.eml`` files there, never real mail.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from flask import Flask
from schemathesis.engine import Status, events

from .conftest import make_app

#: Enough examples to reach every documented parameter and its edges on each operation,
#: few enough that the whole run stays within seconds on a shared 2-core machine.
EXAMPLES_PER_OPERATION = 25
#: Longest chain of calls in one stateful scenario (search → provider → introduction, and back).
STATEFUL_MAX_STEPS = 6

#: Schemathesis' default "valid data is accepted" statuses, plus 422: a postcode or point
#: that is well-formed (it matches the document) but lies outside Great Britain, which
#: Code-Point Open does not cover.  The document lists 422 for exactly that on the
#: operations that take a place; no schema can enumerate the coastline.
POSITIVE_STATUSES = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]


def _config() -> schemathesis.config.SchemathesisConfig:
    return schemathesis.config.SchemathesisConfig.from_dict(
        {
            "workers": 1,
            "generation": {"max-examples": EXAMPLES_PER_OPERATION, "deterministic": True, "database": "none"},
            "checks": {"positive_data_acceptance": {"expected-statuses": POSITIVE_STATUSES}},
            "phases": {"stateful": {"max-steps": STATEFUL_MAX_STEPS}},
        }
    )


@pytest.fixture
def api_app(web_data_dir, cache_dir, web_engine, tmp_path: Path) -> Iterator[Flask]:
    application = make_app(web_data_dir, cache_dir, web_engine, tmp_path, background=False, rate_limits="off")
    yield application
    application.extensions["findsupport"].close()


def _report(stream) -> tuple[list[str], set[str], int]:
    """Every failed check and error of a run, as readable lines; the phases that ran; links followed."""
    problems: list[str] = []
    phases: set[str] = set()
    links = 0
    for event in stream:
        if isinstance(event, events.ScenarioFinished | events.FuzzScenarioFinished):
            if event.status != Status.SKIP:
                phases.add(getattr(event, "phase", "fuzzing"))
            for case_id, checks in event.recorder.checks.items():
                for check in checks:
                    if check.status == Status.FAILURE and check.failure_info is not None:
                        problems.append(f"{event.recorder.label}: {check.name}: {check.failure_info.failure.title}: {check.failure_info.failure.message[:600]}\n"
                                        f"    {check.failure_info.code_sample}")
        elif isinstance(event, events.NonFatalError):
            problems.append(f"{event.label}: error: {event.info.format()}")
        elif isinstance(event, events.FatalError):
            problems.append(f"fatal: {event.exception!r}")
        elif isinstance(event, events.PhaseStarted) and event.payload is not None:
            links = event.payload.transitions_selected
        elif isinstance(event, events.EngineFinished):
            problems.extend(f"after run: {failure.title}" for failure in event.failures)
    return problems, phases, links


def test_schemathesis_finds_no_failures(api_app: Flask) -> None:
    schema = schemathesis.openapi.from_wsgi("/openapi.json", api_app, config=_config())
    problems, phases, links = _report(schemathesis.engine.from_schema(schema).execute())
    assert not problems, f"{len(problems)} schemathesis failures:\n" + "\n".join(dict.fromkeys(problems))
    assert {"examples", "coverage", "fuzzing", "stateful"} <= {str(p) for p in phases}
    assert links >= 2, "the stateful phase follows the search's links to the provider view and introductions"
