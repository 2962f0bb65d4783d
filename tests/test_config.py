"""Settings: defaults → TOML file → FINDSUPPORT_* environment → explicit overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from findsupport.config import Settings, load_settings
from findsupport.errors import ConfigError


def test_defaults_follow_the_design() -> None:
    s = load_settings(environ={})
    assert s.data_dir == Path("instance")
    assert (s.default_radius_km, s.default_limit, s.default_travel_km) == (25.0, 10, 20.0)
    assert s.resolved_cache_dir == Path("instance") / "cache"
    assert s.resolved_database_url.startswith("sqlite:///") and s.resolved_database_url.endswith("findsupport.sqlite3")


def test_layers_override_in_order(tmp_path: Path) -> None:
    config = tmp_path / "findsupport.toml"
    config.write_text('default_radius_km = 30\ndefault_limit = 20\ndata_dir = "/srv/file"\n')
    env = {"FINDSUPPORT_DEFAULT_LIMIT": "15", "FINDSUPPORT_DATA_DIR": "/srv/env"}
    s = load_settings({"data_dir": "/srv/flag"}, config_file=config, environ=env)
    assert s.default_radius_km == 30.0  # file
    assert s.default_limit == 15  # environment beats file
    assert s.data_dir == Path("/srv/flag")  # explicit override beats all
    assert s.config_file == config


def test_config_file_from_environment_and_table(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[findsupport]\nrate_limits = 'off'\ntrust_proxy = true\n")
    s = load_settings(environ={"FINDSUPPORT_CONFIG": str(config)})
    assert s.rate_limits == "off" and s.trust_proxy is True


def test_none_overrides_are_ignored() -> None:
    assert load_settings({"data_dir": None}, environ={"FINDSUPPORT_DATA_DIR": "/x"}).data_dir == Path("/x")


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"FINDSUPPORT_DEFAULT_LIMIT": "ten"}, "DEFAULT_LIMIT"),
        ({"FINDSUPPORT_TRUST_PROXY": "maybe"}, "true or false"),
        ({"FINDSUPPORT_DEFAULT_RADIUS_KM": "nan"}, "finite"),
        ({"FINDSUPPORT_DEFAULT_RADIUS_KM": "500"}, "Radius settings"),
        ({"FINDSUPPORT_DEFAULT_LIMIT": "0"}, "default_limit"),
    ],
)
def test_bad_values_are_clear_errors(env: dict[str, str], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        load_settings(environ=env)


def test_unknown_setting_in_file_is_an_error(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("radius = 3\n")
    with pytest.raises(ConfigError, match="Unknown setting 'radius'"):
        load_settings(config_file=config, environ={})


@pytest.mark.parametrize("content", ["not = [toml", None])
def test_unreadable_config_file(tmp_path: Path, content: str | None) -> None:
    config = tmp_path / "c.toml"
    if content is not None:
        config.write_text(content)
    with pytest.raises(ConfigError, match="Config file"):
        load_settings(config_file=config, environ={})


def test_replace_validates_like_any_source() -> None:
    s = Settings()
    assert s.replace(default_limit=5).default_limit == 5
    with pytest.raises(ConfigError):
        s.replace(max_limit=3)
