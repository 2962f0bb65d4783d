"""``findsupport search``: ranked providers near a postcode, one query or a file of them.

``findsupport search POSTCODE [--role R] [--event E] [--slots mon_eve,sat_am] [--mode M]
[--level Q] [--radius-km 25] [--limit 10] [--offset 0] [--json]``
    A readable table (rank, name, area, distance, score, reasons, what is
    missing), or the API's JSON with ``--json``.  ``--lon``/``--lat`` may
    replace the postcode.
``findsupport search --batch QUERIES.jsonl [--json] [--workers N]``
    One JSON query object a line (the query fields of DESIGN.md plus an
    ``id``); one JSON result a line on stdout, in input order, each with the
    query's ``id`` and its ``line`` number.  A line that fails gives
    ``{"id": ..., "line": N, "error": ..., "status": ...}`` and the rest go
    on; the exit status is 1 if any line failed.  Blank lines are skipped.
    ``-`` reads standard input.  Lines are answered by ``--workers``
    processes (default: one per CPU core), forked once the engine is built
    so they share its memory; output order and ids are the input's.

Neither logs feedback sessions unless ``--log-feedback`` is given: command
line searches are an operator's or an analyst's, and training on them
would teach the ranker what analysts click, not coaches.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from contextlib import AbstractContextManager, nullcontext
from typing import IO, Any

import orjson

from .. import taxonomy
from ..config import Settings
from ..errors import FindSupportError, InvalidQuery
from ..geo import ATTRIBUTION

__all__ = ["register", "run", "run_batch", "batch_lines", "default_workers", "BATCH_CHUNK_LINES"]

#: Width of the name column of the table (longer names are cut with an ellipsis).
NAME_WIDTH = 24


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "search",
        parents=[common],
        help="find providers near a postcode (or run a file of queries)",
        description="Ranked mentors, coach developers, technical advisors and co-coaches near a postcode, "
        "district (NE21) or sector (NE21 4), with the reasons for each match. "
        f"{ATTRIBUTION}.",
    )
    parser.add_argument("postcode", nargs="*", metavar="POSTCODE", help="postcode, sector or district (quotes optional)")
    parser.add_argument("--lon", help="longitude in degrees (with --lat, instead of a postcode)")
    parser.add_argument("--lat", help="latitude in degrees")
    parser.add_argument("--role", help=f"one of {', '.join(taxonomy.ROLES)}")
    parser.add_argument("--event", help="an event (hurdles) or an event group (jumps)")
    parser.add_argument("--slots", help="when you are free, comma-separated: mon_eve,sat_am")
    parser.add_argument("--mode", help=f"one of {', '.join(taxonomy.MODES)} (default in_person)")
    parser.add_argument("--level", help="your own qualification (assistant_coach ... advanced_coach)")
    parser.add_argument("--radius-km", dest="radius_km", help="search radius for in-person support (default 25)")
    parser.add_argument("--limit", help="results per page (default 10)")
    parser.add_argument("--offset", help="skip this many results (paging)")
    parser.add_argument("--json", action="store_true", help="JSON output (the API's response shape)")
    parser.add_argument("--batch", metavar="QUERIES.jsonl", help="answer a JSON-lines file of queries ('-': stdin)")
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="processes answering a --batch (default: one per CPU core; 1: this process only)",
    )
    parser.add_argument(
        "--log-feedback",
        action="store_true",
        help="record the results shown as feedback sessions (off: analysis is not coaches' behaviour)",
    )
    parser.set_defaults(handler=run)


def _query_params(args: argparse.Namespace) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if args.postcode:
        params["postcode"] = " ".join(args.postcode)
    for name in ("lon", "lat", "role", "event", "slots", "mode", "level", "radius_km", "limit", "offset"):
        value = getattr(args, name)
        if value is not None:
            params[name] = value
    return params


def run(args: argparse.Namespace, settings: Settings) -> int:
    from ..cli import progress_printer
    from ..introductions.stats import replies_within_by_provider
    from ..search.engine import Engine
    from ..search.query import parse_query

    if args.batch is None and not (args.postcode or args.lon or args.lat):
        raise InvalidQuery("Give a postcode (e.g. findsupport search NE21 4LZ), --lon/--lat, or --batch FILE.", field="postcode")
    if args.batch is not None and (args.postcode or _query_params(args)):
        raise InvalidQuery("--batch takes its queries from the file; leave out the postcode and query flags.", field="batch")
    if args.workers is not None and (args.batch is None or args.workers < 1):
        raise InvalidQuery("--workers takes a whole number of at least 1, with --batch.", field="workers")
    # Everything that can be checked without the catalogue is checked before the
    # (seconds-long, at scale) engine start-up, so a mistake is reported at once.
    query = parse_query(_query_params(args)) if args.batch is None else None
    source = _open_batch_file(args.batch) if args.batch is not None else None
    say = progress_printer(args)
    engine = Engine.open(settings, progress=say, feedback=args.log_feedback, reverse=False)
    # Results say how soon each provider usually replies, as the web API's do (batch workers inherit it).
    engine.follow_responsiveness(partial(replies_within_by_provider, engine.store.engine, settings.responsiveness_min_answered))
    if len(engine.catalog) == 0 and say:
        say("the catalogue is empty: add providers with `findsupport import FILE` or `findsupport demo`")
    if source is not None:
        with source as lines:
            return _run_batch(engine, lines, log=args.log_feedback, workers=args.workers)
    response = engine.search(query, log=args.log_feedback)
    if args.json:
        print(json.dumps(response.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(format_table(response))
        for note in response.notes:
            print(f"note: {note}", file=sys.stderr)
    print(ATTRIBUTION, file=sys.stderr)
    return 0


# ---------------------------------------------------------------------- batch
#: Lines handed to a worker at a time: large enough that passing them between
#: processes costs little against answering them (~0.5 ms a line), small enough
#: that output starts soon and the workers finish together.
BATCH_CHUNK_LINES = 256


def default_workers() -> int:
    """One batch worker per CPU core this process may run on."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not Linux
        return max(os.cpu_count() or 1, 1)


