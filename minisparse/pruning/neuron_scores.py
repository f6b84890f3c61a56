"""Neuron-level scores of the three orders, and removal of the lowest-scoring hidden neurons.

Conventions of :mod:`~minisparse.pruning.structured`: hidden layer l is the output of
``model.layers[l]`` (0 ≤ l < L−1); its neuron j is column j of W_l, entry j of b_l and row j of
W_{l+1}. Every score is one array (n_l,), LOW = UNIMPORTANT; :func:`prune_neurons_by_score` removes
the lowest ones with :func:`~minisparse.pruning.structured.remove_neurons`. Create a new optimizer
after any removal (the shapes change).

- zeroth order, data-free: coreset sensitivities and importance sampling (Mussay et al. 2020);
- first order: the gate relevance of skeletonization (Mozer & Smolensky 1988);
- first order: the output sensitivity to a unit's value (Engelbrecht & Cloete 1996).
"""
import numpy as np

from ..network import losses
from ..network.checks import check_rng, check_X, check_y
from .select import keep_all_but_lowest
from .structured import _check_count, _check_hidden, _positions, remove_neurons


def _incoming_norms(layer):
    """‖w̃_j‖ = ‖(W_l[:, j], b_j)‖₂ for every neuron j of the layer's output.   # (n,)"""
    _, cols = _positions(layer.W)
    sq = np.bincount(cols, weights=layer.W.data.astype(np.float64) ** 2, minlength=layer.shape[1])
    return np.sqrt(sq + layer.b.astype(np.float64) ** 2)


def _abs_outgoing(W_next):
    """|W_{l+1}| as a dense (n_l, n_{l+1}) float64 array."""
    return np.abs(W_next.toarray().astype(np.float64))


# ----------------------------------------------------------------------------------------------
# Zeroth order: coresets (Mussay, Osadchy, Braverman, Zhou & Feldman, ICLR 2020)

def coreset_sensitivity(model, l):
    """s_j = max_k |W_{l+1}[j, k]|·‖w̃_j‖ / Σ_q |W_{l+1}[q, k]|·‖w̃_q‖   (Mussay et al. 2020); (n_l,).

    Data-free. For one neuron k of layer l+1 the paper's coreset (Algorithm 1) samples the neurons j
    of layer l, each a point w̃_j with weight W_{l+1}[j, k], with probability proportional to the
    sensitivity weight · max_{‖x‖≤β} φ(w̃_jᵀx). For ReLU (and any φ with |φ(z)| ≤ |z|) that maximum
    is β‖w̃_j‖ and β cancels in the ratio. "Coreset per layer" (Algorithm 2) takes one sample for
    all neurons k of layer l+1 with s_j = max_k of the per-neuron sensitivities: so is this.
    Differences from the paper: w̃_j = (W_l[:, j], b_j) carries the bias as the weight of a constant
    input 1 (the paper's neurons have none); we use |W_{l+1}[j, k]| in one set, where the paper
    treats the positive and the negative outgoing weights as two separate sets; an input bound β is
    not needed for the ranking. A column k of W_{l+1} with Σ_q |W|·‖w̃‖ = 0 contributes 0.
    """
    _check_hidden(model, l)
    G = _abs_outgoing(model.layers[l + 1].W) * _incoming_norms(model.layers[l])[:, None]   # (n, n_next)
    total = G.sum(axis=0)
    ratio = np.divide(G, total, out=np.zeros_like(G), where=total > 0)
    return ratio.max(axis=1) if ratio.shape[1] else np.zeros(G.shape[0])


def coreset_weights(p, counts, m):
    """u_j = count_j / (m·p_j) for drawn neurons, 0 for the others: Σ_j u_j v_j is an unbiased
    estimate of Σ_j v_j when counts ~ Multinomial(m, p) (E[count_j] = m·p_j).   # (n,)"""
    p, counts = np.asarray(p, dtype=np.float64), np.asarray(counts)
    return np.divide(counts, m * p, out=np.zeros(p.size), where=counts > 0)


