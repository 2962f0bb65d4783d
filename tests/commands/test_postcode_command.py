"""`findsupport postcode`."""

from __future__ import annotations

import json

from findsupport.cli import main


def test_json_lines_in_input_order_with_errors_and_exit_1(cli_env, capsys) -> None:
    status = main(["postcode", "sw1a2aa", "NE21", "nonsense", "BT1 1AA", "NE21 4", "--json"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert status == 1
    assert [line["input"] for line in lines] == ["sw1a2aa", "NE21", "nonsense", "BT1 1AA", "NE21 4"]
    assert lines[0]["postcode"] == "SW1A 2AA" and lines[0]["lat"] == 51.50354
    assert "error" in lines[2] and "not a UK postcode" in lines[2]["error"]
    assert "Northern Ireland" in lines[3]["error"]
    assert lines[4]["kind"] == "sector"


def test_all_good_exits_0_and_prints_a_table_with_attribution(cli_env, capsys) -> None:
    assert main(["postcode", "SWIA 2AA"]) == 0
    out, err = capsys.readouterr()
    assert "SW1A 2AA" in out and "corrected from 'SWIA 2AA'" in out
    assert "Crown copyright" in err


def test_unknown_postcode_has_suggestions_in_json(cli_env, capsys) -> None:
    assert main(["postcode", "B1 1AA", "--json"]) == 1
    line = json.loads(capsys.readouterr().out)
    assert line["suggestions"] and line["status"] == 404


def test_data_dir_flag_works_before_and_after_the_command(cli_env, tmp_path, capsys) -> None:
    assert main(["--data-dir", str(tmp_path / "a"), "postcode", "NE21", "-q"]) == 0
    assert main(["postcode", "NE21", "--data-dir", str(tmp_path / "b"), "-q"]) == 0
