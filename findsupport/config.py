"""Settings, layered: defaults → optional TOML file → ``FINDSUPPORT_*`` environment → overrides.

Nothing is read at import time: call :func:`load_settings` (the CLI and
``create_app`` do) and pass the resulting :class:`Settings` down.

Every tunable number of the service lives here with the reason for its
default, never as a bare literal in the code that uses it.

Examples
--------
>>> s = load_settings({"data_dir": "/tmp/fs"}, environ={})
>>> str(s.data_dir), s.default_radius_km
('/tmp/fs', 25.0)
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, get_type_hints

from .errors import ConfigError

__all__ = ["Settings", "load_settings", "ENV_PREFIX"]

ENV_PREFIX = "FINDSUPPORT_"


@dataclasses.dataclass(frozen=True)
class Settings:
    """Every setting findsupport reads.  Immutable; derive a changed copy with ``replace``."""

    # --- where things live -------------------------------------------------------
    #: Catalogue database, models, outbox and caches live here.
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
    #: introduction sends an e-mail to a volunteer, so it is limited hard.
    rate_limits: str = "search=120/minute;postcodes=120/minute;introductions=5/hour"
    #: Trust one ``X-Forwarded-For`` hop (behind a reverse proxy) for client addresses.
    trust_proxy: bool = False
    #: Each web worker asks the engine to reload (a cheap version check of the catalogue
    #: and the active model; a rebuild only when one changed) this often; 0 turns it off.
    #: Half a minute keeps an import visible quickly without polling the store per request.
    reload_check_seconds: float = 30.0

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
        return f"sqlite:///{(self.data_dir / 'findsupport.sqlite3').resolve()}"

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


def _build(raw: Mapping[str, Any], source: str) -> Settings:
    values: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in _FIELDS:
            known = ", ".join(sorted(_FIELDS))
            raise ConfigError(f"Unknown setting {name!r} from {source}; known settings: {known}.", field=name)
        values[name] = _coerce(name, value, source)
    settings = Settings(**values)
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
    if s.max_message_chars < 1:
        raise ConfigError(f"max_message_chars must be positive; got {s.max_message_chars}.")


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


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    *,
    config_file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
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

    Raises
    ------
    ConfigError
        For an unknown setting or a value of the wrong type or range.
    """
    env = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    file_name = config_file or env.get(f"{ENV_PREFIX}CONFIG")
    if file_name:
        path = Path(file_name)
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
    return _build(raw, source="settings")
