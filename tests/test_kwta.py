"""k-WTA: winners and ties by hand, boosting and duty cycles by the authors' formula, gradients against
central differences, the active-unit products against the reference forms, costs, saving, training."""
import copy
import os
import tempfile

import numpy as np
import pytest
from helpers import numeric_grad, rel_err, small_teacher
from hypothesis import given
from hypothesis import strategies as st

from minisparse import SGD, SparseMLP, fit
from minisparse.network import cost, kernels, serialize
from minisparse.network.kernels import active_units as active
from minisparse.network.kernels import reference
from minisparse.network.kwta import (KWinners, boost_factors, duty_cycle_entropy, update_duty_cycles,
                                     use_kwinners, winners_mask)
from minisparse.network.topology import from_keys
from minisparse.network.train import train_step

# ---------------------------------------------------------------- winners, boosting, duty cycles by hand


def test_winners_and_the_tie_rule():
    Z = np.array([[3.0, 1.0, 3.0, 2.0],
                  [1.0, 1.0, 1.0, 1.0],       # all tied: the two lowest indices win
                  [0.5, 2.0, 2.0, 2.0],       # 2.0 tied three ways for two places: units 1, 2
                  [-1.0, -3.0, -2.0, -0.5]])  # winners may be negative (no ReLU)
    assert winners_mask(Z, 2).tolist() == [[True, False, True, False], [True, True, False, False],
                                           [False, True, True, False], [True, False, False, True]]
    assert winners_mask(Z, 0).sum() == 0 and winners_mask(Z, 4).all()
    assert (winners_mask(np.random.default_rng(0).integers(0, 3, (50, 9)).astype(float), 4).sum(1) == 4).all()
    with pytest.raises(ValueError, match="k must be"):
        winners_mask(Z, 5)


def test_boosting_chooses_the_winners_but_passes_the_unboosted_value():
    kw = KWinners(3, k=1, boost_strength=2.0, k_inference_factor=1.0)
    kw.duty_cycles = np.array([0.9, 0.0, 0.5])
    # b_j = exp(2·(1/3 − d_j)) = e^{−1.1333}, e^{0.6667}, e^{−0.3333} = 0.322, 1.948, 0.717
    assert np.allclose(boost_factors(kw.duty_cycles, 1 / 3, 2.0), np.exp(2 * (1 / 3 - kw.duty_cycles)))
    Z = np.array([[1.0, 0.4, 0.9]])           # boosted: 0.322, 0.779, 0.645 → unit 1 wins, unboosted 0.4
    assert kw(Z).tolist() == [[0.0, 0.4, 0.0]]
    kw.boost_strength = 0.0
    assert kw(Z).tolist() == [[1.0, 0.0, 0.0]]                                 # no boosting: the largest


def test_duty_cycles_follow_the_running_mean_then_the_exponential_average():
    # period 4, batches of 2 rows over 3 units. Batch 1 (t = 2, P = 2): d = (0·0 + [2, 1, 0]) / 2.
    fired = [np.array([[1, 1, 0], [1, 0, 0]], bool), np.array([[0, 1, 0], [0, 1, 1]], bool),
             np.array([[1, 0, 0], [1, 0, 0]], bool)]
    d, t = update_duty_cycles(np.zeros(3), fired[0], 0, 4)
    assert t == 2 and d.tolist() == [1.0, 0.5, 0.0]
    d, t = update_duty_cycles(d, fired[1], t, 4)            # t = 4, P = 4: (d·2 + [0, 2, 1]) / 4
    assert t == 4 and d.tolist() == [0.5, 0.75, 0.25]
    d, t = update_duty_cycles(d, fired[2], t, 4)            # t = 6, P = min(4, 6) = 4: (d·2 + [2, 0, 0]) / 4
    assert t == 6 and d.tolist() == [0.75, 0.375, 0.125]
    with pytest.raises(ValueError, match="larger than the duty-cycle period"):
        update_duty_cycles(d, np.ones((5, 3), bool), t, 4)


def test_training_passes_update_duty_cycles_from_positive_winners_and_inference_uses_more_winners():
    kw = KWinners(4, k=2, boost_strength=0.0, duty_cycle_period=10, k_inference_factor=1.5)
    Z = np.array([[3.0, -1.0, 2.0, -5.0], [-2.0, -1.0, -3.0, -4.0]])
    kw(Z)                                                   # inference: duty cycles untouched, k = 3
    assert kw.seen == 0 and (kw(Z) != 0).sum(1).tolist() == [3, 3]
    A = kw(Z, training=True)
    assert (A != 0).sum(1).tolist() == [2, 2]
    # row 0's winners 3, 2 are positive; row 1's winners −1, −2 are not: they do not count as firing
    assert kw.duty_cycles.tolist() == [0.5, 0.0, 0.5, 0.0] and kw.seen == 2
    kw.boost_strength = 1.5
    kw.end_epoch()
    assert kw.boost_strength == pytest.approx(1.5 * 0.85)


