"""`findsupport search`: the table, JSON, and --batch (order, ids, bad lines, no feedback by default)."""

from __future__ import annotations

import io
import json

import pytest

from findsupport.catalog import CatalogStore, load_demo
from findsupport.cli import main
from findsupport.commands.search import run_batch
from findsupport.config import load_settings
from findsupport.ranking import FeedbackLog


@pytest.fixture
def stocked_cli(cli_env, data_dir, cache_dir, directory):
    """A data dir with a small demo catalogue, and its settings."""
    settings = load_settings({"data_dir": data_dir, "cache_dir": cache_dir}, environ={})
    load_demo(CatalogStore.open(settings), directory, settings, seed=5, providers=120)
    return settings


def test_table(stocked_cli, capsys) -> None:
    status = main(["search", "NE21", "4LZ", "--mode", "any", "--event", "jumps", "--slots", "tue_eve,sat_am", "--limit", "4", "-q"])
    out, err = capsys.readouterr()
    assert status == 0
    lines = out.splitlines()
    assert lines[0].startswith("Providers near NE21 4LZ (in person within 25 km or online): 1-4 of ")
    assert lines[1].split() == ["#", "Name", "Area", "Distance", "Score", "Why"]
    rows = [line for line in lines[2:] if not line.lstrip().startswith("missing:")]
    assert [row.split()[0] for row in rows] == ["1", "2", "3", "4"]
    assert all(" km " in row for row in rows)
    assert "Crown copyright" in err


