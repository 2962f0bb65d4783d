"""``findsupport import``, ``export`` and ``demo`` run in-process through ``cli.main``."""

from __future__ import annotations

import csv
import json

from findsupport.catalog import CatalogStore
from findsupport.cli import main
from findsupport.config import load_settings

from .conftest import catalogue_rows, good_row, write_csv


def store_for(cli_env) -> CatalogStore:
    return CatalogStore.open(load_settings({"data_dir": cli_env["FINDSUPPORT_DATA_DIR"]}, environ={}))


def test_import_good_file_exits_0(cli_env, tmp_path, capsys):
    path = write_csv(tmp_path / "good.csv", catalogue_rows(4))
    assert main(["import", str(path), "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert "4 of 4 lines imported from good.csv (4 added, 0 updated, 0 unchanged)" in out
    assert err == ""
    assert store_for(cli_env).counts().providers == 4


def test_import_mixed_file_reports_lines_and_exits_1(cli_env, tmp_path, capsys):
    rows = [good_row(id="a"), good_row(id="b", postcode="NE21 4ZZ"), good_row(id="c", events="hurdle")]
    path = write_csv(tmp_path / "mixed.csv", rows)
    report = tmp_path / "rejections.csv"
    assert main(["import", str(path), "--report", str(report), "--quiet"]) == 1
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert lines[0].startswith(f"{path}:3: postcode: NE21 4ZZ is not a postcode we know. Did you mean")
    assert lines[1].startswith(f"{path}:4: events: 'hurdle' (did you mean 'hurdles'?)")
    assert "1 of 3 lines imported" in out and "2 lines rejected" in out
    with report.open(newline="", encoding="utf-8") as fh:
        assert [row[:3] for row in csv.reader(fh)] == [["line", "column", "id"], ["3", "postcode", "b"], ["4", "events", "c"]]


def test_import_of_an_unreadable_file_exits_2_and_changes_nothing(cli_env, tmp_path, capsys):
    path = tmp_path / "providers.txt"
    path.write_text("id,name\n")
    assert main(["import", str(path)]) == 2
    assert "must end in one of" in capsys.readouterr().err
    assert not store_for(cli_env).has_catalog()


def test_replace_flag(cli_env, tmp_path, capsys):
    rows = catalogue_rows(3)
    main(["import", str(write_csv(tmp_path / "all.csv", rows)), "-q"])
    assert main(["import", str(write_csv(tmp_path / "one.csv", rows[:1])), "--replace", "-q"]) == 0
    assert "(0 added, 0 updated, 1 unchanged, 2 removed)" in capsys.readouterr().out
    assert [p.id for p in store_for(cli_env).providers()] == ["p000"]


def test_export_public_and_private(cli_env, tmp_path, capsys):
    main(["import", str(write_csv(tmp_path / "in.csv", catalogue_rows(3))), "-q"])
    capsys.readouterr()
    assert main(["export", str(tmp_path / "out.geojson")]) == 0
    assert "exported 3 consented providers" in capsys.readouterr().out
    features = json.loads((tmp_path / "out.geojson").read_text())["features"]
    assert "email" not in features[0]["properties"] and "postcode" not in features[0]["properties"]
    assert main(["export", str(tmp_path / "all.csv"), "--private"]) == 0
    assert "do not publish" in capsys.readouterr().out
    assert "provider0@example.org" in (tmp_path / "all.csv").read_text()
    assert main(["export", str(tmp_path / "out.xlsx")]) == 2


def test_demo_command(cli_env, capsys):
    assert main(["demo", "--providers", "40", "--seed", "3", "-q"]) == 0
    assert "40 of 40 rows imported from demo (seed 3, 40 providers)" in capsys.readouterr().out
    assert main(["demo", "--if-empty", "-q"]) == 0
    # issue 10: it counted every stored provider (40), not those listed (the demo has some without consent)
    listed = len(store_for(cli_env).public_catalog().providers)
    assert listed < 40 and f"already lists {listed} providers; demo data not loaded" in capsys.readouterr().out
    assert main(["demo", "--providers", "10", "-q"]) == 2
    assert "already has a catalogue" in capsys.readouterr().err
    assert main(["demo", "--replace", "--providers", "10", "--seed", "3", "-q"]) == 0
    assert store_for(cli_env).counts().providers == 10
    assert main(["demo", "--providers", "-1"]) == 2


def test_import_prints_and_reports_every_problem_of_every_row(cli_env, tmp_path, capsys):
    # issue 10: a long bio stopped the file; a row with several problems showed only the first.
    rows = [
        good_row(id="a"),
        good_row(id="b", roles="boss", postcode="NE21 4ZZ"),
        good_row(id="c", bio="b" * 200_000),
        good_row(id="d", email="d@example.org"),
    ]
    path = write_csv(tmp_path / "mixed.csv", rows)
    report = tmp_path / "rejections.csv"
    assert main(["import", str(path), "--report", str(report), "--quiet"]) == 1
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert [line[len(str(path)) :].split(" ")[:2] for line in lines] == [[":3:", "roles:"], [":3:", "postcode:"], [":4:", "bio:"]]
    assert lines[2] == f"{path}:4: bio: bio is 200,000 characters long; at most 1,000 are allowed"
    assert "2 of 4 lines imported" in out and "2 lines rejected" in out
    assert "the catalogue now lists 2 providers" in out
    with report.open(newline="", encoding="utf-8") as fh:
        assert [row[:3] for row in csv.reader(fh)] == [
            ["line", "column", "id"], ["3", "roles", "b"], ["3", "postcode", "b"], ["4", "bio", "c"],
        ]


def test_import_summary_counts_only_listed_providers(cli_env, tmp_path, capsys):
    rows = catalogue_rows(5)
    rows[0]["consent"] = "no"
    assert main(["import", str(write_csv(tmp_path / "p.csv", rows)), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "the catalogue now lists 4 providers (1 more are stored but not listed" in out
