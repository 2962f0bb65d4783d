"""The front-end bundle: our scripts and style sheets served minified, safely, and built once."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

import findsupport.web
from findsupport.web import assets
from findsupport.web.assets import MANIFEST, build_assets, minify
from findsupport.web.pages import vendor_folders

STATIC = Path(findsupport.web.__file__).parent / "static"
#: Our own scripts and style sheets that pages load from the bundle (widget.js keeps its own URL).
OWN = sorted(path.name for path in STATIC.iterdir() if path.suffix in (".js", ".css") and path.name != "widget.js")


@pytest.mark.parametrize("name", OWN)
def test_served_scripts_and_style_sheets_are_minified(app, name):
    """What a browser gets is our file without its comments and layout: smaller, and the source stays readable."""
    source = (STATIC / name).read_bytes()
    url = app.jinja_env.globals["asset_url"](name)
    with app.test_client().get(url) as response:
        served = response.get_data()
        assert response.status_code == 200
    assert len(served) < 0.9 * len(source), (len(served), len(source))
    assert served.count(b"\n") < source.count(b"\n") / 4
    first_comment = next(line.strip() for line in source.decode().splitlines() if line.strip().startswith(("//", "/*")))
    assert first_comment.encode() not in served


@pytest.mark.parametrize("name", [name for name in OWN if name.endswith(".js")])
def test_minified_scripts_read_as_the_same_tokens(name):
    """Each of our scripts minifies without a change rJSmin cannot see (a template literal inside another's ``${}``)."""
    source = (STATIC / name).read_text()
    minified = minify(name, source.encode()).decode()
    assert len(minified) < len(source), f"{name} falls back to its source: see the warning in the log"
    assert assets._same_tokens(source, minified) is None


def test_a_script_the_minifier_would_break_is_served_as_written(tmp_path, caplog):
    """rJSmin reads the inner template literal as code and drops the space in "5 days": the source is served instead."""
    static = tmp_path / "static"
    static.mkdir()
    nested = "export const days = (n) => `${n === 1 ? 'a day' : `${n} days`}`;\n"
    plain = "// Why this exists.\nexport const answer = 6 * 7;\n"
    (static / "nested.js").write_text(nested)
    (static / "plain.js").write_text(plain)
    (static / "style.css").write_text("/* the cards */\n.card {\n  margin: 0 auto;\n}\n")
    with caplog.at_level(logging.WARNING, logger=assets.__name__):
        bundle = build_assets(tmp_path / "cache", static, vendor_folders())
    assert (bundle.root / bundle.urls["nested.js"]).read_text() == nested
    assert "nested.js is served unminified" in caplog.text and "' days'" in caplog.text
    assert (bundle.root / bundle.urls["plain.js"]).read_text() == "export const answer=6*7;"
    assert (bundle.root / bundle.urls["style.css"]).read_text() == ".card{margin:0 auto}"


def test_the_versioned_name_is_a_hash_of_what_is_served(tmp_path):
    """Two sources differing only in comments serve the same bytes under the same name."""
    static = tmp_path / "static"
    static.mkdir()
    (static / "a.js").write_text("// one comment\nexport const a = 1;\n")
    first = build_assets(tmp_path / "cache", static, vendor_folders())
    (static / "a.js").write_text("// another comment\nexport const a = 1;\n")
    second = build_assets(tmp_path / "cache", static, vendor_folders())
    assert second.root != first.root and second.urls["a.js"] == first.urls["a.js"]


def test_a_built_bundle_is_reused_without_minifying_again(tmp_path, monkeypatch):
    static = tmp_path / "static"
    static.mkdir()
    (static / "a.js").write_text("export const a = 1; // the answer\n")
    first = build_assets(tmp_path / "cache", static, vendor_folders())
    assert json.loads((first.root / MANIFEST).read_text()) == first.urls

    def refuse(name, content):  # noqa: ANN001
        raise AssertionError(f"{name} minified again")

    monkeypatch.setattr(assets, "minify", refuse)
    assert build_assets(tmp_path / "cache", static, vendor_folders()) == first


def test_an_upgraded_minifier_builds_a_new_bundle(tmp_path, monkeypatch):
    static = tmp_path / "static"
    static.mkdir()
    (static / "a.js").write_text("export const a = 1;\n")
    first = build_assets(tmp_path / "cache", static, vendor_folders())
    monkeypatch.setattr(assets.rjsmin, "__version__", "99.0")
    assert build_assets(tmp_path / "cache", static, vendor_folders()).root != first.root
