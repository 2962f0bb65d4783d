"""Training and evaluating from a feedback log: what ``findsupport train`` and ``evaluate`` do.

:func:`train_model`

1. recomputes features for every logged result against the catalogue as it
   is now (:func:`~.dataset.build_dataset`, which reports what it dropped);
2. counts each client's repeated searches once and caps every client's share
   (:func:`~.provenance.limit_clients`), so neither the fit nor the
   activation judgement can be dominated by one client (issue 12);
3. splits sessions into training and held-out by each session's key;
4. picks hyper-parameters by grid search with :class:`GroupKFold` over
   sessions of the training part only (:func:`tune`);
5. fits on the training part and evaluates on the held-out part beside
   nearest-first, the default weights and the active model;
6. saves the model file with its provenance, and makes it active only if

   * it is no worse than the active model on the same held-out sessions
     (``force`` overrides this rule only),
   * its sessions with a choice come from at least
     :data:`~.provenance.MIN_DISTINCT_CLIENTS` clients, and
   * it learnt from real feedback only (``allow_simulated`` overrides: a
     notebook or demo must say so; see :func:`~.registry.activate`).

:func:`evaluate_active` judges the serving model on a feedback file the same
way (by default on the held-out share, so a model's own training sessions
never flatter it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import sklearn
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, GroupKFold

from ..catalog.public import PublicCatalog
from ..config import Settings
from ..errors import InvalidInput, ModelError
from ..geo import PostcodeDirectory
from .dataset import DatasetReport, RankingData, build_dataset
from .evaluation import NEAREST_FIRST, Evaluation, evaluate_rankers
from .features import FEATURE_DESCRIPTIONS
from .model import MatchRanker, default_ranker
from .weights import ServingRanker
from .propensity import estimate_position_bias
from .provenance import MIN_DISTINCT_CLIENTS, data_provenance, distinct_clients, limit_clients
from .registry import DEFAULT_VERSION, ModelRecord, activate, load_active_ranker, model_document, save_model
from .sessions import HOLDOUT_SALT, REAL, FeedbackFile

__all__ = [
    "DEFAULT_HOLDOUT",
    "DEFAULT_GRID",
    "MIN_TRAIN_SESSIONS",
    "MIN_TEST_SESSIONS",
    "TrainingResult",
    "tune",
    "train_model",
    "evaluate_active",
    "surprising_weights",
    "SURPRISE_MIN_WEIGHT",
]

#: Share of sessions held out for evaluation: enough for a tight NDCG estimate
#: from a few thousand sessions, while leaving most for learning.
DEFAULT_HOLDOUT = 0.2
#: Grid searched by default: regularisation over two decades.  Not the objective nor
#: the position-bias exponent: the validation NDCG is computed on position-biased
#: choices too, so it rewards a model that copies the logged order and cannot be
#: the judge of how much bias to remove (the exponent is estimated by maximum
#: likelihood instead, and listwise is the objective that removes it).
DEFAULT_GRID: dict[str, list[Any]] = {"alpha": [0.003, 0.03, 0.3]}
#: Fewer sessions with a choice than this and the weights are mostly noise.
MIN_TRAIN_SESSIONS = 30
#: Fewer held-out sessions with a choice than this and the comparison means nothing.
MIN_TEST_SESSIONS = 10
#: Folds of the grid search; each fold needs a few sessions with a choice.
DEFAULT_FOLDS = 5
_MIN_SESSIONS_PER_FOLD = 4
#: A learned weight smaller than this (in absolute value) is not called surprising whatever its
#: sign: features lie in [0, 1], so it moves a score by less than the score gaps that reorder a page.
SURPRISE_MIN_WEIGHT = 0.1

Progress = Callable[[str], None]


@dataclass
class TrainingResult:
    """What a training run did (everything the CLI and notebooks report)."""

    ranker: MatchRanker
    report: DatasetReport
    evaluation: Evaluation
    document: dict[str, Any]
    record: ModelRecord | None
    activated: bool
    decision: str
    previous_version: str
    best_params: dict[str, Any] = field(default_factory=dict)
    problems: tuple[str, ...] = ()


def tune(
    data: RankingData,
    param_grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Sequence[Any]]],
    *,
    n_splits: int = DEFAULT_FOLDS,
    base: MatchRanker | None = None,
) -> GridSearchCV:
    """Grid search over ``param_grid`` with :class:`GroupKFold` by session, scored by NDCG@10.

    Sessions (``groups``) and positions reach the ranker through
    scikit-learn's metadata routing, enabled for this call only.
    """
    n_splits = min(n_splits, data.n_sessions)
    if n_splits < 2:
        raise InvalidInput("A grid search needs at least two sessions.")
    search = GridSearchCV(base if base is not None else MatchRanker(), param_grid, cv=GroupKFold(n_splits=n_splits))
    with sklearn.config_context(enable_metadata_routing=True):
        search.fit(data.X, data.grades, **data.fit_params())
    return search


def _current_ranker(settings: Settings) -> tuple[MatchRanker | ServingRanker, str, str | None]:
    """The active ranker; a broken active model is reported and compared as the default."""
    try:
        ranker, version = load_active_ranker(settings)
        return ranker, version, None
    except ModelError as exc:
        return default_ranker(), DEFAULT_VERSION, f"the active model cannot be used ({exc.message}); compared with the default weights"


def train_model(
    feedback: FeedbackFile,
    catalog: PublicCatalog,
    directory: PostcodeDirectory,
    settings: Settings,
    *,
    holdout: float = DEFAULT_HOLDOUT,
    param_grid: Mapping[str, Sequence[Any]] | None = DEFAULT_GRID,
    base: MatchRanker | None = None,
    force: bool = False,
    allow_simulated: bool = False,
    publish: bool = True,
    save: bool = True,
    progress: Progress | None = None,
) -> TrainingResult:
    """Fit, evaluate, save and (if no worse) activate a ranker; see the module docstring.

    Parameters
    ----------
    feedback : FeedbackFile
    catalog : PublicCatalog
        The catalogue as it is now (features are recomputed against it).
    directory : PostcodeDirectory
    settings : Settings
        Which database keeps the models (``settings.resolved_database_url``; see :mod:`.registry`).
    holdout : float
        Share of sessions held out for evaluation.
    param_grid : mapping or None
        Hyper-parameters to grid-search on the training sessions (None: none).
    base : MatchRanker, optional
        The estimator to start from (its parameters, e.g. hand-set weights
        with ``learn=False`` to publish hand-tuned weights); the position-bias
        exponent is estimated unless ``base`` sets a number.
    force : bool
        Activate even when the new model scores below the active one (not
        when too few clients or simulated sessions stand behind it).
    allow_simulated : bool
        Activate a model learnt from simulated (or mixed) sessions, recorded
        as forced in the active-model pointer; off, such a model is saved and
        never activated (``findsupport model activate VERSION
        --force-simulated`` can still do it).
    publish : bool
        Activate the model when the rules above allow; False saves it and
        never activates (notebooks: activating is a decision a cell states,
        later ``findsupport model activate VERSION`` publishes it).
    save : bool
        Write the model file (and activate); False only evaluates.
    progress : callable, optional
        Receives one line of text per step.

    Raises
    ------
    InvalidInput
        Too few usable sessions to train and to hold out.
    """
    say = progress or (lambda message: None)
    data, report = build_dataset(feedback, catalog, directory)
    for line in report.lines():
        say(line)
    data, limits = limit_clients(data)
    for line in limits.lines():
        say(line)
    provenance = data_provenance(data, limits)
    train, test = data.split(holdout)
    if train.n_learnable < MIN_TRAIN_SESSIONS or test.n_learnable < MIN_TEST_SESSIONS:
        raise InvalidInput(
            f"Not enough sessions where coaches chose someone: {train.n_learnable} for training and "
            f"{test.n_learnable} held out; need at least {MIN_TRAIN_SESSIONS} and {MIN_TEST_SESSIONS} "
            "(collect more feedback, or lower the held-out share)."
        )
    # The examination model is estimated once, on the training sessions, and held
    # fixed while the other hyper-parameters are searched (see DEFAULT_GRID).
    start = clone(base) if base is not None else MatchRanker()
    if start.position_bias == "auto":
        exponent = estimate_position_bias(train.X, train.grades >= 1, train.positions)
        start.set_params(position_bias=exponent)
        say(f"position-bias exponent {exponent:.2f} (position k is looked at k**-{exponent:.2f} times as often as the first)")
    best: dict[str, Any] = {}
    if param_grid and train.n_learnable >= DEFAULT_FOLDS * _MIN_SESSIONS_PER_FOLD:
        say(f"choosing hyper-parameters by {DEFAULT_FOLDS}-fold grid search over {train.n_sessions:,} sessions")
        best = dict(tune(train, param_grid, base=start).best_params_)
    ranker = clone(start).set_params(**best).fit(train.X, train.grades, **train.fit_params())
    say(f"fitted on {train.n_learnable:,} sessions with a choice ({', '.join(f'{k}={v}' for k, v in best.items()) or 'default hyper-parameters'})")

    current, current_version, note = _current_ranker(settings)
    rankers: dict[str, MatchRanker | ServingRanker | None] = {NEAREST_FIRST: None, "default": default_ranker()}
    if current_version != DEFAULT_VERSION:
        rankers["active"] = current
    rankers["trained"] = ranker
    evaluation = evaluate_rankers(test, rankers)
    reference = "active" if "active" in rankers else "default"
    new, old = evaluation.ndcg("trained"), evaluation.ndcg(reference)
    no_worse = new >= old
    clients = distinct_clients(data)
    kind = provenance["kind"]
    refusal = None
    if clients < MIN_DISTINCT_CLIENTS:
        refusal = (
            f"saved, not activated: the sessions with a choice come from {clients} distinct clients; "
            f"at least {MIN_DISTINCT_CLIENTS} are needed so that no one client can steer the ranking"
        )
    elif kind != REAL and not allow_simulated:
        refusal = (
            f"saved, not activated: trained on {kind} sessions ({provenance['sessions_simulated']:,} simulated), "
            "not real feedback (findsupport model activate VERSION --force-simulated serves it anyway)"
        )
    if refusal is not None:
        decision = f"{refusal}; NDCG@10 {new:.4f} against the {reference} ranking's {old:.4f}"
    elif no_worse:
        decision = f"activated: NDCG@10 {new:.4f} is no worse than the {reference} ranking's {old:.4f}"
    elif force:
        decision = f"activated (forced): NDCG@10 {new:.4f} is below the {reference} ranking's {old:.4f}"
    else:
        decision = f"saved, not activated: NDCG@10 {new:.4f} is below the {reference} ranking's {old:.4f} (--force activates it)"
    if note:
        decision += f"; {note}"
    if not save:
        decision = "evaluated only, nothing saved (" + decision + ")"
    elif not publish and refusal is None and (no_worse or force):
        decision = (
            f"saved, not activated (publish=False; `findsupport model activate VERSION` would): NDCG@10 {new:.4f} "
            f"against the {reference} ranking's {old:.4f}"
        )

    document = model_document(
        ranker,
        metrics={**evaluation.to_dict(), "compared_with": reference if reference == "default" else current_version},
        training_data={
            "sha256": feedback.sha256,
            "lines": feedback.lines,
            "sessions_train": train.n_sessions,
            "sessions_held_out": test.n_sessions,
            "sessions_train_with_choice": train.n_learnable,
            "sessions_held_out_with_choice": test.n_learnable,
            "holdout": holdout,
            "split": f"sha256({HOLDOUT_SALT}:session key)",
            "report": report.to_dict(),
        },
        catalog_version=catalog.version,
        provenance=provenance,
    )
    record = None
    activated = False
    if save:
        record = save_model(settings, document)
        if publish and refusal is None and (no_worse or force):
            activate(settings, record.version, force_simulated=kind != REAL)
            activated = True
    return TrainingResult(
        ranker=ranker,
        report=report,
        evaluation=evaluation,
        document=document,
        record=record,
        activated=activated,
        decision=decision,
        previous_version=current_version,
        best_params=best,
        problems=tuple(str(p) for p in feedback.problems),
    )


def evaluate_active(
    feedback: FeedbackFile,
    catalog: PublicCatalog,
    directory: PostcodeDirectory,
    settings: Settings,
    *,
    holdout: float | None = DEFAULT_HOLDOUT,
) -> tuple[Evaluation, DatasetReport, str]:
    """NDCG@10 of the active model beside nearest-first and the default weights.

    ``holdout`` picks the held-out share of sessions (the same split training
    uses); ``None`` evaluates on every session (for feedback collected after
    the model was trained).  Returns ``(evaluation, report, active_version)``.
    """
    data, report = build_dataset(feedback, catalog, directory)
    data, _ = limit_clients(data)  # the same data training judged on
    if holdout is not None:
        _, data = data.split(holdout)
    if data.n_learnable == 0:
        raise InvalidInput("No session in that feedback has a choice to evaluate against.")
    ranker, version = load_active_ranker(settings)
    rankers: dict[str, MatchRanker | ServingRanker | None] = {NEAREST_FIRST: None, "default": default_ranker()}
    if version != DEFAULT_VERSION:
        rankers["active"] = ranker
    return evaluate_rankers(data, rankers), report, version


def surprising_weights(
    ranker: MatchRanker, reference: MatchRanker | None = None, *, min_weight: float = SURPRISE_MIN_WEIGHT
) -> list[str]:
    """Plain-language warnings for learned weights whose sign differs from the reference's.

    The default weights (``reference``, by default) encode what coach
    developers expect: closer, free at the asked times, specialist, with
    room.  A learned weight of the opposite sign (a negative weight on
    availability, say) is usually a sign of too little feedback, a feature
    that hardly varies in it, or one client's clicks, not a discovery; read
    the warning before publishing the model.
    """
    reference = reference if reference is not None else default_ranker()
    expected = reference.weights
    warnings = []
    for name, weight in ranker.weights.items():
        usual = expected.get(name, 0.0)
        if abs(weight) < min_weight or usual == 0.0 or np.sign(weight) == np.sign(usual):
            continue
        direction = "down" if weight < 0 else "up"
        warnings.append(
            f"{FEATURE_DESCRIPTIONS.get(name, name)} ({name}): learned weight {weight:+.2f} where the default is "
            f"{usual:+.2f}, so it now moves providers {direction}; check the feedback (too few sessions, a feature "
            "that hardly varies, or one client's clicks) before publishing"
        )
    return warnings
