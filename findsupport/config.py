"""Settings, layered: defaults → optional TOML file → ``FINDSUPPORT_*`` environment → overrides.

Nothing is read at import time: call :func:`load_settings` (the CLI and
``create_app`` do) and pass the resulting :class:`Settings` down.

Every tunable number of the service lives here with the reason for its
default, never as a bare literal in the code that uses it.

Relative paths (``data_dir``, ``cache_dir``, ``outbox_dir``, the config file)
are made absolute when the settings are loaded, against ``base_dir``: the
current directory by default, which is what a command typed in a shell means.
A notebook's kernel runs in the notebook's own folder, where ``instance``
would name ``notebooks/instance``; the notebooks therefore load their settings
with ``base_dir=project_root()``, the folder of the checkout (the one holding
findsupport's ``setup.cfg``), so ``FINDSUPPORT_DATA_DIR=instance`` means the
project's ``instance`` there as it does in the shell.

The data directory holds personal data (the database, e-mails in the outbox):
:func:`open_data_dir` creates it readable by its owner only (``0700``) and
announces a new one loudly, naming its absolute path and how to fill it.

Examples
--------
>>> s = load_settings({"data_dir": "/tmp/fs"}, environ={})
>>> str(s.data_dir), s.default_radius_km
('/tmp/fs', 25.0)
>>> str(load_settings({"data_dir": "instance"}, environ={}, base_dir="/srv/findsupport").data_dir)
'/srv/findsupport/instance'
"""

from __future__ import annotations

import configparser
import dataclasses
import logging
import os
import stat
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, get_type_hints

from .errors import ConfigError

__all__ = [
    "Settings",
    "load_settings",
    "project_root",
    "open_data_dir",
    "ensure_private_dir",
    "ENV_PREFIX",
    "PROJECT_MARKER",
    "PRIVATE_DIR_MODE",
    "PRIVATE_FILE_MODE",
    "DATABASE_FILE_NAME",
    "LOG_FORMAT",
    "configure_logging",
]

log = logging.getLogger(__name__)

ENV_PREFIX = "FINDSUPPORT_"
#: The file that marks a findsupport checkout (its ``[metadata] name`` is ``findsupport``).
PROJECT_MARKER = "setup.cfg"
#: The data directory when findsupport creates it: only its owner may list or enter it
#: (it holds the database, the outbox of e-mails and the models).
PRIVATE_DIR_MODE = 0o700
#: Files holding personal data (the SQLite database and its side files): owner only.
PRIVATE_FILE_MODE = 0o600
#: The SQLite database inside the data directory (when no database URL is set).
DATABASE_FILE_NAME = "findsupport.sqlite3"
#: How findsupport's log lines look on stderr: the level first, so an operator can filter a
#: service's journal (journald does not see the level of a plain stderr line).
LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"


