"""Multiply-adds of a training step, split into sparse work (∝ nnz) and dense work (∝ n_in·n_out).

A step of a layer with nnz stored weights on a batch of B rows costs B·nnz multiply-adds for the
forward product, B·nnz for the weight gradient (the sampled product) and B·nnz for the input
gradient (skipped for the first layer, whose input needs none). A dense gradient G = A_prevᵀ dZ
(growth methods) costs B·n_in·n_out more, whatever the density. Element-wise work (activations,
biases, the optimizer) is O(B·width + nnz) and left out.
"""


def layer_step_macs(nnz, batch_size, first=False):
    """B·nnz (forward) + B·nnz (dW) + B·nnz (dA_prev, except for the first layer)."""
    return batch_size * nnz * (2 if first else 3)


def step_macs(model, batch_size, dense_layers=()):
    """{'sparse': …, 'dense': …} multiply-adds of one training step of ``model`` on ``batch_size`` rows.

    ``dense_layers``: the layers whose dense gradient the step also computes.
    """
    sparse = sum(layer_step_macs(layer.nnz, batch_size, first=l == 0) for l, layer in enumerate(model.layers))
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
