"""Approximations of OBS's curvature for one sparse layer: K-FAC and WoodFisher.

As in :mod:`.second_order`, OBS here is block-diagonal: one block per output neuron j of layer l,
over its incoming stored weights (rows S_j = {i : (i, j) stored}). Weight (i, j) reaches sample b's
loss only through Z[b, j], so its per-sample gradient is g_b[(i, j)] = a_b[i] · δ_b[j] (a = the
layer's input A_prev, δ = ∂L_b/∂Z). Saliency s_q = w_q² / (2[H_j⁻¹]_qq), update
δw = −H_j⁻¹[:, Q] (H_j⁻¹[Q, Q])⁻¹ w_Q (Hassibi & Stork 1993); only the inverse H_j⁻¹ changes here.

- K-FAC (Martens & Grosse 2015): F ≈ A ⊗ G, A = E[a aᵀ], G = E[δ δᵀ]: the expectation of the
  Kronecker product replaced by the product of the expectations (a and δ taken independent). Its
  block for neuron j is G_jj · A[S_j, S_j], inverted as (1/G_jj) · A[S_j, S_j]⁻¹: one Cholesky of a
  k_j × k_j matrix of input statistics, no per-sample gradients kept.
- WoodFisher (Singh & Alistarh 2020): the empirical Fisher F_j = λI + (1/N) Σ_n g_n g_nᵀ, inverted
  by N Sherman–Morrison rank-1 updates: the same matrix as :func:`.second_order.obs_score`'s, only
  the inversion differs (O(N k²) instead of O(N k² + k³)).

:func:`approximation_errors` measures both against OBS with the exact per-layer Hessian block.
"""
import time

import numpy as np
from scipy import stats

from ..network.checks import check_y
from ..network.topology import prune
from .second_order import (
    _fisher_blocks,
    _h_exact,
    neuron_entries,
    obs_update,
    per_sample_backward,
    spd_inverse,
)
from .select import keep_all_but_lowest, removal_counts


def _check_damping(damping):
    if not damping > 0:
        raise ValueError(f"damping must be > 0 (it makes each block invertible), got {damping!r}")


def _relative(M, damping):
    """M + √damping · mean(diag M) · I: damping relative to the factor's own scale.   # (n, n)"""
    mean = np.diagonal(M).mean() if M.size else 0.0
    return M + np.sqrt(damping) * (mean if mean > 0 else 1.0) * np.eye(len(M))


# ------------------------------------------------------------------------------------------ K-FAC


def kfac_factors_from(A_prev, dZ, damping):
    """A = (1/N) Σ_n a_n a_nᵀ + λ_A I,  G = (1/N) Σ_n δ_n δ_nᵀ + λ_G I   (K-FAC, Martens & Grosse 2015).

    ``A_prev`` (N, n_in) the layer's inputs, ``dZ`` (N, n_out) the per-sample ∂L_n/∂Z. Damping:
    λ_A = √damping · mean diag A, λ_G = √damping · mean diag G, each factor damped on its own
    scale (not the paper's π-weighted factored Tikhonov: (A ⊗ G + λ I) is approximated by
    (A + √λ_A I) ⊗ (G + √λ_G I), whose cross terms add a little more than λ). Returns (A, G).
    """
    _check_damping(damping)
    N = len(A_prev)
    return _relative(A_prev.T @ A_prev / N, damping), _relative(dZ.T @ dZ / N, damping)


def kfac_factors(model, l, X, y, damping=1e-2):
    """The damped K-FAC factors (A (n_in, n_in), G (n_out, n_out)) of layer ``l`` on (X, y); labels
    are the true ones (the empirical Fisher's δ, like OBS here, not labels sampled from the model)."""
    A_prevs, dZs = per_sample_backward(model, X, y)
    return kfac_factors_from(A_prevs[l], dZs[l], damping)


def kfac_block_inverse(A, G, j, inputs):
    """[G_jj · A[S, S]]⁻¹ = (1/G_jj) · A[S, S]⁻¹, S = ``inputs``: neuron j's K-FAC block.   # (k, k)"""
    return spd_inverse(A[np.ix_(inputs, inputs)]) / G[j, j]


def _scores(layer, inverse):
    """s_q = w_q² / (2[H_j⁻¹]_qq) with H_j⁻¹ = inverse(j, inputs) for each neuron.   # (nnz,)"""
    s = np.zeros(layer.nnz, dtype=layer.W.dtype)
    for j, ks in enumerate(neuron_entries(layer)):
        if ks.size:
            s[ks] = layer.W.data[ks] ** 2 / (2 * np.diagonal(inverse(j, layer.rows[ks])))
    return s


