"""Formula neutralising: nothing a spreadsheet would evaluate, and export → import gives the value back."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from findsupport.catalog.spreadsheet import FORMULA_TRIGGERS, neutralise, restore


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ("=1+2", "'=1+2"),
        ("+44 7000", "'+44 7000"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("Sam", "Sam"),
        ("", ""),
        ("a=b", "a=b"),
    ],
)
def test_neutralise(text, written):
    assert neutralise(text) == written


@given(st.text(alphabet=st.sampled_from(["=", "+", "-", "@", "\t", "\r", "'", "a", " "]), max_size=6) | st.text())
def test_neutralised_cells_never_start_a_formula_and_come_back_unchanged(text):
    stored = restore(text)  # what an import would store from this cell
    written = neutralise(stored)
    assert not written.startswith(FORMULA_TRIGGERS)
    assert restore(written) == stored
