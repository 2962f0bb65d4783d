"""Graded labels from what coaches did with a result.

Two scales, for two jobs:

:data:`ACTION_RANK`
    the order of actions (``shown`` < ``viewed`` < ``requested`` <
    ``declined`` < ``accepted`` < ``met``, see
    :data:`findsupport.taxonomy.ACTIONS`): the feedback log keeps the
    strongest action per result by this rank.
:data:`ACTION_CODES`
    the number the feedback log stores for each action.  Codes never change
    (a new action gets the next free one), so logs written before an action
    joined the vocabulary read back unchanged.
:data:`GRADES`
    the label a learner and NDCG see.  Outcomes (a provider accepted, both
    met) are what the service is for and cannot be produced by a script
    clicking profiles, so they weigh far above clicks: NDCG's gain
    ``2**grade - 1`` makes one acceptance (grade 4, gain 15) worth fifteen
    views (grade 1, gain 1) and five requests (grade 2, gain 3).  A view is
    the cheapest signal to forge (issue 12: 1,250 scripted views moved a
    provider from position 38 to 17), so it carries the least.
:data:`MET_GRADES`
    the label of ``met`` by the outcome check-in's helpfulness (a per-result
    field of the log): "we met and it was helpful" (6) above a plain ``met``
    (5: not said) above "we met, but it was not so helpful" (4, as an
    acceptance), all above clicks.

Examples
--------
>>> grade_of("requested"), grades_of(["shown", "accepted", "viewed"]).tolist()
(2, [0, 4, 1])
>>> grade_of("met", helpful=True), grade_of("met"), grade_of("met", helpful=False), grade_of("viewed", helpful=True)
(6, 5, 4, 1)
>>> [float(g) for g in gains([0, 1, 2, 4])]
[0.0, 1.0, 3.0, 15.0]
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .. import taxonomy
from ..errors import InvalidInput

__all__ = ["ACTION_RANK", "ACTION_CODES", "GRADES", "OUTCOME_GRADES", "MET_GRADES", "MAX_GRADE", "grade_of", "grades_of",
           "gains"]

#: Action → its rank in the ordered vocabulary (the feedback log keeps the strongest).
ACTION_RANK: dict[str, int] = {action: rank for rank, action in enumerate(taxonomy.ACTIONS)}

#: Action → the code the feedback log stores: the first four are what logs held before
#: ``declined`` and ``met`` joined, so old rows keep their meaning.
ACTION_CODES: dict[str, int] = {"shown": 0, "viewed": 1, "requested": 2, "accepted": 3, "declined": 4, "met": 5}
assert set(ACTION_CODES) == set(taxonomy.ACTIONS) and len(set(ACTION_CODES.values())) == len(ACTION_CODES)

#: The label of every action the vocabulary has or may gain.  Clicks are cheap and
#: forgeable (1); a request costs the coach a message (2); a decline is still a
#: request answered (2); outcomes are the service's purpose and need the provider
#: (accepted 4) or both people (met 5), so no anonymous script can make them.
OUTCOME_GRADES: dict[str, int] = {
    "shown": 0,
    "viewed": 1,
    "requested": 2,
    "declined": 2,
    "accepted": 4,
    "met": 5,
}

#: Action → label grade, for the actions of :data:`findsupport.taxonomy.ACTIONS`.
GRADES: dict[str, int] = {action: OUTCOME_GRADES[action] for action in taxonomy.ACTIONS}

#: ``met`` by helpfulness (``None``: not said).  Whether a pairing helped is the
#: service's real goal, so a helpful one steers the ranking most; one that did not
#: help is still an outcome two people made happen, worth an acceptance.
MET_GRADES: dict[bool | None, int] = {True: OUTCOME_GRADES["met"] + 1, None: OUTCOME_GRADES["met"],
                                      False: OUTCOME_GRADES["accepted"]}
MAX_GRADE = max(*GRADES.values(), *MET_GRADES.values())


def grade_of(action: str, helpful: bool | None = None) -> int:
    """The label grade of one action (``helpful`` counts for ``met`` only); an unknown action is an :class:`InvalidInput`."""
    try:
        grade = GRADES[action]
    except (KeyError, TypeError):
        raise InvalidInput(
            f"Got action={action!r}; action must be one of {', '.join(taxonomy.ACTIONS)}.",
            field="action",
            allowed=list(taxonomy.ACTIONS),
        ) from None
    if action == "met":
        if helpful is not None and not isinstance(helpful, bool):
            raise InvalidInput(f"helpful must be true, false or null; got {helpful!r}.", field="helpful")
        return MET_GRADES[helpful]
    return grade


def grades_of(actions: Iterable[str]) -> np.ndarray:
    """Label grades of several actions as an int array."""
    return np.array([grade_of(a) for a in actions], dtype=np.int64)


def gains(grades: Iterable[float] | np.ndarray) -> np.ndarray:
    """Exponential gains ``2**grade - 1`` used by DCG (grades must be non-negative)."""
    g = np.asarray(grades, dtype=np.float64)
    return np.exp2(g) - 1.0