def test_json_is_the_api_shape(stocked_cli, capsys) -> None:
    assert main(["search", "NE21 4LZ", "--role", "mentor", "--limit", "3", "--offset", "1", "--json", "-q"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert body["query"]["role"] == "mentor" and body["query"]["offset"] == 1
    assert [r["position"] for r in body["results"]] == [2, 3, 4][: len(body["results"])]
    assert all("mentor" in r["roles"] for r in body["results"])
    assert body["total"] >= len(body["results"]) and "attribution" in body


def test_lon_lat(stocked_cli, capsys) -> None:
    assert main(["search", "--lon", "-1.6178", "--lat", "54.9783", "--json", "-q"]) == 0
    assert json.loads(capsys.readouterr().out)["query"]["resolved"]["kind"] == "point"


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["search"], "Give a postcode"),
        (["search", "NE21 4XX"], "Did you mean"),
        (["search", "NE21 4LZ", "--mode", "video"], "mode must be one of"),
        (["search", "NE21 4LZ", "--batch", "q.jsonl"], "leave out the postcode"),
        (["search", "--batch", "no-such-file.jsonl"], "Cannot read the batch file"),
        (["search", "--batch", "q.jsonl", "--workers", "0"], "--workers takes a whole number"),
        (["search", "NE21 4LZ", "--workers", "2"], "--workers takes a whole number"),
    ],
)
def test_errors_exit_2_with_a_message(stocked_cli, capsys, argv, words) -> None:
    assert main([*argv, "-q"]) == 2
    assert words in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["search", "NE21 4LZ", "--mode", "video"],
        ["search", "NE21 4LZ", "--radius-km", "-3"],
        ["search", "NE21", "--slots", "someday"],
        ["search", "--batch", "no-such-file.jsonl"],
    ],
)
def test_mistakes_are_reported_before_the_catalogue_is_indexed(stocked_cli, capsys, argv) -> None:
    """Nothing that can be checked up front waits for the engine's start-up (seconds at scale)."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "indexing" not in err and "providers" not in err
    assert "findsupport: " in err


BATCH = "\n".join(
    [
        json.dumps({"id": "first", "postcode": "NE21 4LZ", "limit": 2}),
        "",
        json.dumps({"id": 2, "postcode": "NE21 4XX"}),
        "{not json",
        json.dumps(["a", "list"]),
        json.dumps({"id": "point", "lon": -1.6178, "lat": 54.9783, "mode": "online", "limit": 1}),
        json.dumps({"id": "typo", "postcode": "NE1", "radius": 5}),
        json.dumps({"id": "last", "postcode": "SW1A 2AA", "mode": "any", "event": "hurdles"}),
    ]
)


def test_batch_keeps_order_and_ids_and_reports_bad_lines(stocked_cli, tmp_path, capsys) -> None:
    path = tmp_path / "queries.jsonl"
    path.write_text(BATCH + "\n", encoding="utf-8")
    status = main(["search", "--batch", str(path), "-q"])
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert status == 1  # some lines failed; the rest were answered
    assert [(o["id"], o["line"]) for o in out] == [
        ("first", 1), (2, 3), (None, 4), (None, 5), ("point", 6), ("typo", 7), ("last", 8)
    ]
    assert len(out[0]["results"]) == 2 and out[0]["query"]["id"] == "first"
    assert out[1]["status"] == 404 and out[1]["suggestions"]
    assert "not valid JSON" in out[2]["error"] and "JSON object" in out[3]["error"]
    assert out[4]["query"]["mode"] == "online" and "error" not in out[4]
    assert out[5]["field"] == "radius" and out[5]["status"] == 400
    assert out[6]["total"] > 0
    # Analysis is not coaching: nothing was logged.
    assert list(FeedbackLog.open(stocked_cli).sessions()) == []


@pytest.mark.parametrize("workers", ["1", "2", "3"])
def test_batch_workers_keep_order_ids_and_bytes(stocked_cli, tmp_path, capsys, monkeypatch, workers) -> None:
    """Chunks answered by forked workers come out in input order, byte for byte what one process writes."""
    monkeypatch.setattr("findsupport.commands.search.BATCH_CHUNK_LINES", 3)  # many chunks from a short file
    lines = [line for line in BATCH.splitlines() if line] * 3
    lines += [json.dumps({"id": f"m{i}", "postcode": pc, "mode": mode, "limit": 4})
              for i, (pc, mode) in enumerate([("NE1 1AD", "any"), ("DH1 3LE", "online"), ("EH1 1YZ", "in_person")] * 3)]  # fmt: skip
    path = tmp_path / "queries.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["search", "--batch", str(path), "--workers", workers, "-q"]) == 1
    out = capsys.readouterr().out
    engine_lines = io.StringIO()
    from findsupport.search.engine import Engine

    run_batch(Engine.open(stocked_cli, feedback=False, reverse=False), lines, engine_lines, workers=1)
    assert out == engine_lines.getvalue()
    assert [json.loads(line)["line"] for line in out.splitlines()] == list(range(1, len(lines) + 1))


def test_batch_logs_only_when_asked(stocked_cli, tmp_path, capsys) -> None:
    path = tmp_path / "queries.jsonl"
    path.write_text(json.dumps({"id": 1, "postcode": "NE21 4LZ", "mode": "any"}) + "\n", encoding="utf-8")
    assert main(["search", "--batch", str(path), "--log-feedback", "-q"]) == 0
    out = json.loads(capsys.readouterr().out)
    sessions = list(FeedbackLog.open(stocked_cli).sessions())
    assert len(sessions) == 1 and out["search_id"] is not None


def test_batch_from_stdin(stocked_cli, monkeypatch, capsys) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps({"id": "s", "postcode": "NE1"}) + "\n"))
    assert main(["search", "--batch", "-", "-q"]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == "s"


def test_run_batch_in_process(engine) -> None:
    """The batch loop is importable: tools can run it on an engine they built."""
    out = io.StringIO()
    failed = run_batch(engine, [json.dumps({"id": i, "postcode": "NE21 4LZ", "limit": 1}) for i in range(5)], out)
    assert failed == 0
    assert [json.loads(line)["id"] for line in out.getvalue().splitlines()] == [0, 1, 2, 3, 4]


def test_batch_lines_are_json_whatever_the_id(engine) -> None:
    """orjson writes the lines; what it refuses (an id beyond 64 bits) falls back to the standard library."""
    huge = 10**30
    ids = [huge, "Zoë ✓", -1, None]
    out = io.StringIO()
    failed = run_batch(engine, [json.dumps({"id": i, "postcode": "NE21 4LZ", "limit": 2}) for i in ids], out)
    assert failed == 0
    lines = out.getvalue().splitlines()
    bodies = [json.loads(line) for line in lines]
    assert [body["id"] for body in bodies] == ids
    assert "Zoë ✓" in lines[1]  # written as UTF-8 text, not \u escapes
    # Every line is the same response, whichever encoder wrote it.
    assert all(body["results"] == bodies[0]["results"] for body in bodies)


def test_batch_line_with_a_lone_surrogate_id_is_still_json(engine, tmp_path) -> None:
    """An id of "\\ud800" is valid JSON but has no UTF-8 form: its line is written escaped, and the batch goes on."""
    lines = ['{"id": "\\ud800", "postcode": "NE21 4LZ", "limit": 1}', json.dumps({"id": 2, "postcode": "NE21 4LZ", "limit": 1})]
    path = tmp_path / "out.jsonl"
    with path.open("w", encoding="utf-8") as out:  # a real file: the lines go to its binary buffer
        failed = run_batch(engine, lines, out)
    assert failed == 0
    written = path.read_bytes().decode("utf-8").splitlines()
    assert [json.loads(line)["id"] for line in written] == ["\ud800", 2]


def test_batch_through_workers_writes_utf8_bytes_in_order(engine, tmp_path) -> None:
    """Forked workers hand their chunks back as UTF-8 bytes; text written before them stays first."""
    ids = [f"Zoë {i}" for i in range(7)]
    path = tmp_path / "out.jsonl"
    with path.open("w", encoding="utf-8") as out:
        out.write("# header\n")
        failed = run_batch(engine, [json.dumps({"id": i, "postcode": "NE21 4LZ", "limit": 1}) for i in ids], out, workers=2)
    assert failed == 0
    header, *written = path.read_text(encoding="utf-8").splitlines()
    assert header == "# header"
    assert [json.loads(line)["id"] for line in written] == ids
