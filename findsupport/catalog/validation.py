"""Validation of one catalogue row: the rules every way in (CSV, GeoJSON, GeoPackage, Python) applies.

Validation happens in two steps so an import of 100,000 rows stays fast:

1. :func:`parse_row` checks a row's own values (id, name, vocabulary codes,
   numbers, booleans, e-mail, the shape of the postcode or coordinates, the
   service area) one row at a time and returns a :class:`ParsedRow` or the
   list of :class:`~findsupport.catalog.model.Problem`.
2. :func:`~findsupport.catalog.locate.locate_rows` resolves the locations of
   all parsed rows at once with array lookups in the postcode directory.

:func:`validate_row` does both for one row: a :class:`Provider` or its problems.

Values may be text (CSV cells) or typed (numbers and booleans from spatial
files, lists from Python); text is trimmed, and an empty cell is a missing
value.  Codes are matched case-insensitively with ``-`` and spaces read as
``_`` ("Co-coach" is ``co_coach``).  Every message echoes the bad value and
lists what would be accepted.

Examples
--------
>>> from findsupport.config import Settings
>>> row = {"id": "p1", "name": "Sam Kestrel", "roles": "Mentor;co-coach", "postcode": "ne21 4lz",
...        "events": "endurance", "email": "sam@example.org", "consent": "yes"}
>>> parsed = parse_row(row, Settings())
>>> parsed.fields["roles"], parsed.fields["events"][:2], parsed.postcode.postcode
(('mentor', 'co_coach'), ('middle_distance', 'long_distance'), 'NE21 4LZ')
>>> for problem in parse_row({**row, "roles": "mentr", "capacity": "-1"}, Settings()):
...     print(f"{problem.column}: {problem.reason}")
roles: 'mentr' (did you mean 'mentor'?) is not a role; roles are mentor, coach_developer, technical_advisor, co_coach, separated by ';'
capacity: capacity '-1' must be a whole number from 0 to 100
"""

from __future__ import annotations

import difflib
import functools
import math
import numbers
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import taxonomy
from ..config import Settings
from ..errors import InvalidInput, LocationOutsideCoverage
from ..geo import ParsedPostcode, PostcodeDirectory, check_lonlat, parse_postcode
from .locate import locate_rows
from .model import (
    COORDINATE_COLUMNS,
    DEFAULT_CAPACITY,
    LIST_SEPARATOR,
    MAX_BIO_CHARS,
    MAX_CAPACITY,
    MAX_CLUB_CHARS,
    MAX_EMAIL_CHARS,
    MAX_ID_CHARS,
    MAX_NAME_CHARS,
    MAX_SERVICE_AREA_VERTICES,
    MAX_TRAVEL_KM,
    SERVICE_AREA_COLUMN,
    Problem,
    Provider,
    split_list,
)
from .service_area import ServiceAreaError, clean_service_area, parse_service_area_wkt
from .spreadsheet import restore

__all__ = [
    "ParsedRow",
    "parse_row",
    "parse_row_for_import",
    "parse_field",
    "capacity_problem",
    "FIELD_COLUMNS",
    "validate_row",
    "cell_text",
    "withdraws_consent",
    "is_provider_id",
    "ECHO_CHARS",
    "MAX_CELL_CHARS",
    "MAX_COORDINATE_CHARS",
    "MAX_SERVICE_AREA_WKT_CHARS",
]

