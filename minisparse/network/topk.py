"""The k lowest and the k highest entries of a score array, ties broken by position, in O(n).

Every pruning criterion removes its k lowest scores and every growth criterion adds its k highest;
both selections live here. "Ties by position" means: among equal scores the entry with the smaller
index is taken first, so the result is the set that a stable sort would give
(``np.argsort(s, kind="stable")[:k]`` for the lowest, the same on −s for the highest). A partition
finds the k-th value in O(n) instead of sorting, which matters for SET's and RigL's updates on
millions of weights.
"""
import numpy as np


def bottom_k_indices(scores, k):
    """Indices of the k lowest entries of ``scores`` (ties: smaller index first), unsorted.   # (k,)"""
    scores = np.asarray(scores)
    if k == 0:
        return np.empty(0, dtype=np.intp)
    if k == scores.size:
        return np.arange(scores.size)
    t = np.partition(scores, k - 1)[k - 1]                     # the k-th lowest value
    below = np.flatnonzero(scores < t)
    return np.concatenate([below, np.flatnonzero(scores == t)[:k - below.size]])   # first ties first


def top_k_indices(scores, k):
    """Indices of the k highest entries of ``scores`` (ties: smaller index first), unsorted.   # (k,)"""
    scores = np.asarray(scores)
    if k == 0:
        return np.empty(0, dtype=np.intp)
    if k == scores.size:
        return np.arange(scores.size)
    t = np.partition(scores, scores.size - k)[scores.size - k]     # the k-th highest value
    above = np.flatnonzero(scores > t)
    return np.concatenate([above, np.flatnonzero(scores == t)[:k - above.size]])   # first ties first
