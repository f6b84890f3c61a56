"""RigL: a hand-worked update, the update against a dense-mask oracle (hypothesis), the schedule of a
run (when, how much, the skipped optimizer step, the dense gradient only at updates), end to end."""
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

from minisparse import SGD, SparseMLP

from minisparse.network import optim
from minisparse.data.datasets import Split, make_teacher_data
from minisparse.network.layer import SparseLinear
from minisparse.sparse_training.rigl import (cosine_decay_float32, drop_count, rigl_step, rigl_steps, rigl_update,
                                            train_rigl)
from minisparse.sparse_training.schedules import cosine_decay
from minisparse.network.topology import entry_keys, from_keys, is_canonical, mask
from minisparse.network.train import train_step


# ---------------------------------------------------------------- the hand-worked update

def hand_model():
    """One linear layer 3 → 2 (keys i·2 + j), active at
        (0,0) = 0.5   key 0        (0,1) = 0.3    key 1
        (1,0) = -0.5  key 2        (2,1) = -0.15  key 5        inactive: keys 3 = (1,1), 4 = (2,0)
    on the batch x = [1, 1, 2], y = 0:  Z = [1·0.5 + 1·(-0.5), 1·0.3 + 2·(-0.15)] + b = [0, 0]
    → p = [½, ½], dZ = p − onehot(0) = [-½, ½], G = xᵀ dZ = [[-½, ½], [-½, ½], [-1, 1]]."""
    W = from_keys([0, 1, 2, 5], [0.5, 0.3, -0.5, -0.15], (3, 2))
    model = SparseMLP([SparseLinear(W, np.zeros(2), "linear")])
    opt = SGD(model, lr=0.1, momentum=0.9)
    opt.v_W[0] = np.array([1.0, 2.0, 3.0, 4.0])            # velocities at keys 0, 1, 2, 5
    return model, opt, np.array([[1.0, 1.0, 2.0]]), np.array([0])


def test_hand_update_drops_smallest_w_and_grows_largest_g():
    model, opt, X, y = hand_model()
    G = model.loss_and_grads(X, y, dense=True)[1][0].G
    np.testing.assert_allclose(G, [[-0.5, 0.5], [-0.5, 0.5], [-1.0, 1.0]])
    up = rigl_update(model, X, y, drop_fraction=0.5, optimizer=opt)
    # k = ⌊0.5 · 4⌋ = 2; the smallest |w| are 0.15 (key 5) and 0.3 (key 1)
    assert up.dropped[0].tolist() == [1, 5]
    # inactive after the drop: keys 1, 3, 4, 5 with |G| = ½, ½, 1, 1 → grow keys 4 and 5
    assert up.grown[0].tolist() == [4, 5]
    W = model.layers[0].W
    assert entry_keys(W).tolist() == [0, 2, 4, 5] and is_canonical(W) and W.nnz == 4
    # survivors keep value and velocity; grown (4, and the just-dropped 5) start at 0 with v = 0
    np.testing.assert_array_equal(W.data, [0.5, -0.5, 0.0, 0.0])
    np.testing.assert_array_equal(opt.v_W[0], [1.0, 3.0, 0.0, 0.0])
    assert up.loss == pytest.approx(math.log(2))


def test_just_dropped_position_with_large_gradient_is_regrown_at_zero():
    model, opt, X, y = hand_model()
    up = rigl_update(model, X, y, 0.5, opt)
    regrown = np.intersect1d(up.dropped[0], up.grown[0])
    assert regrown.tolist() == [5]                          # (2, 1): |w| = 0.15 smallest, |G| = 1 largest
    W = model.layers[0].W
    k = np.searchsorted(entry_keys(W), 5)
    assert W.data[k] == 0.0 and opt.v_W[0][k] == 0.0


def test_reference_rule_keeps_a_regrown_connection_as_it_was():
    # google-research/rigl: "new" = grown and inactive before the update, so key 5 keeps -0.15, v = 4
    model, opt, X, y = hand_model()
    rigl_update(model, X, y, 0.5, opt, reset_regrown=False)
    np.testing.assert_array_equal(model.layers[0].W.data, [0.5, -0.5, 0.0, -0.15])
    np.testing.assert_array_equal(opt.v_W[0], [1.0, 3.0, 0.0, 4.0])


def test_drop_count_is_the_floor_as_in_the_reference():
    assert drop_count(5, 0.3) == 1                           # 1.5 → 1 (round would give 2)
    assert drop_count(7, 0.3) == 2 and drop_count(3, 0.3) == 0
    assert drop_count(100, 0.29) == 29                       # 28.999… by float error, still 29
    assert drop_count(10, 1.0) == 10 and drop_count(10, 0.0) == 0


