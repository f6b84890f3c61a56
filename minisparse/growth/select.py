"""Grow the k highest-scoring inactive positions of a layer, or k random ones   (SET, RigL, Sparse
Momentum, CTRE, Hessian-guided).

Score (:mod:`minisparse.growth.criteria`), then select here. A growth score covers the positions a
layer does not hold: a dense (n_in, n_out) array with −inf at active positions, or
:class:`Candidates`, flat positions ``keys`` (key = i·n_out + j) with their ``scores``.
−inf means "not a candidate". Random growth never enumerates the n_in·n_out positions: it samples.
:func:`grow_highest` and :func:`grow_random` are the two routines that change the pattern, through
``topology.grow``: grown positions were inactive, nnz rises by exactly k, W stays canonical.
"""
from typing import NamedTuple

import numpy as np

from ..network.checks import check_rng
from ..network.topk import top_k_indices
from ..network.topology import entry_keys, grow, is_canonical, isin_sorted, union_sorted

DENSE_FALLBACK = 0.5    # enumerate the free positions once (taken + k) exceeds this share of the layer


class Candidates(NamedTuple):
    """Growth candidates: flat positions i·n_out + j and their scores.   # (m,), (m,)"""
    keys: np.ndarray
    scores: np.ndarray


def _taken(W, exclude):
    """Sorted flat positions growth may not use: W's stored entries, plus ``exclude``."""
    taken = entry_keys(W)
    if exclude is not None and np.size(exclude):
        exclude = np.asarray(exclude, dtype=np.int64).ravel()
        if exclude.min() < 0 or exclude.max() >= W.shape[0] * W.shape[1]:
            raise ValueError(f"exclude holds keys outside the {W.shape} layer")
        taken = union_sorted(taken, np.unique(exclude))
    return taken


def random_positions(W, k, rng, exclude=None):
    """k distinct flat positions drawn uniformly among the inactive ones not in ``exclude``   (SET).   # (k,)

    Rejection sampling: draw keys in [0, n_in·n_out), keep those neither active, excluded nor already
    kept, in draw order, until k are kept — a uniform k-subset in O(nnz + k log nnz) expected time
    while (taken + k) ≤ DENSE_FALLBACK · n_in·n_out. Above that the free positions (fewer than half)
    are enumerated and k chosen without replacement. Returns the keys sorted.
    """
    rng = check_rng(rng)
    n = W.shape[0] * W.shape[1]
    taken = _taken(W, exclude)
    n_free = n - taken.size
    if not isinstance(k, (int, np.integer)) or not 0 <= k <= n_free:
        raise ValueError(f"cannot grow {k!r} positions: {n_free} of {n} are free (not active, not excluded)")
    if taken.size + k > DENSE_FALLBACK * n:
        free = np.flatnonzero(~np.isin(np.arange(n), taken, assume_unique=True))   # (n_free,)
        return np.sort(rng.choice(free, size=k, replace=False)).astype(np.int64)
    chosen = np.empty(0, dtype=np.int64)
    while chosen.size < k:
        need = k - chosen.size
        draws = rng.integers(0, n, size=int(need * n / (n_free - chosen.size)) + 16, dtype=np.int64)
        draws = draws[~isin_sorted(draws, taken)]
        _, first = np.unique(draws, return_index=True)
        draws = draws[np.sort(first)]                        # distinct, still in draw order
        if chosen.size:                                      # (np.isin would hash all the draws first)
            draws = draws[~isin_sorted(draws, np.sort(chosen))]
        chosen = np.concatenate([chosen, draws[:need]])
    return np.sort(chosen)


def _check_dense(A, W, name):
    A = np.asarray(A)
    if A.shape != W.shape:
        raise ValueError(f"{name} must be dense with the layer's shape {W.shape}, got {A.shape}")
    return A


def _as_candidates(scores, W, exclude):
    """Candidates (keys ascending, finite-or-+inf scores) minus active and excluded positions."""
    if isinstance(scores, tuple):
        keys, s = np.asarray(scores[0], dtype=np.int64), np.asarray(scores[1], dtype=float)
        if keys.ndim != 1 or keys.shape != s.shape:
            raise ValueError(f"candidates need 1-D keys and scores of one length, got {keys.shape}, {s.shape}")
        order = np.argsort(keys, kind="stable")
        keys, s = keys[order], s[order]
        if keys.size and (keys[0] < 0 or keys[-1] >= W.shape[0] * W.shape[1] or np.any(np.diff(keys) == 0)):
            raise ValueError("candidate keys must be distinct positions inside the layer")
    else:
        flat = _check_dense(scores, W, "scores").ravel()
        keys = np.flatnonzero(~(flat == -np.inf))          # NaN kept here, refused below
        s = flat[keys].astype(float)
    if np.any(np.isnan(s)):
        raise ValueError("growth scores contain NaN: the criterion is undefined somewhere")
    ok = (s > -np.inf) & ~isin_sorted(keys, _taken(W, exclude))
    return keys[ok], s[ok]