#: How much of a bad value an error message repeats (enough to find it, not a page).
ECHO_CHARS = 40
#: The longest text any other cell may hold before it is refused unread: the longest
#: sensible list (every event code and group, separated by ';') is about 300 characters,
#: and numbers, booleans and postcodes are far shorter.  Reading a megabyte "roles"
#: cell would only make a megabyte error message.
MAX_CELL_CHARS = 1000
#: ``lat``/``lon``: a float written with every digit it holds is under 30 characters.
MAX_COORDINATE_CHARS = 64
#: ``service_area`` WKT: up to ``MAX_SERVICE_AREA_VERTICES`` vertices, each two numbers
#: of up to about 20 characters with a space and a comma (64 is generous).
MAX_SERVICE_AREA_WKT_CHARS = MAX_SERVICE_AREA_VERTICES * 64

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# Deliberately simple (as in the introductions form): one @, no spaces or
# header-breaking characters, a dot in the domain.  Delivery is the real test.
_EMAIL = re.compile(r"^[^@\s<>()\[\],;:\"\\]+@[^@\s<>()\[\],;:\"\\]+\.[^@\s<>()\[\],;:\"\\.]{2,}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_EXCEPT_NEWLINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
#: Distinct list cells remembered (roles/events/availability repeat across rows).
CODE_CACHE_SIZE = 65_536
_EVENT_CODES = (*taxonomy.EVENTS, *(g for g in taxonomy.EVENT_GROUPS if g not in taxonomy.EVENTS))
# List column → (one item, several items, allowed codes, required?), for the messages.
_LISTS: dict[str, tuple[str, str, tuple[str, ...], bool]] = {
    "roles": ("a role", "roles", taxonomy.ROLES, True),
    "events": ("an event or event group", "events and event groups", _EVENT_CODES, True),
    "availability": ("a slot", "slots", taxonomy.SLOTS, False),
}
_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})


class _Bad(Exception):
    """One value's problem, raised by a field parser and collected by :func:`parse_row`."""


@dataclass(frozen=True, slots=True)
class ParsedRow:
    """A row whose own values are valid, waiting for its location to be resolved.

    ``fields`` holds every :class:`Provider` field that does not depend on the
    postcode directory, or is ``None`` for a row with other problems that is
    located only so that every problem is reported (no provider is made of it).  Exactly one of ``postcode`` and ``lonlat`` may be
    ``None``; when both are set, the postcode gives the public sector and the
    coordinates are the private base.  ``location_column`` names the column to
    blame for a location problem (``postcode``, ``lat`` or ``geometry``).
    """

    fields: dict[str, Any] | None
    postcode: ParsedPostcode | None
    lonlat: tuple[float, float] | None
    location_column: str
    service_area: Any = None


def _echo(text: str) -> str:
    return repr(text if len(text) <= ECHO_CHARS else text[:ECHO_CHARS] + "…")


def cell_text(value: object) -> str | None:
    """A cell as trimmed text; ``None`` for an empty or missing cell.

    Numbers from typed files become their plain text (``42.0`` → ``"42"``), and
    a quote added by :func:`~findsupport.catalog.spreadsheet.neutralise` is removed.
    """
    if type(value) is str:  # the common case, first
        text = value.strip()
        if not text:
            return None
        return restore(text) if text[0] == "'" else text
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        return restore(text) if text else None
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        number = float(value)
        if math.isnan(number):
            return None
        return str(int(number)) if number.is_integer() else repr(number)
    return str(value).strip() or None


def _required(text: str | None, column: str, what: str) -> str:
    if text is None:
        raise _Bad(f"{column} is required ({what})")
    return text


def _too_long(column: str, length: int, limit: int) -> str:
    return f"{column} is {length:,} characters long; at most {limit:,} are allowed"


def _line_text(text: str | None, column: str, limit: int) -> str | None:
    if text is None:
        return None
    wrong = []
    if len(text) > limit:
        wrong.append(_too_long(column, len(text), limit))
    if _CONTROL.search(text):
        wrong.append(f"{column} {_echo(text)} contains a control character (a line break or tab?)")
    if wrong:
        raise _Bad("; ".join(wrong))
    return text


def _provider_id(value: object) -> str:
    text = _required(cell_text(value), "id", "a short unique name for the provider, e.g. p0042")
    if len(text) > MAX_ID_CHARS or not _ID.match(text):
        raise _Bad(
            f"id {_echo(text)} must be 1-{MAX_ID_CHARS} letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (ids appear in web addresses)"
        )
    return text


def is_provider_id(text: str | None) -> bool:
    """True when ``text`` has the form of a provider id (whether or not such a provider exists)."""
    return text is not None and len(text) <= MAX_ID_CHARS and _ID.match(text) is not None


def _normal_code(item: str) -> str:
    return "_".join(item.lower().replace("-", " ").split())


