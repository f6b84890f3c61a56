"""Which units the pattern leaves without a role: dead hidden neurons, and each input's out-degree.

Both read the stored positions only (O(nnz)); :func:`dead_neurons` with data also runs the forward pass.
"""
import numpy as np


def _never_active(model, X, batch_size=1000):
    """Per hidden layer, a boolean (n_out,) that is True where A = f(Z) is 0 on every row of X."""
    hidden = model.layers[:-1]
    silent = [np.ones(layer.shape[1], dtype=bool) for layer in hidden]
    for s in range(0, len(X), batch_size):
        _, cache = model.forward(X[s:s + batch_size], keep=True)
        for l in range(len(hidden)):
            silent[l] &= np.all(cache[l][2] == 0, axis=0)                 # A: (B, n_out)
    return silent


def dead_neurons(model, X=None):
    """Dead hidden neuron j of layer l: in-degree(j) = 0, out-degree(j) = 0, or (X given) A_l[:, j] = 0
    on every row of X (for ReLU: Z ≤ 0 throughout).

    Returns one dict per hidden layer: ``{'indices': {kind: (k,) int array}, 'counts': {kind: int}}``
    with kinds 'no_input' (empty column of W_l), 'no_output' (empty row of W_{l+1}), 'never_active'
    (only when X is given) and 'dead' (the union). The kinds may overlap.
    """
    silent = _never_active(model, X) if X is not None else None
    report = []
    for l in range(len(model.layers) - 1):
        W_in, W_out = model.layers[l].W, model.layers[l + 1].W
        flags = {"no_input": np.bincount(W_in.indices, minlength=W_in.shape[1]) == 0,   # (n_out,)
                 "no_output": np.diff(W_out.indptr) == 0}                             # (n_out,)
        if silent is not None:
            flags["never_active"] = silent[l]
        flags["dead"] = np.logical_or.reduce(list(flags.values()))
        indices = {kind: np.flatnonzero(f) for kind, f in flags.items()}
        report.append({"indices": indices, "counts": {k: int(v.size) for k, v in indices.items()}})
    return report


def out_degree_map(model, shape=(28, 28)):
    """deg(i) = |{j : (i, j) ∈ M_0}|, the stored connections of input pixel i, as an image ``shape``
    (``shape=None``: the flat (n_in,) vector). Sums to the nnz of layer 0."""
    W = model.layers[0].W
    degree = np.diff(W.indptr)                                          # (n_in,)
    if shape is None:
        return degree
    if int(np.prod(shape)) != W.shape[0]:
        raise ValueError(f"shape {shape} does not hold the {W.shape[0]} inputs of layer 0")
    return degree.reshape(shape)