def _draw(p, n_keep, m, rng):
    """counts (n,) and the number of draws: m i.i.d. draws from p, or, with m None, draws until
    n_keep distinct neurons have come up (the last draw is the n_keep-th new one)."""
    n = p.size
    if m is not None:
        return np.bincount(rng.choice(n, size=m, p=p), minlength=n), m
    draws = np.empty(0, dtype=np.int64)
    while True:
        draws = np.concatenate([draws, rng.choice(n, size=max(n, 64), p=p)])
        _, first = np.unique(draws, return_index=True)
        if first.size >= n_keep:
            m = int(np.sort(first)[n_keep - 1]) + 1
            return np.bincount(draws[:m], minlength=n), m


def coreset_prune(model, l, n_keep, rng, m=None):
    """Importance sampling of hidden layer l's neurons with p_j = s_j / Σ s (with replacement), then
    W_{l+1}[j, :] ← W_{l+1}[j, :]·count_j/(m·p_j) for the drawn j and removal of the others
    (Mussay et al. 2020); returns (kept neurons (sorted, original numbering), their factors u_j).

    s = :func:`coreset_sensitivity`. With ``m`` (a fixed number of draws) the kept neurons are the
    distinct ones drawn and ``n_keep`` must be None; then E[Σ_j u_j a_j W_{l+1}[j, k]] = Z_{l+1}[k] − b
    exactly for every input (the estimate of the next layer's input is unbiased). By default draws go
    on until ``n_keep`` distinct neurons are in (m is then that number of draws), so that widths can
    be compared: that stopping rule makes m random, and the estimate is then unbiased only
    approximately. The paper fixes m from its error bound instead. Neurons with s_j = 0 are never
    drawn (with φ(0) = 0 and zero outgoing weights or zero incoming weights and bias they contribute
    nothing). ``rng``: a Generator or an int seed. Create a new optimizer afterwards.
    """
    n = _check_hidden(model, l)
    rng = check_rng(rng)
    s = coreset_sensitivity(model, l)
    if s.sum() <= 0:
        raise ValueError(f"every neuron of hidden layer {l} has sensitivity 0: nothing to sample from")
    p = s / s.sum()
    if m is not None:
        if n_keep is not None or not isinstance(m, (int, np.integer)) or m < 1:
            raise ValueError(f"give either n_keep or a number of draws m ≥ 1 (then n_keep=None), "
                             f"got n_keep={n_keep!r}, m={m!r}")
    else:
        n_pos = int(np.count_nonzero(p))
        if not isinstance(n_keep, (int, np.integer)) or not 1 <= n_keep <= min(n, n_pos):
            raise ValueError(f"n_keep must be an integer in [1, {min(n, n_pos)}] (neurons of positive "
                             f"sensitivity in hidden layer {l}), got {n_keep!r}")
    counts, m = _draw(p, n_keep, m, rng)
    u = coreset_weights(p, counts, m)
    kept = np.flatnonzero(counts)
    nxt = model.layers[l + 1]
    rows, _ = _positions(nxt.W)
    nxt.W.data *= u[rows].astype(nxt.W.dtype)           # removed rows get 0 and go with remove_neurons
    remove_neurons(model, l, np.flatnonzero(counts == 0))
    return kept, u[kept]


# ----------------------------------------------------------------------------------------------
# Back-propagation of an arbitrary seed (first-order scores)

def _forward(model, X):
    X = check_X(X, model.n_in)
    return model.forward(X, keep=True)


def _back_through(layer, Z, A, dA):
    """∂/∂A_prev from ∂/∂A through Z = A_prev W + b, A = f(Z): (dA ⊙ f′(Z)) Wᵀ.   # (B, n_in)"""
    dZ = dA * layer.f_prime(Z, A)
    return np.asarray((layer.W @ dZ.T).T)


def _backprop_to(model, cache, dZ_out, l):
    """∂(·)/∂A_l given ∂(·)/∂Z_L = dZ_out; l = −1 means the network's input.   # (B, n_l)"""
    dA = dZ_out                                           # the last layer is linear: f′ = 1
    for k in range(len(model.layers) - 1, l, -1):
        _, Z, A = cache[k]
        dA = _back_through(model.layers[k], Z, A, dA)
    return dA


# ----------------------------------------------------------------------------------------------
# First order: skeletonization (Mozer & Smolensky 1988)

