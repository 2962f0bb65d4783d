"""Training from feedback, honest evaluation, saved models and the no-worse activation rule."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pytest
import sqlalchemy as sa

from findsupport.errors import InvalidInput, ModelError
from findsupport.ranking import (
    DEFAULT_VERSION,
    FEATURE_NAMES,
    MAX_CLIENT_SHARE,
    FEATURES_VERSION,
    MatchRanker,
    activate,
    active_version,
    build_dataset,
    default_ranker,
    evaluate_active,
    feedback_text,
    list_models,
    load_active_ranker,
    model_document,
    model_provenance,
    read_feedback,
    read_model_file,
    save_model,
    train_model,
)
from findsupport.ranking.registry import active_model_table, load_model, ranking_models_table, registry_engine

#: Provenance of a model learnt from real feedback (what serves without being forced).
REAL_DATA = {"kind": "real", "sessions": 500, "clients": 120}

def _stored_text(settings, version: str) -> str:
    """A saved model's document as the database holds it."""
    table = ranking_models_table
    with registry_engine(settings).connect() as conn:
        return conn.execute(sa.select(table.c.document).where(table.c.version == version)).scalar_one()


def _spoil(settings, version: str, text: str) -> None:
    """Replace a saved model's stored document, as a damaged database would."""
    table = ranking_models_table
    with registry_engine(settings).begin() as conn:
        conn.execute(sa.update(table).where(table.c.version == version).values(document=text))


def _point_at(settings, version: str) -> None:
    """Name ``version`` active without :func:`activate`'s checks (a database edited by hand, a notebook)."""
    with registry_engine(settings).begin() as conn:
        conn.execute(sa.delete(active_model_table))
        conn.execute(sa.insert(active_model_table).values(
            id=1, version=version, force_simulated=False, activated_at=datetime.now(UTC), revision=99))


#: Hand weights that rank the worst matches first (to test that they are not activated).
BACKWARDS = {f"w_{name}": -abs(w) for name, w in {
    "proximity_near": 1, "event_exact": 3, "availability": 2, "full": -2, "spare_capacity": 1}.items()}


@pytest.fixture(scope="module")
def feedback(different_tastes_feedback):
    return read_feedback(feedback_text(different_tastes_feedback))


@pytest.fixture(scope="module")
def trained(feedback, catalog, directory, tmp_path_factory):
    from findsupport.config import load_settings

    settings = load_settings({"data_dir": tmp_path_factory.mktemp("models")}, environ={})
    return settings, train_model(feedback, catalog, directory, settings, allow_simulated=True)


def test_trained_model_beats_the_baselines_on_held_out_sessions(trained):
    settings, result = trained
    e = result.evaluation
    assert [s.name for s in e.scores] == ["nearest_first", "default", "trained"]
    assert len({s.sessions for s in e.scores}) == 1 and e["trained"].sessions >= 150
    # Small data (2,500 sessions); the benchmark measures the full-size margins.
    assert e.ndcg("trained") > e.ndcg("nearest_first") + 0.15
    # These coaches' tastes are not the default weights': learning must find them.
    gain, half_width = e.difference("trained", "default")
    assert gain - half_width > 0
    assert result.activated and "no worse than the default" in result.decision
    assert active_version(settings) == result.record.version
    assert 0.0 < result.ranker.position_bias_ < 0.6  # the simulated coaches' examination exponent is 0.2


def test_model_file_records_everything_needed(trained):
    settings, result = trained
    document = load_model(settings, result.record.version)[1]
    assert document["format"] == "findsupport-ranking-model"
    assert document["features_version"] == FEATURES_VERSION
    assert document["feature_names"] == list(FEATURE_NAMES)
    assert set(document["weights"]) == set(FEATURE_NAMES)
    assert document["hyperparameters"]["objective"] == "listwise"
    assert document["fitted"]["position_bias"] == pytest.approx(result.ranker.position_bias_)
    assert set(document["metrics"]["ndcg"]) == {"nearest_first", "default", "trained"}
    assert len(document["training_data"]["sha256"]) == 64
    assert document["training_data"]["holdout"] == 0.2
    assert document["catalog_version"] and document["created_at"].endswith("+00:00")
    assert json.loads(_stored_text(settings, result.record.version)) == document  # JSON, never a pickle


