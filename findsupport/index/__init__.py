"""The spatial index of service areas: which providers can help a coach at a point, exactly and fast.

Providers are sorted along a Hilbert curve into blocks of contiguous column
slots; an ``rtree`` R-tree indexes the blocks' service-area boxes; polygon
service areas sit in their own small prepared-geometry structure; a query
yields a few block ranges that one compiled loop tests and scores, best
blocks first, skipping blocks that provably cannot make the page.

Public names are re-exported here; each module holds one idea:
:mod:`.curve` (Hilbert keys), :mod:`.blocks` (the block tables),
:mod:`.tree` (the R-tree and its lock), :mod:`.areas` (polygons),
:mod:`.sites` (per-site reach counts), :mod:`.spatial` (the index and the
candidate rules), :mod:`.terms` (a linear ranker's score as tables built
from the feature definitions of :mod:`findsupport.features`),
:mod:`.kernels` (the compiled loops: candidate rules, fused scores,
block bounds, exact top k, counts), :mod:`.scoring` (fused or feature-matrix
scorers), :mod:`.topk` (the numpy top k), :mod:`.matching` (one query:
total and top k).
"""

from .areas import ServiceAreas
from .blocks import BlockTable
from .curve import hilbert_keys
from .matching import Matches, find_matches, warm_up
from .scoring import FusedScorer, MatrixScorer, Scorer, linear_form, make_scorer
from .spatial import BLOCK_SIZE, REACH_CLASS_EDGES_M, Candidates, SearchIndex
from .terms import LinearTerms
from .topk import Ranked, TopK
from .tree import BlockTree

__all__ = [
    "BLOCK_SIZE",
    "REACH_CLASS_EDGES_M",
    "BlockTable",
    "BlockTree",
    "Candidates",
    "FusedScorer",
    "LinearTerms",
    "Matches",
    "MatrixScorer",
    "Ranked",
    "Scorer",
    "SearchIndex",
    "ServiceAreas",
    "TopK",
    "find_matches",
    "hilbert_keys",
    "linear_form",
    "make_scorer",
    "warm_up",
]