def _items(value: object) -> list[str]:
    # Lists come from Python callers; arrays from GeoJSON properties that are JSON arrays.
    if isinstance(value, (list, tuple, np.ndarray)):
        return [str(v).strip() for v in value if v is not None and str(v).strip()]
    text = cell_text(value)
    return list(split_list(text)) if text else []


def _unknown(items: list[str], what: str, plural: str, allowed: Iterable[str], *, listed: bool = True) -> str:
    allowed = list(allowed)
    shown = []
    for item in items:
        close = difflib.get_close_matches(_normal_code(item), allowed, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        shown.append(f"{_echo(item)}{hint}")
    verb = "is not" if len(items) == 1 else "are not"
    noun = what if len(items) == 1 else plural
    message = f"{', '.join(shown)} {verb} {noun}; {plural} are {', '.join(allowed)}"
    return f"{message}, separated by '{LIST_SEPARATOR}'" if listed else message


def _codes(value: object, column: str) -> tuple[str, ...]:
    """The codes of a list column (``roles``, ``events`` or ``availability``), checked."""
    if isinstance(value, str) or value is None:
        # Files repeat the same few lists endlessly: parse each distinct cell once.
        result = _codes_of_text(cell_text(value), column)
        if isinstance(result, str):
            raise _Bad(result)
        return result
    return _check_codes(_items(value), column)


@functools.lru_cache(maxsize=CODE_CACHE_SIZE)
def _codes_of_text(text: str | None, column: str) -> tuple[str, ...] | str:
    """Codes of one list cell, or the reason it is wrong (cached, so returned rather than raised)."""
    try:
        return _check_codes(list(split_list(text)) if text else [], column)
    except _Bad as exc:
        return str(exc)


def _check_codes(items: list[str], column: str) -> tuple[str, ...]:
    what, plural, allowed, required = _LISTS[column]
    if not items:
        if required:
            raise _Bad(f"{column} is required: one or more of {', '.join(allowed)}, separated by '{LIST_SEPARATOR}'")
        return ()
    codes = [_normal_code(item) for item in items]
    unknown = [item for item, code in zip(items, codes) if code not in allowed]
    if unknown:
        raise _Bad(_unknown(unknown, what, plural, allowed))
    return tuple(dict.fromkeys(codes))


@functools.lru_cache(maxsize=CODE_CACHE_SIZE)
def _expanded_events(codes: tuple[str, ...]) -> tuple[str, ...]:
    expanded: list[str] = []
    for code in codes:
        expanded.extend(taxonomy.expand_event(code))
    return tuple(dict.fromkeys(expanded))


def _events(value: object) -> tuple[str, ...]:
    return _expanded_events(_codes(value, "events"))


def _qualification(value: object) -> str | None:
    text = cell_text(value)
    if text is None:
        return None
    code = _normal_code(text)
    if code not in taxonomy.QUALIFICATIONS:
        raise _Bad(_unknown([text], "a qualification", "qualifications", taxonomy.QUALIFICATIONS, listed=False))
    return code


def _boolean(value: object, column: str, default: bool | None) -> bool:
    if isinstance(value, bool):
        return value
    text = cell_text(value)
    if text is None:
        if default is None:
            raise _Bad(f"{column} is required: true or false")
        return default
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise _Bad(f"{column} {_echo(text)} must be true or false (yes/no and 1/0 work too)")


def _number(value: object, column: str, default: float, low: float, high: float, unit: str) -> float:
    text = cell_text(value)
    if text is None:
        return default
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and low <= number <= high):
        raise _Bad(f"{column} {_echo(text)} must be a number of {unit} from {low:g} to {high:g}")
    return number


def _whole(value: object, column: str, default: int, low: int, high: int) -> int:
    text = cell_text(value)
    if text is None:
        return default
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and number.is_integer() and low <= number <= high):
        raise _Bad(f"{column} {_echo(text)} must be a whole number from {low} to {high}")
    return int(number)


