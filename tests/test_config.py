"""Settings: defaults → TOML file → FINDSUPPORT_* environment → explicit overrides."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from findsupport.config import Settings, load_settings, open_data_dir, project_root
from findsupport.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def test_defaults_follow_the_design() -> None:
    s = load_settings(environ={})
    assert s.data_dir == Path.cwd() / "instance"  # ./instance, made absolute when loaded
    assert (s.default_radius_km, s.default_limit, s.default_travel_km) == (25.0, 10, 20.0)
    assert s.resolved_cache_dir == Path.cwd() / "instance" / "cache"
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


# ---------------------------------------------------------------------- relative data dirs
def test_relative_paths_are_made_absolute_against_the_current_directory(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = load_settings(environ={"FINDSUPPORT_DATA_DIR": "data", "FINDSUPPORT_OUTBOX_DIR": "mail"})
    assert (s.data_dir, s.resolved_outbox_dir, s.resolved_cache_dir) == (tmp_path / "data", tmp_path / "mail", tmp_path / "data" / "cache")
    # A later change of directory (a daemon, a notebook kernel) does not move them.
    monkeypatch.chdir(REPO)
    assert s.data_dir == tmp_path / "data"
    assert s.resolved_database_url == f"sqlite:///{tmp_path / 'data' / 'findsupport.sqlite3'}"


def test_relative_paths_can_be_relative_to_a_base_dir(tmp_path) -> None:
    (tmp_path / "c.toml").write_text('cache_dir = "shared-cache"\n')
    s = load_settings(environ={"FINDSUPPORT_DATA_DIR": "instance", "FINDSUPPORT_CONFIG": "c.toml"}, base_dir=tmp_path)
    assert (s.data_dir, s.resolved_cache_dir, s.config_file) == (
        tmp_path / "instance", tmp_path / "shared-cache", tmp_path / "c.toml"
    )
    assert load_settings(environ={"FINDSUPPORT_DATA_DIR": "/srv/fs"}, base_dir=tmp_path).data_dir == Path("/srv/fs")


def test_in_a_notebook_a_relative_data_dir_means_the_projects(monkeypatch) -> None:
    # `FINDSUPPORT_DATA_DIR=instance jupyter lab notebooks/`: the kernel runs in notebooks/.
    monkeypatch.chdir(REPO / "notebooks")
    assert project_root() == REPO
    s = load_settings(environ={"FINDSUPPORT_DATA_DIR": "instance"}, base_dir=project_root())
    assert s.data_dir == REPO / "instance"


@pytest.mark.parametrize("setup_cfg", [None, "[metadata]\nname = somebody-else\n", "not an ini file ["])
def test_outside_a_checkout_there_is_no_project_root(tmp_path, setup_cfg) -> None:
    folder = tmp_path / "work" / "notebooks"
    folder.mkdir(parents=True)
    if setup_cfg is not None:
        (tmp_path / "work" / "setup.cfg").write_text(setup_cfg)
    assert project_root(folder) is None
    (tmp_path / "setup.cfg").write_text("[metadata]\nname = findsupport\n")
    assert project_root(folder) == tmp_path


# ---------------------------------------------------------------------- new and empty data dirs
def test_a_new_data_dir_is_private_and_announced_with_its_absolute_path(tmp_path, monkeypatch, caplog) -> None:
    monkeypatch.chdir(tmp_path)
    previous = os.umask(0o022)
    try:
        with caplog.at_level(logging.WARNING, logger="findsupport"):
            folder = open_data_dir(load_settings(environ={"FINDSUPPORT_DATA_DIR": "a/instance"}))
    finally:
        os.umask(previous)
    assert folder == tmp_path / "a" / "instance" and folder.stat().st_mode & 0o777 == 0o700
    assert f"new data directory {folder} created" in caplog.text
    assert f"findsupport --data-dir {folder} demo" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="findsupport"):
        open_data_dir(load_settings(environ={"FINDSUPPORT_DATA_DIR": "a/instance"}))
    assert caplog.text == ""  # announced once, when it is new


def test_an_engine_on_an_empty_catalogue_stops_with_a_clear_error(tmp_path, cache_dir, caplog) -> None:
    from findsupport import Engine
    from findsupport.errors import FindSupportError
    from findsupport.search.engine import EmptyCatalog

    settings = load_settings({"data_dir": tmp_path / "empty", "cache_dir": cache_dir}, environ={})
    with pytest.raises(EmptyCatalog) as raised:
        Engine.open(settings, feedback=False, reverse=False, require_providers=True)
    assert isinstance(raised.value, FindSupportError)
    message = raised.value.message
    assert f"The catalogue in {tmp_path / 'empty'} lists no providers" in message
    assert f"findsupport --data-dir {tmp_path / 'empty'} demo" in message
    # A server may start empty (before its first import), but it says so.
    with caplog.at_level(logging.WARNING, logger="findsupport"):
        engine = Engine.open(settings, feedback=False, reverse=False)
    assert len(engine.catalog) == 0 and "lists no providers" in caplog.text


# --------------------------------------------------------------------- log lines on stderr
def _stderr_of(code: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    return done.stderr.splitlines()


def test_a_server_nothing_set_logging_up_for_still_logs_each_line_with_its_level(tmp_path, cache_dir):
    """gunicorn, as the systemd unit runs it, sets up no logging: Python alone would print warnings
    bare and drop the rest.  The app's own lines reach stderr with their level and source, from the
    configured level up, once each however many apps the process makes."""
    settings = {"data_dir": str(tmp_path / "data"), "cache_dir": str(cache_dir), "rate_limits": "off", "log_level": "INFO"}
    lines = _stderr_of(
        "import logging\n"
        "from findsupport.web import create_app\n"
        f"create_app({settings!r}, background=False)\n"
        f"create_app({settings!r}, background=False)\n"
        "logging.getLogger('findsupport.web.ratelimit').warning('rate limits not counted')\n"
        "logging.getLogger('findsupport.search').info('a search')\n"
        "logging.getLogger('findsupport.search').debug('below the level')\n"
    )
    assert lines[-2:] == ["WARNING findsupport.web.ratelimit: rate limits not counted", "INFO findsupport.search: a search"]
    assert sum("rate limits not counted" in line for line in lines) == 1


def test_logging_an_application_set_up_is_left_as_it_is():
    lines = _stderr_of(
        "import logging\n"
        "logging.basicConfig(format='theirs %(message)s')\n"
        "from findsupport.config import configure_logging\n"
        "configure_logging('INFO')\n"
        "logging.getLogger('findsupport.search').warning('once')\n"
    )
    assert lines == ["theirs once"]


def test_logging_set_up_after_the_app_is_made_writes_each_line_once():
    """An application that calls basicConfig only after making the app gets each line once, in its format."""
    lines = _stderr_of(
        "import logging\n"
        "from findsupport.config import configure_logging\n"
        "configure_logging('INFO')\n"
        "logging.getLogger('findsupport.search').info('before')\n"
        "logging.basicConfig(format='theirs %(message)s')\n"
        "logging.getLogger('findsupport.search').info('after')\n"
    )
    assert lines == ["INFO findsupport.search: before", "theirs after"]
