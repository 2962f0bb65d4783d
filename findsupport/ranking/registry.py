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
held-out fraction), ``catalog_version`` and ``created_at``.

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
]

MODEL_FORMAT = "findsupport-ranking-model"
MODEL_FORMAT_VERSION = 1
#: The version string of the built-in default weights.
DEFAULT_VERSION = "default"
ACTIVE_FILE = "active.json"
#: A model file is a few kB; anything much larger is not one of ours.
MAX_MODEL_BYTES = 1_000_000
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
) -> dict[str, Any]:
    """The JSON document of a fitted ranker (see the module docstring), with a fresh version."""
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


def active_version(settings: Settings) -> str:
    """The active model's version, or ``"default"``; cheap (one small file), for reload checks."""
    path = settings.models_dir / ACTIVE_FILE
    try:
        pointer = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return DEFAULT_VERSION
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise ModelError(f"The active-model file {ACTIVE_FILE} cannot be read; fix or delete it.") from None
    version = pointer.get("version") if isinstance(pointer, dict) else None
    if version == DEFAULT_VERSION:
        return DEFAULT_VERSION
    try:
        return _check_version(version)  # type: ignore[arg-type]
    except ModelError:
        raise ModelError(f"The active-model file {ACTIVE_FILE} does not name a model version.") from None


def activate(settings: Settings, version: str) -> None:
    """Make a saved model (or ``"default"``) the active one, after checking it loads."""
    if version != DEFAULT_VERSION:
        load_model(settings, version)
    _write_json(
        settings.models_dir / ACTIVE_FILE,
        {"version": version, "activated_at": datetime.now(timezone.utc).isoformat(timespec="seconds")},
    )


def load_active_ranker(settings: Settings) -> tuple[MatchRanker, str]:
    """The ranker to serve and its version: the active model, or ``(default_ranker(), "default")``.

    Raises
    ------
    ModelError
        The active model's file is missing, malformed or was trained on other
        features; the message says which and what to do.  (The engine decides
        to fall back to the default weights and logs it.)
    """
    version = active_version(settings)
    if version == DEFAULT_VERSION:
        return default_ranker(), DEFAULT_VERSION
    ranker, _ = load_model(settings, version)
    return ranker, version


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