def test_saved_model_loads_and_scores_like_the_fitted_one(trained, feedback, catalog, directory):
    settings, result = trained
    ranker, version = load_active_ranker(settings)
    assert version == result.record.version
    data, _ = build_dataset(feedback, catalog, directory)
    np.testing.assert_allclose(ranker.decision_function(data.X), result.ranker.decision_function(data.X))
    assert MatchRanker.from_serving(ranker).get_params()["w_event_exact"] == pytest.approx(result.ranker.weights["event_exact"])


def test_evaluate_active_uses_the_same_held_out_sessions(trained, feedback, catalog, directory):
    settings, result = trained
    evaluation, report, version = evaluate_active(feedback, catalog, directory, settings)
    assert version == result.record.version
    assert evaluation.ndcg("active") == pytest.approx(result.evaluation.ndcg("trained"))
    assert evaluation.ndcg("nearest_first") == pytest.approx(result.evaluation.ndcg("nearest_first"))
    everything, _, _ = evaluate_active(feedback, catalog, directory, settings, holdout=None)
    assert everything["active"].sessions > evaluation["active"].sessions


def test_worse_model_is_saved_but_not_activated_unless_forced(feedback, catalog, directory, settings):
    good = train_model(feedback, catalog, directory, settings, allow_simulated=True, param_grid=None)
    assert good.activated
    bad = train_model(feedback, catalog, directory, settings, allow_simulated=True, base=MatchRanker(learn=False, **BACKWARDS), param_grid=None)
    assert not bad.activated and bad.record.version in [r.version for r in list_models(settings)]
    assert "not activated" in bad.decision and "active ranking" in bad.decision
    assert bad.evaluation.ndcg("trained") < bad.evaluation.ndcg("active")
    assert active_version(settings) == good.record.version
    forced = train_model(feedback, catalog, directory, settings, allow_simulated=True, base=MatchRanker(learn=False, **BACKWARDS), param_grid=None, force=True)
    assert forced.activated and "forced" in forced.decision
    assert active_version(settings) == forced.record.version
    assert [r.version for r in list_models(settings)] == [good.record.version, bad.record.version, forced.record.version]


def test_equal_model_counts_as_no_worse(feedback, catalog, directory, settings):
    first = train_model(feedback, catalog, directory, settings, allow_simulated=True, param_grid=None)
    again = train_model(feedback, catalog, directory, settings, allow_simulated=True, param_grid=None)
    assert again.evaluation.ndcg("trained") == pytest.approx(again.evaluation.ndcg("active"))
    assert again.activated and first.record.version != again.record.version


def test_broken_active_model_is_reported_and_compared_as_default(feedback, catalog, directory, settings):
    first = train_model(feedback, catalog, directory, settings, allow_simulated=True, param_grid=None)
    _spoil(settings, first.record.version, "{ broken")
    with pytest.raises(ModelError, match="is not valid JSON"):
        load_active_ranker(settings)
    again = train_model(feedback, catalog, directory, settings, allow_simulated=True, param_grid=None)
    assert "active model cannot be used" in again.decision and again.previous_version == DEFAULT_VERSION
    assert again.activated and load_active_ranker(settings)[1] == again.record.version


def test_too_little_feedback_is_a_clear_error(simulated_feedback, catalog, directory, settings):
    few = read_feedback(feedback_text(simulated_feedback[:20]))
    with pytest.raises(InvalidInput, match="Not enough sessions where coaches chose someone"):
        train_model(few, catalog, directory, settings)


# --------------------------------------------------------------------- model files
def test_no_model_means_the_default_weights(settings):
    ranker, version = load_active_ranker(settings)
    assert version == "default" and ranker.weights == default_ranker().weights


