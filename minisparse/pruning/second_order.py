"""Second-order pruning: OBD's diagonal Hessian, OBS with the empirical Fisher, layer-wise OBS.

Same convention as :mod:`minisparse.pruning`: a score is a list with one array per layer aligned with
``W.data``, low = unimportant. The loss is the batch mean L = (1/B) Σ_b L_b. A weight w_ij of a layer
reaches L_b only through Z[b, j], so ∂²L_b/∂w_ij² = A_prev[b, i]² · ∂²L_b/∂Z[b, j]²: the diagonal
Hessian is a sampled product of A_prev² with h = diag ∂²L_b/∂Z², O(B·nnz) once h is known.

Dense information these methods need (the price of curvature), stated where it is built:
- ``method="gauss_newton"``: C backward passes, a (C, B, n_l) array per layer.
- ``method="exact"``: the full per-sample (n_l, n_l) Hessian w.r.t. every layer's Z (widths ≤ 512).
- OBS: one dense (k_j, k_j) Fisher block and its inverse per output neuron j (k_j = its fan-in).
- Layer-wise OBS: one dense (n_in, n_in) matrix H = 2XᵀX/n per layer (784² floats for MNIST).
"""
import numpy as np
from scipy.linalg import get_lapack_funcs

from ..network import losses
from ..network.checks import check_X, check_y
from ..network import kernels
from .select import keep_all_but_lowest, keep_masks, removal_counts
from ..network.topology import prune

MAX_EXACT_WIDTH = 512      # method="exact" holds (chunk, n_l, n_l) per layer
EXACT_CHUNK = 64           # samples per chunk of the exact second-order backward pass

F_SECOND = {               # f''(Z) from (Z, A): the term the Gauss–Newton approximation drops
    "relu": lambda Z, A: np.zeros_like(Z),           # 0 almost everywhere
    "tanh": lambda Z, A: -2 * A * (1 - A * A),
    "sigmoid": lambda Z, A: A * (1 - A) * (1 - 2 * A),
    "linear": lambda Z, A: np.zeros_like(Z),
}


def softmax_factor(P):
    """S = (I − p 1ᵀ) diag(√p), so that S Sᵀ = diag(p) − p pᵀ = ∂²L_b/∂Z_out²   (softmax CE).   # (B, C, C)"""
    C = P.shape[1]
    return (np.eye(C) - P[:, :, None]) * np.sqrt(P)[:, None, :]     # S[b, r, c] = (δ_rc − p_r)·√p_c


def gauss_newton_curvature(model, cache, y):
    """h^l[b, j] = Σ_c (J_bᵀ S_b)[j, c]²: the C columns of S back-propagated like dZ.   # [(B, n_l)]

    The per-sample Gauss–Newton curvature of each layer's pre-activations (``y`` is unused: the
    softmax cross-entropy's Hessian in the logits, diag(p) − ppᵀ, does not depend on the labels).
    Growth by curvature (``minisparse.growth``) reuses it at inactive positions.
    """
    B, C = cache[-1][1].shape
    V = np.moveaxis(softmax_factor(losses.softmax(cache[-1][1])), 2, 0)     # (C, B, C): column c of S
    h = [None] * len(model.layers)
    for l in reversed(range(len(model.layers))):
        h[l] = np.einsum("cbj,cbj->bj", V, V)                               # (B, n_l)
        if l > 0:
            layer, (_, Z, A) = model.layers[l], cache[l - 1]
            dA = (layer.W @ V.reshape(C * B, -1).T).T.reshape(C, B, -1)     # (C, B, n_{l−1})
            V = dA * model.layers[l - 1].f_prime(Z, A)[None]
    return h


def _h_exact_chunk(model, cache, y):
    """h^l = diag H_Z^l,  H_Z^l = D′ (W H_Z^{l+1} Wᵀ) D′ + diag(f″(Z^l) ⊙ dA^l),  H_Z^L = diag(p) − p pᵀ."""
    P = losses.softmax(cache[-1][1])                                     # (b, C)
    H = P[:, :, None] * np.eye(P.shape[1]) - P[:, :, None] * P[:, None, :]   # (b, C, C)
    dZ = len(y) * losses.cross_entropy_grad(cache[-1][1], y)             # ∂L_b/∂Z_out   (b, C)
    h = [None] * len(model.layers)
    for l in reversed(range(len(model.layers))):
        h[l] = np.diagonal(H, axis1=1, axis2=2).copy()                   # (b, n_l)
        if l > 0:
            W = model.layers[l].W.toarray()                              # (n_{l−1}, n_l) dense: small widths only
            prev, (_, Z, A) = model.layers[l - 1], cache[l - 1]
            dA = (model.layers[l].W @ dZ.T).T                            # (b, n_{l−1})
            D = prev.f_prime(Z, A)                                       # (b, n_{l−1})
            H = D[:, :, None] * (W @ H @ W.T) * D[:, None, :]            # (b, n_{l−1}, n_{l−1})
            idx = np.arange(H.shape[1])
            H[:, idx, idx] += F_SECOND[prev.activation](Z, A) * dA
            dZ = dA * D
    return h