def _email(value: object) -> str:
    text = _required(cell_text(value), "email", "introductions are sent to it; it is never shown")
    if len(text) > MAX_EMAIL_CHARS or not _EMAIL.match(text) or _CONTROL.search(text):
        raise _Bad(f"email {_echo(text)} is not a plausible e-mail address (like name@example.org)")
    local, _, domain = text.rpartition("@")
    return f"{local}@{domain.lower()}"


def _bio(value: object) -> str | None:
    text = cell_text(value)
    if text is None:
        return None
    wrong = []
    if len(text) > MAX_BIO_CHARS:
        wrong.append(_too_long("bio", len(text), MAX_BIO_CHARS))
    if _CONTROL_EXCEPT_NEWLINES.search(text):
        wrong.append("bio contains a control character other than a line break")
    if wrong:
        raise _Bad("; ".join(wrong))
    return text


_FIELD_PARSERS = {
    "id": _provider_id,
    "name": lambda v: _required(_line_text(cell_text(v), "name", MAX_NAME_CHARS), "name", "shown on results"),
    "roles": lambda v: _codes(v, "roles"),
    "events": _events,
    "availability": lambda v: _codes(v, "availability"),
    "online": lambda v: _boolean(v, "online", False),
    "qualification": _qualification,
    "club": lambda v: _line_text(cell_text(v), "club", MAX_CLUB_CHARS),
    "email": _email,
    "consent": lambda v: _boolean(v, "consent", None),
    "bio": _bio,
}


def _travel_km(value: object, settings: Settings) -> float:
    return _number(value, "travel_km", settings.default_travel_km, 0.0, MAX_TRAVEL_KM, "kilometres")


def _capacity(value: object) -> int:
    return _whole(value, "capacity", DEFAULT_CAPACITY, 0, MAX_CAPACITY)


def _active_coaches(value: object) -> int:
    return _whole(value, "active_coaches", 0, 0, MAX_CAPACITY)


def capacity_problem(capacity: int, active_coaches: int) -> str | None:
    """Why ``capacity`` cannot hold ``active_coaches`` (the operator's count), or ``None`` when it can."""
    if active_coaches > capacity:
        return f"active_coaches {active_coaches} is more than capacity {capacity}; raise capacity or correct it"
    return None


#: Columns :func:`parse_field` checks on their own: every column whose rule does not
#: depend on another (location and service area are checked together, in a row).
FIELD_COLUMNS: tuple[str, ...] = (*_FIELD_PARSERS, "travel_km", "capacity", "active_coaches")


def parse_field(column: str, value: object, settings: Settings) -> Any:
    """One column's value checked by exactly the rules of an import (a provider's own edit, say).

    An empty value means what an empty cell means in a file (``travel_km``
    and ``capacity`` take their defaults, ``availability`` none, ``bio``
    ``None``); lists may be ``;``-separated text or a list of codes.

    Raises
    ------
    InvalidInput
        The value breaks the column's rule; ``extra["field"]`` is ``column`` and
        the message is the import's own.
    KeyError
        ``column`` is not one of :data:`FIELD_COLUMNS` (a programming error).

    Examples
    --------
    >>> parse_field("availability", "Tue eve; sat_am", Settings())
    ('tue_eve', 'sat_am')
    >>> parse_field("travel_km", "", Settings())
    20.0
    """
    parse = {
        **_FIELD_PARSERS,
        "travel_km": lambda v: _travel_km(v, settings),
        "capacity": _capacity,
        "active_coaches": _active_coaches,
    }[column]
    problems: list[Problem] = []
    if _oversized({column: value}, problems):
        raise InvalidInput(problems[0].reason, field=column)
    try:
        return parse(value)
    except _Bad as exc:
        raise InvalidInput(str(exc), field=column) from None


#: The longest text a column may hold before it is refused without being read, where
#: that differs from ``MAX_CELL_CHARS``.
_CELL_LIMITS: dict[str, int] = {
    **dict.fromkeys(COORDINATE_COLUMNS, MAX_COORDINATE_CHARS),
    SERVICE_AREA_COLUMN: MAX_SERVICE_AREA_WKT_CHARS,
}
#: Columns whose parser checks their length itself (and echoes a truncated value):
#: their own message, with their own limit, is the clearer one.
_OWN_LENGTH_CHECK = frozenset({"id", "name", "club", "bio", "email"})
_SHORTEST_CELL_LIMIT = min(MAX_CELL_CHARS, *_CELL_LIMITS.values())


