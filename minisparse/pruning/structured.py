"""Structured zeroth-order pruning: remove whole hidden neurons, so that the layer widths shrink.

Hidden layer l is the output of ``model.layers[l]`` (0 ≤ l < L−1). Its neuron j is column j of W_l
(incoming weights), entry j of b_l and row j of W_{l+1} (outgoing weights). Two criteria:

- neuron similarity (Srinivas & Babu 2015): merge a neuron into its most similar twin, adding its
  outgoing weights to the twin's;
- activity/variance (Sietsma & Dow 1988, 1991): remove the neurons whose output varies least over
  data, folding their mean output into the next layer's bias.

Patterns are rebuilt with :func:`minisparse.topology.from_keys` (canonical, explicit zeros kept: no
SciPy slicing or sparse–sparse arithmetic). Optimizer state is *not* carried across: the shapes of
W_l, b_l and W_{l+1} change, so create a new optimizer after structural pruning.
"""
import numpy as np
from scipy.spatial.distance import cdist

from .select import keep_all_but_lowest
from ..network.topology import add_entries, entry_keys, from_keys


def _check_hidden(model, l):
    """Return the width of hidden layer l after checking 0 ≤ l < L−1."""
    L = len(model.layers)
    if not isinstance(l, (int, np.integer)) or not 0 <= l < L - 1:
        raise ValueError(f"l must index a hidden layer, 0 ≤ l < {L - 1} (the output of layers[l] "
                         f"feeding layers[l + 1]), got {l!r}")
    return model.layers[l].shape[1]


def _check_count(n_remove, n):
    if not isinstance(n_remove, (int, np.integer)) or not 0 <= n_remove < n:
        raise ValueError(f"n_remove must be an integer in [0, {n - 1}] (a layer keeps at least one "
                         f"of its {n} neurons), got {n_remove!r}")
    return int(n_remove)


def _positions(W):
    """(rows, cols) of every stored entry, aligned with W.data.   # (nnz,), (nnz,)"""
    return np.divmod(entry_keys(W), W.shape[1])


def remove_neurons(model, l, neurons):
    """W_l ← W_l[:, kept],  b_l ← b_l[kept],  W_{l+1} ← W_{l+1}[kept, :]: delete hidden neurons of layer l.

    ``neurons``: distinct indices in [0, n_l); at least one neuron must remain. The surviving entries
    keep their values (stored zeros included) and are renumbered to the new width. Returns nothing.
    """
    n = _check_hidden(model, l)
    neurons = np.asarray(neurons)
    if neurons.ndim != 1 or (neurons.size and not np.issubdtype(neurons.dtype, np.integer)):
        raise ValueError(f"neurons must be a 1-D array of integer indices, got {neurons!r}")
    neurons = neurons.astype(np.int64)
    if neurons.size and (neurons.min() < 0 or neurons.max() >= n):
        raise ValueError(f"neurons must lie in [0, {n}), got {neurons.min()}..{neurons.max()}")
    if np.unique(neurons).size != neurons.size:
        raise ValueError("neurons must be distinct")
    if neurons.size == n:
        raise ValueError(f"cannot remove all {n} neurons of hidden layer {l}")
    removed = np.zeros(n, dtype=bool)
    removed[neurons] = True
    new_index = np.cumsum(~removed) - 1                  # old number → new number (kept neurons)
    n_new = n - neurons.size
    layer, nxt = model.layers[l], model.layers[l + 1]

    rows, cols = _positions(layer.W)                      # W_l: drop columns, renumber the rest
    keep = ~removed[cols]
    keys = rows[keep] * n_new + new_index[cols[keep]]    # still strictly increasing (monotone map)
    layer.W = from_keys(keys, layer.W.data[keep], (layer.shape[0], n_new))
    layer.b = layer.b[~removed]

    rows, cols = _positions(nxt.W)                        # W_{l+1}: drop rows, renumber the rest
    keep = ~removed[rows]
    keys = new_index[rows[keep]] * nxt.shape[1] + cols[keep]
    nxt.W = from_keys(keys, nxt.W.data[keep], (n_new, nxt.shape[1]))


# ----------------------------------------------------------------------------------------------
# Neuron similarity (Srinivas & Babu 2015)

def _incoming_distances(layer):
    """D[j, j′] = ‖w̃_j − w̃_j′‖², w̃_j = (W[:, j], b_j) the dense incoming column and bias.   # (n, n)"""
    W_tilde = np.vstack([layer.W.toarray(), layer.b])                    # (n_in + 1, n)
    return cdist(W_tilde.T, W_tilde.T, "sqeuclidean")   # differences, not a Gram trick: twins give 0


def _outgoing_sq_norms(W_next):
    """‖a_j‖² = Σ_k W_{l+1}[j, k]² for every hidden neuron j.   # (n,)"""
    rows, _ = _positions(W_next)
    return np.bincount(rows, weights=W_next.data.astype(np.float64) ** 2, minlength=W_next.shape[0])


def _saliency_matrix(D, a_sq, alive):
    """S[j, j′] = ‖a_j′‖²·D[j, j′] for j ≠ j′ both alive (j absorbs j′), +inf elsewhere.   # (n, n)"""
    valid = alive[:, None] & alive[None, :] & ~np.eye(alive.size, dtype=bool)
    return np.where(valid, D * a_sq[None, :], np.inf)