@dataclasses.dataclass(frozen=True)
class Settings:
    """Every setting findsupport reads.  Immutable; derive a changed copy with ``replace``."""

    # --- where things live -------------------------------------------------------
    #: Catalogue database, models, outbox and caches live here.  Relative to the
    #: ``base_dir`` of :func:`load_settings` (the current directory by default).
    data_dir: Path = Path("instance")
    #: Generated caches (the postcode directory); defaults to ``<data_dir>/cache``.
    #: Point several data dirs (or test runs) at one cache to build it once.
    cache_dir: Path | None = None
    #: SQLAlchemy URL of the store; defaults to SQLite at ``<data_dir>/findsupport.sqlite3``.
    database_url: str | None = None
    #: Optional TOML file that was read (for display only).
    config_file: Path | None = None

    # --- search ------------------------------------------------------------------
    #: DESIGN.md: the default search radius.
    default_radius_km: float = 25.0
    #: Smallest radius worth asking for: sector centroids are ~1 km apart in towns.
    min_radius_km: float = 1.0
    #: Largest radius: beyond 200 km in-person support is not realistic.
    max_radius_km: float = 200.0
    #: DESIGN.md: results per page by default.
    default_limit: int = 10
    #: A page longer than this is not a shortlist any more.
    max_limit: int = 50
    #: DESIGN.md: a provider travels this far when their row leaves travel_km empty.
    default_travel_km: float = 20.0
    #: Reverse geocoding: a point farther than this from every GB postcode is not in
    #: Great Britain.  20 km keeps remote Highland glens in and Belfast (35 km from the
    #: nearest Scottish postcode) out.
    reverse_max_km: float = 20.0

    # --- web -------------------------------------------------------------------------
    #: Map tiles; OpenStreetMap's own server by default (fine for light use, see its
    #: tile usage policy); an operator with traffic sets their own.
    tile_url: str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    tile_attribution: str = '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
    #: Who may frame ``/embed`` (CSP frame-ancestors); clubs embed it anywhere by default.
    embed_frame_ancestors: str = "*"
    #: Public base URL used in e-mails and the widget snippet; empty = the request's own.
    public_url: str = ""
    #: ``"off"`` or ``name=N/period`` pairs separated by ``;``.  Searches are cheap; an
    #: introduction sends an e-mail to a volunteer, so it is limited hard.  ``views``
    #: counts profile views recorded as feedback (the ranking learns from them): a coach
    #: opens a few profiles per search, so 60 an hour is generous, while a script that
    #: views one provider after every search (issue 12: 1,250 in 14 minutes) gets 60 an
    #: hour recorded; the profile itself is still shown beyond the limit.  ``links``: the
    #: pages of e-mailed links, a few per answer, so 30 a minute never stops a person but
    #: slows anyone guessing tokens; ``manage_links`` e-mails a volunteer, so it is as hard as
    #: introductions.  ``operator_sign_in`` e-mails an operator a sign-in link: a person
    #: asks once or twice, so 10 an hour never stops one, and nobody fills an inbox.
    rate_limits: str = ("search=120/minute;postcodes=120/minute;introductions=5/hour;views=60/hour;"
                        "links=30/minute;manage_links=5/hour;operator_sign_in=10/hour")
    #: Trust one ``X-Forwarded-For`` hop (behind a reverse proxy) for client addresses.
    trust_proxy: bool = False
    #: Each web worker asks the engine to reload (a cheap version check of the catalogue
    #: and the active model; a rebuild only when one changed) this often; 0 turns it off.
    #: Half a minute keeps an import visible quickly without polling the store per request.
    reload_check_seconds: float = 30.0
    #: Each web worker writes the search sessions it served to the feedback log in batches
    #: this often, off the request path (one transaction per batch instead of one per
    #: search); 0 writes each search synchronously before its answer.  100 ms is below how
    #: fast a person opens a result (so a view served by another worker finds its search
    #: written), and at hundreds of searches a second it still batches tens per write.  A
    #: graceful stop writes everything; a SIGKILL loses at most this window.
    feedback_write_batch_ms: float = 100.0
    #: Each process keeps the ranked pages of this many recent distinct searches (issue 13):
    #: a club's widget runs its preset search on every page view, so most traffic repeats a
    #: few queries, and a repeat then skips ranking and explaining its page (about 0.4-0.8 ms
    #: of CPU at 100,000 providers).  A page holds about 2 KiB per result (measured: 20 KiB
    #: for the default ten, 94 KiB for fifty), so 1024 pages are ~20 MiB a process (at most
    #: ~100 MiB were every page fifty long): room for the presets of hundreds of clubs'
    #: widgets and the searches people repeat.  A reload that brings a new catalogue or
    #: model is seen by the next search all the same; 0 turns the cache off.
    search_cache_entries: int = 1024
    #: Serve an active model that was not learnt from real feedback only (simulated,
    #: mixed or unknown provenance) even when it was activated without
    #: ``--force-simulated``.  Off: a demo's or notebook's simulated model must never
    #: rank real coaches' searches by accident (issue 12).
    serve_simulated_models: bool = False

    # --- introductions ---------------------------------------------------------------
    #: Without an SMTP host, e-mails are written as .eml files into ``outbox_dir``.
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = True
    mail_from: str = "findsupport@localhost"
    outbox_dir: Path | None = None
    #: Message length limit: long enough for an introduction, short enough to read.
    max_message_chars: int = 2000
    #: One reminder to a provider who has not answered: volunteers read mail weekly-ish,
    #: three days is a nudge, not nagging.
    introduction_reminder_days: float = 3.0
    #: A request unanswered this long expires and the coach is told (issue 11: "after a week").
    introduction_expiry_days: float = 7.0
    #: The "did you meet? was it helpful?" check-in goes this long after acceptance:
    #: long enough for a first session to have happened.
    introduction_outcome_days: float = 28.0
    #: Closed introductions and their messages are deleted after this long (personal data:
    #: keep it no longer than a season's follow-up needs); per-provider aggregates stay.
    introduction_retention_days: float = 180.0
    #: "Usually replies within N days" shows only once a provider has answered this many
    #: requests: fewer would make a coarse figure out of one lucky or unlucky week.
    responsiveness_min_answered: int = 5
    #: A listing pauses itself after this many requests in a row expire unanswered: the
    #: provider has most likely stopped reading the mail, and coaches should not wait on them.
    pause_after_expiries: int = 3
    #: A manage link works this long: long enough to find the e-mail again, short enough
    #: that an old forwarded e-mail stops controlling the listing.
    manage_link_days: float = 14.0
    #: Outcome check-in links work this long after they are sent.
    outcome_link_days: float = 30.0

    # --- coverage (issue 15) -------------------------------------------------------------
    #: Coverage figures below this are shown as "<5" wherever they leave the server, so no
    #: single coach or provider can be picked out of a district's figures (issue 15).
    coverage_min_count: int = 5
    #: Optional CSV ``district,region`` grouping districts into the operator's own regions;
    #: districts it does not name keep their postcode area (``NE21`` → ``NE``) as region.
    coverage_regions_file: Path | None = None

    # --- operator pages (issue 15) ---------------------------------------------------
    #: Addresses of the people who run findsupport (commas or spaces between): they sign in
    #: to ``/operator/`` by a one-time e-mailed link.  Empty: no operator pages at all (404).
    operator_emails: str = ""
    #: A sign-in link works this long and once: long enough for mail to arrive, short
    #: enough that a link left in an inbox is useless to whoever reads it later.
    operator_link_minutes: float = 15.0
    #: An operator session ends this long after sign-in (or at sign-out): a working day,
    #: so a forgotten browser does not stay signed in overnight.
    operator_session_hours: float = 8.0
    #: The deployment's own single sign-on: a request header (e.g. ``X-Remote-User``) set by
    #: the reverse proxy to the signed-in person's address.  Honoured only with
    #: ``trust_proxy`` and for an address of ``operator_emails``; the proxy MUST remove the
    #: header from clients' requests.  Empty: e-mailed links only.
    operator_sso_header: str = ""
    #: "Full for long" on the attention page: a listing with no spare place and no place
    #: taken or asked for in this long (a season's month): its places may be stale.
    operator_full_days: float = 30.0

    # --- demo data ---------------------------------------------------------------------
    demo_seed: int = 20261129
    demo_providers: int = 2000

    # --- logging -----------------------------------------------------------------------
    log_level: str = "INFO"

    # derived paths ---------------------------------------------------------------------
    @property
    def resolved_cache_dir(self) -> Path:
        return self.cache_dir if self.cache_dir is not None else self.data_dir / "cache"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / DATABASE_FILE_NAME).resolve()}"

    @property
    def resolved_outbox_dir(self) -> Path:
        return self.outbox_dir if self.outbox_dir is not None else self.data_dir / "outbox"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    def replace(self, **changes: Any) -> "Settings":
        """A copy with some settings changed (validated like any other source)."""
        return _build({**_as_raw(self), **changes}, source="override")