def _saved(settings) -> dict:
    document = model_document(default_ranker().set_params(w_event_exact=2.5).use_parameter_weights(), provenance=REAL_DATA)
    return save_model(settings, document).document


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d.update(format="something-else"), "is not a findsupport ranking model"),
        (lambda d: d.update(format_version=99), "format version 99"),
        (lambda d: d.update(features_version=1), "trained on match features version 1.*retrain it with `findsupport train`"),
        (lambda d: d.update(feature_names=d["feature_names"][::-1]), "names different match features"),
        (lambda d: d["feature_scales"].update(near_scale_m=1.0), "different feature scales"),
        (lambda d: d["weights"].pop("full"), "one weight for every match feature"),
        (lambda d: d["weights"].update(full="heavy"), "not finite numbers: full"),
        (lambda d: d["weights"].update(full=True), "not finite numbers: full"),
        (lambda d: d["hyperparameters"].update(alpha=-3), "unusable hyperparameters"),
    ],
)
def test_bad_model_files_are_rejected_with_a_clear_message(settings, change, message):
    document = _saved(settings)
    change(document)
    settings.models_dir.mkdir(parents=True, exist_ok=True)  # a model file, as older versions kept them
    path = settings.models_dir / "bad.json"
    path.write_text(json.dumps(document))
    with pytest.raises(ModelError, match=message):
        read_model_file(path)


@pytest.mark.parametrize(
    "text, message",
    [("{ not json", "is not valid JSON"), ('{"weights": {"full": NaN}}', "not a findsupport ranking model"), ("", "is not valid JSON")],
)
def test_unreadable_model_files(settings, text, message):
    settings.models_dir.mkdir(parents=True, exist_ok=True)
    path = settings.models_dir / "bad.json"
    path.write_text(text)
    with pytest.raises(ModelError, match=message):
        read_model_file(path)


def test_non_finite_weights_are_rejected(settings):
    document = _saved(settings)
    settings.models_dir.mkdir(parents=True, exist_ok=True)
    path = settings.models_dir / "nan.json"
    path.write_text(json.dumps(document).replace('"full": -1.0', '"full": NaN'))
    with pytest.raises(ModelError, match="not finite numbers: full"):
        read_model_file(path)


def test_oversized_and_missing_files(settings):
    settings.models_dir.mkdir(parents=True, exist_ok=True)
    big = settings.models_dir / "big.json"
    big.write_text(" " * 1_000_001)
    with pytest.raises(ModelError, match="a model file is a few kB"):
        read_model_file(big)
    with pytest.raises(ModelError, match="does not exist"):
        read_model_file(settings.models_dir / "missing.json")


def test_active_pointer(settings):
    document = _saved(settings)
    activate(settings, document["version"])
    ranker, version = load_active_ranker(settings)
    assert version == document["version"] and ranker.weights["event_exact"] == 2.5
    activate(settings, "default")
    assert load_active_ranker(settings)[1] == "default"
    _point_at(settings, "../../etc/passwd")
    with pytest.raises(ModelError, match="is not a model version"):
        load_active_ranker(settings)
    _point_at(settings, "20990101-000000-deadbeef")
    with pytest.raises(ModelError, match="Model 20990101-000000-deadbeef does not exist in the database"):
        load_active_ranker(settings)
    with pytest.raises(ModelError, match="Model 20990101-000000-deadbeef does not exist in the database"):
        activate(settings, "20990101-000000-deadbeef")


def test_models_are_never_overwritten(settings):
    document = _saved(settings)
    with pytest.raises(ModelError, match="already exists"):
        save_model(settings, document)


# --------------------------------------------------------------------- provenance (issue 12)
def test_a_model_records_where_its_data_came_from(trained):
    settings, result = trained
    provenance = load_model(settings, result.record.version)[1]["provenance"]
    assert provenance["kind"] == "simulated" and provenance["sessions_simulated"] == provenance["sessions"] > 1000
    assert provenance["sessions_real"] == 0 and provenance["clients"] == provenance["sessions"]  # one simulated coach each
    assert provenance["trained_at"] and provenance["max_client_share"] == MAX_CLIENT_SHARE


