"""s_ij over the inactive (i, j) of a layer; grow the k highest   (SET, RigL, Sparse Momentum, Hessian-guided).

Score, then select. A *growth score* covers the positions a layer does not hold:
- a dense array S (n_in, n_out) with −inf at active positions (gradient, momentum, Hessian and
  magnitude scores: these methods need a dense (n_in, n_out) quantity anyway — the dense gradient
  G = A_prevᵀ dZ costs O(B·n_in·n_out), the dense velocity V is kept over all positions);
- or :class:`Candidates`: flat positions ``keys`` (key = i·n_out + j) with their ``scores``.
−inf means "not a candidate". Random growth never enumerates the n_in·n_out positions: it samples.
:func:`grow_highest` and :func:`grow_random` are the two routines that change the pattern, through
``topology.grow``: grown positions were inactive, nnz rises by exactly k, W stays canonical.
"""
from typing import NamedTuple

import numpy as np

from . import second_order
from .checks import check_rng, check_y
from .pruning import lowest_indices
from .topology import entry_keys, entry_rows, grow, is_canonical, isin_sorted, union_sorted

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


def _inactive_only(S, W):
    """S with −inf at W's stored positions (explicit zeros included).   # (n_in, n_out)"""
    S[entry_rows(W), W.indices] = -np.inf
    return S


def _check_dense(A, W, name):
    A = np.asarray(A)
    if A.shape != W.shape:
        raise ValueError(f"{name} must be dense with the layer's shape {W.shape}, got {A.shape}")
    return A


def gradient_score(G, W):
    """s_ij = |G_ij| at inactive (i, j), −inf at active   (RigL, Evci et al. 2020).   # (n_in, n_out)

    G = A_prevᵀ dZ is the dense gradient of the current batch (``loss_and_grads(..., dense=[l])``):
    O(B·n_in·n_out), the price of gradient-guided growth.
    """
    return _inactive_only(np.abs(_check_dense(G, W, "G")), W)


def momentum_score(V, W):
    """s_ij = |V_ij| at inactive (i, j), −inf at active   (Sparse Momentum, Dettmers & Zettlemoyer 2019).

    V is the dense velocity ``SGD(dense_momentum=True).V[l]`` (n_in, n_out), kept over all positions.
    """
    return _inactive_only(np.abs(_check_dense(V, W, "V")), W)


def magnitude_regrowth_score(last_magnitude, W):
    """s_q = |w_q| when q was last active, for previously pruned inactive q   (magnitude regrowth).

    ``last_magnitude``: a dict key → last |w| (see :func:`remember_dropped`; returns
    :class:`Candidates`), or a dense (n_in, n_out) array with NaN where a position was never active
    (returns a dense score). Active and never-active positions are not candidates (−inf / absent).
    """
    if isinstance(last_magnitude, dict):
        keys = np.fromiter(last_magnitude.keys(), dtype=np.int64, count=len(last_magnitude))
        order = np.argsort(keys, kind="stable")
        keys = keys[order]
        scores = np.abs(np.fromiter(last_magnitude.values(), dtype=float, count=keys.size))[order]
        free = ~isin_sorted(keys, entry_keys(W))
        return Candidates(keys[free], scores[free])
    S = np.abs(_check_dense(last_magnitude, W, "last_magnitude")).astype(float)
    S[np.isnan(S)] = -np.inf
    return _inactive_only(S, W)


def remember_dropped(last_magnitude, W, keep):
    """last_magnitude[key] ← |w| for every entry about to be pruned (``keep`` False); call before pruning."""
    drop = ~np.asarray(keep, dtype=bool)
    last_magnitude.update(zip(entry_keys(W)[drop].tolist(), np.abs(W.data[drop]).tolist()))
    return last_magnitude


def hessian_growth_score(G, H_diag_dense, W, damping):
    """s_q = g_q² / (H_qq + λ) at inactive q, −inf at active   (Hessian-guided growth; OBD's H_qq).

    Derivation. An inactive weight q enters at w_q = 0; with every other weight fixed,
    L(w_q) ≈ L + g_q·w_q + ½·H_qq·w_q². Its minimiser is w_q* = −g_q/H_qq and the loss falls by
    ΔL* = L(w_q*) − L = −g_q²/(2H_qq): the best possible first step after growing q. The score is
    −2ΔL*; damping λ ≥ 0 (the units of H) guards against H_qq ≈ 0 and equals minimising the model
    plus ½λw_q² (w_q* = −g_q/(H_qq + λ), see :func:`hessian_growth_value`). With constant curvature
    H_qq = c the ranking is RigL's |g_q|. G and H are dense (n_in, n_out): O(B·n_in·n_out) each.
    """
    G, H = _check_dense(G, W, "G"), _check_dense(H_diag_dense, W, "H_diag_dense")
    S = _inactive_only(G * G, W)                            # (n_in, n_out), g_q² or −inf
    inactive = S > -np.inf
    denom = H[inactive] + damping
    if damping < 0 or np.any(denom <= 0):
        raise ValueError(f"need H_qq + λ > 0 at every inactive position (λ = {damping!r}): raise the damping")
    S[inactive] /= denom
    return S


