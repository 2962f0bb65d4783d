"""Model files: trained rankers saved as JSON, and which one is active.

A model is a small JSON document under ``settings.models_dir`` — never a
pickle, which would run code when loaded — holding everything needed to
serve it and to judge it later:

``weights`` by feature name, ``feature_names``, ``features_version`` and
``feature_scales`` (a model refuses to load against features it was not
trained on), ``hyperparameters`` and what the fit found (``fitted``: the
position-bias exponent, the prior scale), ``metrics`` (NDCG@10 on the
held-out sessions, side by side with nearest-first and the default weights),
``training_data`` (SHA-256 of the feedback file, session counts, the
held-out fraction), ``provenance`` (where the sessions came from: ``kind``
``real``, ``simulated`` or ``mixed``, how many sessions and distinct
clients, their date range, when it was trained; see
:func:`~.provenance.data_provenance`), ``catalog_version`` and ``created_at``.

**Simulated models do not serve by accident.**  :func:`activate` refuses a
model whose provenance is not ``real`` (a model file from before provenance
was recorded counts as ``unknown``, so not real) unless ``force_simulated``;
the pointer then records that it was forced.  :func:`load_active_ranker`
refuses such a model when the pointer does not say it was forced and the
``serve_simulated_models`` setting is off; the engine then serves the default
weights and logs a warning (issue 12: a notebook trained on 5,000 simulated
sessions and its model went live).

``models_dir/<version>.json`` holds each model; ``models_dir/active.json``
names the active one.  Both are written atomically (temporary file, then
rename), so a server reloading never reads half a file.  With no
``active.json`` the transparent default weights serve (version
``"default"``).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import __version__
from ..config import Settings
from ..errors import ModelError
from .features import FEATURE_NAMES, FEATURES_VERSION, FeatureScales
from .model import HYPERPARAMETERS, MatchRanker, default_ranker

__all__ = [
    "MODEL_FORMAT",
    "MODEL_FORMAT_VERSION",
    "DEFAULT_VERSION",
    "ModelRecord",
    "model_document",
    "save_model",
    "read_model_file",
    "load_model",
    "activate",
    "active_version",
    "load_active_ranker",
    "list_models",
    "model_provenance",
    "model_summary",
    "serving_model",
    "HEALTH_PROVENANCE_FIELDS",
    "is_real",
    "UNKNOWN_PROVENANCE",
]

MODEL_FORMAT = "findsupport-ranking-model"
MODEL_FORMAT_VERSION = 1
#: The version string of the built-in default weights.
DEFAULT_VERSION = "default"
ACTIVE_FILE = "active.json"
#: A model file is a few kB; anything much larger is not one of ours.
MAX_MODEL_BYTES = 1_000_000
#: Provenance kind of a model file that records none (older findsupport versions).
UNKNOWN_PROVENANCE = "unknown"
#: What ``/api/v1/health`` shows of a model's provenance: enough to tell real from simulated
#: and how much data stands behind it, nothing about any one client.
HEALTH_PROVENANCE_FIELDS = ("kind", "sessions", "clients", "first_session", "last_session", "trained_at")
#: The only provenance kind that serves without being forced.
_REAL = "real"
_VERSION_PATTERN = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,99}$")


@dataclass(frozen=True)
class ModelRecord:
    """A saved model: its version, file and document."""

    version: str
    path: Path
    document: dict[str, Any]

    @property
    def metrics(self) -> dict[str, Any]:
        return dict(self.document.get("metrics") or {})

    @property
    def provenance(self) -> dict[str, Any]:
        return model_provenance(self.document)


def model_provenance(document: dict[str, Any]) -> dict[str, Any]:
    """A model document's provenance (``{"kind": "unknown"}`` when it records none)."""
    provenance = document.get("provenance")
    if not isinstance(provenance, dict) or not isinstance(provenance.get("kind"), str):
        return {"kind": UNKNOWN_PROVENANCE, "trained_at": document.get("created_at")}
    return dict(provenance)


def is_real(document: dict[str, Any]) -> bool:
    """Whether a model was learnt from real feedback only (and so may serve unforced)."""
    return model_provenance(document)["kind"] == _REAL


