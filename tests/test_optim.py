"""Optimizer updates worked out by hand, state that follows the pattern, and float32 end to end."""
import numpy as np
import pytest

from minisparse import SGD, Adam, Grad, SparseMLP

from minisparse.network import topology
from minisparse.network.topology import from_positions
from minisparse.network.layer import SparseLinear


def one_weight_model(w=1.0, dtype=np.float64):
    W = from_positions([0], [0], [w], (1, 2)).astype(dtype)
    return SparseMLP([SparseLinear(W, np.zeros(2, dtype), "linear")])


def grad(g, db=(0.0, 0.0), G=None):
    return [Grad(np.array([g]), np.array(db), G)]


def test_sgd_momentum_by_hand():
    # η = 0.1, μ = 0.9, g = 2 then 2:  v1 = 2, w1 = 1 − 0.2 = 0.8;  v2 = 0.9·2 + 2 = 3.8, w2 = 0.8 − 0.38 = 0.42
    model = one_weight_model()
    opt = SGD(model, lr=0.1, momentum=0.9)
    opt.step(grad(2.0))
    assert np.isclose(model.layers[0].W.data[0], 0.8)
    opt.step(grad(2.0))
    assert np.isclose(model.layers[0].W.data[0], 0.42)


def test_sgd_nesterov_and_l2_by_hand():
    # λ = 0.5: g' = g + λw = 2 + 0.5 = 2.5; v1 = 2.5; Nesterov: w1 = 1 − 0.1·(2.5 + 0.9·2.5) = 0.525
    model = one_weight_model()
    SGD(model, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.5).step(grad(2.0))
    assert np.isclose(model.layers[0].W.data[0], 0.525)


def test_adam_first_step_is_lr_times_sign():
    # after one step m̂ = g, v̂ = g², so w1 = w0 − η·g/(|g| + ε) ≈ w0 − η·sign(g)
    model = one_weight_model()
    Adam(model, lr=0.01).step(grad(-3.0, db=(1.0, 0.0)))
    assert np.isclose(model.layers[0].W.data[0], 1.01)
    assert np.allclose(model.layers[0].b, [-0.01, 0.0])


def test_adam_two_steps_by_hand():
    model = one_weight_model()
    opt = Adam(model, lr=0.1, beta1=0.5, beta2=0.5, eps=1e-15)
    opt.step(grad(1.0))        # m = 0.5, v = 0.5; m̂ = 1, v̂ = 1 → w = 0.9
    opt.step(grad(3.0))        # m = 1.75, v = 4.75; m̂ = 1.75/0.75, v̂ = 4.75/0.75
    expected = 0.9 - 0.1 * (1.75 / 0.75) / np.sqrt(4.75 / 0.75)
    assert np.isclose(model.layers[0].W.data[0], expected)


def test_dense_momentum_accumulates_at_inactive_positions_and_gives_a_head_start():
    model = one_weight_model()
    opt = SGD(model, lr=0.1, momentum=0.9, dense_momentum=True)
    G = np.array([[2.0, 4.0]])                    # (0, 1) is inactive but has a gradient
    for _ in range(2):
        opt.step(grad(2.0, G=G))
    assert np.allclose(opt.V[0], [[3.8, 7.6]])    # v = 4 then 0.9·4 + 4 = 7.6 at the inactive position
    assert np.isclose(model.layers[0].W.data[0], 0.42)
    topology.grow(model, 0, [0], [1], 0.0, opt)   # grown at 0 ...
    opt.step([Grad(np.array([2.0, 1.0]), np.zeros(2), np.array([[2.0, 1.0]]))])
    # ... and it moves by −η(μ·7.6 + 1) = −0.784 on its first step: the accumulated head start
    assert np.isclose(model.layers[0].W.data[1], -0.1 * (0.9 * 7.6 + 1.0))


def test_dense_momentum_needs_the_dense_gradient():
    model = one_weight_model()
    with pytest.raises(ValueError, match="dense=True"):
        SGD(model, lr=0.1, dense_momentum=True).step(grad(1.0))


@pytest.mark.parametrize("kwargs", [dict(lr=0), dict(lr=0.1, momentum=1.0), dict(lr=0.1, weight_decay=-1)])
def test_bad_hyper_parameters(kwargs):
    with pytest.raises(ValueError, match="need lr > 0"):
        SGD(one_weight_model(), **kwargs)


@pytest.mark.parametrize("Opt", [SGD, Adam])
def test_float32_end_to_end(Opt):
    rng = np.random.default_rng(0)
    model = SparseMLP.random([20, 30, 5], density=0.3, rng=0, dtype=np.float32)
    opt = Opt(model, lr=0.01)
    X, y = rng.standard_normal((32, 20)).astype(np.float32), rng.integers(0, 5, 32)
    first = model.loss(X, y)
    for _ in range(30):
        _, grads = model.loss_and_grads(X, y)
        opt.step(grads)
    assert model.loss(X, y) < first
    for layer in model.layers:
        assert layer.W.dtype == np.float32 and layer.b.dtype == np.float32
    for arrays in opt.state_arrays().values():
        assert arrays.dtype in (np.float32, np.int64) or arrays.ndim == 0


def test_repr():
    model = one_weight_model()
    assert repr(SGD(model, lr=0.1)).startswith("SGD(lr=0.1, momentum=0.9")
    assert "nnz=1" in repr(model) and "SparseLinear(1 → 2" in repr(model.layers[0])


def two_layer_model():
    W0 = from_positions([0], [0], [1.0], (1, 1))
    W1 = from_positions([0], [0], [1.0], (1, 2))
    return SparseMLP([SparseLinear(W0, np.zeros(1), "linear"), SparseLinear(W1, np.zeros(2), "linear")])


def test_lr_scale_gives_each_layer_its_own_step():
    # η = 0.1, scales (1, 0.01), no momentum, g = 2 everywhere: w0 = 1 − 0.2, w1 = 1 − 0.002, b likewise
    model = two_layer_model()
    opt = SGD(model, lr=0.1, momentum=0.0, lr_scale=[1, 0.01])
    opt.step([Grad(np.array([2.0]), np.array([2.0]), None), Grad(np.array([2.0]), np.array([2.0, 2.0]), None)])
    assert np.isclose(model.layers[0].W.data[0], 0.8) and np.isclose(model.layers[0].b[0], -0.2)
    assert np.isclose(model.layers[1].W.data[0], 0.998) and np.allclose(model.layers[1].b, -0.002)
    assert opt.layer_lr(1) == pytest.approx(0.001) and "lr_scale=(1.0, 0.01)" in repr(opt)


@pytest.mark.parametrize("scale", [[1.0], [1.0, 0.0], [1.0, float("nan")], [1.0, -2.0]])
def test_bad_lr_scale(scale):
    with pytest.raises(ValueError, match="one finite multiplier > 0 per layer"):
        SGD(two_layer_model(), lr=0.1, lr_scale=scale)


def test_lr_scale_survives_save_and_load(tmp_path):
    from minisparse.network import serialize
    model = two_layer_model()
    serialize.save(tmp_path / "m.npz", model, SGD(model, lr=0.1, lr_scale=[1, 0.5]))
    _, opt = serialize.load(tmp_path / "m.npz")
    assert opt.hyper["lr_scale"] == (1.0, 0.5) and opt.layer_lr(1) == pytest.approx(0.05)
