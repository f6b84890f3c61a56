"""DEEP R: fixed signs, the Langevin step term by term, the exact active count, SGD as the T = 0, α = 0
case, and the invariants as properties."""
import copy
import math

import numpy as np
import pytest
from helpers import small_teacher
from hypothesis import given
from hypothesis import strategies as st

from minisparse import SGD, SparseMLP
from minisparse.network.topology import entry_keys, from_keys, is_canonical
from minisparse.sparse_training.deep_r import (
    EPSILON,
    GDNOISE,
    check_signs,
    connection_signs,
    deep_r_step,
    deep_r_update,
    signed_init,
    temperature_for,
    train_deep_r,
)


def batch(n_in=6, n_classes=3, n=16, seed=0):
    r = np.random.default_rng(seed)
    return r.standard_normal((n, n_in)), r.integers(0, n_classes, n)


def signed_model(seed=0, sizes=(6, 8, 3), density=0.4):
    model = SparseMLP.random(list(sizes), density=density, rng=seed)
    signed_init(model, seed)
    return model


# ---------------------------------------------------------------- signs

def test_signs_are_fixed_fair_and_differ_by_layer_and_seed():
    keys = np.arange(200_000)
    s = connection_signs(keys, 0, 5)
    assert set(np.unique(s)) == {-1.0, 1.0} and abs(s.mean()) < 0.01          # 4.5σ of a fair ±1 mean
    assert np.array_equal(s, connection_signs(keys, 0, 5))                     # fixed
    assert np.array_equal(s[[7, 3, 7]], connection_signs([7, 3, 7], 0, 5))      # a function of the key alone
    assert 0.45 < np.mean(s != connection_signs(keys, 1, 5)) < 0.55            # another layer: independent
    assert 0.45 < np.mean(s != connection_signs(keys, 0, 6)) < 0.55            # another seed: independent
    with pytest.raises(ValueError, match="≥ 0"):
        connection_signs([-1], 0, 0)


def test_signed_init_keeps_magnitudes_and_sets_every_sign():
    model = SparseMLP.random([6, 8, 3], density=0.4, rng=0)
    model.layers[0].W.data[0] = 0.0                                            # a stored zero becomes ε
    mags = [np.abs(layer.W.data).copy() for layer in model.layers]
    signed_init(model, 11)
    assert check_signs(model, 11) and not check_signs(model, 12)
    assert np.abs(model.layers[0].W.data[0]) == EPSILON
    assert all(np.array_equal(np.abs(layer.W.data[1:]), m[1:]) for layer, m in zip(model.layers, mags))


# ---------------------------------------------------------------- the step, term by term

def test_without_noise_and_l1_a_step_is_sgd_on_the_active_weights():
    X, y = batch()
    model = signed_model(1)
    plain = copy.deepcopy(model)
    opt, opt_plain = SGD(model, lr=1e-4, momentum=0.0), SGD(plain, lr=1e-4, momentum=0.0)
    _, up = deep_r_step(model, opt, X, y, l1=0.0, temperature=0.0, rng=0, sign_seed=1)
    _, grads = plain.loss_and_grads(X, y)
    opt_plain.step(grads)
    assert all(d.size == 0 for d in up.dropped)                               # a small step: nobody dies
    for a, b in zip(model.layers, plain.layers):
        assert np.array_equal(a.W.toarray(), b.W.toarray()) and np.array_equal(a.b, b.b)


def test_a_weight_crossing_zero_dies_and_one_random_dormant_position_replaces_it():
    # Layer 0 (2 × 2) holds keys 0 and 3; key 0 sits at θ = 1e-3 with its own sign. L1 alone
    # (T = 0) takes η·α = 0.1 · 0.02 = 2e-3 off every θ: key 0 → −1e-3 dies, key 3 (θ = 0.5) → 0.498.
    model = SparseMLP.random([2, 2, 2], density=0.5, rng=0)
    s = connection_signs(np.arange(4), 0, 9)
    model.layers[0].W = from_keys([0, 3], [s[0] * 1e-3, s[3] * 0.5], (2, 2))
    signed_init(model, 9)
    opt = SGD(model, lr=0.1, momentum=0.0)
    others = [layer.W.copy() for layer in model.layers[1:]]
    up = deep_r_update(model, opt, l1=0.02, temperature=0.0, rng=0, sign_seed=9)
    W = model.layers[0].W
    assert up.dropped[0].tolist() == [0] and up.grown[0].size == 1 and W.nnz == 2
    assert up.grown[0][0] in (0, 1, 2)                        # any dormant one, the just-dead included
    new = up.grown[0][0]
    assert W.toarray().ravel()[new] == s[new] * EPSILON       # revived at θ = ε with its fixed sign
    assert W.toarray().ravel()[3] == pytest.approx(s[3] * 0.498, abs=1e-15)
    # layer 1 lost η·α on every θ too; none reached 0 (its weights are far larger than 2e-3)
    for before, layer, l in zip(others, model.layers[1:], (1,)):
        theta_before = connection_signs(entry_keys(before), l, 9) * before.data
        assert np.allclose(connection_signs(entry_keys(layer.W), l, 9) * layer.W.data, theta_before - 2e-3)


