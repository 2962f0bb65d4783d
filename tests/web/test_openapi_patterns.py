"""The document's patterns are what the server's parsers accept (schemathesis relies on them).

Each pattern is written for JSON Schema (no flags, ECMA-262 syntax); these
checks generate strings from it and hand them to the parser that really
decides, so a pattern can never promise more than the server takes.
"""

from __future__ import annotations

import re
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from findsupport.config import Settings
from findsupport.geo.grammar import MAX_INPUT_CHARS, OUTCODE_PATTERN, UNIT_LETTERS_PATTERN, parse_postcode
from findsupport.search.query import parse_query
from findsupport.web import openapi
from findsupport.introductions.addresses import ATEXT, LABEL_PATTERN, safe_addr_spec
from findsupport.introductions.validation import unsafe_text


def _patterns(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["pattern"]] if isinstance(node.get("pattern"), str) else []
        return found + [p for value in node.values() for p in _patterns(value)]
    if isinstance(node, list):
        return [p for value in node for p in _patterns(value)]
    return []


def test_every_pattern_in_the_document_compiles():
    patterns = _patterns(openapi.build_openapi(Settings()))
    assert openapi.POSTCODE_PATTERN in patterns and openapi.EMAIL_PATTERN in patterns
    for pattern in patterns:
        re.compile(pattern)  # schemathesis skips a pattern it cannot compile, silently


@given(st.from_regex(openapi.POSTCODE_PATTERN).filter(lambda s: len(s) <= MAX_INPUT_CHARS))
def test_every_documented_postcode_parses_as_written(text):
    assert not parse_postcode(text).corrected


@given(st.from_regex(openapi.SLOTS_PATTERN))
def test_every_documented_slot_list_parses(text):
    parse_query({"postcode": "NE1", "slots": text})


def _allowed_address(text: str) -> bool:
    return not any(re.search(p, text) for p in (openapi.ENCODED_WORD_PATTERN, openapi.DOUBLE_DOT_PATTERN,
                                               openapi.NUMERIC_TLD_PATTERN)) and len(text) <= 254


@given(st.from_regex(openapi.EMAIL_PATTERN).filter(_allowed_address))
def test_every_documented_address_is_accepted(text):
    safe_addr_spec(text)


@given(st.from_regex(openapi.TEXT_PATTERN))
def test_every_documented_line_of_text_is_safe(text):
    assert text.strip() and unsafe_text(text.strip()) is None


@given(st.from_regex(openapi.MESSAGE_PATTERN))
def test_every_documented_message_is_safe(text):
    assert text.strip() and unsafe_text(text.strip(), multiline=True) is None


# The other direction: what the owners' parsers accept, the document accepts too (the
# document builds its patterns from the owners' exported pieces, so they cannot drift).
@given(st.from_regex(f"{OUTCODE_PATTERN}(?: ?[0-9]{UNIT_LETTERS_PATTERN}| [0-9])?", fullmatch=True))
def test_every_postcode_the_grammar_reads_is_documented(text):
    parse_postcode(text)
    assert re.fullmatch(openapi.POSTCODE_PATTERN, text) and re.fullmatch(openapi.POSTCODE_PATTERN, text.lower())


_ADDRESSES = st.from_regex(
    f"[{ATEXT}]{{1,20}}(?:\\.[{ATEXT}]{{1,20}}){{0,2}}@{LABEL_PATTERN}(?:\\.{LABEL_PATTERN}){{0,2}}\\.[a-z]{{2,6}}",
    fullmatch=True,
).filter(lambda text: "=?" not in text and len(text) <= 254)


@given(_ADDRESSES)
def test_every_address_the_sender_takes_is_documented(text):
    safe_addr_spec(text)
    assert re.fullmatch(openapi.EMAIL_PATTERN, text) and _allowed_address(text)