def gating_relevance(model, X, y, l):
    """ρ_j = −∂L/∂α_j at α = 1 = −Σ_b A_l[b, j]·∂L/∂A_l[b, j]   (Mozer & Smolensky 1988); (n_l,).

    α_j is a multiplicative gate on the output of neuron j of hidden layer l (A_l[:, j] → α_j A_l[:, j]),
    L the mean cross-entropy on (X, y). To first order ρ_j ≈ L(α_j = 0) − L(α_j = 1), the loss increase
    from removing the neuron: one backward pass for all neurons. Differences from the paper: it
    scored with the linear error Σ|t − o| (the quadratic one's gradient vanishes near the optimum)
    and averaged ρ exponentially over training; here one batch, the model's own loss, no averaging.
    A negative ρ_j means removing j lowers the loss to first order (removed first).
    """
    _check_hidden(model, l)
    Z_out, cache = _forward(model, X)
    dZ = losses.cross_entropy_grad(Z_out, check_y(y, model.n_classes, Z_out.shape[0]))
    dA = _backprop_to(model, cache, dZ, l)
    return -np.einsum("bj,bj->j", cache[l][2], dA).astype(np.float64)


# ----------------------------------------------------------------------------------------------
# First order: sensitivity analysis (Engelbrecht & Cloete 1996)

def output_jacobian(model, X, l, outputs="softmax"):
    """J[b, k, j] = ∂O_k(x_b)/∂A_l[b, j], O = softmax(Z_L) or the logits Z_L; l = −1: the inputs.

    One backward pass per output k.   # (B, n_classes, n_l)"""
    if outputs not in ("softmax", "logits"):
        raise ValueError(f"outputs must be 'softmax' or 'logits', got {outputs!r}")
    Z_out, cache = _forward(model, X)
    P = losses.softmax(Z_out.astype(np.float64))
    C = Z_out.shape[1]
    cols = []
    for k in range(C):
        if outputs == "softmax":                            # ∂P_k/∂Z_m = P_k (δ_km − P_m)
            seed = -P[:, k:k + 1] * P
            seed[:, k] += P[:, k]
        else:
            seed = np.zeros_like(P)
            seed[:, k] = 1.0
        cols.append(_backprop_to(model, cache, seed.astype(Z_out.dtype), l))
    return np.stack(cols, axis=1).astype(np.float64)


def _rms_mean(J):
    """S_j = mean_b sqrt(mean_k J[b, k, j]²).   # (n,)"""
    return np.sqrt((J ** 2).mean(axis=1)).mean(axis=0)


def sensitivity_scores(model, X, l, outputs="softmax"):
    """S_j = mean_b RMS_k ∂O_k(x_b)/∂A_l[b, j]   (sensitivity analysis, Engelbrecht & Cloete 1996); (n_l,).

    O = the softmax probabilities by default (the paper's outputs are sigmoid units, bounded like
    these), or the logits with ``outputs='logits'``. RMS over the C outputs of the Jacobian column
    of unit j, then the mean over the rows of X. As far as we know the paper aggregates otherwise: a
    mean-square average over the patterns of each ∂o_k/∂a_j and then the maximum over the outputs k
    (the unit matters if it matters to any output); any of these aggregates ranks a unit of zero
    Jacobian column lowest. Costs C backward passes (Jacobian (B, C, n_l) in memory).
    """
    _check_hidden(model, l)
    return _rms_mean(output_jacobian(model, X, l, outputs))


def input_sensitivity(model, X, outputs="softmax"):
    """S_i = mean_b RMS_k ∂O_k(x_b)/∂x_b[i] for every input i (Engelbrecht & Cloete 1996); (n_in,).
    Same aggregation as :func:`sensitivity_scores`; scores inputs for input pruning (not done here)."""
    return _rms_mean(output_jacobian(model, X, -1, outputs))


# ----------------------------------------------------------------------------------------------
# Removal

def prune_neurons_by_score(model, l, scores, n_remove):
    """Delete the n_remove neurons of hidden layer l with the lowest ``scores`` (ties: lowest index
    first) via :func:`~minisparse.pruning.structured.remove_neurons`; returns the removed indices.
    Nothing is folded into the next layer (see ``structured.prune_low_variance`` for that)."""
    n = _check_hidden(model, l)
    scores = np.asarray(scores)
    if scores.shape != (n,):
        raise ValueError(f"scores must have shape ({n},) for hidden layer {l}, got {scores.shape}")
    removed = np.flatnonzero(~keep_all_but_lowest(scores, _check_count(n_remove, n)))
    remove_neurons(model, l, removed)
    return removed