def _open_batch_file(path: str) -> AbstractContextManager[IO[str]]:
    """The batch file to read in a ``with`` (``-``: standard input, left open), or a clear error."""
    if path == "-":
        return nullcontext(sys.stdin)
    try:
        return open(path, encoding="utf-8")
    except OSError as exc:
        raise InvalidQuery(f"Cannot read the batch file {path}: {exc.strerror}.", field="batch") from None


def _run_batch(engine: Any, source: IO[str], *, log: bool, workers: int | None) -> int:
    workers = default_workers() if workers is None else workers
    failed = run_batch(engine, source, sys.stdout, log=log, workers=workers)
    print(ATTRIBUTION, file=sys.stderr)
    return 1 if failed else 0


def batch_lines(lines: Iterable[str]) -> Iterator[tuple[int, Any]]:
    """``(line number, query object or error)`` for each non-blank line, in order."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        yield number, _query_object(number, line)


def _query_object(number: int, line: str) -> Any:
    try:
        item = json.loads(line)
    except (json.JSONDecodeError, RecursionError) as exc:
        return InvalidQuery(f"Line {number} is not valid JSON: {getattr(exc, 'msg', 'too deeply nested')}.", field="line")
    if not isinstance(item, dict):
        return InvalidQuery(f"Line {number} must be a JSON object of query fields; got {type(item).__name__}.", field="line")
    return item


def run_batch(engine: Any, lines: Iterable[str], out: IO[str], *, log: bool = False, workers: int = 1) -> int:
    """Answer each query line with one JSON line on ``out``, in order; returns how many failed.

    With ``workers`` > 1 the lines are answered by that many processes forked
    from this one (the engine is shared copy-on-write), a chunk of lines at a
    time, and written in input order.  Searches that log feedback run here,
    one process writing the log.

    Lines travel as UTF-8 bytes from the encoder to ``out``'s binary buffer
    when it has one (standard output, a file): ten results make about 10 kB,
    and decoding each line to text only for the stream (and the pipe between
    processes) to encode it again costs a 20,000-line batch two passes over
    200 MB.
    """
    write = _byte_writer(out)
    if workers <= 1 or log or not hasattr(os, "fork"):
        failed = _answer(engine, enumerate(lines, start=1), write, log=log)
        out.flush()
        return failed
    failed = 0
    global _BATCH_ENGINE
    _BATCH_ENGINE = engine  # inherited by the forked workers
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            for data, chunk_failed in pool.imap(_answer_chunk, _chunks(lines, BATCH_CHUNK_LINES)):
                write(data)
                failed += chunk_failed
    finally:
        _BATCH_ENGINE = None
    out.flush()
    return failed


_BATCH_ENGINE: Any = None


def _byte_writer(out: IO[str]) -> Callable[[bytes], Any]:
    """Write UTF-8 bytes to ``out``: to its binary buffer when it has one, else decoded."""
    buffer = getattr(out, "buffer", None)
    if buffer is None:
        return lambda data: out.write(data.decode("utf-8"))
    out.flush()  # anything already written as text goes first
    return buffer.write


def _chunks(lines: Iterable[str], size: int) -> Iterator[list[tuple[int, str]]]:
    chunk: list[tuple[int, str]] = []
    for number, line in enumerate(lines, start=1):
        chunk.append((number, line))
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _answer_chunk(chunk: list[tuple[int, str]]) -> tuple[bytes, int]:
    """In a worker: the output of a chunk of lines (UTF-8), and how many failed."""
    parts: list[bytes] = []
    failed = _answer(_BATCH_ENGINE, chunk, parts.append, log=False)
    return b"".join(parts), failed


def _answer(engine: Any, numbered: Iterable[tuple[int, str]], write: Callable[[bytes], Any], *, log: bool) -> int:
    failed = 0
    encode = _encode_line
    for number, line in numbered:
        if not line.strip():
            continue
        item = _query_object(number, line)
        query_id = item.get("id") if isinstance(item, dict) else None
        if isinstance(query_id, (dict, list)):
            query_id = None  # an unusable id is reported by the query check below, not echoed
        try:
            if isinstance(item, FindSupportError):
                raise item
            body = engine.search(item, log=log).to_dict()
        except FindSupportError as exc:
            failed += 1
            body = {"error": exc.message, "status": exc.http_status, "code": exc.code, **_error_extra(exc)}
        write(encode({"id": query_id, "line": number, **body}))
    return failed


def _encode_line(body: dict[str, Any]) -> bytes:
    """One compact JSON line, UTF-8, with its newline.

    orjson writes a ten-result line (about 10 kB) in a quarter of the time of
    the standard library's C encoder; side by side, one worker's batch loop went
    from 836 to 1,180 queries/s at 100,000 providers.  The few things it refuses
    (an ``id`` integer beyond 64 bits, say) fall back to the standard library,
    written as compactly, so every line is JSON either way.
    """
    try:
        return orjson.dumps(body, option=orjson.OPT_APPEND_NEWLINE)
    except (orjson.JSONEncodeError, TypeError):
        pass
    try:
        return (_FALLBACK(body) + "\n").encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (an id of "\\ud800" in the file) has no UTF-8: escape it
        return (_ASCII_FALLBACK(body) + "\n").encode("ascii")


_FALLBACK: Callable[[Any], str] = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_ASCII_FALLBACK: Callable[[Any], str] = json.JSONEncoder(separators=(",", ":")).encode


def _error_extra(error: FindSupportError) -> dict[str, Any]:
    return {key: error.extra[key] for key in ("field", "suggestions") if key in error.extra}


# ---------------------------------------------------------------------- table
def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def format_table(response: Any) -> str:
    """The response as a table a person reads in a terminal."""
    query = response.query
    who = f"{taxonomy.ROLE_LABELS[query.role]}s" if query.role else "Providers"
    where = response.location.postcode
    how = {
        "in_person": f"in person, within {query.radius_km:g} km",
        "online": "online",
        "any": f"in person within {query.radius_km:g} km or online",
    }[query.mode]
    shown = len(response.results)
    first = query.offset + 1
    span = f"{first}-{query.offset + shown}" if shown else "none"
    lines = [f"{who} near {where} ({how}): {span} of {response.total}"]
    if not shown:
        return lines[0]
    lines.append(f"{'#':>3}  {'Name':<{NAME_WIDTH}}  {'Area':<7} {'Distance':>9}  {'Score':>6}  Why")
    indent = " " * (3 + 2 + NAME_WIDTH + 2 + 7 + 1 + 9 + 2 + 6 + 2)
    for result in response.results:
        provider = result.provider
        reasons = " · ".join(result.reasons) or "-"
        lines.append(
            f"{result.position:>3}  {_cut(provider.name, NAME_WIDTH):<{NAME_WIDTH}}  {provider.area:<7} "
            f"{result.distance_km:>6.1f} km  {result.score:>6.2f}  {reasons}"
        )
        if result.missing:
            lines.append(f"{indent}missing: {'; '.join(result.missing)}")
    return "\n".join(lines)