def _oversized(values: Mapping[str, object], problems: list[Problem]) -> frozenset[str]:
    """Columns whose text is too long to read at all (each reported once, with its limit)."""
    try:  # CSV rows are all text: one pass in C decides nearly every row
        if max(map(len, values.values()), default=0) <= _SHORTEST_CELL_LIMIT:
            return frozenset()
    except TypeError:  # a number, boolean or None from a spatial file: look cell by cell
        pass
    found = []
    for column, value in values.items():
        if isinstance(value, str) and len(value) > _SHORTEST_CELL_LIMIT and column not in _OWN_LENGTH_CHECK:
            limit = _CELL_LIMITS.get(column, MAX_CELL_CHARS)
            if len(value) > limit and len(value.strip()) > limit:
                problems.append(Problem(column, _too_long(column, len(value.strip()), limit)))
                found.append(column)
    return frozenset(found)


def _location(values: Mapping[str, object], point: tuple[float, float] | None, problems: list[Problem]):
    """The postcode (parsed) and coordinates (checked) of a row; problems appended."""
    postcode_text = cell_text(values.get("postcode"))
    lat_text, lon_text = (cell_text(values.get(c)) for c in COORDINATE_COLUMNS)
    parsed: ParsedPostcode | None = None
    lonlat: tuple[float, float] | None = None
    column = "postcode"
    if postcode_text is not None:
        try:
            parsed = parse_postcode(postcode_text, allow_partial=False)
        except InvalidInput as exc:
            problems.append(Problem("postcode", exc.message))
    if (lat_text is None) != (lon_text is None):
        missing = "lat" if lat_text is None else "lon"
        problems.append(Problem(missing, f"{missing} is missing: give both lat and lon (degrees), or neither"))
    elif lat_text is not None:
        if point is not None:
            problems.append(Problem("geometry", "the feature has a point geometry and lat/lon values; give its base once"))
        else:
            column = "lat" if parsed is None else column
            try:
                lonlat = check_lonlat(lon_text, lat_text)
            except (InvalidInput, LocationOutsideCoverage) as exc:
                problems.append(Problem(exc.extra.get("field", "lat"), exc.message))
    if point is not None and lat_text is None:
        column = "geometry" if parsed is None else column
        try:
            lonlat = check_lonlat(*point)
        except (InvalidInput, LocationOutsideCoverage) as exc:
            problems.append(Problem("geometry", f"the point geometry: {exc.message}"))
    if postcode_text is None and lat_text is None and lon_text is None and point is None:
        problems.append(Problem("postcode", "postcode is required (or lat and lon in degrees, or a point geometry) to place the provider"))
    return parsed, lonlat, column


def _service_area(values: Mapping[str, object], geometry: Any, problems: list[Problem]) -> Any:
    wkt = cell_text(values.get(SERVICE_AREA_COLUMN))
    if wkt is not None and geometry is not None:
        problems.append(Problem("geometry", "the feature has a polygon geometry and a service_area value; give it once"))
        return None
    try:
        if wkt is not None:
            return parse_service_area_wkt(wkt)
        if geometry is not None:
            return clean_service_area(geometry)
    except ServiceAreaError as exc:
        problems.append(Problem(SERVICE_AREA_COLUMN if wkt is not None else "geometry", f"service area: {exc}"))
    return None


def parse_row(
    values: Mapping[str, object],
    settings: Settings,
    *,
    point: tuple[float, float] | None = None,
    service_area: Any = None,
) -> ParsedRow | list[Problem]:
    """Check one row's own values (everything except resolving its location).

    Parameters
    ----------
    values : mapping
        Column name → value, as in the provider CSV (DESIGN.md); missing
        columns are empty cells.
    settings : Settings
        ``default_travel_km`` fills an empty ``travel_km``.
    point : (lon, lat), optional
        A point geometry of a spatial file (WGS84 degrees): the provider's base.
    service_area : shapely geometry, optional
        A polygon geometry of a spatial file (EPSG:27700): the explicit service area.

    Returns
    -------
    ParsedRow or list of Problem
        Every problem of the row, not just the first.
    """
    parsed, problems = parse_row_for_import(values, settings, point=point, service_area=service_area)
    return problems if problems or parsed is None else parsed