def _h_exact(model, cache, y):
    """The exact h, in chunks of EXACT_CHUNK samples (each holds (chunk, n_l, n_l) per layer)."""
    wide = [l for l, layer in enumerate(model.layers) if layer.shape[1] > MAX_EXACT_WIDTH]
    if wide:
        raise ValueError(f"method='exact' keeps a per-sample (n_l, n_l) Hessian; layer {wide[0]} has "
                         f"width {model.layers[wide[0]].shape[1]} > {MAX_EXACT_WIDTH}: use 'gauss_newton'")
    parts = []
    for s in range(0, len(y), EXACT_CHUNK):
        chunk = [tuple(a[s:s + EXACT_CHUNK] for a in c) for c in cache]
        parts.append(_h_exact_chunk(model, chunk, y[s:s + EXACT_CHUNK]))
    return [np.concatenate(p) for p in zip(*parts)]


METHODS = {"gauss_newton": gauss_newton_curvature, "exact": _h_exact}


def hessian_diagonal(model, X, y, method="gauss_newton", bias=False):
    """H_qq = (1/B) Σ_b A_prev[b, i_q]² · h[b, j_q],  h = diag ∂²L_b/∂Z²   (OBD, LeCun et al. 1990).

    ``method="gauss_newton"`` uses H_Z ≈ Jᵀ (diag p − p pᵀ) J (the generalised Gauss–Newton; C
    backward passes). For ReLU networks this *is* the exact diagonal: with every other weight fixed the
    logits are piecewise linear in w_q (f″ = 0 almost everywhere), so only the softmax curvature is
    left. ``method="exact"`` adds the f″(Z) ⊙ dA terms (tanh, sigmoid), through a per-sample
    (n_l, n_l) Hessian per layer: widths ≤ MAX_EXACT_WIDTH only.
    Returns one (nnz_l,) array per layer; with ``bias`` also the bias diagonals (1/B) Σ_b h[b, j].
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {sorted(METHODS)}")
    Z_out, cache = model.forward(X, keep=True)
    y = check_y(y, model.n_classes, Z_out.shape[0])
    h = METHODS[method](model, cache, y)
    B = len(y)
    H = [kernels.sampled_product(layer, A_prev * A_prev, h_l) / B       # (nnz_l,)
         for layer, (A_prev, _, _), h_l in zip(model.layers, cache, h)]
    return (H, [h_l.mean(axis=0) for h_l in h]) if bias else H


def obd_score(model, X, y, method="gauss_newton"):
    """s_q = ½·H_qq·w_q²   (OBD, LeCun et al. 1990): the loss increase if w_q alone is set to 0."""
    H = hessian_diagonal(model, X, y, method)
    return [0.5 * H_l * layer.W.data ** 2 for H_l, layer in zip(H, model.layers)]


def obs_update(w, H_inv, Q):
    """δw = −H⁻¹[:, Q] (H⁻¹[Q, Q])⁻¹ w_Q   (OBS, Hassibi & Stork 1993): the new w, with w_Q = 0 exactly.

    The minimiser of the quadratic ½ δwᵀ H δw subject to (w + δw)_Q = 0; the loss rises by
    ½ w_Qᵀ (H⁻¹[Q, Q])⁻¹ w_Q (= w_q² / (2[H⁻¹]_qq) for a single weight).
    """
    Q = np.asarray(Q, dtype=np.int64)
    w_new = w - H_inv[:, Q] @ np.linalg.solve(H_inv[np.ix_(Q, Q)], w[Q])     # (k,)
    w_new[Q] = 0.0                                                          # exact, not round-off
    return w_new


def obs_update_hessian(w, H, Q):
    """w_R ← w_R + H_RR⁻¹ H_RQ w_Q, w_Q ← 0: :func:`obs_update` without H⁻¹ (R = the survivors).

    Equal to it by the block-inverse identity −H⁻¹_RQ (H⁻¹_QQ)⁻¹ = H_RR⁻¹ H_RQ; it solves an
    |R| × |R| system instead of inverting H, which is what the pruning routines use.
    """
    R = np.setdiff1d(np.arange(w.size), Q)
    w_new = np.zeros_like(w)                                                # (k,)
    if R.size:
        w_new[R] = w[R] + np.linalg.solve(H[np.ix_(R, R)], H[np.ix_(R, Q)] @ w[Q])
    return w_new


def spd_inverse(H):
    """H⁻¹ of a symmetric positive definite H by Cholesky, H = LLᵀ (LAPACK potrf, potri).   # (k, k)"""
    potrf, potri = get_lapack_funcs(("potrf", "potri"), (H,))
    L, info = potrf(H, lower=True)
    if info > 0:
        raise np.linalg.LinAlgError(f"block is not positive definite (minor {info}): raise the damping")
    H_inv, _ = potri(L, lower=True)                                         # lower triangle only
    return np.tril(H_inv) + np.tril(H_inv, -1).T


