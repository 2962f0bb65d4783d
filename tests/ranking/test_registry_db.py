"""Models and the active model in the shared database: every server sees them (issue 13).

Two "servers" here are two settings with their own data dirs on one database
(``FINDSUPPORT_DATABASE_URL``), exactly as two machines behind a proxy.  Run on
SQLite and, with ``FINDSUPPORT_TEST_BACKEND=postgresql``, on PostgreSQL.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from findsupport.cli import main
from findsupport.config import Settings
from findsupport.errors import ModelError
from findsupport.ranking import MatchRanker, ServingRanker, default_ranker
from findsupport.ranking import registry
from findsupport.ranking.registry import (
    activate,
    active_revision,
    active_version,
    list_models,
    load_active_ranker,
    model_document,
    ranking_models_table,
    registry_engine,
    save_model,
    serving_model,
)
from findsupport.search import engine as engine_module
from findsupport.search.engine import Engine, Snapshot

REAL = {"kind": "real", "sessions": 500, "clients": 120}
SIMULATED = {"kind": "simulated", "sessions": 5000, "clients": 5000}
T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def _document(n: int, provenance: dict | None = REAL) -> dict:
    """A distinct model (its own weights and training moment)."""
    ranker = default_ranker().set_params(w_event_exact=1.0 + n / 10).use_parameter_weights()
    return model_document(ranker, provenance=provenance, created_at=T0 + timedelta(minutes=n))


def test_a_served_model_round_trips_through_its_document_unchanged(settings, other_server) -> None:
    """Servers load a :class:`ServingRanker` (no scikit-learn); the document is the estimator's, key for key."""
    estimator = MatchRanker(alpha=0.2, objective="pairwise").set_params(w_full=-1.7).use_parameter_weights()
    estimator.position_bias_, estimator.prior_scale_, estimator.n_iter_, estimator.n_sessions_ = 0.9, 1.3, 42, 700
    document = model_document(estimator, provenance=REAL, created_at=T0)
    assert model_document(estimator.serving(), provenance=REAL, created_at=T0) == document
    activate(settings, save_model(settings, document).version)
    ranker, version = load_active_ranker(other_server)
    assert isinstance(ranker, ServingRanker) and version == document["version"]
    reloaded = model_document(ranker, provenance=REAL, created_at=T0)
    assert json.dumps(reloaded, sort_keys=True) == json.dumps(document, sort_keys=True)
    assert MatchRanker.from_serving(ranker).get_params() == estimator.get_params()


@pytest.fixture
def other_server(settings: Settings, tmp_path: Path) -> Settings:
    """A second server: its own data dir, the same database."""
    return settings.replace(data_dir=tmp_path / "other", database_url=settings.resolved_database_url)


def test_a_model_saved_and_activated_on_one_server_is_seen_by_another(settings, other_server) -> None:
    saved = save_model(settings, _document(1))
    assert saved.saved_at.tzinfo is not None
    activate(settings, saved.version)
    assert [r.version for r in list_models(other_server)] == [saved.version]
    assert active_version(other_server) == saved.version
    ranker, version = load_active_ranker(other_server)
    assert version == saved.version and ranker.weights["event_exact"] == pytest.approx(1.1)
    assert not other_server.models_dir.exists() and not settings.models_dir.exists()  # no files any more
    shown = serving_model(other_server, saved.version)
    assert shown["activated"] == saved.version and shown["provenance"]["kind"] == "real"


def test_models_are_stored_as_json_with_their_provenance_and_times(settings) -> None:
    document = _document(2, SIMULATED)
    save_model(settings, document)
    with registry_engine(settings).connect() as conn:
        row = conn.execute(sa.select(ranking_models_table)).mappings().one()
    assert json.loads(row["document"]) == document
    assert row["provenance_kind"] == "simulated"
    created = row["created_at"] if row["created_at"].tzinfo else row["created_at"].replace(tzinfo=UTC)
    assert created == T0 + timedelta(minutes=2)
    with pytest.raises(ModelError, match="already exists"):
        save_model(settings, document)


def test_a_simulated_model_is_refused_unless_forced_and_the_force_is_shared(settings, other_server) -> None:
    simulated = save_model(settings, _document(3, SIMULATED)).version
    with pytest.raises(ModelError, match="--force-simulated"):
        activate(settings, simulated)
    assert active_revision(other_server) == 0 and active_version(other_server) == "default"
    activate(settings, simulated, force_simulated=True)
    assert load_active_ranker(other_server)[1] == simulated  # the force travels with the pointer
    activate(other_server, "default")  # the rollback, from the other server
    assert load_active_ranker(settings)[1] == "default" and active_revision(settings) == 2


