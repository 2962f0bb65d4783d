"""Small-count suppression: the one function every figure passes through before it leaves the server.

A count below the threshold (5 by default, ``Settings.coverage_min_count``) is
shown as ``"<5"``, so no single coach or provider can be picked out of a
district's figures.

Complementary suppression
-------------------------
A withheld cell can be worked out whenever the cells it adds up with are
published together with their total: the region's figure minus its shown
districts, the all-districts row minus the others, the district's figure over
all roles minus its shown roles.  The caller names those *groups* (the
columns whose rows add up to a published total); in every group and every
count column, more cells are withheld until no withheld count can be worked
out:

* a group with exactly **one** withheld cell whose value is not zero would
  reveal it (total − shown = that cell): the smallest shown cell of the group
  is withheld too;
* a group whose withheld cells are all below the threshold and add up to
  ``(threshold − 1) × their number`` would reveal each of them (all are
  ``threshold − 1``): likewise.

A withheld zero reveals nobody, so a group whose withheld cells sum to zero
needs nothing more.  Cells withheld only to protect another are shown as
:data:`WITHHELD` (``"[c]"``, "confidential", as the ONS marks them), not
``"<5"``: they may be large.  Cells are added until the groups are stable, so a
cell withheld for one group is counted in every other group it belongs to.

What it does not protect against: a group whose cells are *all* withheld has
nothing left to withhold, so its total must be withheld where it is published
(in the region table, two districts of 4 searches each show as a region of 8);
and *differences between overlapping tables*
(all roles minus mentors; January to March minus January to February) can
still reveal a small number.  Publish one fixed set of splits and periods
(the operator pages should), and keep ad-hoc tables inside the server.

Examples
--------
>>> import pandas as pd
>>> table = pd.DataFrame({"region": ["NE", "NE", "NE"], "searches": [12, 3, 40]})
>>> suppress_small_counts(table, ["searches"])["searches"].tolist()
['12', '<5', '40']
>>> suppress_small_counts(table, ["searches"], groups=[["region"]])["searches"].tolist()  # the region's 55 is published
['[c]', '<5', '40']
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["suppress_small_counts", "small_label", "shown_values", "WITHHELD", "DEFAULT_MIN_COUNT"]

#: Counts below this are withheld (issue 15: "fewer than 5 shown as <5"); the deployment's
#: value is ``Settings.coverage_min_count``.
DEFAULT_MIN_COUNT = 5
#: A cell withheld only so that another withheld cell cannot be worked out from a total.
WITHHELD = "[c]"


def small_label(threshold: int = DEFAULT_MIN_COUNT) -> str:
    """How a count below ``threshold`` is shown: ``"<5"``."""
    return f"<{threshold}"


def suppress_small_counts(
    table: pd.DataFrame,
    columns: Sequence[str],
    *,
    threshold: int = DEFAULT_MIN_COUNT,
    groups: Sequence[Sequence[str]] = (),
    totals_published: bool = False,
) -> pd.DataFrame:
    """A copy of ``table`` whose count ``columns`` are text safe to publish.

    Parameters
    ----------
    table : DataFrame
        Whole, non-negative counts in ``columns``; other columns are copied as they are.
    columns : sequence of str
        The count columns.
    threshold : int, default 5
        Counts below it are shown as ``"<threshold"``.
    groups : sequence of column lists
        Each list names columns whose rows, grouped by their values, add up to
        a total published elsewhere (``["region"]``: districts add up to their
        region's figure).  ``[]`` is the whole table.
    totals_published : bool, default False
        The whole table's column totals are published too (adds ``[]`` to ``groups``).

    Returns
    -------
    DataFrame
        ``columns`` as text: the count, ``"<5"``, or :data:`WITHHELD`.
    """
    if threshold < 1:
        raise ValueError(f"Got threshold={threshold!r}; the threshold must be at least 1.")
    specs = [list(g) for g in groups] + ([[]] if totals_published else [])
    group_ids = [_group_ids(table, spec) for spec in specs]
    out = table.copy()
    small = small_label(threshold)
    for column in columns:
        values = table[column].to_numpy(dtype=np.int64)
        if (values < 0).any():
            raise ValueError(f"Column {column!r} holds negative counts; counts are never negative.")
        primary = values < threshold
        secondary = np.zeros(len(values), dtype=bool)
        changed = True
        while changed:
            changed = False
            for ids in group_ids:
                add = _cells_to_withhold(values, primary, secondary, ids, threshold)
                if len(add):
                    secondary[add] = True
                    changed = True
        text = values.astype(str).astype(object)
        text[primary] = small
        text[secondary] = WITHHELD
        out[column] = text
    return out


def shown_values(column: pd.Series) -> pd.Series:
    """Published text back to numbers, ``NaN`` where withheld (for maps and sorting)."""
    return pd.to_numeric(column, errors="coerce")


def _group_ids(table: pd.DataFrame, spec: list[str]) -> np.ndarray:
    if not spec:
        return np.zeros(len(table), dtype=np.int64)
    return table.groupby(spec, sort=False, dropna=False).ngroup().to_numpy(dtype=np.int64)


def _cells_to_withhold(
    values: np.ndarray, primary: np.ndarray, secondary: np.ndarray, ids: np.ndarray, threshold: int
) -> np.ndarray:
    """Positions of the smallest shown cell in every group that would reveal a withheld one."""
    if not len(values):
        return np.zeros(0, dtype=np.int64)
    withheld = primary | secondary
    n_groups = int(ids.max()) + 1
    n_withheld = np.bincount(ids, weights=withheld, minlength=n_groups)
    n_secondary = np.bincount(ids, weights=secondary, minlength=n_groups)
    residual = np.bincount(ids, weights=np.where(withheld, values, 0), minlength=n_groups)
    n_shown = np.bincount(ids, weights=~withheld, minlength=n_groups)
    revealing = (residual > 0) & (
        (n_withheld == 1) | ((n_secondary == 0) & (residual >= (threshold - 1) * n_withheld))
    )
    revealing &= n_shown > 0
    if not revealing.any():
        return np.zeros(0, dtype=np.int64)
    candidates = np.flatnonzero(~withheld & revealing[ids])
    order = np.lexsort((candidates, values[candidates], ids[candidates]))
    candidates = candidates[order]
    first = np.ones(len(candidates), dtype=bool)
    first[1:] = ids[candidates][1:] != ids[candidates][:-1]
    return candidates[first]
