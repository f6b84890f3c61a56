"""Growth scores s_ij over the inactive positions of a layer: high means "grow here".

A score is a dense (n_in, n_out) array with −inf at the active positions (gradient, momentum, Hessian
and magnitude-regrowth scores: these methods need a dense (n_in, n_out) quantity anyway — the dense
gradient G = A_prevᵀ dZ costs O(B·n_in·n_out), Sparse Momentum's velocity V is kept over all
positions), or :class:`~minisparse.growth.select.Candidates` listing some positions with their scores.
Random growth has no score: it samples positions (:func:`~minisparse.growth.select.random_positions`).
CTRE's cosine similarity lives with CTRE (:mod:`minisparse.sparse_training.ctre`).
"""
import numpy as np

from ..network.checks import check_y
from ..network.topology import entry_keys, entry_rows, isin_sorted
from ..pruning import second_order
from .select import Candidates, _check_dense


def _inactive_only(S, W):
    """S with −inf at W's stored positions (explicit zeros included).   # (n_in, n_out)"""
    S[entry_rows(W), W.indices] = -np.inf
    return S


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
    other weights and the real loss rises (notebook 04 shows one). A λ near the mean H_qq is a safe start.
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