def parse_row_for_import(
    values: Mapping[str, object],
    settings: Settings,
    *,
    point: tuple[float, float] | None = None,
    service_area: Any = None,
) -> tuple[ParsedRow | None, list[Problem]]:
    """Like :func:`parse_row`, but a row with problems may still be located, to report those too.

    Returns
    -------
    parsed : ParsedRow or None
        Without problems, the complete parsed row.  With problems, a row whose
        location parsed cleanly is still returned with ``fields=None``:
        :func:`~findsupport.catalog.locate.locate_rows` then only checks its
        location, so an unknown postcode is reported beside a misspelt role.
        ``None`` when there is nothing to locate.
    problems : list of Problem
        Every problem of the row's own values.
    """
    problems: list[Problem] = []
    fields: dict[str, Any] = {}
    oversized = _oversized(values, problems)
    if oversized:
        # Read as empty from here on: a giant travel_km or capacity then only fills in a
        # default in a row that is rejected anyway, and is not reported twice.
        values = {column: value for column, value in values.items() if column not in oversized}
    for column, parse in _FIELD_PARSERS.items():
        if column in oversized:
            continue
        try:
            fields[column] = parse(values.get(column))
        except _Bad as exc:
            problems.append(Problem(column, str(exc)))
    try:
        fields["travel_km"] = _travel_km(values.get("travel_km"), settings)
    except _Bad as exc:
        problems.append(Problem("travel_km", str(exc)))
    capacity: int | None = None
    try:
        capacity = fields["capacity"] = _capacity(values.get("capacity"))
    except _Bad as exc:
        problems.append(Problem("capacity", str(exc)))
    try:
        active = fields["active_coaches"] = _active_coaches(values.get("active_coaches"))
        if capacity is not None and (reason := capacity_problem(capacity, active)) is not None:
            problems.append(Problem("active_coaches", reason))
    except _Bad as exc:
        problems.append(Problem("active_coaches", str(exc)))
    before = len(problems)
    if oversized & {"postcode", *COORDINATE_COLUMNS}:
        postcode, lonlat, location_column = None, None, "postcode"
    else:
        postcode, lonlat, location_column = _location(values, point, problems)
    location_ok = len(problems) == before and (postcode is not None or lonlat is not None)
    area = _service_area(values, service_area, problems)
    if problems:
        if not location_ok:
            return None, problems
        return ParsedRow(fields=None, postcode=postcode, lonlat=lonlat, location_column=location_column), problems
    return ParsedRow(fields=fields, postcode=postcode, lonlat=lonlat, location_column=location_column, service_area=area), []


def withdraws_consent(values: Mapping[str, object]) -> bool:
    """True when a row's ``consent`` is a clear "no", whatever else is wrong with the row."""
    try:
        return _boolean(values.get("consent"), "consent", None) is False
    except _Bad:
        return False


def validate_row(
    values: Mapping[str, object],
    directory: PostcodeDirectory,
    settings: Settings,
    *,
    point: tuple[float, float] | None = None,
    service_area: Any = None,
) -> Provider | list[Problem]:
    """Validate one row completely: a :class:`Provider` ready to store, or its problems.

    The same rules as an import (which uses :func:`parse_row` and resolves
    locations in bulk); see :func:`parse_row` for the parameters.

    Examples
    --------
    >>> provider = validate_row(row, directory, settings)             # doctest: +SKIP
    >>> provider.area, provider.public().area                          # doctest: +SKIP
    ('NE21 4', 'NE21 4')
    """
    parsed, problems = parse_row_for_import(values, settings, point=point, service_area=service_area)
    if parsed is None:
        return problems
    located = locate_rows([parsed], directory, settings)[0]
    if problems or isinstance(located, list):
        return [*problems, *(located if isinstance(located, list) else [])]
    return located
