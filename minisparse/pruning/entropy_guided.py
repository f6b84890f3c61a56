"""EGP, Entropy-Guided Pruning: prune most in the layers whose ReLU units are most predictable, with
magnitude pruning inside each layer (Liao, Quétu, Nguyen & Tartaglione, 2023, "Can Unstructured
Pruning Reduce the Depth in Deep Neural Networks?"; the authors' code: github.com/ZhuLIAO001/
Unstructured_Relu_Pruning_Reduce_Depth, ``src/Prun_cifar10_ResNet18_EGP.py``).

Article 000 lists EGP among the second-order examples ("uses information theory alongside
Hessians"); neither the paper's method nor its code uses a Hessian or a gradient. It reads the
activations and the weights only: zeroth order, with information theory.

For each hidden layer l (a ReLU after it), on the training data in batches of B rows:

    p_j = P(A[:, j] > 0) within a batch,   H_l = mean over the batches of  Σ_j H₂(p_j) / #{j : 0 < p_j < 1}
    E_l = H_l · mean |w| over the layer's weights            (layers with H_l = 0 are not pruned)
    a_l = Σ_l' E_l' / E_l,      share_l = exp(a_l − max a) / Σ exp(a − max a)      (a softmax)
    k_l = share_l · (amount · Σ_l nnz_l), capped at nnz_l (a capped layer gives its excess back to
          the others, shared again by the same rule)

then each layer loses its k_l smallest |w| (``int`` of k_l, as the code's ``l1_unstructured``).
H₂(p) = −p log₂ p − (1 − p) log₂(1 − p). A low-entropy layer (units nearly always on or always off)
gets the largest share; the paper's aim is to empty such layers so that they can be removed.

The code iterates: prune ``amount`` = 50 % of what is left, retrain, repeat. Here :func:`egp_prune`
is one step; the loop is the caller's. Differences: the code clamps p to [1e-5, 1 − 1e-5] inside the
logarithms, here the units with p ∈ {0, 1} are left out exactly as its count does and H₂ is exact; the
code's output layer (no ReLU after it) is never pruned, nor is it here.
"""
import numpy as np

from ..network.checks import check_fraction
from ..network.topology import prune
from .select import keep_all_but_lowest


def binary_entropy(p):
    """H₂(p) = −p log₂ p − (1 − p) log₂(1 − p), 0 at p ∈ {0, 1}.   # like p"""
    p = np.asarray(p, dtype=float)
    out = np.zeros_like(p)
    inner = (p > 0) & (p < 1)
    q = p[inner]
    out[inner] = -q * np.log2(q) - (1 - q) * np.log2(1 - q)
    return out


def layer_entropies(model, X, batch_size=128):
    """H_l for every hidden layer: per batch the mean binary entropy of the units' ON probability over
    the units neither always on nor always off in that batch, averaged over the batches.   # (L − 1,)"""
    hidden = len(model.layers) - 1
    totals, n_batches = np.zeros(hidden), 0
    for s in range(0, len(X), batch_size):
        _, cache = model.forward(X[s:s + batch_size], keep=True)
        for l in range(hidden):
            p = np.mean(cache[l][2] > 0, axis=0)                        # (n_out,) P(unit on) in the batch
            varying = (p > 0) & (p < 1)
            if varying.any():
                totals[l] += binary_entropy(p[varying]).sum() / varying.sum()
        n_batches += 1
    return totals / max(n_batches, 1)


def egp_counts(entropies, mean_abs_w, nnz, amount):
    """k_l of the module docstring: the softmax of ΣE/E_l, times amount·Σ nnz, capped at nnz_l.   # (L,) float

    Layers with E_l = 0 get 0."""
    E = np.asarray(entropies, dtype=float) * np.asarray(mean_abs_w, dtype=float)
    nnz = np.asarray(nnz, dtype=float)
    k = np.zeros(E.size)
    open_ = E > 0
    budget = amount * nnz[open_].sum()
    total_E = E[open_].sum()
    while open_.any():
        a = np.where(open_, total_E / np.where(open_, E, 1.0), -np.inf)
        share = np.exp(a - a[open_].max())
        share[~open_] = 0.0
        k[open_] = budget * share[open_] / share.sum()
        full = open_ & (k > nnz)
        if not full.any():
            break
        k[full] = nnz[full]                          # the layer goes entirely; the rest is shared again
        budget -= nnz[full].sum()
        total_E -= E[full].sum()
        open_ &= ~full
    return k


def egp_prune(model, X, amount=0.5, batch_size=128, optimizer=None):
    """One EGP step: remove ``amount`` of the hidden layers' weights, shared by :func:`egp_counts`,
    the smallest |w| in each; returns (entropies, counts removed per layer)."""
    amount = check_fraction(amount, "amount")
    H = layer_entropies(model, X, batch_size)
    hidden = model.layers[:-1]
    mean_abs = [np.abs(layer.W.data).mean() if layer.nnz else 0.0 for layer in hidden]
    k = egp_counts(H, mean_abs, [layer.nnz for layer in hidden], amount)
    removed = []
    for l, layer in enumerate(hidden):
        n = int(k[l])
        prune(model, l, keep_all_but_lowest(np.abs(layer.W.data), n), optimizer)
        removed.append(n)
    return H, removed