_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}
_TYPES = get_type_hints(Settings)


def _as_raw(settings: Settings) -> dict[str, Any]:
    return {name: getattr(settings, name) for name in _FIELDS}


def _coerce(name: str, value: Any, source: str) -> Any:
    """Convert a raw value (string from the environment, TOML value) to the field's type."""
    kind = _TYPES[name]
    text = str(value).strip() if isinstance(value, str) else value
    optional = type(None) in getattr(kind, "__args__", ())
    if optional and (value is None or text == ""):
        return None
    base = next((a for a in getattr(kind, "__args__", (kind,)) if a is not type(None)), kind)
    try:
        if base is bool:
            if isinstance(value, bool):
                return value
            lowered = str(text).lower()
            if lowered in {"1", "true", "yes", "on"}:
                return True
            if lowered in {"0", "false", "no", "off"}:
                return False
            raise ValueError("expected true or false")
        if base is int:
            if isinstance(value, bool):
                raise ValueError("expected a whole number")
            return int(text)
        if base is float:
            number = float(text)
            if number != number or number in (float("inf"), float("-inf")):
                raise ValueError("expected a finite number")
            return number
        if base is Path:
            return Path(os.path.expanduser(str(text)))
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"Setting {name} from {source} has value {value!r}: {exc}.", field=name) from None