def neuron_entries(layer):
    """For each output neuron j, the indices into W.data of its incoming weights (rows ascending)."""
    order = np.argsort(layer.cols, kind="stable")                            # (nnz,)
    bounds = np.searchsorted(layer.cols[order], np.arange(layer.shape[1] + 1))
    return [order[bounds[j]:bounds[j + 1]] for j in range(layer.shape[1])]


def fisher_block(A_prev, dZ_j, inputs):
    """F_j = (1/N) Σ_b g_b g_bᵀ,  g_b[i] = A_prev[b, i]·dZ_b[b, j]   (empirical Fisher of neuron j).   # (k, k)"""
    G = A_prev[:, inputs] * dZ_j[:, None]                                   # (N, k) per-sample gradients
    return G.T @ G / len(G)


def per_sample_backward(model, X, y):
    """Each layer's input A_prev (B, n_in) and dZ_b = ∂L_b/∂Z (B, n_out) of each sample's own loss."""
    Z_out, cache = model.forward(X, keep=True)
    y = check_y(y, model.n_classes, Z_out.shape[0])
    dZ = len(y) * losses.cross_entropy_grad(Z_out, y)                       # B × gradient of the mean
    dZs = [None] * len(model.layers)
    for l in reversed(range(len(model.layers))):
        dZs[l] = dZ
        if l > 0:
            _, Z, A = cache[l - 1]
            dZ = (model.layers[l].W @ dZ.T).T * model.layers[l - 1].f_prime(Z, A)
    return [c[0] for c in cache], dZs


def _block_scores(layer, make_block):
    """s_q = w_q² / (2[H_j⁻¹]_qq) over each neuron's block; equal shared blocks are inverted once.   # (nnz,)"""
    s, key, diag = np.zeros(layer.nnz, dtype=layer.W.dtype), None, None
    for j, ks in enumerate(neuron_entries(layer)):
        if ks.size == 0:
            continue
        inputs = layer.rows[ks]
        if not (make_block.shared and inputs.tobytes() == key):            # e.g. a dense layer: once
            key, diag = inputs.tobytes(), np.diagonal(spd_inverse(make_block(j, inputs)))
        s[ks] = layer.W.data[ks] ** 2 / (2 * diag)
    return s


def _block_prune(model, l, make_block, keep, optimizer):
    """Joint OBS update of every neuron that loses weights, then remove them from the pattern."""
    layer = model.layers[l]
    for j, ks in enumerate(neuron_entries(layer)):
        Q = np.flatnonzero(~keep[ks])
        if Q.size:
            H = make_block(j, layer.rows[ks])                               # (k, k)
            layer.W.data[ks] = obs_update_hessian(layer.W.data[ks], H, Q)   # values in place
    prune(model, l, keep, optimizer)


class _Blocks:
    """H_j = H_full[inputs, inputs] + λI (``shared``: one matrix for every neuron) or F_j + λI."""

    def __init__(self, lam, full=None, A_prev=None, dZ=None):
        self.lam, self.full, self.A_prev, self.dZ = lam, full, A_prev, dZ
        self.shared = full is not None

    def __call__(self, j, inputs):
        if self.shared:
            H = self.full[np.ix_(inputs, inputs)].copy()                    # (k, k)
        else:
            H = fisher_block(self.A_prev, self.dZ[:, j], inputs)            # (k, k)
        H[np.diag_indices_from(H)] += self.lam
        return H