def test_a_simulated_model_is_saved_but_never_activated_unless_allowed(feedback, catalog, directory, settings):
    result = train_model(feedback, catalog, directory, settings, param_grid=None, force=True)
    assert not result.activated and [r.version for r in list_models(settings)] == [result.record.version]
    assert "trained on simulated sessions" in result.decision and "--force-simulated" in result.decision
    assert active_version(settings) == DEFAULT_VERSION
    # The one-line way to serve it anyway says so explicitly.
    with pytest.raises(ModelError, match="--force-simulated"):
        activate(settings, result.record.version)
    activate(settings, result.record.version, force_simulated=True)
    assert load_active_ranker(settings)[1] == result.record.version


def test_a_server_refuses_a_simulated_model_activated_without_force(feedback, catalog, directory, settings):
    """As the notebook did: the pointer names a simulated model but nobody forced it."""
    result = train_model(feedback, catalog, directory, settings, param_grid=None, save=True)
    _point_at(settings, result.record.version)
    with pytest.raises(ModelError, match="simulated data, not real feedback"):
        load_active_ranker(settings)
    from findsupport.search.engine import load_serving_ranker

    assert load_serving_ranker(settings)[1] == DEFAULT_VERSION  # falls back (and logs a warning)
    assert load_active_ranker(settings.replace(serve_simulated_models=True))[1] == result.record.version


def test_a_model_of_unknown_provenance_serves_only_when_forced(settings):
    document = save_model(settings, model_document(default_ranker().set_params(w_event_exact=2.5).use_parameter_weights())).document
    assert model_provenance(document)["kind"] == "unknown"
    with pytest.raises(ModelError, match="unknown data"):
        activate(settings, document["version"])
    activate(settings, document["version"], force_simulated=True)
    assert load_active_ranker(settings)[1] == document["version"]


def test_training_refuses_to_activate_on_too_few_clients(different_tastes_feedback, catalog, directory, settings):
    """Real sessions, but from a handful of addresses: no cap can stop one of them steering."""
    lines = [
        {k: v for k, v in line.items() if k not in ("search_id", "model_version")} | {"client": f"{i % 5:064x}"}
        for i, line in enumerate(different_tastes_feedback)
    ]
    result = train_model(read_feedback(feedback_text(lines)), catalog, directory, settings, param_grid=None, force=True)
    assert not result.activated and "5 distinct clients" in result.decision
    assert result.document["provenance"]["kind"] == "real" and result.document["provenance"]["clients"] == 5


def test_serving_model_says_what_serves_and_what_was_activated(settings):
    from findsupport.ranking.registry import serving_model

    real = save_model(settings, model_document(default_ranker().use_parameter_weights(), provenance=REAL_DATA)).document
    activate(settings, real["version"])
    shown = serving_model(settings, real["version"])
    assert shown["version"] == shown["activated"] == real["version"] and shown["created_at"] == real["created_at"]
    assert shown["provenance"] == {"kind": "real", "sessions": 500, "clients": 120, "trained_at": real["provenance"]["trained_at"]}
    unknown = save_model(settings, model_document(default_ranker().set_params(w_full=-3.0).use_parameter_weights())).document
    _point_at(settings, unknown["version"])
    # Activated by hand without --force-simulated: the server falls back and says so.
    assert serving_model(settings, "default") == {
        "version": "default", "activated": unknown["version"], "created_at": None, "provenance": {"kind": "default"}}


def test_publish_false_saves_and_never_activates(feedback, catalog, directory, settings):
    """What the tuning notebook does unless a cell says PUBLISH = True."""
    result = train_model(feedback, catalog, directory, settings, param_grid=None, allow_simulated=True, publish=False)
    assert not result.activated and "publish=False" in result.decision
    assert [r.version for r in list_models(settings)] == [result.record.version]
    assert active_version(settings) == DEFAULT_VERSION


def test_surprising_weight_signs_are_flagged_in_plain_words():
    from findsupport.ranking import MatchRanker, default_ranker, surprising_weights

    assert surprising_weights(default_ranker()) == []
    # Availability pushing providers down, and a negligible flip that is not worth a warning.
    odd = MatchRanker(w_availability=-1.2, w_primary_role=-0.01).use_parameter_weights()
    warnings = surprising_weights(odd)
    assert len(warnings) == 1
    assert warnings[0].startswith("share of the asked-for slots the provider is free in (availability): learned weight -1.20")
    assert "moves providers down" in warnings[0]