_PATH_FIELDS = tuple(name for name, kind in _TYPES.items() if Path in (kind, *getattr(kind, "__args__", ())))


def _absolute(path: Path, base_dir: str | os.PathLike[str] | None) -> Path:
    """``path`` itself when absolute, else ``path`` inside ``base_dir`` (the current directory by default)."""
    if path.is_absolute():
        return path
    return Path(base_dir if base_dir is not None else os.getcwd()).absolute() / path


def _build(raw: Mapping[str, Any], source: str, base_dir: str | os.PathLike[str] | None = None) -> Settings:
    values: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in _FIELDS:
            known = ", ".join(sorted(_FIELDS))
            raise ConfigError(f"Unknown setting {name!r} from {source}; known settings: {known}.", field=name)
        values[name] = _coerce(name, value, source)
    settings = Settings(**values)
    # Absolute now: a later change of directory (a server daemonising, a notebook kernel) cannot move them.
    paths = {name: getattr(settings, name) for name in _PATH_FIELDS if getattr(settings, name) is not None}
    settings = dataclasses.replace(settings, **{name: _absolute(path, base_dir) for name, path in paths.items()})
    _validate(settings)
    return settings


def _validate(s: Settings) -> None:
    if not 0 < s.min_radius_km <= s.default_radius_km <= s.max_radius_km:
        raise ConfigError(
            "Radius settings must satisfy 0 < min_radius_km <= default_radius_km <= max_radius_km; "
            f"got {s.min_radius_km}, {s.default_radius_km}, {s.max_radius_km}."
        )
    if not 1 <= s.default_limit <= s.max_limit:
        raise ConfigError(f"default_limit must be between 1 and max_limit ({s.max_limit}); got {s.default_limit}.")
    if not 0 <= s.default_travel_km <= 200:
        raise ConfigError(f"default_travel_km must be between 0 and 200; got {s.default_travel_km}.")
    if s.reverse_max_km <= 0:
        raise ConfigError(f"reverse_max_km must be positive; got {s.reverse_max_km}.")
    if s.reload_check_seconds < 0:
        raise ConfigError(f"reload_check_seconds must be 0 (off) or positive; got {s.reload_check_seconds}.")
    if not 0 <= s.feedback_write_batch_ms <= 10_000:
        raise ConfigError(f"feedback_write_batch_ms must be between 0 (synchronous) and 10000; got {s.feedback_write_batch_ms}.")
    if not 0 <= s.search_cache_entries <= 100_000:
        raise ConfigError(
            f"search_cache_entries must be between 0 (no cache) and 100000; got {s.search_cache_entries}.",
            field="search_cache_entries",
        )
    if s.max_message_chars < 1:
        raise ConfigError(f"max_message_chars must be positive; got {s.max_message_chars}.")
    if not 0 < s.introduction_reminder_days < s.introduction_expiry_days:
        raise ConfigError(
            "Introduction settings must satisfy 0 < introduction_reminder_days < introduction_expiry_days; "
            f"got {s.introduction_reminder_days}, {s.introduction_expiry_days}."
        )
    for name in ("introduction_outcome_days", "introduction_retention_days", "manage_link_days", "outcome_link_days"):
        if getattr(s, name) <= 0:
            raise ConfigError(f"{name} must be positive; got {getattr(s, name)}.")
    for name in ("operator_link_minutes", "operator_session_hours", "operator_full_days"):
        if getattr(s, name) <= 0:
            raise ConfigError(f"{name} must be positive; got {getattr(s, name)}.", field=name)
    if s.coverage_min_count < 1:
        raise ConfigError(f"coverage_min_count must be at least 1; got {s.coverage_min_count}.")
    if s.responsiveness_min_answered < 1 or s.pause_after_expiries < 1:
        raise ConfigError(
            "responsiveness_min_answered and pause_after_expiries must be at least 1; "
            f"got {s.responsiveness_min_answered}, {s.pause_after_expiries}."
        )