def test_float32_count_is_the_reference_cast():
    """int(float32(nnz)·float32(f)). float32(0.15) = 0.150000006 lies above 0.15, so 20·it still
    gives 3; the float32 just below 0.15 (0.149999991, the reference's f at mid-course) gives
    2.9999998 → 2, where the default, from the float64 f = 0.15, gives 3. float32(0.29)·100 rounds
    to 29.0 in float32: 29 both ways."""
    below = np.nextafter(np.float32(0.15), np.float32(0))
    assert float(below) == pytest.approx(0.149999991059, abs=1e-12)
    assert drop_count(20, 0.15, dtype=np.float32) == 3 and drop_count(20, 0.15) == 3
    assert drop_count(20, below, dtype=np.float32) == 2
    assert drop_count(100, 0.29, dtype=np.float32) == 29 and drop_count(7, 0.3, dtype="float32") == 2
    for bad in (np.float64, "int", "bogus", 32):
        with pytest.raises(ValueError, match="dtype must be None"):
            drop_count(20, 0.15, dtype=bad)


def test_float32_schedule_falls_just_under_alpha_over_2_at_mid_course():
    """In float32, π rounds up (by 8.7e-8), so cos(π·½) = −4.4e-8, not 0: 1 + cos rounds to the
    float32 just under 1 and f(T_end/2) to the float32 just under 0.15; f(2T_end/3) just under 0.075."""
    pi32 = float(np.float32(math.pi))
    assert pi32 - math.pi == pytest.approx(8.742e-8, rel=1e-3)
    assert np.cos(np.float32(pi32) * np.float32(0.5)) == pytest.approx(-(pi32 - math.pi) / 2, rel=1e-3)
    assert cosine_decay_float32(15000, 0.3, 30000) == np.nextafter(np.float32(0.15), np.float32(0))
    assert cosine_decay_float32(20000, 0.3, 30000) == np.nextafter(np.float32(0.075), np.float32(0))
    assert cosine_decay_float32(0, 0.3, 30000) == np.float32(0.3)
    assert cosine_decay_float32(40000, 0.3, 30000) == 0.0                 # clipped at T_end


def test_drop_count_docstring_numbers():
    """ΔT = 100, α = 0.3, T_end = 30,000, nnz = 1…1,000: the float32 k (int(float32(nnz)·f32) of the
    float32 schedule, restated here) is one lower in 76 pairs, never higher: 50 at t = 15,000 (nnz
    divisible by 20), 25 at t = 20,000 (divisible by 40), 1 elsewhere."""
    n = np.arange(1, 1001)
    lower = {}
    for t in range(100, 30000, 100):
        default = np.floor(cosine_decay(t, 0.3, 30000) * n + 1e-9).astype(int)
        ref = (n.astype(np.float32) * cosine_decay_float32(t, 0.3, 30000)).astype(int)
        assert np.all(ref <= default) and np.all(default - ref <= 1)
        if np.any(ref < default):
            lower[t] = n[ref < default]
    assert sum(v.size for v in lower.values()) == 76
    assert np.array_equal(lower[15000], np.arange(20, 1001, 20))
    assert np.array_equal(lower[20000], np.arange(40, 1001, 40))
    assert set(lower) - {15000, 20000} and sum(lower[t].size for t in set(lower) - {15000, 20000}) == 1
    t, (nnz,) = next((t, v) for t, v in lower.items() if t not in (15000, 20000))
    f64, f32 = cosine_decay(t, 0.3, 30000), cosine_decay_float32(t, 0.3, 30000)
    assert drop_count(int(nnz), f32, np.float32) == drop_count(int(nnz), f64) - 1
    assert drop_count.__doc__.count("76 of the 299,000") == 1


