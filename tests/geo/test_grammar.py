"""Postcode grammar: formats, normalising, typo fixes and hostile input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from findsupport.errors import FindSupportError, InvalidPostcode
from findsupport.geo import is_valid_postcode, normalise_postcode, outcode_of, parse_postcode, sector_of


@pytest.mark.parametrize(
    ("text", "postcode", "outcode", "sector"),
    [
        # the six formats
        ("M1 1AE", "M1 1AE", "M1", "M1 1"),  # A9 9AA
        ("M60 1NW", "M60 1NW", "M60", "M60 1"),  # A99 9AA
        ("CR2 6XH", "CR2 6XH", "CR2", "CR2 6"),  # AA9 9AA
        ("DN55 1PT", "DN55 1PT", "DN55", "DN55 1"),  # AA99 9AA
        ("W1A 1HQ", "W1A 1HQ", "W1A", "W1A 1"),  # A9A 9AA
        ("EC1A 1BB", "EC1A 1BB", "EC1A", "EC1A 1"),  # AA9A 9AA
        # case and spacing
        (" ne214lz ", "NE21 4LZ", "NE21", "NE21 4"),
        ("ne21   4lz", "NE21 4LZ", "NE21", "NE21 4"),
        ("N E 2 1 4 L Z", "NE21 4LZ", "NE21", "NE21 4"),
        ("\tsw1a 2aa\n", "SW1A 2AA", "SW1A", "SW1A 2"),
    ],
)
def test_full_postcodes_in_every_format(text: str, postcode: str, outcode: str, sector: str) -> None:
    parsed = parse_postcode(text)
    assert (parsed.kind, parsed.postcode, parsed.outcode, parsed.sector) == ("unit", postcode, outcode, sector)
    assert not parsed.corrected
    assert normalise_postcode(text) == postcode
    assert outcode_of(text) == outcode
    assert sector_of(text) == sector
    assert is_valid_postcode(text)


@pytest.mark.parametrize(
    ("text", "kind", "postcode", "sector"),
    [
        ("NE21", "outcode", "NE21", None),
        ("ne21 4", "sector", "NE21 4", "NE21 4"),
        ("b1", "outcode", "B1", None),
        ("EC1A 1", "sector", "EC1A 1", "EC1A 1"),
        ("sw1a", "outcode", "SW1A", None),
    ],
)
def test_districts_and_sectors(text: str, kind: str, postcode: str, sector: str | None) -> None:
    parsed = parse_postcode(text)
    assert (parsed.kind, parsed.postcode, parsed.sector) == (kind, postcode, sector)
    assert not is_valid_postcode(text)  # partial: not a full postcode


def test_partial_postcodes_can_be_refused() -> None:
    with pytest.raises(InvalidPostcode, match="full postcode"):
        parse_postcode("NE21 4", allow_partial=False)


@pytest.mark.parametrize(
    ("typed", "fixed"),
    [
        ("SWIA 2AA", "SW1A 2AA"),  # I for 1 in the district
        ("SW1A OAA", "SW1A 0AA"),  # O for 0 in the sector digit
        ("swia oaa", "SW1A 0AA"),  # both, lower case
        ("NE2I 4LZ", "NE21 4LZ"),
        ("0X49 5NU", "OX49 5NU"),  # zero for O in the area letters
        ("M6O 1NW", "M60 1NW"),
        ("1P1 1AA", "IP1 1AA"),
        ("NE2I", "NE21"),  # a district alone
    ],
)
def test_o_and_i_typos_are_fixed_when_only_one_reading_is_valid(typed: str, fixed: str) -> None:
    parsed = parse_postcode(typed)
    assert parsed.postcode == fixed
    assert parsed.corrected
    assert parsed.input == typed.strip()
    assert not is_valid_postcode(typed)  # valid only after fixing


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "hello",
        "NE21 4LZZ",
        "NE21 44Z",
        "999 9AA",
        "NE214",  # a sector without its space is ambiguous
        "Q",
        "<script>alert(1)</script>",
        "NE21\x004LZ",
        "NE21\u00a04LZ",  # no-break space
        "ＮＥ２１ ４ＬＺ",  # full-width letters and digits
        "NE21 4LZ; DROP TABLE providers",
        "x" * 10_000,
        "🏃",
    ],
)
def test_anything_else_is_a_clear_invalid_postcode_error(text: str) -> None:
    with pytest.raises(InvalidPostcode) as info:
        parse_postcode(text)
    message = info.value.message
    assert "postcode" in message.lower()
    assert len(message) < 400  # a 10 kB paste is not echoed back
    assert "<script>" not in message or "'" in message  # echoed inside quotes at most


@pytest.mark.parametrize("value", [None, 42, 4.2, b"NE21 4LZ", ["NE21 4LZ"], {"postcode": "x"}])
def test_non_text_is_an_invalid_postcode(value: object) -> None:
    with pytest.raises(InvalidPostcode, match="must be text"):
        parse_postcode(value)


def test_an_error_message_never_contains_control_characters() -> None:
    with pytest.raises(InvalidPostcode) as info:
        parse_postcode("NE\x1b[31m21")
    assert "\x1b" not in info.value.message


_POSTCODE_PARTS = st.tuples(
    st.sampled_from(["A", "AB", "W", "EC", "SW", "NE"]),
    st.integers(0, 99),
    st.sampled_from(["", "A", "B", "W"]),
    st.integers(0, 9),
    st.text(alphabet="ABDEFGHJLNPQRSTUWXYZ", min_size=2, max_size=2),
)


@given(_POSTCODE_PARTS, st.sampled_from(["", " ", "  "]), st.booleans())
def test_normalising_is_idempotent(parts, space: str, lower: bool) -> None:
    area, district, letter, sector, unit = parts
    outcode = f"{area}{district}{letter if district < 10 else ''}"
    text = f"{outcode}{space}{sector}{unit}"
    text = text.lower() if lower else text
    try:
        once = normalise_postcode(text)
    except InvalidPostcode:
        return
    assert normalise_postcode(once) == once
    assert " " in once and once == once.upper()


@settings(max_examples=300)
@given(st.text(max_size=40))
def test_arbitrary_text_never_raises_anything_but_invalid_postcode(text: str) -> None:
    try:
        parsed = parse_postcode(text)
    except InvalidPostcode:
        return
    except FindSupportError as exc:  # pragma: no cover - would be a bug
        pytest.fail(f"unexpected {type(exc).__name__}")
    assert parsed.postcode == normalise_postcode(parsed.postcode)