def _read_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"Config file {path} does not exist.") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"Config file {path} cannot be read: {exc}.") from None
    # Accept both a flat file and one with a [findsupport] table.
    return dict(data.get("findsupport", data))


def project_root(start: str | os.PathLike[str] | None = None) -> Path | None:
    """The findsupport checkout holding ``start``: the nearest folder up from it with findsupport's ``setup.cfg``.

    The notebooks pass it as ``load_settings(base_dir=project_root())`` so that
    a relative data directory means the same there as in a shell at the top of
    the checkout.

    Parameters
    ----------
    start : path, optional
        Where to start looking (the current directory by default).

    Returns
    -------
    Path or None
        ``None`` outside a checkout (findsupport installed from a wheel, a
        notebook copied elsewhere): relative paths then stay relative to the
        current directory.
    """
    here = _absolute(Path(start) if start is not None else Path(), None)
    for folder in (here, *here.parents):
        marker = folder / PROJECT_MARKER
        if not marker.is_file():
            continue
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(marker, encoding="utf-8")
        except (configparser.Error, OSError, UnicodeDecodeError):
            continue  # somebody else's setup.cfg that we cannot read is not ours
        if parser.get("metadata", "name", fallback="").strip() == "findsupport":
            return folder
    return None


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    *,
    config_file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    base_dir: str | os.PathLike[str] | None = None,
) -> Settings:
    """Build :class:`Settings` from all sources, later ones winning.

    Parameters
    ----------
    overrides : mapping, optional
        Explicit values (CLI flags, ``create_app(config)``, tests).  ``None``
        values are ignored so optional flags can be passed through unchanged.
    config_file : path, optional
        A TOML file of settings; defaults to ``$FINDSUPPORT_CONFIG`` when set.
    environ : mapping, optional
        The environment to read ``FINDSUPPORT_*`` variables from (``os.environ``).
    base_dir : path, optional
        What relative paths (the data directory, the cache and outbox folders,
        the config file) are relative to; the current directory by default.
        Notebooks pass :func:`project_root`.

    Raises
    ------
    ConfigError
        For an unknown setting or a value of the wrong type or range.
    """
    env = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    file_name = config_file or env.get(f"{ENV_PREFIX}CONFIG")
    if file_name:
        path = _absolute(Path(os.path.expanduser(str(file_name))), base_dir)
        raw.update({k: _coerce(k, v, str(path)) if k in _FIELDS else v for k, v in _read_file(path).items()})
        raw["config_file"] = path
    for key, value in env.items():
        if key.startswith(ENV_PREFIX) and key != f"{ENV_PREFIX}CONFIG":
            name = key[len(ENV_PREFIX):].lower()
            if name in _FIELDS:
                raw[name] = _coerce(name, value, f"${key}")
    for key, value in (overrides or {}).items():
        if value is not None:
            raw[key] = value
    return _build(raw, source="settings", base_dir=base_dir)


