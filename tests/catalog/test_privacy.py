"""Nothing public carries a provider's postcode, private coordinates or e-mail, or an unconsented provider.

Every public object and export is serialised and the text searched for every
provider's private values.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from findsupport.catalog import PublicProvider, export_catalog, import_rows
from findsupport.catalog.demo import generate_demo_rows
from findsupport.catalog.model import MIN_POSTCODES_IN_PUBLIC_AREA
from findsupport.catalog.readers import RawRow
from findsupport.geo.grammar import directory_key

from .conftest import good_row

PRIVATE_NAMES = {"postcode", "email", "base_lon", "base_lat", "base_easting", "base_northing", "consent"}


@pytest.fixture
def catalogue(store, directory, settings):
    rows = generate_demo_rows(directory, seed=11, providers=150)
    extra = [
        good_row(id="coords", postcode="", lat="54.9705123", lon="-1.7321987", email="coords.only@example.net"),
        good_row(id="both", lat="54.9703456", lon="-1.7318765", email="both@example.com"),
    ]
    rows += [RawRow(number=len(rows) + i + 1, values=v) for i, v in enumerate(extra)]
    report = import_rows(rows, store, directory, settings, source="privacy test", format="test")
    assert report.ok, report.rejections
    return store


def public_texts(store, tmp_path) -> list[str]:
    catalog = store.public_catalog()
    texts = [json.dumps(p.to_dict()) for p in catalog.providers]
    texts += [repr(p) for p in catalog.providers]
    texts.append(repr(catalog))
    texts.append(json.dumps({name: column.tolist() for name, column in catalog.columns().items()}))
    for name in ("public.csv", "public.geojson"):
        export_catalog(store, tmp_path / name)
        texts.append((tmp_path / name).read_text(encoding="utf-8"))
    return texts


def test_public_view_has_no_private_field():
    assert not PRIVATE_NAMES & {f.name for f in dataclasses.fields(PublicProvider)}


def test_no_postcode_email_or_private_coordinate_appears_in_anything_public(catalogue, tmp_path):
    text = "\n".join(public_texts(catalogue, tmp_path))
    providers = list(catalogue.providers())
    assert sum(p.postcode is not None for p in providers) >= 150
    for p in providers:
        assert p.email not in text
        if p.postcode:
            assert p.postcode not in text
            assert p.postcode.replace(" ", "") not in text
        if p.base_lon is not None:
            for value in (p.base_lon, p.base_lat):
                assert repr(value) not in text and f"{value:.5f}" not in text


def test_unconsented_providers_are_absent(catalogue, tmp_path):
    text = "\n".join(public_texts(catalogue, tmp_path))
    hidden = [p for p in catalogue.providers() if not p.consent]
    assert hidden
    for p in hidden:
        assert f'"{p.id}"' not in text and f"{p.id}," not in text


def test_public_positions_are_centroids_of_areas_of_several_postcodes(catalogue, directory):
    keys = directory.located_arrays()["keys"]
    for p in catalogue.public_catalog().providers:
        area = directory.lookup(p.area)  # a sector, or a district standing in for a tiny sector
        assert (p.easting, p.northing) == (area.easting, area.northing)
        prefix = (directory_key(p.area[:-2], p.area[-1]) if " " in p.area else directory_key(p.area)).encode()
        size = np.searchsorted(keys, prefix.ljust(7, b"\xff"), side="right") - np.searchsorted(keys, prefix)
        assert size >= MIN_POSTCODES_IN_PUBLIC_AREA, p.area


def test_a_sector_of_one_postcode_does_not_give_it_away(store, directory, settings):
    rows = [RawRow(1, good_row(id="alone", postcode="AB21 1AX", email="alone@example.org"))]
    import_rows(rows, store, directory, settings, source="test", format="test")
    provider = store.public_catalog().get("alone")
    unit = directory.lookup("AB21 1AX")
    assert provider.area == "AB21" and (provider.easting, provider.northing) != (unit.easting, unit.northing)
