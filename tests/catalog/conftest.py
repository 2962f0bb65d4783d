"""Fixtures for the catalogue tests: a store per test, good rows, files written to tmp dirs."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

from findsupport.catalog import CatalogStore, import_file
from findsupport.catalog.model import IMPORT_COLUMNS

#: Real postcodes (Code-Point Open) with their sectors, spread over Great Britain.
POSTCODES = {
    "NE21 4LZ": "NE21 4",
    "SW1A 2AA": "SW1A 2",
    "EH1 1YZ": "EH1 1",
    "CF10 1EP": "CF10 1",
    "M1 1AE": "M1 1",
    "B1 1BB": "B1 1",
    "LS1 4DY": "LS1 4",
    "IV2 3PZ": "IV2 3",
    "TR1 2AA": "TR1 2",
}


def good_row(**changes: Any) -> dict[str, Any]:
    """A valid CSV row (text cells), with some cells changed."""
    row = {
        "id": "p1",
        "name": "Sam Kestrel",
        "roles": "mentor",
        "postcode": "NE21 4LZ",
        "events": "hurdles;sprints",
        "availability": "tue_eve;sat_am",
        "travel_km": "15",
        "online": "false",
        "capacity": "3",
        "active_coaches": "1",
        "qualification": "athletics_coach",
        "club": "Riverside Harriers",
        "email": "sam.kestrel@example.org",
        "consent": "true",
        "bio": "Hurdles mentor.",
    }
    row.update(changes)
    return row


def catalogue_rows(n: int = len(POSTCODES)) -> list[dict[str, Any]]:
    """``n`` distinct good rows at the real postcodes above (cycled)."""
    postcodes = list(POSTCODES)
    return [
        good_row(
            id=f"p{i:03d}",
            name=f"Provider {i}",
            postcode=postcodes[i % len(postcodes)],
            email=f"provider{i}@example.org",
            roles=("mentor", "co_coach", "technical_advisor", "coach_developer")[i % 4],
        )
        for i in range(n)
    ]


def write_csv(path: Path, rows: Iterable[Mapping[str, Any]], columns: Iterable[str] | None = None) -> Path:
    rows = list(rows)
    columns = list(columns or [c for c in IMPORT_COLUMNS if any(c in r for r in rows)] or IMPORT_COLUMNS)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in columns})
    return path


@pytest.fixture
def store(settings) -> CatalogStore:
    return CatalogStore.open(settings)


@pytest.fixture
def import_csv(tmp_path, store, directory, settings) -> Callable[..., Any]:
    """Write rows to a CSV file and import it; returns the report."""
    counter = iter(range(1_000_000))

    def run(rows: Iterable[Mapping[str, Any]], *, replace: bool = False, columns=None):
        path = write_csv(tmp_path / f"providers-{next(counter)}.csv", rows, columns)
        return import_file(path, store, directory, settings, replace=replace)

    return run
