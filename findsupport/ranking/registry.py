"""Trained rankers and which one is active, in the database every server shares.

A model is a small JSON document — never a pickle, which would run code when
loaded — holding everything needed to serve it and to judge it later:

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

Where they live
---------------
In the database named by the settings (``FINDSUPPORT_DATABASE_URL``, or the
data dir's SQLite file), so a model trained and activated on one server
reaches every other (issue 13):

``ranking_models``
    One row per saved model: ``version`` (the key), the ``document`` as JSON
    text, its ``provenance_kind``, ``created_at`` (when it was trained) and
    ``saved_at``, both aware UTC.  Models are never overwritten nor deleted.
``active_model``
    At most one row: the active ``version`` (no row: ``"default"``, the
    transparent default weights), whether it was ``force_simulated``, when it
    was ``activated_at``, and a ``revision`` that each activation increments.
    Servers poll :func:`active_revision` (one primary-key read) at each reload
    check and load the model only when it changed, so an activation reaches
    every server within the reload interval.

Activations take turns (:func:`~findsupport.db.serialise`: a PostgreSQL
advisory lock, SQLite's write lock), so two at once leave one of them active
with the revision counting both, and a check (the model loads, its
provenance) is never of a model other than the one made active.

Older versions kept each model as ``<data dir>/models/<version>.json`` and the
pointer in ``models/active.json``.  The first time a process opens the
registry (:func:`registry_engine`), every readable model file whose version
the database lacks is copied in, and ``active.json`` becomes the active model
if the database has never had one.  The files are left as they were (delete
them once the database holds the models; nothing reads them again except
this copy).  A migration cannot do this: it does not see the data dir.

**Simulated models do not serve by accident.**  :func:`activate` refuses a
model whose provenance is not ``real`` (a model saved before provenance was
recorded counts as ``unknown``, so not real) unless ``force_simulated``; the
pointer then records that it was forced.  :func:`load_active_ranker` refuses
such a model when the pointer does not say it was forced and the
``serve_simulated_models`` setting is off; the engine then serves the default
weights and logs a warning (issue 12: a notebook trained on 5,000 simulated
sessions and its model went live).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from .. import __version__
from ..config import Settings
from ..db import engine_for, metadata, serialise
from ..errors import FindSupportError, ModelError
from .features import FEATURE_NAMES, FEATURES_VERSION, FeatureScales
from .weights import HYPERPARAMETERS, ServingRanker, default_serving_ranker

if TYPE_CHECKING:  # training only: importing it would load scikit-learn into every server
    from .model import MatchRanker

__all__ = [
    "MODEL_FORMAT",
    "MODEL_FORMAT_VERSION",
    "DEFAULT_VERSION",
    "MODELS_LOCK",
    "ModelRecord",
    "ranking_models_table",
    "active_model_table",
    "registry_engine",
    "model_document",
    "save_model",
    "read_model_file",
    "load_model",
    "activate",
    "active_version",
    "active_revision",
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
#: The pointer file of older versions' ``models`` folder (copied into the database once).
ACTIVE_FILE = "active.json"
#: A model document is a few kB; anything much larger is not one of ours.
MAX_MODEL_BYTES = 1_000_000
#: The lock (:func:`~findsupport.db.serialise`) that activations and the copy of model files take.
MODELS_LOCK = "ranking models"
#: The key of the one ``active_model`` row.
_ACTIVE_ROW = 1
#: Provenance kind of a model that records none (older findsupport versions).
UNKNOWN_PROVENANCE = "unknown"
#: What ``/api/v1/health`` shows of a model's provenance: enough to tell real from simulated
#: and how much data stands behind it, nothing about any one client.
HEALTH_PROVENANCE_FIELDS = ("kind", "sessions", "clients", "first_session", "last_session", "trained_at")
#: The only provenance kind that serves without being forced.
_REAL = "real"
_VERSION_CHARS = 100
_VERSION_PATTERN = re.compile(rf"^[0-9A-Za-z][0-9A-Za-z._-]{{0,{_VERSION_CHARS - 1}}}$")
_KIND_CHARS = 16

log = logging.getLogger(__name__)


ranking_models_table = sa.Table(
    "ranking_models",
    metadata,
    sa.Column("version", sa.String(_VERSION_CHARS), primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("provenance_kind", sa.String(_KIND_CHARS), nullable=False),
    sa.Column("document", sa.Text, nullable=False),
)

active_model_table = sa.Table(
    "active_model",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("version", sa.String(_VERSION_CHARS), nullable=False),
    sa.Column("force_simulated", sa.Boolean, nullable=False),
    sa.Column("activated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revision", sa.Integer, nullable=False),
)


@dataclass(frozen=True)
class ModelRecord:
    """A saved model: its version, its document and when it was saved (aware UTC)."""

    version: str
    document: dict[str, Any]
    saved_at: datetime

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


def model_document(
    ranker: "MatchRanker | ServingRanker",
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
    if not isinstance(ranker, ServingRanker):
        if tuple(ranker.weights) != FEATURE_NAMES:
            raise ModelError("Only rankers over the match features can be saved.")
        ranker = ranker.serving()
    weights = ranker.weights
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
            "position_bias": ranker.position_bias_,
            "prior_scale": ranker.prior_scale_,
            "n_iter": ranker.n_iter_,
            "n_sessions": ranker.n_sessions_,
        },
        "metrics": metrics or {},
        "training_data": training_data or {},
        "catalog_version": catalog_version,
        **({"provenance": {**provenance, "trained_at": moment.isoformat(timespec="seconds")}} if provenance else {}),
    }


_ready: set[tuple[str, str]] = set()
#: :func:`model_summary` by database URL and version (saved models never change).
_summaries: dict[tuple[str, str], dict[str, Any]] = {}
_ready_lock = threading.Lock()


def _utc(moment: datetime) -> datetime:
    """A stored time as aware UTC (SQLite keeps no time zone and hands back the naive UTC it stored)."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _moment(text: Any) -> datetime | None:
    """A document's ISO 8601 time as aware UTC (``None`` when it has none or an unreadable one)."""
    try:
        return _utc(datetime.fromisoformat(text))
    except (TypeError, ValueError):
        return None


