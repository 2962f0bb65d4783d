"""``findsupport train``, ``evaluate``, ``feedback`` and ``model``: learning the ranking from what coaches chose.

``findsupport train FEEDBACK.jsonl [--force] [--force-simulated] [--holdout 0.2] [--no-search]``
    Recompute features against the catalogue, count each client's repeated
    searches once and cap every client's share, fit on the training sessions,
    print NDCG@10 on the held-out sessions beside nearest-first, the default
    weights and the active model, save the model file with its provenance,
    and activate it only if it is no worse than the active model (``--force``
    activates anyway), its choices come from enough distinct clients, and it
    learnt from real feedback (``--force-simulated`` allows simulated).
    Exit status 0 when activated, 1 when saved but not activated.
``findsupport model list [--json]``
    Every saved model: version, when created, provenance (real, simulated,
    mixed; sessions, distinct clients, date range), NDCG@10, and which one
    is active (and whether it serves).
``findsupport model activate VERSION|default [--force-simulated]``
    Make a model (or the built-in default weights: the one-line rollback)
    the active one; servers pick it up at their next reload check.  A model
    not learnt from real feedback only activates with ``--force-simulated``.
``findsupport evaluate FEEDBACK.jsonl [--all] [--json]``
    The active model beside the baselines, on the held-out share of the
    sessions (``--all``: every session, for feedback newer than the model):
    overall, by mode (in person, online, any) and by role, and how far each
    mode trails in-person searches for the serving ranking.
``findsupport feedback export FILE``
    The logged search sessions as JSON lines (``-`` for standard output).
``findsupport feedback simulate FILE [--sessions N] [--seed N]``
    Synthetic feedback from simulated coaches over the current catalogue
    (see :mod:`findsupport.ranking.simulator`), for demos and notebooks.

Lines of a feedback file that are not valid sessions are reported on stderr
with their line numbers and left out.
"""

from __future__ import annotations

import argparse
import json
import sys

from typing import TYPE_CHECKING

from ..config import Settings
from ..errors import CatalogError, InvalidInput
from .postcode import load_directory

if TYPE_CHECKING:  # the ranking package pulls in scikit-learn: import it only when a command runs
    from ..catalog.public import PublicCatalog
    from ..ranking.sessions import FeedbackFile

__all__ = ["register"]

#: Bad feedback lines echoed one by one; the rest are counted.
MAX_PROBLEMS_SHOWN = 10
#: Simulated sessions by default: enough for a stable held-out NDCG.
DEFAULT_SIMULATED_SESSIONS = 5000


def _holdout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number between 0 and 1; got {text!r}") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive); got {value:g}")
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number; got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1; got {value}")
    return value


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "train",
        parents=[common],
        help="train the ranking from a feedback log",
        description="Fit the ranking on what coaches chose, show NDCG@10 on held-out sessions beside "
        "nearest-first, the default weights and the active model, save the model, and activate it if it is "
        "no worse than the active one. Exit status 1 when saved but not activated.",
    )
    parser.add_argument("feedback", metavar="FEEDBACK.jsonl", help="feedback log (JSON lines, one session a line)")
    parser.add_argument("--force", action="store_true", help="activate the new model even if it scores lower")
    parser.add_argument("--force-simulated", action="store_true",
                        help="activate it even if it learnt from simulated sessions (demos only)")
    parser.add_argument("--holdout", type=_holdout, default=None, help="share of sessions held out (default 0.2)")
    parser.add_argument("--no-search", action="store_true", help="skip the hyper-parameter grid search (faster)")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    parser.set_defaults(handler=run_train)

    parser = subparsers.add_parser(
        "evaluate",
        parents=[common],
        help="evaluate the active ranking on a feedback log",
        description="NDCG@10 of the active model beside nearest-first and the default weights, on the held-out "
        "share of the sessions (the split training uses), or on every session with --all: overall, by mode "
        "(in_person, online, any) and by role.",
    )
    parser.add_argument("feedback", metavar="FEEDBACK.jsonl", help="feedback log (JSON lines, one session a line)")
    parser.add_argument("--all", action="store_true", help="use every session (feedback newer than the model)")
    parser.add_argument("--holdout", type=_holdout, default=None, help="share of sessions held out (default 0.2)")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    parser.set_defaults(handler=run_evaluate)

    parser = subparsers.add_parser(
        "feedback",
        parents=[common],
        help="export or simulate feedback (search sessions)",
        description="Export the logged search sessions, or write simulated ones for demos.",
    )
    actions = parser.add_subparsers(dest="feedback_command", metavar="ACTION", required=True)
    export = actions.add_parser(
        "export",
        parents=[common],
        help="write the logged sessions as JSON lines",
        description="Write every logged search session as one JSON line (DESIGN.md feedback format).",
    )
    export.add_argument("file", metavar="FILE", help="output file, or - for standard output")
    export.set_defaults(handler=run_export)
    simulate = actions.add_parser(
        "simulate",
        parents=[common],
        help="write synthetic feedback from simulated coaches",
        description="Simulated coaches search the current catalogue (nearest first with exploration) and "
        "choose with position bias; the sessions are written as JSON lines. Synthetic: for demos and notebooks.",
    )
    simulate.add_argument("file", metavar="FILE", help="output file")
    simulate.add_argument("--sessions", type=_positive, default=DEFAULT_SIMULATED_SESSIONS, help="how many sessions (default 5000)")
    simulate.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    simulate.set_defaults(handler=run_simulate)

    parser = subparsers.add_parser(
        "model",
        parents=[common],
        help="list the saved ranking models, or activate one (or the default weights)",
        description="List saved ranking models with their provenance and metrics, or choose the active one. "
        "`findsupport model activate default` rolls back to the built-in weights.",
    )
    actions = parser.add_subparsers(dest="model_command", metavar="ACTION", required=True)
    listing = actions.add_parser(
        "list",
        parents=[common],
        help="every saved model, its provenance and metrics, and which is active",
        description="Every saved model (oldest first): version, created, provenance, NDCG@10, and which is active.",
    )
    listing.add_argument("--json", action="store_true", help="print one JSON object")
    listing.set_defaults(handler=run_model_list)
    choose = actions.add_parser(
        "activate",
        parents=[common],
        help="make a saved model (or default) the active one",
        description="Make a saved model, or `default` (the built-in weights), the active one; servers pick it "
        "up at their next reload check. A model not learnt from real feedback needs --force-simulated.",
    )
    choose.add_argument("version", metavar="VERSION", help="a version from `findsupport model list`, or default")
    choose.add_argument("--force-simulated", action="store_true",
                        help="activate a model learnt from simulated or mixed sessions (servers then serve it)")
    choose.set_defaults(handler=run_model_activate)