def top_k_dense(scores, W, k, exclude=None, where="layer"):
    """The k highest of a dense (n_in, n_out) score array over W's inactive, non-excluded positions
    with score > −inf (ties: lowest i·n_out + j); sorted flat keys.   # (k,)

    The same selection as ``top_k_keys(*_as_candidates(scores, W, exclude), k)``, in a few passes
    over the dense array the method already holds (active positions set to −inf in a copy, then a
    partition, :func:`~minisparse.network.topk.top_k_indices`) instead of listing and searching n_in·n_out candidate keys: O(n_in·n_out + nnz)."""
    flat = np.array(_check_dense(scores, W, "scores"), dtype=float).ravel()     # a copy, float64
    flat[_taken(W, exclude)] = -np.inf
    if np.isnan(flat).any():
        raise ValueError("growth scores contain NaN: the criterion is undefined somewhere")
    n_ok = flat.size - np.count_nonzero(flat == -np.inf)
    if not isinstance(k, (int, np.integer)) or not 0 <= k <= n_ok:
        raise ValueError(f"cannot grow {k!r} positions in {where}: only {n_ok} candidates "
                         f"(inactive, not excluded, score > −inf)")
    return np.sort(top_k_indices(flat, k)).astype(np.int64)


def top_k_keys(keys, scores, k):
    """The k highest-scoring keys (``keys`` ascending), ties to the lowest position; sorted.   # (k,)"""
    return keys[np.sort(top_k_indices(scores, k))]


def _at(v, keys, W):
    """A scalar as is; a dense (n_in, n_out) array gathered at ``keys``."""
    return np.asarray(v).ravel()[keys] if np.ndim(v) == 2 and np.shape(v) == W.shape else v


def grow_at_keys(model, l, keys, values=0.0, optimizer=None, state=None):
    """Add layer l's connections at the flat positions ``keys`` (i·n_out + j, inactive, distinct) with
    ``values`` (scalar, (k,) array, or dense (n_in, n_out) gathered at ``keys``); the optimizer's state
    for them is ``state`` (default 0). Checks that nnz rose by k and W stays canonical.   # keys (k,)"""
    W = model.layers[l].W
    nnz0 = W.nnz
    rows, cols = np.divmod(keys, W.shape[1])
    state = None if state is None else {name: _at(v, keys, W) for name, v in state.items()}
    grow(model, l, rows, cols, _at(values, keys, W), optimizer, state)
    assert model.layers[l].W.nnz == nnz0 + keys.size and is_canonical(model.layers[l].W)
    return keys


def grow_highest(model, l, scores, k, values=0.0, optimizer=None, state=None, exclude=None):
    """Add layer l's k highest-scoring inactive positions (ties: lowest i·n_out + j first).   # keys (k,)

    ``scores``: dense (n_in, n_out) or :class:`Candidates`; active, ``exclude``d and −inf positions
    are never grown. ``values``: scalar or dense (n_in, n_out) array (gathered at the grown positions,
    e.g. :func:`hessian_growth_value`). ``state``: optimizer state name → scalar or dense array,
    default 0 (RigL: value 0, momentum 0). With ``SGD(dense_momentum=True)`` the velocity lives in
    ``opt.V`` and a grown weight keeps its accumulated V (Sparse Momentum's head start).
    """
    W = model.layers[l].W
    if not isinstance(scores, tuple):                     # dense: select in place, no candidate list
        return grow_at_keys(model, l, top_k_dense(scores, W, k, exclude, f"layer {l}"), values, optimizer, state)
    keys, s = _as_candidates(scores, W, exclude)
    if not isinstance(k, (int, np.integer)) or not 0 <= k <= keys.size:
        raise ValueError(f"cannot grow {k!r} positions in layer {l}: only {keys.size} candidates "
                         f"(inactive, not excluded, score > −inf)")
    return grow_at_keys(model, l, top_k_keys(keys, s, k), values, optimizer, state)


def grow_random(model, l, k, rng, values=0.0, optimizer=None, exclude=None, state=None):
    """Add k uniformly random inactive positions to layer l (SET; CTRE's random share).   # keys (k,)

    ``values``: scalar, (k,) array (for the returned keys, ascending), or a callable (n, rng) → (n,)
    array such as :func:`uniform_values` (CTRE's U(±√(6/fan_in))) or SET's small random init.
    """
    rng = check_rng(rng)
    keys = random_positions(model.layers[l].W, k, rng, exclude)
    values = values(keys.size, rng) if callable(values) else values
    return grow_at_keys(model, l, keys, values, optimizer, state)


def uniform_values(limit):
    """(n, rng) → w ~ U(−limit, limit); CTRE: limit = √(6/fan_in)."""
    return lambda n, rng: rng.uniform(-limit, limit, size=n)