def test_an_activation_reaches_a_running_engine_at_its_next_reload_check(settings, other_server, catalog, directory,
                                                                       monkeypatch) -> None:
    loads = []
    real_load = engine_module.load_serving_ranker
    monkeypatch.setattr(engine_module, "load_serving_ranker", lambda s: loads.append(1) or real_load(s))
    snapshot = Snapshot.build(catalog, default_ranker(), "default")
    engine = Engine(snapshot, directory, settings=settings, follow_active_model=True)
    assert engine.reload() is False and engine.reload() is False
    assert len(loads) == 1  # later checks read the activation count only, not the model

    saved = save_model(other_server, _document(4)).version
    activate(other_server, saved)
    assert engine.reload() is True and engine.model_version == saved and len(loads) == 2
    assert engine.reload() is False and len(loads) == 2
    activate(other_server, "default")
    assert engine.reload() is True and engine.model_version == "default"


def test_two_activations_at_once_both_count_and_one_wins(settings, other_server) -> None:
    """Eight servers activating at the same moment (the first activation ever: the row is created)."""
    versions = [save_model(settings, _document(10 + n)).version for n in range(8)]
    start, errors = threading.Barrier(len(versions)), []

    def activate_one(version: str, server: Settings) -> None:
        start.wait(timeout=60)
        try:
            activate(server, version)
        except Exception as exc:  # noqa: BLE001 - any failure is the test's finding
            errors.append(exc)

    threads = [threading.Thread(target=activate_one, args=(v, (settings, other_server)[i % 2]))
               for i, v in enumerate(versions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert active_revision(settings) == len(versions)
    assert active_version(other_server) in versions


# ---------------------------------------------------------------- model files of an older version
def _write_files(directory: Path, documents: list[dict], pointer: dict | None) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for document in documents:
        (directory / f"{document['version']}.json").write_text(json.dumps(document, indent=2))
    if pointer is not None:
        (directory / "active.json").write_text(json.dumps(pointer))


def test_model_files_of_an_older_version_are_copied_in_once(settings, other_server, monkeypatch, caplog) -> None:
    real, simulated = _document(20), _document(21, SIMULATED)
    _write_files(settings.models_dir, [real, simulated],
                 {"version": simulated["version"], "force_simulated": True, "activated_at": "2026-11-01T09:00:00+00:00"})
    (settings.models_dir / "broken.json").write_text("{ not json")
    caplog.set_level(logging.INFO, logger="findsupport.ranking.registry")

    assert [r.version for r in list_models(other_server)] == []  # the other server has no files
    assert [r.version for r in list_models(settings)] == [real["version"], simulated["version"]]
    assert "broken.json not copied into the database" in caplog.text
    assert active_version(other_server) == simulated["version"]
    assert load_active_ranker(other_server)[1] == simulated["version"]  # it was forced, and still is

    # Later: rolled back from the other server; a restart (a new process) copies nothing again.
    activate(other_server, "default")
    monkeypatch.setattr(registry, "_ready", set())
    assert [r.version for r in list_models(settings)] == [real["version"], simulated["version"]]
    assert active_version(settings) == "default"


def test_a_pointer_file_naming_no_model_leaves_the_default_active(settings, caplog) -> None:
    _write_files(settings.models_dir, [], {"version": "20990101-000000-deadbeef"})
    assert active_version(settings) == "default" and active_revision(settings) == 0
    assert "names no model that could be copied" in caplog.text


def test_model_list_and_activate_on_the_command_line(settings, cli_env, monkeypatch, capsys) -> None:
    monkeypatch.setenv("FINDSUPPORT_DATABASE_URL", settings.resolved_database_url)
    saved = save_model(settings, _document(30)).version
    assert main(["model", "activate", saved, "-q"]) == 0
    assert main(["model", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["active"] == listed["serving"] == saved
    (model,) = [m for m in listed["models"] if m["version"] == saved]
    assert model["active"] and datetime.fromisoformat(model["saved_at"]).tzinfo is not None
    assert main(["model", "activate", "nope-not-saved"]) == 2
    assert "Model nope-not-saved does not exist in the database" in capsys.readouterr().err