def _say(args: argparse.Namespace):
    from ..cli import progress_printer

    return progress_printer(args)


def _holdout_of(args: argparse.Namespace) -> float:
    from ..ranking.training import DEFAULT_HOLDOUT

    return DEFAULT_HOLDOUT if args.holdout is None else args.holdout


def _catalog(settings: Settings) -> PublicCatalog:
    from ..catalog import CatalogStore

    catalog = CatalogStore.open(settings).public_catalog()
    if len(catalog) == 0:
        raise CatalogError("The catalogue is empty; import providers first (findsupport import FILE, or findsupport demo).")
    return catalog


def _read(path: str) -> FeedbackFile:
    from ..ranking.sessions import read_feedback

    feedback = read_feedback(path)
    for problem in feedback.problems[:MAX_PROBLEMS_SHOWN]:
        print(f"{path}:{problem.line}: {problem.reason}", file=sys.stderr)
    hidden = len(feedback.problems) - MAX_PROBLEMS_SHOWN
    if hidden > 0:
        print(f"{path}: {hidden:,} more lines were not valid sessions", file=sys.stderr)
    if not feedback.sessions:
        raise InvalidInput(f"{path} has no valid search sessions.")
    return feedback


def run_train(args: argparse.Namespace, settings: Settings) -> int:
    from ..ranking.training import DEFAULT_GRID, train_model

    say = _say(args)
    feedback = _read(args.feedback)
    catalog = _catalog(settings)
    directory = load_directory(settings, args)
    result = train_model(
        feedback,
        catalog,
        directory,
        settings,
        holdout=_holdout_of(args),
        param_grid=None if args.no_search else DEFAULT_GRID,
        force=args.force,
        allow_simulated=args.force_simulated,
        progress=say,
    )
    if args.json:
        print(json.dumps({
            "version": result.record.version if result.record else None,
            "activated": result.activated,
            "decision": result.decision,
            "evaluation": result.evaluation.to_dict(),
            "weights": result.ranker.weights,
            "hyperparameters": result.document["hyperparameters"],
            "report": result.report.to_dict(),
            "provenance": result.document.get("provenance"),
        }))
    else:
        print(result.evaluation.table())
        _print_splits(result.evaluation, "trained", result.evaluation.trailing("trained"))
        print()
        print(f"model {result.record.version if result.record else '(not saved)'}: {result.decision}")
        if result.record is not None:
            print("saved in the database (`findsupport model list` shows it)")
    return 0 if result.activated else 1


