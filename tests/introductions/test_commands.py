"""``findsupport introductions list|stats|tick`` against the test's database."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from findsupport.cli import main

from .conftest import ask, deliver, find, link


@pytest.fixture
def cli(cli_env, intro_settings, monkeypatch, capsys):
    if intro_settings.database_url:
        monkeypatch.setenv("FINDSUPPORT_DATABASE_URL", intro_settings.database_url)
    monkeypatch.setenv("FINDSUPPORT_PUBLIC_URL", intro_settings.public_url)

    def run(*argv):
        status = main(["introductions", *argv])
        out, err = capsys.readouterr()
        return status, out, err

    return run


def test_list_and_stats_say_nothing_private(service, mailbox, cli):
    ask(service)
    ask(service, "p2", email="other@coaches.example")
    service.accept(link(find(deliver(service, mailbox), "request", "p1@providers.example"), "/respond/"))
    status, out, _ = cli("list", "--json")
    rows = json.loads(out)
    assert status == 0 and sorted(r["state"] for r in rows) == ["accepted", "pending"]
    assert {r["area"] for r in rows} == {"NE"} and {r["role"] for r in rows} == {"mentor"}
    status, out, _ = cli("list", "--state", "pending")
    assert status == 0 and "pending" in out and "accepted" not in out
    for private in ("Alex Coach", "coach@coaches.example", "other@coaches.example", "hurdles drills", "NE21 4"):
        assert private not in out
    status, out, _ = cli("stats", "--json")
    summary = json.loads(out)
    assert summary["requests"] == 2 and summary["states"]["accepted"] == 1 and summary["response_rate"] == 1.0
    assert summary["by_region"]["NE"]["requests"] == 2 and summary["by_role"]["mentor"]["answered"] == 1
    status, out, _ = cli("stats")
    assert status == 0 and "by region" in out and "NE" in out


def test_tick_writes_due_emails_into_the_outbox_folder(service, cli, intro_settings, clock):
    clock.now = datetime.now(UTC)  # the command runs on the real clock
    ask(service)
    status, out, _ = cli("tick", "--json")
    assert status == 0 and json.loads(out)["delivery"]["sent"] == 2
    assert len(list(intro_settings.resolved_outbox_dir.glob("*.eml"))) == 2
    status, out, _ = cli("tick")
    assert status == 0 and "e-mails sent 0" in out


def test_an_empty_list(cli, store):
    assert cli("list")[1].strip() == "no introductions"