def similarity_merge_score(model, l):
    """s(j, j′) = ‖a_j′‖² · ‖w̃_j − w̃_j′‖²   (Srinivas & Babu 2015, "Data-free parameter pruning",
    Sec. 3: the saliency s_{i,j} = ⟨a_j²⟩‖ε_{i,j}‖²); returns (twin (n,), saliency (n,)).

    For every neuron j′ of hidden layer l: its best twin j = argmin_{j ≠ j′} s(j, j′) (the neuron that
    would absorb it) and that lowest saliency. w̃_j is neuron j's incoming column W_l[:, j], dense over
    the layer's inputs, with the bias b_j appended as the weight of a constant input 1 (the paper's
    units have no separate bias; without it two neurons differing only in b would score 0). a_j′ is
    the outgoing row W_{l+1}[j′, :]. The paper averages a_j′² over the output neurons (⟨·⟩); we sum
    (‖·‖²): a constant factor n_{l+1} per layer, so the ranking is the same. Ties: lowest j.
    Data-free; costs O(n²·n_in) time and an (n, n) array.
    """
    n = _check_hidden(model, l)
    S = _saliency_matrix(_incoming_distances(model.layers[l]),
                         _outgoing_sq_norms(model.layers[l + 1].W), np.ones(n, dtype=bool))
    twin = np.argmin(S, axis=0)
    return twin, S[twin, np.arange(n)]


def merge_outgoing(model, l, j, j_prime):
    """W_{l+1}[j, :] ← W_{l+1}[j, :] + W_{l+1}[j′, :] (row j′ left in place; see remove_neurons).

    Positions both rows hold are summed in place on W.data; positions only j′ holds become new
    entries of row j with j′'s values (stored zeros included), so row j ends up exactly the sum.
    """
    W = model.layers[l + 1].W
    rows, cols = _positions(W)
    src, dst = np.flatnonzero(rows == j_prime), np.flatnonzero(rows == j)     # column-sorted
    shared = np.isin(cols[src], cols[dst], assume_unique=True)
    W.data[dst[np.searchsorted(cols[dst], cols[src[shared]])]] += W.data[src[shared]]
    new = src[~shared]
    if new.size:
        model.layers[l + 1].W, _ = add_entries(W, np.full(new.size, j), cols[new], W.data[new])


def merge_similar_neurons(model, l, n_remove):
    """Greedy surgery: n_remove times, merge the pair (j, j′) of lowest s(j, j′) = ‖a_j′‖²‖w̃_j − w̃_j′‖²
    (W_{l+1}[j] += W_{l+1}[j′], then j′ is deleted)   (Srinivas & Babu 2015); returns (removed, twins).

    Both are in the layer's original numbering, in merge order. The saliencies stay exact after each
    merge: incoming weights do not change, so D[j, j′] stays valid; only the absorber's ‖a_j‖² grows
    and is recomputed. So an absorber may itself be merged later (carrying what it absorbed to its
    own twin): the result equals recomputing :func:`similarity_merge_score` after every single merge.
    Ties: lowest (j, j′) in row-major order, so of two identical neurons the later one is removed.
    Two neurons with identical incoming weights and bias have identical outputs, so merging them
    leaves the network's function unchanged (up to rounding). Create a new optimizer afterwards.
    """
    n = _check_hidden(model, l)
    n_remove = _check_count(n_remove, n)
    D = _incoming_distances(model.layers[l])
    alive = np.ones(n, dtype=bool)
    removed, twins = [], []
    for _ in range(n_remove):
        S = _saliency_matrix(D, _outgoing_sq_norms(model.layers[l + 1].W), alive)
        j, j_prime = np.unravel_index(np.argmin(S), S.shape)
        merge_outgoing(model, l, j, j_prime)
        alive[j_prime] = False
        removed.append(int(j_prime))
        twins.append(int(j))
    remove_neurons(model, l, np.array(removed, dtype=np.int64))
    return np.array(removed, dtype=np.int64), np.array(twins, dtype=np.int64)


# ----------------------------------------------------------------------------------------------
# Activity / variance (Sietsma & Dow 1988, 1991)

def activation_variance(model, X):
    """Var_X(a_j) = mean_x (a_j(x) − ā_j)² for every hidden neuron   (Sietsma & Dow 1988); one array
    (n_l,) per hidden layer (post-activation outputs over the rows of X, population variance)."""
    _, cache = model.forward(X, keep=True)
    return [A.var(axis=0) for (_, _, A) in cache[:-1]]


def prune_low_variance(model, X, l, n_remove):
    """b_{l+1} ← b_{l+1} + Σ_{j removed} ā_j · W_{l+1}[j, :], then delete the n_remove neurons of hidden
    layer l with the lowest Var_X(a_j)   (Sietsma & Dow 1988, 1991); returns the removed indices.

    ā_j = mean_X a_j. A neuron whose output is constant over X contributes ā_j·W_{l+1}[j, :] to every
    row's Z_{l+1}, which the bias now carries: removing it leaves the outputs on X unchanged. In
    general Z_{l+1} changes by −(a_j(x) − ā_j)·W_{l+1}[j, :]. Ties: lowest index first. Create a new
    optimizer afterwards.
    """
    n = _check_hidden(model, l)
    n_remove = _check_count(n_remove, n)
    _, cache = model.forward(X, keep=True)
    A = cache[l][2]                                                         # (B, n)
    removed = np.flatnonzero(~keep_all_but_lowest(A.var(axis=0), n_remove))
    nxt = model.layers[l + 1]
    rows, cols = _positions(nxt.W)
    fold = np.isin(rows, removed)
    a_mean = A.mean(axis=0)                                                 # (n,)
    nxt.b += np.bincount(cols[fold], weights=a_mean[rows[fold]] * nxt.W.data[fold],
                         minlength=nxt.shape[1]).astype(nxt.b.dtype)
    remove_neurons(model, l, removed)
    return removed
