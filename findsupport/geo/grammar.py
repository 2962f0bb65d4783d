"""UK postcode grammar: normalise, validate, split and fix common typos.

A full postcode is an *outcode* (area letters, district) and an *inward code*
(sector digit, unit letters): ``NE21 4LZ`` has outcode ``NE21``, sector
``NE21 4`` and unit ``LZ``.  The six formats are A9 9AA, A99 9AA, AA9 9AA,
AA99 9AA, A9A 9AA and AA9A 9AA.

Like postcodes.io's ``postcode`` library, validation is by *shape* (the
directory decides whether a postcode exists), with Royal Mail's letter rules.  On top of that, the letters O and
I typed for the digits 0 and 1 (and the other way round) are fixed when exactly
one reading has a valid shape: ``SWIA 2AA`` → ``SW1A 2AA``.

Examples
--------
>>> parse_postcode(" ne214lz ").postcode
'NE21 4LZ'
>>> parse_postcode("SW1A OAA").postcode, parse_postcode("SW1A OAA").corrected
('SW1A 0AA', True)
>>> parse_postcode("ne21 4").kind, parse_postcode("ne21").kind
('sector', 'outcode')
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Literal

from ..errors import InvalidPostcode

__all__ = [
    "ParsedPostcode",
    "parse_postcode",
    "normalise_postcode",
    "is_valid_postcode",
    "outcode_of",
    "sector_of",
    "directory_key",
    "MAX_INPUT_CHARS",
    "OUTCODE_PATTERN",
    "UNIT_LETTERS_PATTERN",
]

PostcodeKind = Literal["unit", "sector", "outcode"]

#: Longest text worth parsing: "SW1A 2AA" plus generous spacing.  Anything longer
#: is rejected before any other work, so a 10 kB paste costs nothing.
MAX_INPUT_CHARS = 16

# Royal Mail's letter rules, which every Code-Point Open postcode follows: the
# first letter is never Q, V or X; the second never I, J or Z; a letter third
# (A9A) or fourth (AA9A) comes from short fixed lists; the unit never uses
# C, I, K, M, O or V.  Being strict here is what lets the typo fixer tell
# "NE2I" (invalid) from "NE21".
#: An outcode's shape, upper case, unanchored (also the OpenAPI document's, so it is
#: written in the syntax Python and JSON Schema's ECMA-262 share).
OUTCODE_PATTERN = (
    r"(?:[A-PR-UWYZ][0-9][0-9]?"
    r"|[A-PR-UWYZ][A-HK-Y][0-9][0-9]?"
    r"|[A-PR-UWYZ][0-9][ABCDEFGHJKPSTUW]"
    r"|[A-PR-UWYZ][A-HK-Y][0-9][ABEHMNPRVWXY])"
)
#: The two letters of a unit (after the sector digit), upper case, unanchored.
UNIT_LETTERS_PATTERN = r"[ABD-HJLNP-UW-Z]{2}"
_UNIT_RE = re.compile(rf"^({OUTCODE_PATTERN})([0-9])({UNIT_LETTERS_PATTERN})$")
_SECTOR_RE = re.compile(rf"^({OUTCODE_PATTERN}) ([0-9])$")
_OUTCODE_RE = re.compile(rf"^({OUTCODE_PATTERN})$")
# Letters and digits people swap when typing postcodes.
_TYPO_SWAPS = {"O": "0", "0": "O", "I": "1", "1": "I"}
_ALLOWED = re.compile(r"^[A-Z0-9 ]*$")


@dataclass(frozen=True, slots=True)
class ParsedPostcode:
    """A postcode, district (outcode) or sector in canonical form.

    Attributes
    ----------
    kind : {"unit", "sector", "outcode"}
        A full postcode, a sector such as ``NE21 4`` or a district such as ``NE21``.
    postcode : str
        Canonical text: ``"NE21 4LZ"``, ``"NE21 4"`` or ``"NE21"``.
    outcode : str
    sector : str or None
        ``None`` for a bare outcode.
    input : str
        What was typed (trimmed), for "did you mean" messages.
    corrected : bool
        True when an O/0 or I/1 typo was fixed.
    """

    kind: PostcodeKind
    postcode: str
    outcode: str
    sector: str | None
    input: str
    corrected: bool = False

    @property
    def area(self) -> str:
        """The postcode area: the leading letters (``NE``, ``SW``, ``B``)."""
        return _area(self.outcode)


def _area(outcode: str) -> str:
    return outcode[:2] if outcode[1:2].isalpha() else outcode[:1]


def _match(compact: str, spaced: str) -> tuple[PostcodeKind, str, str, str | None] | None:
    """Match one candidate spelling; ``compact`` has no spaces, ``spaced`` has single spaces."""
    m = _UNIT_RE.match(compact)
    if m:
        outcode, digit, unit = m.groups()
        return "unit", f"{outcode} {digit}{unit}", outcode, f"{outcode} {digit}"
    m = _SECTOR_RE.match(spaced)
    if m:
        outcode, digit = m.groups()
        return "sector", f"{outcode} {digit}", outcode, f"{outcode} {digit}"
    # A sector typed without its space ("NE214") is ambiguous with a district
    # ("NE21" + "4"?), so a bare outcode must be typed as such.
    m = _OUTCODE_RE.match(compact) if " " not in spaced else None
    if m:
        return "outcode", compact, compact, None
    return None


def _describe(text: str) -> str:
    """A short, printable echo of bad input for error messages."""
    shown = "".join(ch if ch.isprintable() else "?" for ch in text[:MAX_INPUT_CHARS])
    return repr(shown + ("…" if len(text) > MAX_INPUT_CHARS else ""))


def _invalid(text: str, why: str) -> InvalidPostcode:
    return InvalidPostcode(
        f"{_describe(text)} is not a UK postcode: {why} "
        "A postcode looks like NE21 4LZ or SW1A 2AA; a district (NE21) or sector (NE21 4) works too.",
    )


def parse_postcode(text: object, *, allow_partial: bool = True) -> ParsedPostcode:
    """Parse anything a coach might type into a canonical postcode, sector or district.

    Parameters
    ----------
    text : object
        Usually a string; anything else is rejected with :class:`InvalidPostcode`.
    allow_partial : bool, default True
        Accept a district (``NE21``) or sector (``NE21 4``) as well as a full postcode.

    Returns
    -------
    ParsedPostcode

    Raises
    ------
    InvalidPostcode
        For any text that is not a postcode in one of the six UK formats (after
        fixing an unambiguous O/0 or I/1 typo).  Never raises anything else.
    """
    if not isinstance(text, str):
        raise InvalidPostcode(f"A postcode must be text; got {type(text).__name__}.")
    stripped = text.strip()
    if not stripped:
        raise InvalidPostcode("Please enter a postcode, for example NE21 4LZ.")
    if len(stripped) > MAX_INPUT_CHARS:
        raise _invalid(stripped, "it is too long.")
    upper = stripped.upper()
    if not upper.isascii() or not _ALLOWED.match(upper):
        raise _invalid(stripped, "it may contain only the letters A-Z, digits 0-9 and spaces.")
    spaced = " ".join(upper.split())
    compact = spaced.replace(" ", "")

    found = _match(compact, spaced)
    corrected = False
    if found is None:
        found = _fix_typos(compact, spaced)
        corrected = found is not None
    if found is None:
        raise _invalid(stripped, "it does not match any of the UK postcode formats.")
    kind, canonical, outcode, sector = found
    if kind != "unit" and not allow_partial:
        raise _invalid(stripped, "a full postcode is needed here (district and sector alone are not enough).")
    return ParsedPostcode(kind, canonical, outcode, sector, stripped, corrected)


def _fix_typos(compact: str, spaced: str) -> tuple[PostcodeKind, str, str, str | None] | None:
    """Try every O/0 and I/1 swap; accept the fix only when exactly one reading is valid."""
    positions = [i for i, ch in enumerate(spaced) if ch in _TYPO_SWAPS]
    if not positions:
        return None
    readings: set[tuple[PostcodeKind, str, str, str | None]] = set()
    for choice in itertools.product((False, True), repeat=len(positions)):
        chars = list(spaced)
        for pos, swap in zip(positions, choice):
            if swap:
                chars[pos] = _TYPO_SWAPS[chars[pos]]
        candidate = "".join(chars)
        found = _match(candidate.replace(" ", ""), candidate)
        if found is not None:
            readings.add(found)
    return readings.pop() if len(readings) == 1 else None


def normalise_postcode(text: object) -> str:
    """Canonical form of a full postcode, sector or district (``" ne214lz "`` → ``"NE21 4LZ"``)."""
    return parse_postcode(text).postcode


def is_valid_postcode(text: object) -> bool:
    """True when ``text`` has the shape of a full UK postcode (no typo fixing)."""
    try:
        parsed = parse_postcode(text, allow_partial=False)
    except InvalidPostcode:
        return False
    return not parsed.corrected


def outcode_of(postcode: str) -> str:
    """The outcode (district) of a postcode or sector."""
    return parse_postcode(postcode).outcode


def sector_of(postcode: str) -> str:
    """The sector (``"NE21 4"``) of a full postcode or sector."""
    parsed = parse_postcode(postcode)
    if parsed.sector is None:
        raise InvalidPostcode(f"{parsed.postcode} is a district; a sector needs the digit after the space (e.g. NE21 4).")
    return parsed.sector


def directory_key(outcode: str, inward: str = "") -> str:
    """Fixed-width key used by the postcode directory: outcode padded to 4, then inward.

    Keeping the outcode at a fixed width makes every district and sector a
    contiguous, prefix-searchable run of the sorted directory.
    """
    return outcode.ljust(4) + inward