def registry_engine(settings: Settings) -> Engine:
    """The database engine of ``settings``, with the model tables, and older model files copied in.

    The first call in a process for a database and data dir copies the model
    files an older findsupport left in ``settings.models_dir`` (see the module
    docstring); later calls only return the engine.
    """
    engine = engine_for(settings.resolved_database_url)
    key = (settings.resolved_database_url, str(settings.models_dir))
    if key in _ready:
        return engine
    with _ready_lock:
        if key not in _ready:
            metadata.create_all(engine, tables=[ranking_models_table, active_model_table])
            _copy_model_files(engine, settings.models_dir)
            _ready.add(key)
    return engine


def _insert_model(conn: Connection, document: dict[str, Any], text: str, now: datetime) -> None:
    conn.execute(sa.insert(ranking_models_table).values(
        version=document["version"], created_at=_moment(document.get("created_at")) or now, saved_at=now,
        provenance_kind=model_provenance(document)["kind"][:_KIND_CHARS], document=text,
    ))  # fmt: skip


def _copy_model_files(engine: Engine, directory: Path) -> None:
    """Copy an older version's model files and active pointer into the database (once; idempotent)."""
    try:
        paths = sorted(path for path in directory.glob("*.json") if path.name != ACTIVE_FILE)
        pointer_path = directory / ACTIVE_FILE
        has_pointer = pointer_path.is_file()
    except OSError:
        return
    if not paths and not has_pointer:
        return
    with engine.connect() as conn:  # the usual start after the copy: nothing to do, no write lock taken
        stored = set(conn.execute(sa.select(ranking_models_table.c.version)).scalars())
        pointed = conn.execute(sa.select(active_model_table.c.id)).first() is not None
    if {path.stem for path in paths} <= stored and (pointed or not has_pointer):
        return
    copied: list[str] = []
    now = datetime.now(timezone.utc)
    with engine.begin() as conn:
        serialise(conn, MODELS_LOCK)  # two servers starting at once copy the files once
        stored = set(conn.execute(sa.select(ranking_models_table.c.version)).scalars())
        for path in paths:
            try:
                _, document = read_model_file(path)
                version = _check_version(document.get("version"))
            except ModelError as exc:
                log.warning("model file %s not copied into the database: %s", path, exc.message)
                continue
            if version not in stored:
                _insert_model(conn, document, _document_text(document), now)
                stored.add(version)
                copied.append(version)
        if has_pointer and conn.execute(sa.select(active_model_table.c.id)).first() is None:
            pointer = _pointer_file(pointer_path)
            version = pointer.get("version")
            if version == DEFAULT_VERSION or version in stored:
                _write_pointer(conn, version, pointer.get("force_simulated") is True, now)
                log.info("the active model is now %s, as %s said", version, pointer_path)
            else:
                log.warning("%s names no model that could be copied (%r); the default weights are active",
                            pointer_path, str(version)[:60])
    if copied:
        log.info("copied %d model file(s) from %s into the database: %s (the files are no longer used)",
                 len(copied), directory, ", ".join(copied))


def _pointer_file(path: Path) -> dict[str, Any]:
    try:
        pointer = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return pointer if isinstance(pointer, dict) else {}