def test_rigl_step_with_float32_counts_drops_one_less_at_mid_course():
    """One layer with 20 weights, T_end = 200, ΔT = 100: at step 100, f = α/2 = 0.15; the default
    drops ⌊0.15·20⌋ = 3, the reference's float32 arithmetic 2."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((8, 5)), rng.integers(0, 4, 8)
    for count_dtype, k in ((None, 3), (np.float32, 2)):
        model = SparseMLP.random([5, 4], density=1.0, rng=0)
        assert model.nnz == 20
        _, up = rigl_step(model, SGD(model, lr=0.1), X, y, 100, 100, 200, 0.3, count_dtype=count_dtype)
        assert up.dropped[0].size == k and up.grown[0].size == k and model.nnz == 20
    with pytest.raises(ValueError, match="count_dtype must be None"):
        rigl_update(SparseMLP.random([5, 4], density=1.0, rng=0), X, y, 0.15, count_dtype=np.float16)
    model = small_model()
    W0 = model.layers[0].W.copy()
    with pytest.raises(ValueError, match="count_dtype must be None"):
        train_rigl(model, teacher_split(), 2, delta_t=1, count_dtype="float64", verbose=False)
    assert (model.layers[0].W != W0).nnz == 0                  # refused before any training


# ---------------------------------------------------------------- against a dense-mask oracle

def oracle(model, X, y, f):
    """Per layer (drop keys, grow keys) by dense masks: the k = ⌊f·nnz⌋ smallest |w| (stable), then
    the k largest |G| (pre-drop G, ties to the lowest position) where the post-drop mask is False."""
    grads = model.loss_and_grads(X, y, dense=True)[1]
    out = []
    for layer, g in zip(model.layers, grads):
        W, k = layer.W, int(math.floor(f * layer.nnz + 1e-9))
        drop = np.sort(entry_keys(W)[np.argsort(np.abs(W.data), kind="stable")[:k]])
        M = mask(W).ravel()
        M[drop] = False
        s = np.where(M, -np.inf, np.abs(g.G).ravel())
        out.append((drop, np.sort(np.argsort(-s, kind="stable")[:k])))
    return out


@given(seed=st.integers(0, 10_000), n0=st.integers(2, 8), n1=st.integers(2, 8), n2=st.integers(2, 4),
       density=st.floats(0.2, 1.0), f=st.floats(0.0, 1.0), B=st.integers(1, 6))
def test_update_matches_the_oracle_and_keeps_the_invariants(seed, n0, n1, n2, density, f, B):
    rng = np.random.default_rng(seed)
    model = SparseMLP.random([n0, n1, n2], density=density, rng=seed)
    X, y = rng.standard_normal((B, n0)), rng.integers(0, n2, B)
    opt = SGD(model, lr=0.1, momentum=0.9)
    train_step(model, opt, X, y)                             # non-zero velocities
    expected = oracle(model, X, y, f)
    old = [(entry_keys(L.W), L.W.data.copy(), opt.v_W[l].copy()) for l, L in enumerate(model.layers)]
    b_old = [L.b.copy() for L in model.layers]
    up = rigl_update(model, X, y, f, opt)
    for l, layer in enumerate(model.layers):
        keys0, w0, v0 = old[l]
        drop, grow = expected[l]
        assert up.dropped[l].tolist() == drop.tolist() and up.grown[l].tolist() == grow.tolist()
        W, keys = layer.W, entry_keys(layer.W)
        assert W.nnz == keys0.size and is_canonical(W) and opt.v_W[l].shape == (W.nnz,)
        assert keys.tolist() == np.union1d(np.setdiff1d(keys0, drop), grow).tolist()
        new = np.isin(keys, grow)
        assert np.all(W.data[new] == 0) and np.all(opt.v_W[l][new] == 0)
        kept = np.isin(keys0, keys) & ~np.isin(keys0, grow)  # survivors: value and velocity untouched
        np.testing.assert_array_equal(W.data[~new], w0[kept])
        np.testing.assert_array_equal(opt.v_W[l][~new], v0[kept])
        np.testing.assert_array_equal(layer.b, b_old[l])


# ---------------------------------------------------------------- the schedule of a run

def teacher_split(n=400, rng=0):
    X, y = make_teacher_data(n=n, n_features=16, n_classes=4, n_hidden=16, rng=rng)
    return Split(X, y, X[:0], y[:0], X[:0], y[:0])


def small_model(rng=0):
    return SparseMLP.random([16, 32, 4], density=0.3, topology="erk", rng=rng)


def test_updates_only_on_schedule_and_never_at_or_after_t_end(monkeypatch):
    data = teacher_split(n=400)                              # 4 batches of 100 per epoch, 10 epochs
    total, t_end = rigl_steps(400, 100, 10, t_end_frac=0.5)
    assert (total, t_end) == (40, 20)
    optimizer_steps = []
    step = optim.SGD.step
    monkeypatch.setattr(optim.SGD, "step", lambda self, g: (optimizer_steps.append(1), step(self, g)))
    history, log = train_rigl(small_model(), data, 10, delta_t=5, t_end_frac=0.5, verbose=False)
    assert log["step"] == [5, 10, 15]                        # not 20 = T_end, nothing after
    assert history["updates"].tolist() == [0, 1, 2, 3, 3, 3, 3, 3, 3, 3]   # steps 1–4 are epoch 1
    assert len(optimizer_steps) == total - 3                 # the optimizer step is skipped 3 times


def test_dense_gradient_only_at_update_steps():
    model, calls = small_model(), []
    original = model.loss_and_grads
    model.loss_and_grads = lambda X, y, dense=False: (calls.append(dense), original(X, y, dense))[1]
    history, log = train_rigl(model, teacher_split(), 5, delta_t=3, verbose=False)
    assert log["step"] == [3, 6, 9, 12]                     # 20 steps, T_end = 15
    assert len(calls) == 20 and sum(d is True for d in calls) == 4
    assert not any(calls[s - 1] for s in range(1, 21) if s not in log["step"])
    assert log["macs_dense"] == [100 * (16 * 32 + 32 * 4)] * 4     # B·Σ n_in·n_out


def test_optimizer_step_is_skipped_on_an_update_step():
    data = teacher_split()
    model = small_model()
    opt = SGD(model, lr=0.1, momentum=0.9)
    for s in range(1, 5):                                    # velocities and biases away from 0
        rigl_step(model, opt, data.X_train[:50], data.y_train[:50], s, 5, 100, 0.3)
    before = [(entry_keys(L.W), L.W.data.copy(), L.b.copy()) for L in model.layers]
    t = opt.t
    _, up = rigl_step(model, opt, data.X_train[50:100], data.y_train[50:100], 5, 5, 100, 0.3)
    assert up is not None and opt.t == t
    for (keys0, w0, b0), L, grown in zip(before, model.layers, up.grown):
        keys = entry_keys(L.W)
        kept = np.isin(keys, keys0) & ~np.isin(keys, grown)
        np.testing.assert_array_equal(L.W.data[kept], w0[np.isin(keys0, keys[kept])])
        np.testing.assert_array_equal(L.b, b0)
    w = model.layers[0].W.data.copy()                        # the next step is an ordinary one
    _, up = rigl_step(model, opt, data.X_train[:50], data.y_train[:50], 6, 5, 100, 0.3)
    assert up is None and opt.t == t + 1 and not np.array_equal(model.layers[0].W.data, w)


def test_drop_fraction_follows_the_cosine_schedule():
    model = small_model()
    nnz = [L.nnz for L in model.layers]
    _, log = train_rigl(model, teacher_split(), 10, delta_t=4, t_end_frac=0.75, alpha=0.3, verbose=False)
    _, t_end = rigl_steps(400, 100, 10, 0.75)
    assert log["step"] == list(range(4, t_end, 4))
    for s, f, k in zip(log["step"], log["drop_fraction"], log["k"]):
        assert f == pytest.approx(0.3 / 2 * (1 + math.cos(math.pi * s / t_end)))
        assert f == cosine_decay(s, 0.3, t_end)
        assert k == [math.floor(f * n + 1e-9) for n in nnz]
    assert all(a > b for a, b in zip(log["drop_fraction"], log["drop_fraction"][1:]))
    assert all(row == nnz for row in log["nnz"])             # nnz per layer preserved by every update


def test_end_to_end_loss_falls_on_teacher_data():
    X, y = make_teacher_data(n=1000, n_features=32, n_classes=5, n_hidden=32, rng=1)
    data = Split(X[:800], y[:800], X[800:], y[800:], X[:0], y[:0])
    model = SparseMLP.random([32, 64, 5], density=0.2, topology="erk", rng=1)
    nnz = [L.nnz for L in model.layers]
    history, log = train_rigl(model, data, 12, delta_t=10, verbose=False)
    assert len(log["step"]) == 7 and sum(map(sum, log["moved"])) > 0
    assert history["loss"][-1] < 0.7 * history["loss"][0]
    assert history["val_acc"][-1] > 0.4                      # chance is 0.2
    assert [L.nnz for L in model.layers] == nnz and history["ever_active"][-1] > model.density
    assert all(is_canonical(L.W) for L in model.layers)


def test_same_seed_same_weights():
    runs = []
    for _ in range(2):
        model = small_model(rng=3)
        train_rigl(model, teacher_split(rng=3), 3, delta_t=2, rng=3, verbose=False)
        runs.append(model)
    for a, b in zip(*[m.layers for m in runs]):
        assert np.array_equal(entry_keys(a.W), entry_keys(b.W)) and np.array_equal(a.W.data, b.W.data)