def run_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    from ..ranking.training import evaluate_active

    holdout = _holdout_of(args)
    say = _say(args)
    feedback = _read(args.feedback)
    catalog = _catalog(settings)
    directory = load_directory(settings, args)
    evaluation, report, version = evaluate_active(
        feedback, catalog, directory, settings, holdout=None if args.all else holdout
    )
    if say:
        for line in report.lines():
            say(line)
    serving = "active" if "active" in evaluation else "default"
    trailing = evaluation.trailing(serving)
    if args.json:
        print(json.dumps({
            "active_version": version,
            "evaluation": evaluation.to_dict(),
            "trailing_in_person": {mode: round(gap, 4) for mode, gap in trailing.items()},
            "report": report.to_dict(),
        }))
    else:
        which = "all sessions" if args.all else f"held-out sessions ({holdout:g} of the file)"
        print(f"active model: {version}; NDCG@{evaluation.k} on {which}")
        print(evaluation.table())
        _print_splits(evaluation, serving, trailing)
    return 0


def _print_splits(evaluation, serving: str, trailing: dict[str, float]) -> None:
    """The by-mode and by-role tables, and how far each mode trails in-person searches."""
    for by in ("mode", "role"):
        print()
        print(evaluation.split_table(by))
    if trailing:
        gaps = ", ".join(f"{mode} {gap:+.4f}" for mode, gap in trailing.items())
        print(f"\n{serving} ranking, behind in-person searches (positive: worse): {gaps}")


def _provenance_text(provenance: dict) -> str:
    kind = provenance.get("kind", "unknown")
    if kind not in ("real", "simulated", "mixed"):
        return kind
    span = ""
    if provenance.get("first_session"):
        span = f", {provenance['first_session'][:10]}..{(provenance.get('last_session') or '')[:10]}"
    return f"{kind}: {provenance.get('sessions', 0):,} sessions, {provenance.get('clients', 0):,} clients{span}"


def run_model_list(args: argparse.Namespace, settings: Settings) -> int:
    from ..ranking.registry import DEFAULT_VERSION, active_version, list_models, load_active_ranker, model_summary
    from ..errors import ModelError

    active = active_version(settings)
    try:
        serving = load_active_ranker(settings)[1]
        refused = None
    except ModelError as exc:
        serving, refused = DEFAULT_VERSION, exc.message
    models = [model_summary(settings, DEFAULT_VERSION)]
    models += [{**model_summary(settings, r.version), "saved_at": r.saved_at.isoformat(timespec="seconds")}
               for r in list_models(settings)]
    for model in models:
        model["active"] = model["version"] == active
        model["serving"] = model["version"] == serving
    if args.json:
        print(json.dumps({"active": active, "serving": serving, "refused": refused, "models": models}))
        return 0
    print(f"{'':2}{'version':<26} {'created':<20} {'NDCG@10':>8}  provenance")
    for model in models:
        mark = "*" if model["serving"] else ("!" if model["active"] else "")
        created = (model.get("created_at") or "")[:19].replace("T", " ")
        ndcg = "" if model.get("ndcg") is None else f"{model['ndcg']:.4f}"
        provenance = model.get("error") or _provenance_text(model.get("provenance") or {})
        print(f"{mark:<2}{model['version']:<26} {created:<20} {ndcg:>8}  {provenance}")
    print()
    print(f"* serving: {serving}" + ("" if refused is None else f"\n! active but not serving: {refused}"))
    return 0


def run_model_activate(args: argparse.Namespace, settings: Settings) -> int:
    from ..ranking.registry import activate, active_version

    previous = active_version(settings)
    activate(settings, args.version, force_simulated=args.force_simulated)
    say = _say(args)
    if say:
        say(f"active model: {args.version} (was {previous}); servers switch at their next reload check")
    return 0


def run_export(args: argparse.Namespace, settings: Settings) -> int:
    from ..ranking.feedback import FeedbackLog

    log = FeedbackLog.open(settings)
    if args.file == "-":
        count = log.export(sys.stdout)
    else:
        count = log.export(args.file)
    say = _say(args)
    if say:
        say(f"wrote {count:,} sessions" + ("" if args.file == "-" else f" to {args.file}"))
    return 0


def run_simulate(args: argparse.Namespace, settings: Settings) -> int:
    from ..ranking.simulator import CoachSimulator

    catalog = _catalog(settings)
    directory = load_directory(settings, args)
    simulator = CoachSimulator(catalog, directory, seed=args.seed)
    count = simulator.write(args.file, args.sessions)
    say = _say(args)
    if say:
        say(f"wrote {count:,} simulated sessions to {args.file} (synthetic coaches; see findsupport.ranking.simulator)")
    return 0 if count == args.sessions else 1
