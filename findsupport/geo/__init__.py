"""UK postcode geography: grammar, the Code-Point Open directory, district outlines, BNG ⇄ WGS84.

Public names are re-exported here; the modules hold one idea each.
"""

from .codepoint import ATTRIBUTION, LICENCE
from .coverage import NOT_COVERED_AREAS, check_lonlat
from .directory import PostcodeDirectory, PostcodeLocation
from .outlines import DistrictOutlines
from .grammar import ParsedPostcode, is_valid_postcode, normalise_postcode, outcode_of, parse_postcode, sector_of
from .transform import BNG, WGS84, to_bng, to_wgs84

__all__ = [
    "ATTRIBUTION",
    "LICENCE",
    "NOT_COVERED_AREAS",
    "check_lonlat",
    "PostcodeDirectory",
    "PostcodeLocation",
    "DistrictOutlines",
    "ParsedPostcode",
    "is_valid_postcode",
    "normalise_postcode",
    "outcode_of",
    "parse_postcode",
    "sector_of",
    "BNG",
    "WGS84",
    "to_bng",
    "to_wgs84",
]
