"""Graded labels from what coaches did with a result.

A logged result carries the strongest action the coach took on it
(``shown`` < ``viewed`` < ``requested`` < ``accepted``, see
:data:`findsupport.taxonomy.ACTIONS`).  Its grade is that action's rank, so
an accepted introduction (3) says more than a request (2), a request more than
opening the profile (1), and a result that was only shown is 0.  NDCG turns
grades into gains ``2**grade - 1`` (0, 1, 3, 7): one acceptance is worth more
than several views, as a coach developer would judge it.

Examples
--------
>>> grade_of("requested"), grades_of(["shown", "accepted", "viewed"]).tolist()
(2, [0, 3, 1])
>>> [float(g) for g in gains([0, 1, 2, 3])]
[0.0, 1.0, 3.0, 7.0]
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .. import taxonomy
from ..errors import InvalidInput

__all__ = ["GRADES", "MAX_GRADE", "grade_of", "grades_of", "gains"]

#: Action → grade (its position in the ordered vocabulary).
GRADES: dict[str, int] = {action: grade for grade, action in enumerate(taxonomy.ACTIONS)}
MAX_GRADE = max(GRADES.values())


def grade_of(action: str) -> int:
    """The grade of one action; an unknown action is an :class:`InvalidInput`."""
    try:
        return GRADES[action]
    except (KeyError, TypeError):
        raise InvalidInput(
            f"Got action={action!r}; action must be one of {', '.join(taxonomy.ACTIONS)}.",
            field="action",
            allowed=list(taxonomy.ACTIONS),
        ) from None


def grades_of(actions: Iterable[str]) -> np.ndarray:
    """Grades of several actions as an int array."""
    return np.array([grade_of(a) for a in actions], dtype=np.int64)


def gains(grades: Iterable[float] | np.ndarray) -> np.ndarray:
    """Exponential gains ``2**grade - 1`` used by DCG (grades must be non-negative)."""
    g = np.asarray(grades, dtype=np.float64)
    return np.exp2(g) - 1.0
