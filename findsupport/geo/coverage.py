"""What Code-Point Open covers: Great Britain, not Northern Ireland or the Crown dependencies.

Two kinds of question land here: "is this postcode area one we cannot
cover?" and "is this longitude/latitude plausibly in Great Britain, and if
not, what did the person probably mean?".
"""

from __future__ import annotations

import math

from ..errors import InvalidInput, LocationOutsideCoverage, PostcodeNotCovered

__all__ = [
    "NOT_COVERED_AREAS",
    "check_area_covered",
    "check_lonlat",
    "territory_at",
    "GB_LON_RANGE",
    "GB_LAT_RANGE",
]

#: Postcode areas that exist but are outside Code-Point Open (Great Britain only).
NOT_COVERED_AREAS: dict[str, str] = {
    "BT": "Northern Ireland",
    "JE": "Jersey",
    "GY": "Guernsey",
    "IM": "the Isle of Man",
}

# Generous envelope of Great Britain (Scilly to Shetland, St Kilda to Lowestoft):
# outside it a point cannot be in GB; inside it the directory decides.
GB_LON_RANGE = (-8.75, 1.85)
GB_LAT_RANGE = (49.8, 60.95)

# Rough boxes of the places people most often mean when a point is not in GB.
_TERRITORY_BOXES: tuple[tuple[str, float, float, float, float], ...] = (
    # name, lon_min, lon_max, lat_min, lat_max
    ("the Isle of Man", -4.85, -4.30, 54.03, 54.43),
    ("Jersey", -2.27, -1.98, 49.15, 49.27),
    ("Guernsey", -2.72, -2.15, 49.39, 49.74),
    ("Northern Ireland", -8.20, -5.40, 54.00, 55.35),
    ("Ireland", -10.70, -5.90, 51.35, 55.45),
)


def check_area_covered(area: str, postcode: str) -> None:
    """Raise :class:`PostcodeNotCovered` for Northern Ireland, Channel Islands and Isle of Man postcodes."""
    place = NOT_COVERED_AREAS.get(area)
    if place is not None:
        raise PostcodeNotCovered(
            f"{postcode} is in {place}. findsupport uses Code-Point Open, which covers Great Britain "
            f"only, so {area} postcodes cannot be located; please use the nearest postcode in Great Britain "
            "or search online support.",
            area=area,
        )


def territory_at(lon: float, lat: float) -> str | None:
    """Name of a known non-GB territory containing the point, if any (approximate boxes)."""
    for name, lon_min, lon_max, lat_min, lat_max in _TERRITORY_BOXES:
        if lon_min <= lon <= lon_max and lat_min <= lat <= lat_max:
            return name
    return None


def _number(value: object, name: str) -> float:
    if isinstance(value, bool):
        raise InvalidInput(f"{name} must be a number of degrees; got {value!r}.", field=name)
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidInput(f"{name} must be a number of degrees; got {str(value)[:40]!r}.", field=name) from None
    if not math.isfinite(number):
        raise InvalidInput(f"{name} must be a finite number of degrees; got {value!r}.", field=name)
    return number


def check_lonlat(lon: object, lat: object) -> tuple[float, float]:
    """Validate a longitude/latitude pair that should be in Great Britain.

    Returns the pair as floats.  Raises :class:`InvalidInput` when the values
    are not numbers, look like grid references or look swapped, and
    :class:`LocationOutsideCoverage` when the point is simply not in GB.  The
    final word on "inside GB" belongs to the postcode directory (distance to
    the nearest postcode); this is the cheap first test.
    """
    lon_f, lat_f = _number(lon, "lon"), _number(lat, "lat")
    if abs(lon_f) > 1000 or abs(lat_f) > 1000:
        raise InvalidInput(
            f"lon={lon_f:g}, lat={lat_f:g} look like grid references (metres), not degrees. "
            "Give longitude and latitude in degrees, e.g. lon=-1.61, lat=54.97.",
            field="lon",
        )
    if not (-180 <= lon_f <= 180 and -90 <= lat_f <= 90):
        raise InvalidInput(
            f"lon={lon_f:g}, lat={lat_f:g} are not valid degrees (longitude -180..180, latitude -90..90).",
            field="lat" if abs(lat_f) > 90 else "lon",
        )
    in_lon = GB_LON_RANGE[0] <= lon_f <= GB_LON_RANGE[1]
    in_lat = GB_LAT_RANGE[0] <= lat_f <= GB_LAT_RANGE[1]
    if not (in_lon and in_lat):
        swapped = GB_LON_RANGE[0] <= lat_f <= GB_LON_RANGE[1] and GB_LAT_RANGE[0] <= lon_f <= GB_LAT_RANGE[1]
        if swapped:
            raise InvalidInput(
                f"lon={lon_f:g}, lat={lat_f:g} look swapped: in Great Britain latitude is about 50-61 "
                "and longitude about -8 to 2. Try swapping them.",
                field="lon",
            )
        place = territory_at(lon_f, lat_f)
        where = f"in {place}" if place else "outside Great Britain"
        raise LocationOutsideCoverage(
            f"The point lon={lon_f:.5f}, lat={lat_f:.5f} is {where}; findsupport covers Great Britain only.",
        )
    return lon_f, lat_f
