"""Reciprocal rank fusion, the one copy: the retrieve Space fuses dense and BM25 rankings with it,
and the pipeline fuses the rankings of a follow-up's several searches."""

from __future__ import annotations

from typing import Hashable, Iterable


def reciprocal_rank_fusion(rankings: Iterable[Iterable[Hashable]], *, k: int = 60) -> dict[Hashable, float]:
    """Each key's RRF score, sum of 1 / (k + rank) over the rankings it appears in (ranks from 1;
    Cormack et al. 2009), in the order keys were first seen. Callers sort and break ties their way."""
    if k < 0:
        raise ValueError(f"k must be >= 0, but got {k}")
    score: dict[Hashable, float] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking):
            score[key] = score.get(key, 0.0) + 1.0 / (k + rank + 1)
    return score