def _updated(layer, inverse, keep):
    """The layer's W.data after the joint OBS update of every neuron that loses weights.   # (nnz,)"""
    w = layer.W.data.copy()
    for j, ks in enumerate(neuron_entries(layer)):
        Q = np.flatnonzero(~keep[ks])
        if Q.size:
            w[ks] = obs_update(w[ks], inverse(j, layer.rows[ks]), Q)
    return w


def _prune_layer(model, l, inverse, keep, optimizer):
    model.layers[l].W.data[:] = _updated(model.layers[l], inverse, keep)
    prune(model, l, keep, optimizer)


def _keep(model, l, scores, fraction, density):
    counts, _ = removal_counts(model, fraction, density)
    return keep_all_but_lowest(scores, int(counts[l]))


def _kfac_inverse(model, l, X, y, damping):
    A, G = kfac_factors(model, l, X, y, damping)
    return lambda j, inputs: kfac_block_inverse(A, G, j, inputs)


def kfac_obs_score(model, l, X, y, damping=1e-2):
    """s_q = w_q² G_jj / (2 [A[S_j, S_j]⁻¹]_qq)   (OBS with K-FAC blocks), aligned with W.data of layer l."""
    return _scores(model.layers[l], _kfac_inverse(model, l, X, y, damping))


def kfac_obs_update(model, l, X, y, keep, damping=1e-2, optimizer=None):
    """w_j ← w_j − (A[S,S]⁻¹)[:, Q] ((A[S,S]⁻¹)[Q, Q])⁻¹ w_Q per neuron j, then drop ~keep.

    G_jj cancels in the update: K-FAC's OBS update is the least-squares refit of the neuron's
    pre-activation on the inputs (the layer-wise OBS update with H = A), its saliency is weighted
    by G_jj. ``keep`` (nnz,) bool aligned with W.data; pattern and ``optimizer`` state follow.
    """
    _prune_layer(model, l, _kfac_inverse(model, l, X, y, damping), np.asarray(keep, bool), optimizer)
    return keep


def kfac_prune(model, l, X, y, fraction=None, density=None, damping=1e-2, optimizer=None):
    """Prune layer ``l``'s lowest :func:`kfac_obs_score` saliencies (counts as ``prune_lowest``) and
    compensate the survivors by :func:`kfac_obs_update`. Returns the keep-mask."""
    inverse = _kfac_inverse(model, l, X, y, damping)
    keep = _keep(model, l, _scores(model.layers[l], inverse), fraction, density)
    _prune_layer(model, l, inverse, keep, optimizer)
    return keep


# ------------------------------------------------------------------------------------- WoodFisher


def woodfisher_inverse(grads, damping):
    """F⁻¹ for F = λI + (1/N) Σ_n g_n g_nᵀ by N Sherman–Morrison steps   (WoodFisher, Singh & Alistarh 2020).

    F_0⁻¹ = I/λ, F_n = F_{n−1} + (1/N) g_n g_nᵀ, so
    F_n⁻¹ = F_{n−1}⁻¹ − (F_{n−1}⁻¹ g_n)(F_{n−1}⁻¹ g_n)ᵀ / (N + g_nᵀ F_{n−1}⁻¹ g_n)
    (the 1/N of the rank-1 term moved into the denominator). ``grads`` (N, k), ``damping`` = λ > 0
    absolute. O(N k²) multiply-adds, no factorisation.   # (k, k)
    """
    _check_damping(damping)
    grads = np.asarray(grads, dtype=float)
    N, k = grads.shape
    F_inv = np.eye(k) / damping
    for g in grads:
        u = F_inv @ g                                                        # F⁻¹ g (F⁻¹ symmetric)
        F_inv -= np.outer(u, u) / (N + g @ u)
    return F_inv


def _woodfisher_inverse_fn(model, l, X, y, damping):
    """λ as :func:`.second_order.obs_score` (damping · mean diagonal of the layer's Fisher)."""
    block = _fisher_blocks(model, X, y, damping)[l]
    return lambda j, inputs: woodfisher_inverse(block.A_prev[:, inputs] * block.dZ[:, j, None], block.lam)


def woodfisher_obs_score(model, l, X, y, damping=1e-2):
    """s_q = w_q² / (2[F_j⁻¹]_qq), F_j⁻¹ by :func:`woodfisher_inverse`: equal to ``obs_score(...)[l]``
    (same matrix, same λ) up to round-off."""
    return _scores(model.layers[l], _woodfisher_inverse_fn(model, l, X, y, damping))


