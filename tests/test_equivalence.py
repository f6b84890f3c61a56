"""The CSR model and a dense W ⊙ M model with the same weights agree: loss, gradients, 20 SGD steps."""
import numpy as np
import pytest

from minisparse import SGD, SparseMLP, train_step
from minisparse.network.masked import MaskedMLP


def setup(seed=0, activation="relu"):
    rng = np.random.default_rng(seed)
    model = SparseMLP.random([30, 40, 25, 6], density=0.2, activation=activation, rng=rng)
    X, y = rng.standard_normal((64, 30)), rng.integers(0, 6, 64)
    return model, MaskedMLP.from_sparse(model), X, y


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_same_loss_and_gradients(activation):
    model, dense, X, y = setup(1, activation)
    loss, grads = model.loss_and_grads(X, y)
    dloss, dgrads = dense.loss_and_grads(X, y)
    assert abs(loss - dloss) < 1e-12
    for layer, g, (dW, db) in zip(model.layers, grads, dgrads):
        assert np.allclose(g.dW, dW[layer.rows, layer.cols], rtol=0, atol=1e-12)
        assert np.all(dW[~np.isin(np.arange(dW.size), layer.rows * dW.shape[1] + layer.cols)
                         .reshape(dW.shape)] == 0)
        assert np.allclose(g.db, db, rtol=0, atol=1e-12)


@pytest.mark.parametrize("nesterov,weight_decay", [(False, 0.0), (True, 0.0), (False, 5e-4), (True, 1e-3)])
@pytest.mark.parametrize("dense_momentum", [False, True])
def test_twenty_sgd_momentum_steps_same_weights(nesterov, weight_decay, dense_momentum):
    model, dense, X, y = setup(2)
    opt = SGD(model, lr=0.1, momentum=0.9, nesterov=nesterov, weight_decay=weight_decay,
              dense_momentum=dense_momentum)
    rng = np.random.default_rng(3)
    for _ in range(20):
        idx = rng.choice(len(y), 16, replace=False)
        train_step(model, opt, X[idx], y[idx], dense=dense_momentum)
        _, grads = dense.loss_and_grads(X[idx], y[idx])
        dense.sgd_step(grads, lr=0.1, momentum=0.9, nesterov=nesterov, weight_decay=weight_decay)
    moved = 0.0
    for layer, W, b, W0 in zip(model.layers, dense.Ws, dense.bs, setup(2)[0].layers):
        assert np.max(np.abs(layer.W.toarray() - W)) < 1e-10
        assert np.max(np.abs(layer.b - b)) < 1e-10
        moved += np.abs(layer.W.data - W0.W.data).sum()
    assert moved > 1.0                      # the weights did move: the comparison is not vacuous
