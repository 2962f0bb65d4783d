"""``findsupport introductions list|stats|tick``: the introduction loop for operators.

``findsupport introductions list [--state S] [--limit N] [--json]``
    Introductions, newest first: id, state, provider id, role, event, region
    (postcode area of the coach's sector), when asked and answered.  No names,
    e-mail addresses or messages.
``findsupport introductions stats [--json]``
    Counts by state, response rate and median response time, overall, by
    region and by role.
``findsupport introductions tick [--json]``
    Run the due work once (reminders, expiries, self-pausing, outcome
    check-ins, retention, delivery of due e-mails by SMTP or into the outbox
    folder): for cron when no server runs the background thread.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..config import Settings
from ..introductions.model import STATES

__all__ = ["register"]

#: Introductions listed by default: a screenful; ``--limit 0`` lists all.
DEFAULT_LIST_LIMIT = 50


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number; got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 (all) or more; got {value}")
    return value


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "introductions",
        parents=[common],
        help="list introductions, show their figures, run their due work",
        description="Operators' view of the introduction loop (no names, addresses or messages).",
    )
    actions = parser.add_subparsers(dest="introductions_command", metavar="ACTION", required=True)
    listing = actions.add_parser("list", parents=[common], help="introductions, newest first",
                                 description="Introductions, newest first (no names, addresses or messages).")
    listing.add_argument("--state", choices=STATES, help="only this state")
    listing.add_argument("--limit", type=_limit, default=DEFAULT_LIST_LIMIT,
                         help=f"at most this many (default {DEFAULT_LIST_LIMIT}; 0 for all)")
    listing.add_argument("--json", action="store_true", help="print a JSON array")
    listing.set_defaults(handler=run_list)
    stats = actions.add_parser("stats", parents=[common], help="states, response rates and times, by region and role",
                               description="Counts by state, response rate and median response time, overall, by "
                               "region (postcode area of the coach's sector) and by role.")
    stats.add_argument("--json", action="store_true", help="print one JSON object")
    stats.set_defaults(handler=run_stats)
    tick = actions.add_parser("tick", parents=[common], help="run due work once (reminders, expiry, e-mails)",
                              description="Send reminders, expire unanswered requests, pause unresponsive listings, "
                              "send outcome check-ins, delete old closed introductions and deliver due e-mails.")
    tick.add_argument("--json", action="store_true", help="print what was done as one JSON object")
    tick.set_defaults(handler=run_tick)


def _service(settings: Settings) -> Any:
    from ..catalog import CatalogStore
    from ..introductions import IntroductionService

    store = CatalogStore.open(settings)
    return IntroductionService(store.engine, settings, contacts=store.contact_for)


def run_list(args: argparse.Namespace, settings: Settings) -> int:
    introductions = _service(settings).list(state=args.state, limit=args.limit or None)
    rows = [introduction.public_dict() for introduction in introductions]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no introductions" + (f" in state {args.state}" if args.state else ""))
        return 0
    print(f"{'id':32}  {'state':9}  {'provider':12}  {'role':17}  {'area':4}  {'asked':19}  answered")
    for row in rows:
        print(f"{row['id']:32}  {row['state']:9}  {row['provider_id'][:12]:12}  {row['role'] or '-':17}  "
              f"{row['area'] or '-':4}  {row['created_at'][:19]:19}  {(row['answered_at'] or '-')[:19]}")
    return 0


def _figures_line(label: str, figures: dict[str, Any]) -> str:
    states = ", ".join(f"{state} {count}" for state, count in figures["states"].items() if count)
    rate = "-" if figures["response_rate"] is None else f"{figures['response_rate']:.0%}"
    median = "-" if figures["median_response_days"] is None else f"{figures['median_response_days']:.1f} days"
    return f"{label:14} {figures['requests']:6,} requests  answered {rate:>4}  median reply {median:>10}  ({states or 'none'})"


def run_stats(args: argparse.Namespace, settings: Settings) -> int:
    summary = _service(settings).stats()
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(_figures_line("all", summary))
    for group, title in (("by_region", "by region (postcode area of the coach's sector)"), ("by_role", "by role")):
        if summary[group]:
            print(f"\n{title}:")
            for key, figures in summary[group].items():
                print(_figures_line(key, figures))
    return 0


def run_tick(args: argparse.Namespace, settings: Settings) -> int:
    from ..introductions import mailer_for

    mailer = mailer_for(settings)
    report = _service(settings).tick(mailer=mailer).to_dict()
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    delivery = report["delivery"]
    print(f"reminded {report['reminded']}, expired {report['expired']}, paused {report['paused']}, "
          f"checked in {report['checked_in']}, purged {report['purged']}; e-mails sent {delivery.get('sent', 0)} "
          f"({mailer.describe()}), retrying {delivery.get('retry', 0)}, undeliverable {delivery.get('undeliverable', 0)}, "
          f"failed {delivery.get('failed', 0)}")
    return 0