def test_the_noise_has_std_sqrt_2_eta_t_and_the_code_default_is_eta_gdnoise():
    model = SparseMLP.random([200, 300, 2], density=0.5, rng=0)
    signed_init(model, 0)
    for layer in model.layers:
        layer.W.data[:] = np.sign(layer.W.data) * 1.0                          # θ = 1: nobody dies
    opt = SGD(model, lr=0.02, momentum=0.0)
    theta0 = connection_signs(entry_keys(model.layers[0].W), 0, 0) * model.layers[0].W.data
    deep_r_update(model, opt, l1=0.0, temperature=0.5, rng=0, sign_seed=0)
    delta = connection_signs(entry_keys(model.layers[0].W), 0, 0) * model.layers[0].W.data - theta0
    n = delta.size                                                             # 30,000 draws
    assert delta.std() == pytest.approx(math.sqrt(2 * 0.02 * 0.5), rel=5 / math.sqrt(n))
    assert abs(delta.mean()) < 5 * math.sqrt(2 * 0.02 * 0.5 / n)
    assert temperature_for(0.5) == pytest.approx(0.5 * GDNOISE ** 2 / 2)      # noise std η·GDNOISE
    assert math.sqrt(2 * 0.5 * temperature_for(0.5)) == pytest.approx(0.5 * GDNOISE)
    with pytest.raises(ValueError, match="temperature"):
        temperature_for(0.5, -1.0)


# ---------------------------------------------------------------- invariants, as properties

@given(seed=st.integers(0, 10_000), T=st.sampled_from([0.0, 1e-6, 1e-3]), l1=st.sampled_from([0.0, 1e-3, 0.05]))
def test_count_sign_and_canonical_form_hold_at_every_step(seed, T, l1):
    X, y = batch(seed=seed)
    model = signed_model(seed)
    counts = [layer.nnz for layer in model.layers]
    opt = SGD(model, lr=0.5, momentum=0.5)
    seen = {}                                                 # (layer, key) → the sign it was ever seen with
    for _ in range(4):
        _, up = deep_r_step(model, opt, X, y, l1, T, seed, seed)
        assert [layer.nnz for layer in model.layers] == counts
        assert check_signs(model, seed)
        for l, layer in enumerate(model.layers):
            assert is_canonical(layer.W)
            for k, w in zip(entry_keys(layer.W).tolist(), np.sign(layer.W.data).tolist()):
                assert seen.setdefault((l, k), w) == w
            assert up.dropped[l].size == up.grown[l].size


def test_training_same_seed_same_run_logs_per_epoch_and_learns():
    data = small_teacher()
    runs = []
    for _ in range(2):
        model = SparseMLP.random([20, 24, 16, 4], density=0.2, topology="erk", rng=0)
        counts = [layer.nnz for layer in model.layers]
        history, log = train_deep_r(model, data, epochs=4, lr=0.1, batch_size=20, rng=3, verbose=False)
        runs.append((model, history, log))
        assert [layer.nnz for layer in model.layers] == counts
    (m1, h1, l1), (m2, h2, l2) = runs
    assert np.array_equal(h1["loss"], h2["loss"]) and l1["rewired"] == l2["rewired"]
    assert all(np.array_equal(a.W.toarray(), b.W.toarray()) for a, b in zip(m1.layers, m2.layers))
    assert l1["epoch"] == [1, 2, 3, 4] and l1["lr"] == pytest.approx([0.1, 0.08, 0.064, 0.0512])
    assert h1["loss"][-1] < h1["loss"][0] and sum(map(sum, l1["rewired"])) > 0
    assert check_signs(m1, 3)
    with pytest.raises(ValueError, match="lr_decay"):
        train_deep_r(m1, data, epochs=1, lr_decay=0.0, verbose=False)
