"""Hand-written gradients against central differences, in float64, at active and inactive positions."""
import numpy as np
import pytest

from minisparse import SparseMLP

from minisparse.network import activations, losses, topology
from minisparse.network.layer import SparseLinear

from helpers import numeric_grad, rel_err, toy as _toy


def toy(seed=0, sizes=(6, 7, 5, 4), density=0.5, activation="relu", B=5):
    return _toy(seed, sizes, density, activation, B)

H = 1e-6


@pytest.mark.parametrize("name", ["relu", "tanh", "sigmoid", "linear"])
def test_activation_derivatives(name):
    f, f_prime = activations.get(name)
    Z = np.random.default_rng(1).standard_normal(50) * 3
    Z = Z[np.abs(Z) > 1e-3]                                # ReLU's kink has no derivative
    numeric = np.array([(f(z + H) - f(z - H)) / (2 * H) for z in Z])
    assert rel_err(f_prime(Z, f(Z)), numeric) < 1e-6


def test_cross_entropy_gradient():
    rng = np.random.default_rng(2)
    Z, y = rng.standard_normal((6, 5)), rng.integers(0, 5, 6)
    numeric = numeric_grad(lambda: losses.cross_entropy(Z, y), Z)
    assert rel_err(losses.cross_entropy_grad(Z, y), numeric) < 1e-6


def test_cross_entropy_by_hand():
    # logits (0, ln 3) → softmax (1/4, 3/4); label 1 → L = −ln(3/4); ∂L/∂Z = (1/4, 3/4 − 1)
    Z = np.array([[0.0, np.log(3.0)]])
    assert np.isclose(losses.cross_entropy(Z, np.array([1])), -np.log(0.75))
    assert np.allclose(losses.cross_entropy_grad(Z, np.array([1])), [[0.25, -0.25]])


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_single_layer_gradients(activation):
    rng = np.random.default_rng(4)
    W = topology.from_keys(np.sort(rng.choice(8 * 6, 20, replace=False)), rng.standard_normal(20), (8, 6))
    layer = SparseLinear(W, rng.standard_normal(6), activation)
    A_prev, R = rng.standard_normal((5, 8)), rng.standard_normal((5, 6))
    loss = lambda: float(np.sum(layer.forward(A_prev)[1] * R))    # L = Σ A ⊙ R, so dA = R
    Z, A = layer.forward(A_prev)
    dW, db, dA_prev, G = layer.backward(A_prev, Z, A, R, dense=True)
    assert rel_err(dW, numeric_grad(loss, layer.W.data)) < 1e-6
    assert rel_err(db, numeric_grad(loss, layer.b)) < 1e-6
    assert rel_err(dA_prev, numeric_grad(loss, A_prev)) < 1e-6
    assert np.allclose(G[layer.rows, layer.cols], dW)


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_three_layer_mlp_active_positions(activation):
    model, X, y = toy(activation=activation)
    _, grads = model.loss_and_grads(X, y)
    for layer, g in zip(model.layers, grads):
        assert rel_err(g.dW, numeric_grad(lambda: model.loss(X, y), layer.W.data)) < 1e-6
        assert rel_err(g.db, numeric_grad(lambda: model.loss(X, y), layer.b)) < 1e-6


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_dense_gradient_at_inactive_positions(activation):
    """G_ij for an inactive (i, j): insert (i, j) as an explicit zero and take central differences."""
    model, X, y = toy(seed=5, activation=activation)
    _, grads = model.loss_and_grads(X, y, dense=True)
    for l, layer in enumerate(model.layers):
        G = grads[l].G
        assert G.shape == layer.shape
        assert rel_err(G[layer.rows, layer.cols], grads[l].dW) < 1e-10
        inactive = np.argwhere(~topology.mask(layer.W))
        for i, j in inactive[:: max(1, len(inactive) // 6)]:
            topology.grow(model, l, [i], [j], 0.0)
            k = np.flatnonzero((layer.rows == i) & (layer.cols == j))[0]
            numeric = numeric_grad(lambda: model.loss(X, y), layer.W.data[k:k + 1])[0]
            assert abs(numeric - G[i, j]) <= 1e-6 * max(1e-3, abs(G[i, j]) + abs(numeric))
            topology.prune(model, l, np.arange(layer.nnz) != k)
        _, again = model.loss_and_grads(X, y, dense=True)
        assert np.allclose(again[l].G, G)                   # pattern restored, gradient unchanged


def test_float32_gradients_stay_float32_and_close():
    model, X, y = toy(seed=6)
    _, g64 = model.loss_and_grads(X, y)
    m32 = SparseMLP([type(layer)(layer.W.astype(np.float32), layer.b.astype(np.float32),
                                 layer.activation) for layer in model.layers])
    _, g32 = m32.loss_and_grads(X.astype(np.float32), y, dense=True)
    for a, b in zip(g64, g32):
        assert b.dW.dtype == np.float32 and b.db.dtype == np.float32 and b.G.dtype == np.float32
        assert np.allclose(a.dW, b.dW, atol=1e-5)


