"""Fixtures for the web tests: a small real catalogue, imported through the catalogue store.

The catalogue is written as a provider CSV at real Code-Point Open postcodes
(picked deterministically from the postcode directory) and imported with
:func:`findsupport.catalog.import_file`, exactly as an operator would.  One
engine is opened per session on it; each test gets its own app (so its
introductions, outbox and rate limits start empty) around that engine.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient

from findsupport import taxonomy
from findsupport.catalog import CatalogStore, import_file
from findsupport.config import Settings, load_settings
from findsupport.geo import PostcodeDirectory
from findsupport.web import create_app

from databases import ACTIVE, database

#: Where the sample catalogue lives: around Newcastle, plus a few in London.
NEWCASTLE = "NE1 4ST"
LONDON = "SW1A 2AA"
#: A provider whose name and bio try to inject markup (must show as text).
HOSTILE_ID = "fs-hostile"
HOSTILE_NAME = '<img src=x onerror="window.__xss=1">Eve'
HOSTILE_BIO = "<script>window.__xss = 1</script>Coach & mentor"
UNCONSENTED_IDS = ("fs-hidden-1", "fs-hidden-2")
POLE_VAULT_ID = "fs-vault"


@dataclass(frozen=True)
class SampleCatalog:
    """What the tests know about the sample catalogue (including its private side)."""

    csv_path: Path
    ids: tuple[str, ...]  # consented
    hidden_ids: tuple[str, ...]
    emails: tuple[str, ...]  # every provider's private address
    postcodes: tuple[str, ...]  # every provider's private postcode


def _postcodes_near(directory: PostcodeDirectory, centre: str, radius_km: float, count: int, seed: int) -> list[str]:
    arrays = directory.located_arrays()
    middle = directory.lookup(centre)
    distance = np.hypot(arrays["easting"] - middle.easting, arrays["northing"] - middle.northing)
    near = np.flatnonzero((distance > 500) & (distance < radius_km * 1000))
    picks = np.random.default_rng(seed).choice(near, count, replace=False)
    return [directory.postcode_at(int(i)) for i in sorted(picks)]


def write_sample_csv(path: Path, directory: PostcodeDirectory) -> SampleCatalog:
    """A provider CSV of 40 providers (2 unconsented) at real postcodes."""
    columns = ["id", "name", "roles", "postcode", "events", "availability", "travel_km", "online", "capacity",
               "active_coaches", "qualification", "club", "email", "consent", "bio"]
    rows = []
    north = _postcodes_near(directory, NEWCASTLE, 12, 34, seed=7)
    south = _postcodes_near(directory, LONDON, 8, 6, seed=8)
    events = [e for e in taxonomy.EVENTS if e != "pole_vault"]
    for k, postcode in enumerate(north + south):
        rows.append(
            {
                "id": f"fs-{k:03d}",
                "name": f"Sample Provider {k}",
                "roles": ";".join(taxonomy.ROLES[j % 4] for j in range(k, k + 1 + k % 2)),
                "postcode": postcode,
                "events": ";".join(events[(k + j) % len(events)] for j in range(2)),
                "availability": ";".join(taxonomy.SLOTS[(k * 5 + j * 7) % 21] for j in range(3)),
                "travel_km": str(10 + k % 3 * 10),
                "online": "true" if k % 4 == 0 else "false",
                "capacity": "3",
                "active_coaches": str(k % 4),
                "qualification": "athletics_coach" if k % 2 else "advanced_coach",
                "club": "Sample Harriers",
                "email": f"private-{k}@provider.invalid",
                "consent": "true",
                "bio": "Happy to help new coaches.",
            }
        )
    special = [
        (HOSTILE_ID, HOSTILE_NAME, HOSTILE_BIO, "true", "mentor", "sprints"),
        (POLE_VAULT_ID, "Vault Mentor", "Pole vault specialist.", "true", "mentor", "pole_vault"),
        (UNCONSENTED_IDS[0], "Hidden One", "Should never be listed.", "false", "mentor", "sprints"),
        (UNCONSENTED_IDS[1], "Hidden Two", "Should never be listed.", "no", "co_coach", "hurdles"),
    ]
    special_postcodes = _postcodes_near(directory, NEWCASTLE, 3, len(special), seed=9)
    # The pole-vault mentor lives farther out, so a 5 km search finds none and 25 km does.
    special_postcodes[1] = _postcodes_near(directory, NEWCASTLE, 20, 200, seed=10)[-1]
    for (pid, name, bio, consent, role, event), postcode in zip(special, special_postcodes):
        rows.append(
            {
                "id": pid, "name": name, "roles": role, "postcode": postcode, "events": event,
                "availability": "tue_eve;sat_am", "travel_km": "20", "online": "false", "capacity": "2",
                "active_coaches": "0", "qualification": "athletics_coach", "club": "", "bio": bio,
                "email": f"private-{pid}@provider.invalid", "consent": consent,
            }
        )
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    consented = tuple(r["id"] for r in rows if r["consent"] == "true")
    return SampleCatalog(
        csv_path=path,
        ids=consented,
        hidden_ids=UNCONSENTED_IDS,
        emails=tuple(r["email"] for r in rows),
        postcodes=tuple(r["postcode"] for r in rows),
    )


#: The PostgreSQL database of a session-wide data dir (empty on SQLite runs).
SESSION_DATABASE: dict[Path, str] = {}


def web_settings(data_dir: Path, cache_dir: Path, **overrides) -> Settings:
    values = {
        **({"database_url": SESSION_DATABASE[data_dir]} if data_dir in SESSION_DATABASE else {}),
        "data_dir": data_dir,
        "cache_dir": cache_dir,
        "rate_limits": "off",
        "reload_check_seconds": 0,
        # A tile server that cannot answer: pages must work without tiles (and tests stay offline).
        "tile_url": "http://127.0.0.1:9/{z}/{x}/{y}.png",
        **overrides,
    }
    return load_settings(values, environ={})


@pytest.fixture(scope="session")
def web_data_dir(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path, directory: PostcodeDirectory) -> Iterator[tuple[Path, SampleCatalog]]:
    """A data dir with the sample catalogue imported (shared by the session's apps).

    On the PostgreSQL run (``tests/databases.py``) its catalogue lives in a
    database of the session's own, which :func:`web_settings` names for every
    later caller through :data:`SESSION_DATABASE`.
    """
    data_dir = tmp_path_factory.mktemp("web-instance")
    with database(data_dir / "findsupport.sqlite3") as url:
        if url is not None:
            SESSION_DATABASE[data_dir] = url
        settings = web_settings(data_dir, cache_dir)
        sample = write_sample_csv(data_dir / "providers.csv", directory)
        report = import_file(sample.csv_path, CatalogStore.open(settings), directory, settings)
        assert report.ok, report.summary()
        yield data_dir, sample
        SESSION_DATABASE.pop(data_dir, None)


@pytest.fixture(scope="session")
def sample(web_data_dir: tuple[Path, SampleCatalog]) -> SampleCatalog:
    return web_data_dir[1]


@pytest.fixture(scope="session")
def web_engine(web_data_dir: tuple[Path, SampleCatalog], cache_dir: Path):
    """The real engine on the sample catalogue, opened once (as a server would)."""
    from findsupport.search.engine import Engine

    return Engine.open(web_settings(web_data_dir[0], cache_dir))


def make_app(
    web_data_dir: tuple[Path, SampleCatalog],
    cache_dir: Path,
    engine,
    tmp_path: Path,
    *,
    background: bool = False,
    database_url: str | None = None,
    **overrides,
) -> Flask:
    """An app on the shared engine, with its own introductions database and outbox folder.

    Introductions of one test never reach another test's outbox or rate limit;
    provider contacts come from the shared catalogue store.  Background threads
    are off unless asked for: tests deliver the outbox themselves.
    """
    shared = web_settings(web_data_dir[0], cache_dir)
    database_url = database_url or ACTIVE.get(tmp_path) or f"sqlite:///{tmp_path / 'web.sqlite3'}"
    values = {"database_url": database_url, "outbox_dir": tmp_path / "outbox", **overrides}
    settings = web_settings(web_data_dir[0], cache_dir, **values)
    return create_app(settings, engine=engine, contacts=CatalogStore.open(shared).contact_for, background=background)


@pytest.fixture(autouse=True)
def _own_database(request: pytest.FixtureRequest) -> str | None:
    """Every web test on the sample catalogue has a database of its own (a fresh PostgreSQL one on that run).

    Only those that use the catalogue (``web_data_dir``): :func:`make_app` puts
    their app's introductions, feedback and limits in it (:data:`ACTIVE`).
    Asking for ``database_url`` here by name would put it in every web test's
    fixtures, so the PostgreSQL run (``tests/databases.py``, which selects by
    fixture) would repeat web tests that never open a database of its backend
    (a feedback replay on its own SQLite file, a page's markup).
    """
    if "web_data_dir" not in request.fixturenames:
        return None
    return request.getfixturevalue("database_url")


@pytest.fixture
def app(web_data_dir, cache_dir, web_engine, tmp_path, database_url) -> Iterator[Flask]:
    application = make_app(web_data_dir, cache_dir, web_engine, tmp_path, database_url=database_url)
    application.testing = True
    yield application
    application.extensions["findsupport"].close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