def test_entropy_of_duty_cycles():
    assert duty_cycle_entropy([0.0, 1.0, 0.5, 0.5]) == pytest.approx(2.0)
    assert duty_cycle_entropy([0.1] * 10) == pytest.approx(10 * (-0.1 * np.log2(0.1) - 0.9 * np.log2(0.9)))


# ---------------------------------------------------------------- gradients

def kwta_model(seed=0, sizes=(8, 12, 10, 4), boost=1.5, density=0.6):
    rng = np.random.default_rng(seed)
    model = SparseMLP.random(list(sizes), density=density, rng=seed)
    for layer in model.layers:
        layer.b[:] = rng.standard_normal(layer.b.size) * 0.1
    use_kwinners(model, k=4, boost_strength=boost, k_inference_factor=1.0)
    for layer in model.layers[:-1]:
        layer.f.duty_cycles = rng.uniform(0, 0.6, layer.f.n)       # a boost that changes the ranking
    return model, rng.standard_normal((6, sizes[0])), rng.integers(0, sizes[-1], 6)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("mode", ["dense", "active"])
def test_gradients_through_kwta_equal_central_differences(seed, mode):
    model, X, y = kwta_model(seed)
    for layer in model.layers:
        layer.input_kernels = mode
    # away from ties: no pre-activation within 1e-4 of a row's k-th boosted value
    _, cache = copy.deepcopy(model).forward(X, keep=True)
    for layer, (_, Z, _) in zip(model.layers[:-1], cache[:-1]):
        s = np.sort(Z * boost_factors(layer.f.duty_cycles, layer.f.target_density, layer.f.boost_strength), 1)
        assert np.all(np.abs(s[:, -4] - s[:, -5]) > 1e-4), "a near-tie: pick another seed"
    _, grads = copy.deepcopy(model).loss_and_grads(X, y)          # a copy: its duty-cycle update stays there
    for layer, g in zip(model.layers, grads):
        assert rel_err(g.dW, numeric_grad(lambda: model.loss(X, y), layer.W.data)) < 1e-6
        assert rel_err(g.db, numeric_grad(lambda: model.loss(X, y), layer.b)) < 1e-6


# ---------------------------------------------------------------- the active-unit products

def k_active(rng, B, n, k, dtype):
    A = np.zeros((B, n), dtype=dtype)
    for b in range(B):
        kb = int(rng.integers(0, k + 1))                   # rows with fewer winners, empty rows too
        A[b, rng.choice(n, kb, replace=False)] = rng.standard_normal(kb)
    return A


@given(seed=st.integers(0, 10_000), B=st.integers(1, 12), n_in=st.integers(1, 25), n_out=st.integers(1, 25),
       density=st.floats(0.0, 1.0), k=st.integers(0, 6), f32=st.booleans(), chunk=st.sampled_from([1, 7, 1 << 18]),
       scatter=st.sampled_from([0.0, 1e9]))
def test_active_products_equal_the_reference_forms(seed, B, n_in, n_out, density, k, f32, chunk, scatter):
    rng = np.random.default_rng(seed)
    dtype = np.float32 if f32 else np.float64
    nnz = int(round(density * n_in * n_out))
    W = from_keys(np.sort(rng.choice(n_in * n_out, nnz, replace=False)), rng.standard_normal(nnz).astype(dtype),
                  (n_in, n_out))
    A = k_active(rng, B, n_in, min(k, n_in), dtype)
    dZ = rng.standard_normal((B, n_out)).astype(dtype)
    rows = np.repeat(np.arange(n_in), np.diff(W.indptr))
    old, old_ratio = active.CHUNK, active.SCATTER_RATIO
    active.CHUNK, active.SCATTER_RATIO = chunk, scatter      # both sampled forms, any chunking
    try:
        Ac = active.active_rows(A)
        tol = dict(rtol=1e-4, atol=1e-4) if f32 else dict(rtol=1e-12, atol=1e-12)
        assert np.allclose(active.forward_product(W, Ac), reference.forward_product(W, A), **tol)
        assert np.allclose(active.sampled_product(W, Ac, dZ, rows), reference.sampled_product(W, A, dZ), **tol)
        masked = reference.input_gradient_product(W, dZ) * (A != 0)
        assert np.allclose(active.input_gradient_product(W, Ac, dZ), masked, **tol)
        assert active.forward_product(W, Ac).dtype == dtype and active.sampled_product(W, Ac, dZ, rows).dtype == dtype
    finally:
        active.CHUNK, active.SCATTER_RATIO = old, old_ratio