def _check_version(version: str) -> str:
    if not isinstance(version, str) or not _VERSION_PATTERN.match(version) or version == DEFAULT_VERSION:
        raise ModelError(f"{str(version)[:60]!r} is not a model version (letters, digits, '.', '_' and '-').")
    return version


def _write_json(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(document, fh, indent=2, sort_keys=False, allow_nan=False)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def model_document(
    ranker: MatchRanker,
    *,
    metrics: dict[str, Any] | None = None,
    training_data: dict[str, Any] | None = None,
    catalog_version: str | None = None,
    created_at: datetime | None = None,
    provenance: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON document of a fitted ranker (see the module docstring), with a fresh version.

    ``provenance`` is :func:`~.provenance.data_provenance` of the learning
    set; ``trained_at`` is added.  Without it the model's kind is ``unknown``
    (hand-set weights, say), which serves only when forced.
    """
    weights = ranker.weights
    if tuple(weights) != FEATURE_NAMES:
        raise ModelError("Only rankers over the match features can be saved.")
    moment = (created_at or datetime.now(timezone.utc)).astimezone(timezone.utc)
    # The date sorts versions; the hash (of the weights, the data and the exact moment)
    # tells apart two models trained in the same second.
    identity = json.dumps([weights, training_data, moment.isoformat()], sort_keys=True, default=str).encode()
    version = f"{moment:%Y%m%d-%H%M%S}-{hashlib.sha256(identity).hexdigest()[:8]}"
    return {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "version": version,
        "created_at": moment.isoformat(timespec="microseconds"),
        "findsupport_version": __version__,
        "features_version": FEATURES_VERSION,
        "feature_names": list(FEATURE_NAMES),
        "feature_scales": FeatureScales().to_dict(),
        "weights": weights,
        "hyperparameters": ranker.hyperparameters(),
        "fitted": {
            "position_bias": float(getattr(ranker, "position_bias_", 0.0)),
            "prior_scale": float(getattr(ranker, "prior_scale_", 1.0)),
            "n_iter": int(getattr(ranker, "n_iter_", 0)),
            "n_sessions": int(getattr(ranker, "n_sessions_", 0)),
        },
        "metrics": metrics or {},
        "training_data": training_data or {},
        "catalog_version": catalog_version,
        **({"provenance": {**provenance, "trained_at": moment.isoformat(timespec="seconds")}} if provenance else {}),
    }


def save_model(settings: Settings, document: dict[str, Any]) -> ModelRecord:
    """Write a model document as ``models_dir/<version>.json`` (never overwriting another model)."""
    version = _check_version(document["version"])
    path = settings.models_dir / f"{version}.json"
    if path.exists():
        raise ModelError(f"A model {version} already exists; not overwriting it.")
    _ranker_from_document(document, str(path))  # refuse to save what could not be loaded
    _write_json(path, document)
    return ModelRecord(version, path, document)


def _fail(where: str, problem: str) -> ModelError:
    return ModelError(f"Ranking model {where} {problem}")


def _ranker_from_document(document: Any, where: str) -> MatchRanker:
    if not isinstance(document, dict) or document.get("format") != MODEL_FORMAT:
        raise _fail(where, f"is not a findsupport ranking model (no \"format\": \"{MODEL_FORMAT}\").")
    fmt = document.get("format_version")
    if fmt != MODEL_FORMAT_VERSION:
        raise _fail(where, f"has format version {fmt!r}; this findsupport reads version {MODEL_FORMAT_VERSION}.")
    if document.get("features_version") != FEATURES_VERSION:
        raise _fail(
            where,
            f"was trained on match features version {document.get('features_version')!r}, but this findsupport "
            f"computes version {FEATURES_VERSION}; retrain it with `findsupport train`.",
        )
    if document.get("feature_names") != list(FEATURE_NAMES):
        raise _fail(where, "names different match features than this findsupport computes; retrain it.")
    if document.get("feature_scales") != FeatureScales().to_dict():
        raise _fail(where, "was trained with different feature scales; retrain it.")
    weights = document.get("weights")
    if not isinstance(weights, dict) or set(weights) != set(FEATURE_NAMES):
        raise _fail(where, "must give one weight for every match feature.")
    bad = [name for name, value in weights.items()
           if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)]
    if bad:
        raise _fail(where, f"has weights that are not finite numbers: {', '.join(sorted(bad))}.")
    hyper = document.get("hyperparameters") or {}
    if not isinstance(hyper, dict):
        raise _fail(where, "has hyperparameters that are not an object.")
    known = {k: v for k, v in hyper.items() if k in HYPERPARAMETERS}
    try:
        ranker = MatchRanker.from_weights({k: float(v) for k, v in weights.items()}, **known)
        ranker._validate_hyperparameters()
    except (TypeError, ValueError) as exc:
        raise _fail(where, f"has unusable hyperparameters: {exc}") from None
    fitted = document.get("fitted") or {}
    if isinstance(fitted, dict):
        ranker.position_bias_ = float(fitted.get("position_bias", 0.0))
        ranker.prior_scale_ = float(fitted.get("prior_scale", 1.0))
    return ranker


def read_model_file(path: str | os.PathLike[str]) -> tuple[MatchRanker, dict[str, Any]]:
    """Load and check one model file; :class:`ModelError` says exactly what is wrong."""
    path = Path(path)
    where = f"file {path.name}"
    try:
        size = path.stat().st_size
        if size > MAX_MODEL_BYTES:
            raise _fail(where, f"is {size:,} bytes; a model file is a few kB.")
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _fail(where, "does not exist.") from None
    except UnicodeDecodeError:
        raise _fail(where, "is not UTF-8 text.") from None
    except json.JSONDecodeError as exc:
        raise _fail(where, f"is not valid JSON ({exc.msg} at line {exc.lineno}).") from None
    except OSError as exc:
        raise _fail(where, f"cannot be read ({exc.strerror}).") from None
    return _ranker_from_document(document, where), document


def load_model(settings: Settings, version: str) -> tuple[MatchRanker, dict[str, Any]]:
    """A saved model by version (``"default"`` gives the default ranker and an empty document)."""
    if version == DEFAULT_VERSION:
        return default_ranker(), {}
    return read_model_file(settings.models_dir / f"{_check_version(version)}.json")


def _active_pointer(settings: Settings) -> dict[str, Any]:
    path = settings.models_dir / ACTIVE_FILE
    try:
        pointer = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"version": DEFAULT_VERSION}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise ModelError(f"The active-model file {ACTIVE_FILE} cannot be read; fix or delete it.") from None
    return pointer if isinstance(pointer, dict) else {}


def active_version(settings: Settings) -> str:
    """The active model's version, or ``"default"``; cheap (one small file), for reload checks."""
    version = _active_pointer(settings).get("version")
    if version == DEFAULT_VERSION:
        return DEFAULT_VERSION
    try:
        return _check_version(version)  # type: ignore[arg-type]
    except ModelError:
        raise ModelError(f"The active-model file {ACTIVE_FILE} does not name a model version.") from None


def activate(settings: Settings, version: str, *, force_simulated: bool = False) -> None:
    """Make a saved model (or ``"default"``) the active one, after checking it loads.

    Parameters
    ----------
    settings : Settings
    version : str
        A saved model's version, or ``"default"`` (the rollback).
    force_simulated : bool
        Activate a model not learnt from real feedback only (simulated, mixed
        or unknown provenance); recorded in the pointer so servers serve it.

    Raises
    ------
    ModelError
        No such model, a model that does not load, or one not learnt from
        real feedback without ``force_simulated``.
    """
    pointer: dict[str, Any] = {"version": version}
    if version != DEFAULT_VERSION:
        _, document = load_model(settings, version)
        if not is_real(document):
            kind = model_provenance(document)["kind"]
            if not force_simulated:
                raise ModelError(
                    f"Model {version} was trained on {kind} data, not real feedback; servers do not serve it. "
                    f"`findsupport model activate {version} --force-simulated` activates it anyway."
                )
            pointer["force_simulated"] = True
    pointer["activated_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    _write_json(settings.models_dir / ACTIVE_FILE, pointer)


def load_active_ranker(settings: Settings) -> tuple[MatchRanker, str]:
    """The ranker to serve and its version: the active model, or ``(default_ranker(), "default")``.

    Raises
    ------
    ModelError
        The active model's file is missing, malformed or was trained on other
        features, or it was not learnt from real feedback and was neither
        activated with ``force_simulated`` nor allowed by the
        ``serve_simulated_models`` setting; the message says which and what
        to do.  (The engine decides to fall back to the default weights and
        logs it.)
    """
    version = active_version(settings)
    if version == DEFAULT_VERSION:
        return default_ranker(), DEFAULT_VERSION
    ranker, document = load_model(settings, version)
    if not is_real(document):
        forced = _active_pointer(settings).get("force_simulated") is True
        if not (forced or getattr(settings, "serve_simulated_models", False)):
            kind = model_provenance(document)["kind"]
            raise ModelError(
                f"Model {version} was trained on {kind} data, not real feedback, and was not activated with "
                f"--force-simulated; not serving it (`findsupport model activate {version} --force-simulated` "
                "or the serve_simulated_models setting would)."
            )
    return ranker, version


def model_summary(settings: Settings, version: str) -> dict[str, Any]:
    """Version, created, provenance and headline metrics of a model (``"default"``: the built-in weights).

    For ``findsupport model list`` and ``/api/v1/health``; a model file that
    cannot be read gives ``{"version": ..., "error": ...}``.
    """
    if version == DEFAULT_VERSION:
        return {"version": DEFAULT_VERSION, "created_at": None, "provenance": {"kind": DEFAULT_VERSION}, "ndcg": None}
    try:
        _, document = load_model(settings, version)
    except ModelError as exc:
        return {"version": version, "error": exc.message}
    return _summary(version, document)


def serving_model(settings: Settings, version: str | None) -> dict[str, Any]:
    """The model a server serves, for ``/api/v1/health``: version, the activated one, created, provenance.

    ``activated`` differs from ``version`` when the activated model cannot be
    served (it fails to load, or it is simulated and was not forced); it is
    ``None`` when the active-model file cannot be read.

    Examples
    --------
    >>> from findsupport.config import load_settings
    >>> serving_model(load_settings({"data_dir": "/nonexistent"}, environ={}), "default")
    {'version': 'default', 'activated': 'default', 'created_at': None, 'provenance': {'kind': 'default'}}
    """
    try:
        activated: str | None = active_version(settings)
    except ModelError:
        activated = None
    if version is None:
        summary: dict[str, Any] = {"provenance": {"kind": UNKNOWN_PROVENANCE}}
    else:
        summary = model_summary(settings, version)
    provenance = summary.get("provenance") or {"kind": UNKNOWN_PROVENANCE}
    return {
        "version": version,
        "activated": activated,
        "created_at": summary.get("created_at"),
        "provenance": {k: provenance[k] for k in HEALTH_PROVENANCE_FIELDS if k in provenance},
    }


def _summary(version: str, document: dict[str, Any]) -> dict[str, Any]:
    ndcg = ((document.get("metrics") or {}).get("ndcg") or {}).get("trained") or {}
    return {
        "version": version,
        "created_at": document.get("created_at"),
        "provenance": model_provenance(document),
        "ndcg": ndcg.get("ndcg"),
        "ndcg_ci95": ndcg.get("ci95"),
        "compared_with": (document.get("metrics") or {}).get("compared_with"),
    }


def list_models(settings: Settings) -> list[ModelRecord]:
    """Every readable saved model, oldest first (unreadable files are skipped)."""
    records = []
    for path in sorted(settings.models_dir.glob("*.json")):
        if path.name == ACTIVE_FILE:
            continue
        try:
            _, document = read_model_file(path)
        except ModelError:
            continue
        records.append(ModelRecord(document["version"], path, document))
    return sorted(records, key=lambda r: (r.document.get("created_at", ""), r.version))
