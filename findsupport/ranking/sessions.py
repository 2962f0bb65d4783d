"""Reading the feedback log: one search session a JSON line (DESIGN.md).

``{"query": {"postcode", "role", "event", "slots", "mode", "level"},
"results": [{"provider_id", "position", "action"}]}``

``query`` may carry ``lon``/``lat`` instead of ``postcode`` and any other
search field; extra top-level keys (``search_id``, ``model_version``,
``catalog_version``, ``created_at``, as :class:`~.feedback.FeedbackLog`
exports) are kept but not needed.  Every line is checked the way a search is
(:func:`~findsupport.query.parse_query`); a bad line is reported with
its line number and reason and left out, and never stops the good ones.

Each session knows where it came from (:attr:`FeedbackSession.source`):
``"simulated"`` when the line says ``"source": "simulated"`` or carries the
simulator's marks (its logging-policy ``model_version``, a ``sim-`` search id),
``"real"`` otherwise; and who sent it (:attr:`FeedbackSession.client`): the
keyed hash of the client address the feedback log records, or ``None`` for
sessions that carry none (older logs, simulated coaches).

Each session gets a ``key``: a SHA-256 of its canonical JSON.  The held-out
split is decided by that key (:func:`is_held_out`), so a session lands on the
same side in every run, in every file it appears in, on every machine.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .. import taxonomy
from ..errors import FindSupportError, InvalidInput
from ..query import SearchQuery, parse_query
from .simulator import LOGGING_POLICY_VERSION

__all__ = [
    "LoggedResult",
    "FeedbackSession",
    "FeedbackFile",
    "LineProblem",
    "read_feedback",
    "parse_session",
    "session_key",
    "is_held_out",
    "HOLDOUT_SALT",
    "feedback_text",
    "SOURCES",
    "REAL",
    "SIMULATED",
]

#: Salt of the held-out split: changing it would move sessions between train and test.
HOLDOUT_SALT = "findsupport-holdout-v1"
_FEATURE_QUERY_FIELDS = ("postcode", "lon", "lat", "role", "event", "slots", "mode", "level")
#: Where a session came from: coaches using the service, or the coach simulator.
REAL = "real"
SIMULATED = "simulated"
SOURCES: tuple[str, ...] = (REAL, SIMULATED)
#: Search ids the simulator gives its sessions start with this.
_SIMULATED_ID_PREFIX = "sim-"
#: Longest feedback line we read (a page of 50 results is ~5 kB; this leaves room).
MAX_LINE_CHARS = 1_000_000


@dataclass(frozen=True, slots=True)
class LoggedResult:
    provider_id: str
    position: int
    action: str
    #: The outcome check-in's "was it helpful?" (``None``: not said); graded with ``met``.
    helpful: bool | None = None


@dataclass(frozen=True)
class FeedbackSession:
    """One logged search: the validated query and what was shown, with the strongest action on each."""

    query: SearchQuery
    results: tuple[LoggedResult, ...]
    key: str
    line: int = 0
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def source(self) -> str:
        """``"simulated"`` or ``"real"`` (see the module docstring)."""
        given = self.extra.get("source")
        if given in SOURCES:
            return given
        search_id = self.extra.get("search_id")
        if self.extra.get("model_version") == LOGGING_POLICY_VERSION or (
            isinstance(search_id, str) and search_id.startswith(_SIMULATED_ID_PREFIX)
        ):
            return SIMULATED
        return REAL

    @property
    def client(self) -> str | None:
        """The keyed hash of the client that sent the session, or ``None`` when unknown."""
        client = self.extra.get("client")
        return client if isinstance(client, str) and client else None

    @property
    def created_at(self) -> str | None:
        """When the session was logged (ISO 8601 text), when the line says."""
        moment = self.extra.get("created_at")
        return moment if isinstance(moment, str) else None


@dataclass(frozen=True, slots=True)
class LineProblem:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass(frozen=True)
class FeedbackFile:
    """Sessions read from a feedback file, the lines left out, and the SHA-256 of the bytes read."""

    sessions: tuple[FeedbackSession, ...]
    problems: tuple[LineProblem, ...]
    sha256: str
    lines: int


def session_key(data: dict[str, Any]) -> str:
    """SHA-256 of a session's canonical JSON (sorted keys, no spaces)."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def is_held_out(key: str, fraction: float) -> bool:
    """Whether the session with ``key`` belongs to the held-out share ``fraction`` (0-1).

    Examples
    --------
    >>> is_held_out("a" * 64, 0.0), is_held_out("a" * 64, 1.0)
    (False, True)
    """
    if not 0.0 <= fraction <= 1.0:
        raise InvalidInput(f"The held-out fraction must be between 0 and 1; got {fraction}.", field="holdout")
    digest = hashlib.sha256(f"{HOLDOUT_SALT}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64 < fraction


def _problem(message: str) -> InvalidInput:
    return InvalidInput(message)


def parse_session(data: Any, line: int = 0) -> FeedbackSession:
    """Validate one decoded feedback line; :class:`InvalidInput` says what is wrong."""
    if not isinstance(data, dict):
        raise _problem(f"a session must be a JSON object; got {type(data).__name__}")
    query_data, results_data = data.get("query"), data.get("results")
    if not isinstance(query_data, dict):
        raise _problem('"query" must be an object of search fields')
    if not isinstance(results_data, list):
        raise _problem('"results" must be a list of {"provider_id", "position", "action"}')
    # Only the fields that shape features matter; paging and radius do not, and
    # fields this version does not know are ignored rather than losing the session.
    fields = {k: v for k, v in query_data.items() if v is not None and k in _FEATURE_QUERY_FIELDS}
    try:
        query = parse_query(fields, strict=False)
    except FindSupportError as exc:
        raise _problem(f"query: {exc.message}") from None
    results: list[LoggedResult] = []
    seen: set[str] = set()
    for i, item in enumerate(results_data, start=1):
        if not isinstance(item, dict):
            raise _problem(f"result {i} must be an object")
        pid, position, action = item.get("provider_id"), item.get("position"), item.get("action", "shown")
        if not isinstance(pid, str) or not pid.strip():
            raise _problem(f"result {i}: provider_id must be non-empty text")
        if isinstance(position, bool) or not isinstance(position, int) or position < 1:
            raise _problem(f"result {i}: position must be a whole number from 1; got {position!r}")
        if action not in taxonomy.ACTIONS:
            raise _problem(f"result {i}: action must be one of {', '.join(taxonomy.ACTIONS)}; got {action!r}")
        helpful = item.get("helpful")
        if helpful is not None and not isinstance(helpful, bool):
            raise _problem(f"result {i}: helpful must be true, false or null; got {helpful!r}")
        if pid in seen:
            raise _problem(f"result {i}: provider {pid[:40]!r} is listed twice in one session")
        seen.add(pid)
        results.append(LoggedResult(pid, position, action, helpful))
    extra = {k: v for k, v in data.items() if k not in ("query", "results")}
    return FeedbackSession(query=query, results=tuple(results), key=session_key(data), line=line, extra=extra)


def _lines(source: str | os.PathLike[str] | IO[str] | Iterable[str]) -> Iterator[str]:
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            with path.open("r", encoding="utf-8", newline="") as fh:
                yield from fh
        except FileNotFoundError:
            raise InvalidInput(f"Feedback file {path} does not exist.") from None
        except UnicodeDecodeError:
            raise InvalidInput(f"Feedback file {path} is not UTF-8 text.") from None
        except OSError as exc:
            raise InvalidInput(f"Feedback file {path} cannot be read: {exc.strerror}.") from None
    else:
        yield from source


def read_feedback(source: str | os.PathLike[str] | IO[str] | Iterable[str]) -> FeedbackFile:
    """Read a JSON-lines feedback file (a path, an open text file or lines).

    Blank lines are skipped; every other bad line becomes a :class:`LineProblem`
    (line numbers as an editor shows them).  ``sha256`` fingerprints the text
    read, so a model can record exactly which data it was trained on.
    """
    digest = hashlib.sha256()
    sessions: list[FeedbackSession] = []
    problems: list[LineProblem] = []
    number = 0
    for number, raw in enumerate(_lines(source), start=1):
        digest.update(raw.encode("utf-8"))
        text = raw.strip()
        if not text:
            continue
        if len(text) > MAX_LINE_CHARS:
            problems.append(LineProblem(number, f"line longer than {MAX_LINE_CHARS:,} characters"))
            continue
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            problems.append(LineProblem(number, f"not valid JSON ({exc.msg} at column {exc.colno})"))
            continue
        try:
            sessions.append(parse_session(data, number))
        except InvalidInput as exc:
            problems.append(LineProblem(number, exc.message))
    return FeedbackFile(tuple(sessions), tuple(problems), digest.hexdigest(), number)


def feedback_text(sessions: Iterable[dict[str, Any]]) -> io.StringIO:
    """JSON lines of session dicts as an open text file (for reading back with :func:`read_feedback`)."""
    return io.StringIO("".join(json.dumps(s, ensure_ascii=False) + "\n" for s in sessions))
