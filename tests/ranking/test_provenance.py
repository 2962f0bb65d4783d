"""Client limits and provenance: repeated searches count once, no client holds more than its share."""

from __future__ import annotations

import numpy as np
import pytest

from findsupport.errors import InvalidInput
from findsupport.ranking import build_dataset, feedback_text, read_feedback
from findsupport.ranking.provenance import (
    MAX_CLIENT_SHARE,
    MIN_DISTINCT_CLIENTS,
    data_provenance,
    distinct_clients,
    limit_clients,
    per_client_cap,
    provenance_kind,
)


@pytest.mark.parametrize(
    "counts, share, cap",
    [
        ([1000] + [10] * 60, 0.05, 31),  # the big client is cut to 31 of 631: under 5%
        ([1000, 10, 10, 10], 0.25, 10),
        ([3] * 40, 0.05, 3),  # nobody over the share: nothing cut
        ([5], 0.25, 5),  # too few clients for any cap: the median client's count
        ([1250, 40, 60], 0.05, 60),
    ],
)
def test_per_client_cap(counts, share, cap):
    assert per_client_cap(counts, share) == cap


@pytest.mark.parametrize("share", [0.0, -0.1, 1.5])
def test_a_share_must_be_a_fraction(share):
    with pytest.raises(InvalidInput):
        per_client_cap([1, 2], share)


def test_min_distinct_clients_follows_the_share():
    assert MIN_DISTINCT_CLIENTS == round(1 / MAX_CLIENT_SHARE)


@pytest.mark.parametrize(
    "sources, kind", [((), "real"), (("real",), "real"), (("simulated",), "simulated"), (("real", "simulated"), "mixed")]
)
def test_provenance_kind(sources, kind):
    assert provenance_kind(sources) == kind


def _lines(simulated_feedback, n_clients):
    """Simulated sessions relabelled as real ones from ``n_clients`` clients."""
    return [
        {k: v for k, v in line.items() if k not in ("search_id", "model_version")} | {"client": f"{i % n_clients:064x}"}
        for i, line in enumerate(simulated_feedback)
    ]


def test_repeated_searches_of_one_client_count_once(simulated_feedback, catalog, directory):
    honest = _lines(simulated_feedback[:600], 100)
    script = next(line for line in simulated_feedback[700:] if any(r["action"] != "shown" for r in line["results"]))
    chosen = next(r["provider_id"] for r in script["results"] if r["action"] != "shown")
    repeated = [{**script, "client": "f" * 64, "created_at": f"2026-12-01T10:{i // 60:02d}:{i % 60:02d}+00:00"}
                for i in range(300)]
    data, _ = build_dataset(read_feedback(feedback_text(honest + repeated)), catalog, directory)
    limited, report = limit_clients(data)
    assert report.duplicates_dropped == 299
    assert list(limited.clients).count("f" * 64) == 1
    assert report.largest_client_share_before > 0.3
    assert chosen in set(limited.provider_ids[limited.grades > 0])


def test_no_client_holds_more_than_its_share(simulated_feedback, catalog, directory):
    honest = _lines(simulated_feedback[:800], 200)
    # One client, many different searches (deduplication alone does not stop this).
    loud = [{**line, "client": "f" * 64} for line in _lines(simulated_feedback[800:1400], 1)]
    data, _ = build_dataset(read_feedback(feedback_text(honest + loud)), catalog, directory)
    limited, report = limit_clients(data)
    learnable = limited.learnable()
    clients = np.array(limited.client_ids(), dtype=object)[learnable]
    _, counts = np.unique(clients, return_counts=True)
    assert counts.max() <= MAX_CLIENT_SHARE * counts.sum()
    assert report.capped_dropped > 0 and "no client holds more than 5%" in " ".join(report.lines())
    provenance = data_provenance(limited, report)
    assert provenance["kind"] == "real" and provenance["clients"] == distinct_clients(limited, with_choice=False) == 201
    assert provenance["client_limits"]["capped_dropped"] == report.capped_dropped


def test_unattributed_sessions_are_clients_of_their_own(simulated_feedback, catalog, directory):
    data, _ = build_dataset(read_feedback(feedback_text(simulated_feedback[:300])), catalog, directory)
    limited, report = limit_clients(data)
    assert limited.n_sessions == data.n_sessions and report.duplicates_dropped == 0 == report.capped_dropped
    assert data_provenance(limited)["kind"] == "simulated"