def ensure_private_dir(path: str | os.PathLike[str]) -> bool:
    """Create the folder ``path`` (and its parents) when missing, the folder itself ``0700``.

    An existing folder is left as it is (it may be the operator's own choice).

    Returns
    -------
    bool
        Whether the folder was created now.

    Raises
    ------
    ConfigError
        When the folder cannot be created.
    """
    folder = Path(path)
    if folder.is_dir():
        return False
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        folder.mkdir(mode=PRIVATE_DIR_MODE)
    except FileExistsError:
        return False  # another process made it first (or it is a file: the caller's open will say so)
    except OSError as exc:
        raise ConfigError(f"The folder {folder.absolute()} cannot be created: {exc.strerror}.") from None
    # mkdir's mode passes through the umask, which can only remove bits: set it exactly.
    os.chmod(folder, PRIVATE_DIR_MODE)
    return True


def open_data_dir(settings: Settings) -> Path:
    """The absolute data directory of ``settings``, created private (``0700``) and announced when new.

    A new data directory is never used silently: a warning names its absolute
    path and how to fill it, so a relative ``FINDSUPPORT_DATA_DIR`` that
    resolved somewhere unexpected is noticed at once.  An existing data
    directory that holds findsupport's database and that others may enter
    (made by an older version) is made ``0700``, with a log line; any other
    existing folder is left as the operator made it.

    Examples
    --------
    >>> import tempfile
    >>> from findsupport.config import load_settings
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     folder = open_data_dir(load_settings({"data_dir": f"{tmp}/instance"}, environ={}))
    ...     oct(folder.stat().st_mode & 0o777)
    '0o700'
    """
    folder = Path(settings.data_dir).absolute()
    if ensure_private_dir(folder):
        log.warning(
            "new data directory %s created (private to this account); it lists no providers until "
            "`findsupport --data-dir %s demo` (synthetic providers) or `findsupport --data-dir %s import FILE` fills it",
            folder, folder, folder,
        )
    elif (folder / DATABASE_FILE_NAME).exists():
        mode = stat.S_IMODE(folder.stat().st_mode)
        if mode & 0o077:
            try:
                os.chmod(folder, mode & PRIVATE_DIR_MODE)
            except OSError as exc:
                log.warning("data directory %s is mode %s and cannot be made private: %s", folder, oct(mode), exc.strerror)
            else:
                log.warning("data directory %s holds personal data: its mode was %s, now %s (owner only)",
                            folder, oct(mode), oct(mode & PRIVATE_DIR_MODE))
    return folder


def configure_logging(level: str) -> None:
    """Log findsupport's messages from ``level`` up, to stderr unless logging is set up already.

    The command line sets up logging itself (``logging.basicConfig`` with
    :data:`LOG_FORMAT`).  A server started any other way (gunicorn, as the
    systemd unit runs it, or ``flask run``) has no handler: Python would print
    only warnings and above, without their level or source, and drop the
    rest.  So when neither the root logger nor findsupport's has a handler,
    findsupport's logger gets one of its own (once, however many apps a
    process creates).  An application that configures logging keeps its own,
    even when it does so after making the app: that handler then steps aside
    (see :class:`_UntilConfigured`), so no line is written twice.
    """
    logger = logging.getLogger("findsupport")
    logger.setLevel(level.upper())
    if not logging.getLogger().handlers and not logger.handlers:
        handler = _UntilConfigured()
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        logger.addHandler(handler)


class _UntilConfigured(logging.StreamHandler):
    """stderr for findsupport's lines while the root logger has no handler.

    Records propagate to the root logger too; once an application sets
    logging up (``logging.basicConfig`` after ``create_app``), its handlers
    write them, and this one writes nothing.
    """

    def emit(self, record: logging.LogRecord) -> None:
        if not logging.getLogger().handlers:
            super().emit(record)
