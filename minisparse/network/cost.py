"""Multiply-adds of a training step, split into sparse work (∝ nnz) and dense work (∝ n_in·n_out).

A step of a layer with nnz stored weights on a batch of B rows costs B·nnz multiply-adds for the
forward product, B·nnz for the weight gradient (the sampled product) and B·nnz for the input
gradient (skipped for the first layer, whose input needs none). A dense gradient G = A_prevᵀ dZ
(growth methods) costs B·n_in·n_out more, whatever the density. Element-wise work (activations,
biases, the optimizer) is O(B·width + nnz) and left out.

After a k-WTA layer only k of a layer's n_in inputs are active per row, and each of its three
products needs only the active rows of W: B·(k/n_in)·nnz multiply-adds each, in expectation over
which units win (``layer.input_fraction`` = k/n_in; :mod:`minisparse.network.kernels.active_units`).
These are the multiply-adds the computation needs, whichever kernel runs it: the dense-input kernels,
faster above ~5 % active inputs, multiply the zeros too. :func:`active_macs` counts one batch exactly.
"""
import numpy as np


def layer_step_macs(nnz, batch_size, first=False, active_fraction=None):
    """B·a·nnz (forward) + B·a·nnz (dW) + B·a·nnz (dA_prev, except for the first layer), a = the share of
    the layer's inputs active per row (None: all, a = 1), rounded to an integer."""
    a = 1.0 if active_fraction is None else active_fraction
    return int(round(batch_size * nnz * a)) * (2 if first else 3)


def active_macs(W, A_prev):
    """The exact multiply-adds of one product of the layer W on the batch A_prev: Σ over the nonzero
    A_prev[b, i] of row i's stored entries (= B·nnz for a dense A_prev)."""
    fired = np.atleast_2d(np.asarray(A_prev)) != 0                   # (B, n_in)
    return int((fired @ np.diff(W.indptr)).sum())


def step_macs(model, batch_size, dense_layers=()):
    """{'sparse': …, 'dense': …} multiply-adds of one training step of ``model`` on ``batch_size`` rows.

    ``dense_layers``: the layers whose dense gradient the step also computes. A layer after a k-WTA
    layer counts B·(k/n_in)·nnz per product (module docstring).
    """
    sparse = sum(layer_step_macs(layer.nnz, batch_size, first=l == 0, active_fraction=layer.input_fraction)
                 for l, layer in enumerate(model.layers))
    dense = sum(batch_size * model.layers[l].shape[0] * model.layers[l].shape[1] for l in dense_layers)
    return {"sparse": sparse, "dense": dense}


def epoch_macs(model, n_samples, batch_size, dense_layers=()):
    """Multiply-adds of one pass over ``n_samples`` rows (all batches full but the last), summed."""
    full, rest = divmod(n_samples, batch_size)
    total = {"sparse": 0, "dense": 0}
    for b, count in ((batch_size, full), (rest, 1 if rest else 0)):
        macs = step_macs(model, b, dense_layers)
        total = {k: total[k] + count * macs[k] for k in total}
    return total