def test_the_switch_uses_active_forms_below_the_crossover_and_reference_under_the_switch(monkeypatch):
    model, X, y = kwta_model(0, sizes=(8, 100, 60, 4), boost=0.0)
    assert model.layers[1].input_fraction == 0.04 and model.layers[2].input_fraction == 4 / 60
    assert kernels.uses_active(model.layers[1]) and not kernels.uses_active(model.layers[2])
    assert not kernels.uses_active(model.layers[0])
    calls = []
    monkeypatch.setattr(active, "forward_product", lambda W, A: calls.append("active") or reference.forward_product(W, A.toarray()))
    model.forward(X)
    assert calls == ["active"]
    with kernels.reference_kernels():
        model.forward(X)
    assert calls == ["active"]
    model.layers[1].input_kernels = "sideways"
    with pytest.raises(ValueError, match="input_kernels"):
        model.forward(X)


# ---------------------------------------------------------------- cost, saving, training

def test_cost_counts_the_active_inputs():
    model, X, y = kwta_model(0, sizes=(8, 20, 10, 4), boost=0.0)
    per_layer = [layer.nnz for layer in model.layers]
    expected = 5 * per_layer[0] * 2 + round(5 * per_layer[1] * 4 / 20) * 3 + round(5 * per_layer[2] * 4 / 10) * 3
    assert cost.step_macs(model, 5)["sparse"] == expected
    _, cache = model.forward(X, keep=True)
    A1 = cache[1][0]                                          # layer 1's input: 4 winners per row
    row_nnz = np.diff(model.layers[1].W.indptr)
    assert cost.active_macs(model.layers[1].W, A1) == sum(row_nnz[np.flatnonzero(a)].sum() for a in A1)
    assert cost.active_macs(model.layers[1].W, np.ones((3, 20))) == 3 * model.layers[1].nnz


def test_save_and_load_keep_the_kwta_state():
    model, X, y = kwta_model(1)
    model.loss_and_grads(X, y)
    model.end_epoch()
    path = serialize.save(os.path.join(tempfile.mkdtemp(), "kw"), model)
    back, _ = serialize.load(path)
    for a, b in zip(model.layers[:-1], back.layers[:-1]):
        assert b.activation == "kwta" and np.array_equal(a.f.duty_cycles, b.f.duty_cycles)
        assert a.f.state() == b.f.state()
    assert [layer.input_fraction for layer in back.layers] == [layer.input_fraction for layer in model.layers]
    assert np.array_equal(back.forward(X), model.forward(X))


def test_use_kwinners_refuses_the_output_layer_and_bad_k():
    model = SparseMLP.random([8, 12, 4], density=0.5, rng=0)
    with pytest.raises(ValueError, match="not a hidden layer"):
        use_kwinners(model, layers=[1], k=2)
    with pytest.raises(ValueError, match="exactly one of k"):
        use_kwinners(model)
    with pytest.raises(ValueError, match="k must be an integer"):
        use_kwinners(model, k=13)


@pytest.mark.parametrize("method", ["static", "set", "rigl"])
def test_kwta_trains_with_static_set_and_rigl(method):
    from minisparse.sparse_training.rigl import train_rigl
    from minisparse.sparse_training.set_training import train_set
    data = small_teacher()
    model = SparseMLP.random([20, 40, 30, 4], density=0.3, topology="erk", rng=0)
    use_kwinners(model, percent_on=0.2, boost_strength=1.5, duty_cycle_period=200)
    if method == "static":
        history = fit(model, SGD(model, lr=0.05, momentum=0.9), data, 4, verbose=False)
    elif method == "set":
        history, _ = train_set(model, data, 4, lr=0.05, verbose=False)
    else:
        history, _ = train_rigl(model, data, 4, delta_t=3, lr=0.05, verbose=False)
    assert history["loss"][-1] < history["loss"][0] and history["val_acc"][-1] > 0.4
    for layer in model.layers[:-1]:
        assert layer.f.seen == 4 * len(data.y_train)
        assert layer.f.boost_strength == pytest.approx(1.5 * 0.85 ** 4)
        assert abs(layer.f.duty_cycles.mean() - layer.f.target_density) < 0.1
    assert model.layers[1].input_fraction == 8 / 40


def test_a_training_step_with_active_kernels_matches_the_dense_input_kernels():
    model, X, y = kwta_model(3, sizes=(8, 100, 60, 4), boost=1.0)
    twin = copy.deepcopy(model)
    for layer in twin.layers:
        layer.input_kernels = "dense"
    for m in (model, twin):
        for layer in m.layers:
            layer.input_kernels = "active" if m is model else "dense"
        train_step(m, SGD(m, lr=0.1, momentum=0.9), X, y)
    for a, b in zip(model.layers, twin.layers):
        assert np.allclose(a.W.data, b.W.data, rtol=1e-12, atol=1e-14) and np.allclose(a.b, b.b)