def _fisher_blocks(model, X, y, damping):
    """Per layer, F_j + λ_l I with λ_l = damping · mean_q F_qq over the layer's stored weights."""
    if not damping > 0:
        raise ValueError(f"damping must be > 0 (it makes each Fisher block invertible), got {damping!r}")
    A_prevs, dZs = per_sample_backward(model, X, y)
    blocks = []
    for layer, A_prev, dZ in zip(model.layers, A_prevs, dZs):
        F_diag = kernels.sampled_product(layer, A_prev ** 2, dZ ** 2) / len(dZ)   # (nnz,)
        mean = F_diag.mean() if F_diag.size else 0.0
        blocks.append(_Blocks(damping * (mean if mean > 0 else 1.0), A_prev=A_prev, dZ=dZ))
    return blocks


def obs_score(model, X, y, damping=1e-2):
    """s_q = w_q² / (2[F_j⁻¹]_qq)   (OBS, Hassibi & Stork 1993; damped empirical Fisher per neuron).

    F_j = (1/N) Σ_b g_b g_bᵀ + λI over neuron j's incoming weights (block-diagonal: one block per
    output neuron), λ = ``damping`` · mean diagonal of the layer's Fisher.
    """
    blocks = _fisher_blocks(model, X, y, damping)
    return [_block_scores(layer, block) for layer, block in zip(model.layers, blocks)]


def obs_prune(model, X, y, fraction=None, density=None, scope="layer", damping=1e-2, optimizer=None):
    """w ← w − F_j⁻¹[:, Q] (F_j⁻¹[Q, Q])⁻¹ w_Q per neuron, then drop Q   (OBS, Hassibi & Stork 1993).

    Q: the lowest :func:`obs_score` saliencies (counts as in ``prune_lowest``). All Fisher blocks come
    from the unpruned network (one shot); each block is built twice (inverted for the score, solved
    for the update) to keep memory at one (k, k) block. Returns the keep-masks.
    """
    blocks = _fisher_blocks(model, X, y, damping)
    scores = [_block_scores(layer, block) for layer, block in zip(model.layers, blocks)]
    keeps = keep_masks(model, scores, fraction, density, scope)
    for l, (block, keep) in enumerate(zip(blocks, keeps)):
        _block_prune(model, l, block, keep, optimizer)
    return keeps


def _reconstruction_blocks(A_prev, damping):
    """H = 2XᵀX/n + λI with X = A_prev, λ = damping · mean diag(2XᵀX/n)   (SparseGPT's percdamp)."""
    H = 2 * A_prev.T @ A_prev / len(A_prev)                                 # (n_in, n_in) dense
    mean = np.diagonal(H).mean()
    return _Blocks(damping * (mean if mean > 0 else 1.0), full=H)


def layerwise_obs_prune(model, X, fraction=None, density=None, scope="layer", damping=0.01,
                        optimizer=None):
    """min ‖X w_j − X w_j_old‖²/n s.t. w_Q = 0, per neuron   (layer-wise OBS / SparseGPT, Frantar & Alistarh 2023).

    Needs only inputs (calibration data), no labels. Layer by layer: H = 2XᵀX/n + λI over the
    layer's inputs X (those of the *pruned* network so far, as SparseGPT does); saliency
    w_q² / (2[H_j⁻¹]_qq) — exactly the rise of the reconstruction error if w_q alone goes, H_j being
    H restricted to neuron j's active inputs — then the joint OBS update of the survivors. Exact for
    each layer's squared reconstruction error (unlike SparseGPT's sequential column sweep, the mask is
    chosen first and the update is then joint); it ignores the loss: errors are weighted equally
    across output neurons and labels play no part. ``scope='global'`` fixes per-layer counts from one
    threshold over the unpruned network's saliencies, which compares reconstruction errors of
    different layers (in different units). Returns the keep-masks.
    """
    if not damping > 0:
        raise ValueError(f"damping must be > 0 (relative to the mean diagonal of XᵀX), got {damping!r}")
    A = check_X(X, model.n_in).astype(model.dtype, copy=False)             # (n, n_in)
    counts, _ = removal_counts(model, fraction, density)
    if scope == "global":
        _, cache = model.forward(A, keep=True)
        scores = [_block_scores(layer, _reconstruction_blocks(A_prev, damping))
                  for layer, (A_prev, _, _) in zip(model.layers, cache)]
        counts = [int((~k).sum()) for k in keep_masks(model, scores, fraction, density, "global")]
    elif scope != "layer":
        raise ValueError(f"scope must be 'layer' or 'global', got {scope!r}")
    keeps = []
    for l, layer in enumerate(model.layers):
        block = _reconstruction_blocks(A, damping)
        keeps.append(keep_all_but_lowest(_block_scores(layer, block), int(counts[l])))
        _block_prune(model, l, block, keeps[-1], optimizer)
        A = layer.forward(A)[1]                                             # the pruned layer's output
    return keeps