def hessian_growth_value(G, H_diag_dense, damping):
    """w_q* = −g_q / (H_qq + λ): the Newton step of a weight grown at 0 (dense).   # (n_in, n_out)

    Only a step of the quadratic model: where H_qq is tiny, |w*| ≤ |g|/λ can be far larger than the
    other weights and the real loss rises (notebook 03 shows one). A λ near the mean H_qq is a safe start.
    """
    return -np.asarray(G) / (np.asarray(H_diag_dense) + damping)


def gauss_newton_diagonal_dense(model, X, y, l):
    """H_qq = (1/B) Σ_b A_prev[b, i]² h[b, j] at every (i, j) of layer l, active or not.   # (n_in, n_out)

    The (A_prev²)ᵀ h product over all positions: dense, O(B·n_in·n_out), on top of the C backward
    passes that give h = diag of the Gauss–Newton ∂²L_b/∂Z² (``second_order``'s; exact for ReLU).
    At active positions it equals ``second_order.hessian_diagonal(model, X, y)[l]``.
    """
    Z_out, cache = model.forward(X, keep=True)
    y = check_y(y, model.n_classes, Z_out.shape[0])
    h = second_order.gauss_newton_curvature(model, cache, y)      # [(B, n_l)]
    A_prev = cache[l][0]                                    # (B, n_in)
    return (A_prev * A_prev).T @ h[l] / len(y)


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
    partition) instead of listing and searching n_in·n_out candidate keys: O(n_in·n_out + nnz)."""
    flat = np.array(_check_dense(scores, W, "scores"), dtype=float).ravel()     # a copy, float64
    flat[_taken(W, exclude)] = -np.inf
    if np.isnan(flat).any():
        raise ValueError("growth scores contain NaN: the criterion is undefined somewhere")
    n_ok = flat.size - np.count_nonzero(flat == -np.inf)
    if not isinstance(k, (int, np.integer)) or not 0 <= k <= n_ok:
        raise ValueError(f"cannot grow {k!r} positions in {where}: only {n_ok} candidates "
                         f"(inactive, not excluded, score > −inf)")
    np.negative(flat, out=flat)                    # the k highest scores are the k lowest of −scores
    return np.sort(lowest_indices(flat, k)).astype(np.int64)


def top_k_keys(keys, scores, k):
    """The k highest-scoring keys (``keys`` ascending), ties to the lowest position; sorted.   # (k,)"""
    if k == 0:
        return keys[:0]
    threshold = np.partition(scores, scores.size - k)[scores.size - k]     # k-th largest, O(m)
    above = np.flatnonzero(scores > threshold)
    ties = np.flatnonzero(scores == threshold)[:k - above.size]
    return keys[np.sort(np.concatenate([above, ties]))]


def _at(v, keys, W):
    """A scalar as is; a dense (n_in, n_out) array gathered at ``keys``."""
    return np.asarray(v).ravel()[keys] if np.ndim(v) == 2 and np.shape(v) == W.shape else v


def _grow_keys(model, l, keys, values, optimizer, state):
    """topology.grow at flat ``keys``, checking the invariants every growth routine promises."""
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
        return _grow_keys(model, l, top_k_dense(scores, W, k, exclude, f"layer {l}"), values, optimizer, state)
    keys, s = _as_candidates(scores, W, exclude)
    if not isinstance(k, (int, np.integer)) or not 0 <= k <= keys.size:
        raise ValueError(f"cannot grow {k!r} positions in layer {l}: only {keys.size} candidates "
                         f"(inactive, not excluded, score > −inf)")
    return _grow_keys(model, l, top_k_keys(keys, s, k), values, optimizer, state)


def grow_random(model, l, k, rng, values=0.0, optimizer=None, exclude=None, state=None):
    """Add k uniformly random inactive positions to layer l (SET; CTRE's random share).   # keys (k,)

    ``values``: scalar, (k,) array (for the returned keys, ascending), or a callable (n, rng) → (n,)
    array such as :func:`uniform_values` (CTRE's U(±√(6/fan_in))) or SET's small random init.
    """
    rng = check_rng(rng)
    keys = random_positions(model.layers[l].W, k, rng, exclude)
    values = values(keys.size, rng) if callable(values) else values
    return _grow_keys(model, l, keys, values, optimizer, state)


def uniform_values(limit):
    """(n, rng) → w ~ U(−limit, limit); CTRE: limit = √(6/fan_in)."""
    return lambda n, rng: rng.uniform(-limit, limit, size=n)