def _document_text(document: dict[str, Any]) -> str:
    try:
        text = json.dumps(document, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ModelError(f"Model {document.get('version')} cannot be saved as JSON: {exc}") from None
    if len(text) > MAX_MODEL_BYTES:
        raise ModelError(f"Model {document.get('version')} is {len(text):,} bytes; a model is a few kB.")
    return text


def save_model(settings: Settings, document: dict[str, Any]) -> ModelRecord:
    """Save a model document in the database (never overwriting another model).

    Raises
    ------
    ModelError
        The document does not load as a model, or a model of its version exists.
    """
    version = _check_version(document.get("version"))
    _ranker_from_document(document, version)  # refuse to save what could not be loaded
    text = _document_text(document)
    now = datetime.now(timezone.utc)
    engine = registry_engine(settings)
    try:
        with engine.begin() as conn:
            _insert_model(conn, document, text, now)
    except sa.exc.IntegrityError:
        raise ModelError(f"A model {version} already exists; not overwriting it.") from None
    return ModelRecord(version, json.loads(text), now)


def _fail(where: str, problem: str) -> ModelError:
    return ModelError(f"Ranking model {where} {problem}")


def _ranker_from_document(document: Any, where: str) -> ServingRanker:
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
    fitted = document.get("fitted") or {}
    fitted = fitted if isinstance(fitted, dict) else {}
    try:
        return ServingRanker(
            {k: float(v) for k, v in weights.items()},
            {k: v for k, v in hyper.items() if k in HYPERPARAMETERS},
            position_bias=float(fitted.get("position_bias", 0.0)),
            prior_scale=float(fitted.get("prior_scale", 1.0)),
            n_iter=int(fitted.get("n_iter", 0)),
            n_sessions=int(fitted.get("n_sessions", 0)),
        )
    except (TypeError, ValueError) as exc:
        raise _fail(where, f"has unusable hyperparameters: {exc}") from None


def read_model_file(path: str | os.PathLike[str]) -> tuple[ServingRanker, dict[str, Any]]:
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


def _stored_document(conn: Connection, version: str) -> dict[str, Any]:
    text = conn.execute(
        sa.select(ranking_models_table.c.document).where(ranking_models_table.c.version == version)
    ).scalar()
    if text is None:
        raise ModelError(f"Model {version} does not exist in the database; `findsupport model list` shows those saved.")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _fail(version, f"is not valid JSON ({exc.msg} at line {exc.lineno}).") from None


def load_model(settings: Settings, version: str) -> tuple[ServingRanker, dict[str, Any]]:
    """A saved model by version (``"default"`` gives the default ranker and an empty document).

    Raises
    ------
    ModelError
        Not a version, no such model, or one that does not load (trained on other features, say).
    """
    if version == DEFAULT_VERSION:
        return default_serving_ranker(), {}
    version = _check_version(version)
    with registry_engine(settings).connect() as conn:
        document = _stored_document(conn, version)
    return _ranker_from_document(document, version), document


def _active_pointer(settings: Settings) -> dict[str, Any]:
    """The active-model row as a dict (``{"version": "default", "revision": 0}`` before any activation)."""
    with registry_engine(settings).connect() as conn:
        row = conn.execute(sa.select(active_model_table).where(active_model_table.c.id == _ACTIVE_ROW)).mappings().first()
    if row is None:
        return {"version": DEFAULT_VERSION, "force_simulated": False, "activated_at": None, "revision": 0}
    return dict(row)


def active_version(settings: Settings) -> str:
    """The active model's version, or ``"default"``."""
    return _active_pointer(settings)["version"]


def active_revision(settings: Settings) -> int:
    """How many activations the database has seen: a server reloads its model when this changes.

    One primary-key read, cheap enough for every reload check (0 before any activation).
    """
    with registry_engine(settings).connect() as conn:
        revision = conn.execute(
            sa.select(active_model_table.c.revision).where(active_model_table.c.id == _ACTIVE_ROW)
        ).scalar()
    return int(revision or 0)


def _write_pointer(conn: Connection, version: str, force_simulated: bool, now: datetime) -> int:
    """Make ``version`` the active model (in ``conn``'s transaction, under :data:`MODELS_LOCK`); the new revision."""
    table = active_model_table
    values = {"version": version, "force_simulated": force_simulated, "activated_at": now}
    updated = conn.execute(
        sa.update(table).where(table.c.id == _ACTIVE_ROW).values(**values, revision=table.c.revision + 1)
    ).rowcount
    if not updated:
        conn.execute(sa.insert(table).values(id=_ACTIVE_ROW, **values, revision=1))
    return int(conn.execute(sa.select(table.c.revision).where(table.c.id == _ACTIVE_ROW)).scalar_one())


def activate(settings: Settings, version: str, *, force_simulated: bool = False) -> int:
    """Make a saved model (or ``"default"``) the active one on every server, after checking it loads.

    Parameters
    ----------
    settings : Settings
    version : str
        A saved model's version, or ``"default"`` (the rollback).
    force_simulated : bool
        Activate a model not learnt from real feedback only (simulated, mixed
        or unknown provenance); recorded with it so servers serve it.

    Returns
    -------
    int
        The new :func:`active_revision`; every server switches at its next reload check.

    Raises
    ------
    ModelError
        No such model, a model that does not load, or one not learnt from
        real feedback without ``force_simulated``.
    """
    forced = False
    if version != DEFAULT_VERSION:
        version = _check_version(version)
    with registry_engine(settings).begin() as conn:
        serialise(conn, MODELS_LOCK)  # first: two activations at once take turns
        if version != DEFAULT_VERSION:
            document = _stored_document(conn, version)
            _ranker_from_document(document, version)
            if not is_real(document):
                kind = model_provenance(document)["kind"]
                if not force_simulated:
                    raise ModelError(
                        f"Model {version} was trained on {kind} data, not real feedback; servers do not serve it. "
                        f"`findsupport model activate {version} --force-simulated` activates it anyway."
                    )
                forced = True
        return _write_pointer(conn, version, forced, datetime.now(timezone.utc))


def load_active_ranker(settings: Settings) -> tuple[ServingRanker, str]:
    """The ranker to serve and its version: the active model, or the default weights and ``"default"``.

    The ranker is a :class:`~.weights.ServingRanker` (no scikit-learn);
    :meth:`~.model.MatchRanker.from_serving` makes an estimator of it for training.

    Raises
    ------
    ModelError
        The active model does not load (trained on other features, say), or
        it was not learnt from real feedback and was neither activated with
        ``force_simulated`` nor allowed by the ``serve_simulated_models``
        setting; the message says which and what to do.  (The engine decides
        to fall back to the default weights and logs it.)
    """
    pointer = _active_pointer(settings)
    version = pointer["version"]
    if version == DEFAULT_VERSION:
        return default_serving_ranker(), DEFAULT_VERSION
    ranker, document = load_model(settings, version)
    if not is_real(document):
        if not (pointer["force_simulated"] or getattr(settings, "serve_simulated_models", False)):
            kind = model_provenance(document)["kind"]
            raise ModelError(
                f"Model {version} was trained on {kind} data, not real feedback, and was not activated with "
                f"--force-simulated; not serving it (`findsupport model activate {version} --force-simulated` "
                "or the serve_simulated_models setting would)."
            )
    return ranker, version


def model_summary(settings: Settings, version: str) -> dict[str, Any]:
    """Version, created, provenance and headline metrics of a model (``"default"``: the built-in weights).

    For ``findsupport model list`` and ``/api/v1/health``; a model that does
    not load gives ``{"version": ..., "error": ...}``.  A saved model never
    changes, so its summary is read from the database once per process.
    """
    if version == DEFAULT_VERSION:
        return {"version": DEFAULT_VERSION, "created_at": None, "provenance": {"kind": DEFAULT_VERSION}, "ndcg": None}
    key = (settings.resolved_database_url, version)
    summary = _summaries.get(key)
    if summary is None:
        try:
            _, document = load_model(settings, version)
        except ModelError as exc:
            return {"version": version, "error": exc.message}
        summary = _summaries[key] = _summary(version, document)
    return dict(summary)


def serving_model(settings: Settings, version: str | None) -> dict[str, Any]:
    """The model a server serves, for ``/api/v1/health``: version, the activated one, created, provenance.

    ``activated`` differs from ``version`` when the activated model cannot be
    served (it fails to load, or it is simulated and was not forced), or
    while this server has not yet reached its next reload check; it is
    ``None`` when the database cannot be read.

    Examples
    --------
    >>> import tempfile
    >>> from findsupport.config import load_settings
    >>> serving_model(load_settings({"data_dir": tempfile.mkdtemp()}, environ={}), "default")
    {'version': 'default', 'activated': 'default', 'created_at': None, 'provenance': {'kind': 'default'}}
    """
    try:
        activated: str | None = active_version(settings)
    except (FindSupportError, sa.exc.SQLAlchemyError) as exc:  # health must answer while the database is away
        log.warning("the active model cannot be read: %s", exc)
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
    """Every saved model, oldest first (a stored document that is not JSON is skipped)."""
    table = ranking_models_table
    query = sa.select(table.c.version, table.c.document, table.c.saved_at).order_by(table.c.created_at, table.c.version)
    records = []
    with registry_engine(settings).connect() as conn:
        for version, text, saved_at in conn.execute(query):
            try:
                document = json.loads(text)
            except json.JSONDecodeError:
                log.warning("model %s in the database is not valid JSON; not listed", version)
                continue
            records.append(ModelRecord(version, document, _utc(saved_at)))
    return records
