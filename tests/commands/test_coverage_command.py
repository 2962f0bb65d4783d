"""``findsupport coverage``: the figures as CSV, GeoJSON and GeoPackage, suppressed, for a period and filters."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from findsupport.cli import main
from findsupport.geo import PostcodeDirectory
from findsupport.geo.outlines import DistrictOutlines

FEB = "2026-02-10T12:00:00+00:00"


@pytest.fixture
def demo(cli_env, data_dir: Path) -> Path:
    assert main(["--quiet", "demo", "--providers", "60"]) == 0
    return data_dir


@pytest.fixture
def feedback(tmp_path: Path) -> Path:
    """Six mentor searches for jumps from Blaydon (NE21 4), none shown anything; one in January from Durham."""
    path = tmp_path / "feedback.jsonl"
    lines = [
        {"query": {"postcode": "NE21 4", "role": "mentor", "event": "high_jump", "mode": "in_person"}, "results": [],
         "created_at": FEB}
        for _ in range(6)
    ]
    lines.append({"query": {"postcode": "DH1 3", "role": "mentor", "event": "jumps", "mode": "in_person"}, "results": [],
                  "created_at": "2026-01-05T09:00:00+00:00"})
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.fixture
def small_outlines(cache_dir: Path, directory: PostcodeDirectory, monkeypatch: pytest.MonkeyPatch) -> None:
    """The command's outlines from three areas (the whole country's build is tested in tests/geo)."""
    outlines = DistrictOutlines.build(directory, areas=("NE", "DH", "SR"))
    monkeypatch.setattr(DistrictOutlines, "load", classmethod(lambda cls, *a, **k: outlines))


def read_csv(text: str) -> dict[str, dict[str, str]]:
    return {row["district"]: row for row in csv.DictReader(io.StringIO(text))}


def test_csv_to_stdout_with_filters(demo, feedback, capsys):
    assert main(["coverage", "--feedback", str(feedback), "--role", "mentor", "--event-group", "jumps",
                 "--since", "2026-02-01"]) == 0
    out, err = capsys.readouterr()
    rows = read_csv(out)
    assert rows["NE21"]["searches"] == "6" and rows["NE21"]["unmet_searches"] == "6"
    assert "DH1" not in rows or rows["DH1"]["searches"] == "<5"  # January is outside the period
    assert rows["(all)"]["searches"] == "6"
    assert "introductions from the feedback log (no expiries)" in err
    assert rows["NE21"]["introductions_expired"] == ""


def test_by_region(demo, feedback, capsys):
    assert main(["coverage", "--feedback", str(feedback), "--by", "region", "--quiet"]) == 0
    rows = {row["region"]: row for row in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    assert rows["NE"]["searches"] == "6" and rows["DH"]["searches"] == "<5"


def test_files_csv_geojson_gpkg_and_outlines(demo, feedback, tmp_path: Path, small_outlines):
    import geopandas as gpd

    outputs = [tmp_path / "coverage.csv", tmp_path / "coverage.geojson", tmp_path / "coverage.gpkg"]
    args = ["coverage", "--feedback", str(feedback), "--quiet", "--outlines", str(tmp_path / "districts.geojson")]
    for path in outputs:
        args += ["--out", str(path)]
    assert main(args) == 0
    assert read_csv(outputs[0].read_text(encoding="utf-8"))["NE21"]["searches"] == "6"
    geojson = gpd.read_file(outputs[1])
    ne21 = geojson.set_index("district").loc["NE21"]
    assert ne21["searches"] == "6" and ne21["providers"] in {"<5", "[c]"} | {str(n) for n in range(5, 61)}
    assert -2.0 < ne21.geometry.centroid.x < -1.5  # WGS84
    gpkg = gpd.read_file(outputs[2])
    assert gpkg.crs.to_epsg() == 27700 and set(gpkg["district"]) == set(geojson["district"])
    assert (gpkg.set_index("district").loc["SR1", "searches"]) == "<5"
    assert len(gpd.read_file(tmp_path / "districts.geojson")) == len(geojson)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "yesterday"], "since must be a date"),
        (["--split", "colour"], "split must be one of role, event_group, mode"),
        (["--out", "coverage.xlsx"], "must end in .csv, .gpkg or .geojson"),
        (["--feedback", "missing.jsonl"], "does not exist"),
    ],
)
def test_bad_arguments_are_one_clear_line(demo, capsys, args, message):
    assert main(["coverage", *args]) == 2
    assert message in capsys.readouterr().err
