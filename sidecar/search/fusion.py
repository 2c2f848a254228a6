"""Hybrid ranking: reciprocal rank fusion (Cormack et al., 2009) of full-text and vector hits.

BM25 scores and cosine similarities live on different scales, so they are not added: each
ranking contributes 1 / (k + rank) per item, and k = 60 (the paper's) keeps one list's top
hit from drowning out agreement between both lists further down.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import TypeVar

K = 60
T = TypeVar("T", bound=Hashable)


def reciprocal_rank_fusion(rankings: Sequence[Sequence[T]], k: int = K) -> list[tuple[T, float]]:
    """Items of all rankings (best first) with their fused scores, best first; ties keep the
    order in which items were first seen."""
    scores: dict[T, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
    order = {item: position for position, item in enumerate(scores)}
    return sorted(scores.items(), key=lambda pair: (-pair[1], order[pair[0]]))
