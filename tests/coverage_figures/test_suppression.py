"""The suppression rule: counts below the threshold shown as "<5", and never recoverable from a total."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from findsupport.coverage import WITHHELD, shown_values, suppress_small_counts


def published(values, groups=None, *, totals=False, threshold=5):
    table = pd.DataFrame({"group": groups or ["g"] * len(values), "n": values})
    specs = [["group"]] if groups else []
    return suppress_small_counts(table, ["n"], threshold=threshold, groups=specs, totals_published=totals)["n"].tolist()


@pytest.mark.parametrize(
    ("values", "totals", "expected"),
    [
        # Primary only: below 5 (zero included) is "<5"; 5 and over shown.
        ([0, 1, 4, 5, 12], False, ["<5", "<5", "<5", "5", "12"]),
        # A total is published: one withheld 3 would be total − shown; the smallest shown goes too.
        ([3, 12, 40], True, ["<5", WITHHELD, "40"]),
        # Two withheld cells (3 and 1) cannot be told apart: nothing more.
        ([3, 1, 12, 40], True, ["<5", "<5", "12", "40"]),
        # A withheld zero reveals nobody: nothing more.
        ([0, 12, 40], True, ["<5", "12", "40"]),
        # Two withheld 4s add up to 8 = 2 × 4: each would be known; one more is withheld.
        ([4, 4, 12, 40], True, ["<5", "<5", WITHHELD, "40"]),
        # Nothing to add when every cell is withheld already.
        ([2, 0], True, ["<5", "<5"]),
    ],
)
def test_table(values, totals, expected):
    assert published(values, totals=totals) == expected


def test_groups_are_protected_separately_and_together():
    # Region A publishes its total (districts add up to it); region B's small cell is protected too.
    values = [3, 20, 30, 7, 2, 50]
    groups = ["A", "A", "A", "B", "B", "B"]
    assert published(values, groups) == ["<5", WITHHELD, "30", WITHHELD, "<5", "50"]


def test_threshold_is_a_parameter_and_shown_values_reads_back():
    text = published([1, 2, 3], threshold=2)
    assert text == ["<2", "2", "3"]
    assert shown_values(pd.Series(text)).tolist()[1:] == [2.0, 3.0] and np.isnan(shown_values(pd.Series(text))[0])


@pytest.mark.parametrize("bad", [[-1, 3]])
def test_negative_counts_are_a_bug(bad):
    with pytest.raises(ValueError, match="negative"):
        published(bad)


def _bounds(text: list[str], threshold: int) -> list[tuple[float, float]]:
    """What a reader of the published column knows of each cell."""
    out = []
    for cell in text:
        if cell == f"<{threshold}":
            out.append((0, threshold - 1))
        elif cell == WITHHELD:
            out.append((threshold, np.inf))
        else:
            out.append((int(cell), int(cell)))
    return out


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from("ABC"), st.integers(0, 30)), min_size=1, max_size=12),
    st.integers(2, 6),
)
def test_no_small_count_can_be_worked_out_from_the_totals(cells, threshold):
    groups = [g for g, _ in cells]
    values = [v for _, v in cells]
    text = published(values, groups, totals=True, threshold=threshold)
    for value, cell in zip(values, text):
        assert (cell == str(value)) == (cell not in (f"<{threshold}", WITHHELD))
        if value < threshold:
            assert cell == f"<{threshold}"
    # In every published total (each group, and the whole table) that has a shown cell, a withheld
    # non-zero count is never the only unknown: total minus shown is spread over two or more cells.
    # (A group with every cell withheld has nothing to add; see the module's limits.)
    frame = pd.DataFrame({"group": groups, "value": values, "text": text})
    for _, part in [*frame.groupby("group"), ("all", frame)]:
        withheld = part[part["text"].isin([f"<{threshold}", WITHHELD])]
        if withheld["value"].sum() > 0 and len(withheld) < len(part):
            assert len(withheld) >= 2
            # ...and not all pinned at threshold − 1 by a residual of (threshold − 1) × their number.
            if (withheld["text"] == f"<{threshold}").all():
                assert withheld["value"].sum() < (threshold - 1) * len(withheld)
