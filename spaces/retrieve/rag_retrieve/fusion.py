"""Pure functions that fuse a dense and a sparse score vector into one ranking.

Both inputs are full score vectors over the same chunks (higher is better). Each
function returns candidate indices and their fused scores, best first.
"""

from __future__ import annotations

import numpy as np
from rag_contract.fusion import reciprocal_rank_fusion


def top_indices(scores: np.ndarray, n: int) -> np.ndarray:
    """Indices of the n highest finite scores, best first (ties keep index order)."""
    valid = np.flatnonzero(np.isfinite(scores))
    n = min(n, valid.size)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    vals = scores[valid]
    if n < valid.size:
        part = np.argpartition(-vals, n - 1)[:n]
    else:
        part = np.arange(valid.size)
    order = np.lexsort((valid[part], -vals[part]))
    return valid[part][order]


def _minmax(x: np.ndarray, ref: np.ndarray) -> np.ndarray:
    lo, hi = float(ref.min()), float(ref.max())
    return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)


def rrf(dense: np.ndarray, sparse: np.ndarray, *, depth: int = 100, k: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """Reciprocal-rank fusion (Cormack et al. 2009), the baseline."""
    fused = reciprocal_rank_fusion((top_indices(scores, depth).tolist() for scores in (dense, sparse)), k=k)
    idx = np.fromiter(fused, dtype=np.int64, count=len(fused))
    val = np.fromiter(fused.values(), dtype=np.float64, count=len(fused))
    order = np.lexsort((idx, -val))
    return idx[order], val[order]


def convex(
    dense: np.ndarray, sparse: np.ndarray, *, depth: int = 100, alpha: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """Convex combination of min-max normalised scores (Bruch et al. 2023).

    Each retriever's scores are scaled to [0, 1] over its own top `depth` candidates,
    then every candidate in the union gets `alpha * dense + (1 - alpha) * sparse`,
    computed from its real score in both lists, so no candidate is penalised for
    being missing from one list's top.
    """
    d_top, s_top = top_indices(dense, depth), top_indices(sparse, depth)
    cand = np.union1d(d_top, s_top)
    if cand.size == 0:
        return cand, np.zeros(0)
    d = _minmax(dense[cand], dense[d_top]) if d_top.size else np.zeros(cand.size)
    s = _minmax(sparse[cand], sparse[s_top]) if s_top.size else np.zeros(cand.size)
    fused = alpha * d + (1 - alpha) * s
    order = np.lexsort((cand, -fused))
    return cand[order], fused[order]


def zscore(
    dense: np.ndarray, sparse: np.ndarray, *, depth: int = 100, alpha: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """Convex combination of z-scores, each standardised over its own top `depth`.

    Unlike min-max, one outlier score does not squash the rest of a list, so a
    retriever that is confident on a query weighs more on that query.
    """
    d_top, s_top = top_indices(dense, depth), top_indices(sparse, depth)
    cand = np.union1d(d_top, s_top)
    if cand.size == 0:
        return cand, np.zeros(0)

    def z(x: np.ndarray, ref: np.ndarray) -> np.ndarray:
        if ref.size == 0:
            return np.zeros(x.size)
        sd = float(ref.std())
        return (x - float(ref.mean())) / sd if sd > 0 else np.zeros(x.size)

    fused = alpha * z(dense[cand], dense[d_top]) + (1 - alpha) * z(sparse[cand], sparse[s_top])
    order = np.lexsort((cand, -fused))
    return cand[order], fused[order]


FUSIONS = {"rrf": rrf, "convex": convex, "zscore": zscore}