def woodfisher_prune(model, l, X, y, fraction=None, density=None, damping=1e-2, optimizer=None):
    """OBS on layer ``l`` with WoodFisher inverses: drop the lowest saliencies, update each neuron's
    kept weights by δw = −F_j⁻¹[:, Q] (F_j⁻¹[Q, Q])⁻¹ w_Q. Returns the keep-mask."""
    inverse = _woodfisher_inverse_fn(model, l, X, y, damping)
    keep = _keep(model, l, _scores(model.layers[l], inverse), fraction, density)
    _prune_layer(model, l, inverse, keep, optimizer)
    return keep


# ------------------------------------------------------------------------------------ measurement


def exact_block_inverse_fn(model, l, X, y, damping=1e-2):
    """H_j = (1/N) A_S ᵀ diag(h_j) A_S + λI, h = diag ∂²L_n/∂Z² (exact, incl. f″): the exact Hessian
    block of neuron j's incoming weights (weight (i, j) reaches L only through Z[:, j]); λ = damping ·
    mean diag over the layer. Widths ≤ MAX_EXACT_WIDTH. Returns inverse(j, inputs)."""
    _check_damping(damping)
    Z_out, cache = model.forward(X, keep=True)
    y = check_y(y, model.n_classes, Z_out.shape[0])
    h, A_prev = _h_exact(model, cache, y)[l], cache[l][0]
    N = len(y)
    layer = model.layers[l]
    diag = np.concatenate([(A_prev[:, layer.rows[ks]] ** 2 * h[:, j, None]).mean(0)
                           for j, ks in enumerate(neuron_entries(layer)) if ks.size] or [np.ones(1)])
    lam = damping * (diag.mean() if diag.mean() > 0 else 1.0)

    def inverse(j, inputs):
        As = A_prev[:, inputs]
        H = As.T @ (As * h[:, j, None]) / N
        H[np.diag_indices_from(H)] += lam
        return np.linalg.inv(H)                                              # exact H may be indefinite
    return inverse


def _timed(layer, make_inverse, choose):
    """Saliencies, keep = choose(saliencies), updated weights, seconds; each block inverted once."""
    t = time.perf_counter()
    inverse, done = make_inverse(), {}

    def inv(j, inputs):
        if j not in done:
            done[j] = inverse(j, inputs)
        return done[j]
    s = _scores(layer, inv)
    keep = choose(s)
    return s, keep, _updated(layer, inv, keep), time.perf_counter() - t


def _rel(a, b):
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


def approximation_errors(model, X, y, l, damping=1e-2, fraction=0.5):
    """K-FAC and WoodFisher against OBS with the exact Hessian blocks on layer ``l`` (model unchanged).

    Q = the ``fraction`` lowest exact saliencies; every method updates with that same Q. Per method:
    ``score_rel_err`` ‖s − s_exact‖/‖s_exact‖, ``pearson``/``spearman`` of s with s_exact,
    ``update_rel_err`` ‖δw − δw_exact‖/‖δw_exact‖, ``madds`` (multiply-add estimate of building and
    inverting all blocks), ``seconds`` (wall clock incl. the backward pass); ``exact``: its cost.
    """
    layer = model.layers[l]
    N, ents = len(X), [ks for ks in neuron_entries(layer) if ks.size]
    ks_ = np.array([ks.size for ks in ents])
    n_in, n_out = layer.shape
    s_ex, keep, w_ex, t_ex = _timed(layer, lambda: exact_block_inverse_fn(model, l, X, y, damping),
                                    lambda s: keep_all_but_lowest(s, round(fraction * layer.nnz)))
    d_ex = w_ex - layer.W.data
    madds = {"exact": int(N * (ks_ ** 2).sum() + (ks_ ** 3).sum()),             # A_Sᵀ diag(h) A_S, inverse
             "kfac": int(N * (n_in ** 2 + n_out ** 2) + (ks_ ** 3).sum() // 3),  # factors, Cholesky
             "woodfisher": int(2 * N * (ks_ ** 2).sum())}                        # N rank-1 updates
    makers = {"kfac": lambda: _kfac_inverse(model, l, X, y, damping),
              "woodfisher": lambda: _woodfisher_inverse_fn(model, l, X, y, damping)}
    out = {"exact": {"madds": madds["exact"], "seconds": t_ex}}
    for name, make in makers.items():
        s, _, w, t = _timed(layer, make, lambda s: keep)
        out[name] = {"score_rel_err": _rel(s, s_ex), "pearson": float(stats.pearsonr(s, s_ex)[0]),
                     "spearman": float(stats.spearmanr(s, s_ex)[0]),
                     "update_rel_err": _rel(w - layer.W.data, d_ex), "madds": madds[name], "seconds": t}
    return out
