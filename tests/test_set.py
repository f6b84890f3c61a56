"""SET: the update against a plain-sorting oracle of the two-sided rule, its invariants as properties
(nnz kept, growth onto free positions only, canonical CSR, new state 0), the 70 %-not-15 % trap,
the loop's schedule (no update after the last epoch), a small end-to-end run, and determinism."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import minisparse.sparse_training.set_training as set_module
from minisparse import SGD, SparseMLP
from minisparse.data.datasets import load_dataset
from minisparse.network.layer import SparseLinear
from minisparse.sparse_training.set_training import set_update, small_normal, train_set
from minisparse.network.topology import entry_keys, from_keys, is_canonical


def set_oracle_dropped(keys, w, zeta):
    """SET's drop by plain sorting: ζ of the positives (smallest first), ζ of the negatives (largest
    first), and every exact 0. Ties go to the earlier position."""
    pos = sorted((v, k) for k, v in zip(keys, w) if v > 0)
    neg = sorted((-v, k) for k, v in zip(keys, w) if v < 0)
    zeros = [k for k, v in zip(keys, w) if v == 0]
    n_pos, n_neg = round(zeta * len(pos)), round(zeta * len(neg))
    return sorted([k for _, k in pos[:n_pos]] + [k for _, k in neg[:n_neg]] + zeros)


def random_model(seed, sizes, density, grid=False):
    """An MLP with uniform random topology; ``grid`` rounds weights to a coarse grid (ties, zeros)."""
    model = SparseMLP.random(sizes, density=density, rng=seed)
    rng = np.random.default_rng(seed + 1)
    for layer in model.layers:
        w = rng.standard_normal(layer.nnz)
        layer.W.data[:] = np.round(w * 2) / 2 if grid else w
    return model


model_args = dict(seed=st.integers(0, 10_000),
                  sizes=st.lists(st.integers(1, 9), min_size=2, max_size=4),
                  density=st.floats(0.05, 1.0), zeta=st.floats(0.0, 1.0), grid=st.booleans())


@given(**model_args)
def test_update_matches_oracle_and_keeps_invariants(seed, sizes, density, zeta, grid):
    model = random_model(seed, sizes, density, grid)
    opt = SGD(model, lr=0.1, momentum=0.9)
    before = [(entry_keys(layer.W), layer.W.data.copy()) for layer in model.layers]
    for l, layer in enumerate(model.layers):             # non-zero velocities, to see they follow
        opt.v_W[l][:] = 1.0 + np.arange(layer.nnz)
    rewires = set_update(model, zeta, np.random.default_rng(seed), optimizer=opt,
                         init=lambda n, rng: np.full(n, 7.0))
    for l, ((keys, w), (dropped, grown, *_), layer) in enumerate(zip(before, rewires, model.layers)):
        assert np.array_equal(dropped, set_oracle_dropped(keys.tolist(), w.tolist(), zeta))
        assert layer.nnz == keys.size and grown.size == dropped.size           # nnz preserved
        assert is_canonical(layer.W) and np.unique(grown).size == grown.size
        kept = np.setdiff1d(keys, dropped)
        assert not np.isin(grown, kept).any()                # grown were inactive after the drop
        assert np.array_equal(entry_keys(layer.W), np.union1d(kept, grown))
        is_new = np.isin(entry_keys(layer.W), grown)
        assert np.all(layer.W.data[is_new] == 7.0) and np.all(opt.v_W[l][is_new] == 0.0)
        survived = np.isin(keys, kept)                       # kept weights keep value and velocity
        assert np.array_equal(layer.W.data[~is_new], w[survived])
        assert np.array_equal(opt.v_W[l][~is_new], 1.0 + np.flatnonzero(survived))


def test_set_keeps_about_70_percent_not_15():
    """1,000 N(0, 1) weights, ζ = 0.3: the update drops ~300 (~150 per sign), keeping the largest |w|
    of *both* signs; the one-sided bug would keep only the ~150 most negative."""
    model = random_model(0, [50, 40], density=0.5)
    W = model.layers[0].W
    assert W.nnz == 1000
    keys, w = entry_keys(W), W.data.copy()
    (dropped, grown, *_), = set_update(model, 0.3, np.random.default_rng(0))
    kept = np.setdiff1d(keys, dropped)
    assert 690 <= kept.size <= 710 and grown.size == 1000 - kept.size
    assert np.isin(keys[[w.argmax(), w.argmin()]], kept).all()                # both tails survive
    assert not np.isin(keys[np.argsort(np.abs(w))[:50]], kept).any()          # the 50 smallest |w| go


def test_default_init_is_small_normal_and_regrowth_may_reuse_dropped():
    rng = np.random.default_rng(0)
    v = small_normal(200_000, rng)
    assert abs(v.mean()) < 2e-3 and abs(v.std() - 0.1) < 2e-3
    model = random_model(1, [300, 200], density=0.2)         # 12,000 weights, ~3,600 regrown
    (dropped, grown, *_), = set_update(model, 0.3, np.random.default_rng(1))
    new = model.layers[0].W.data[np.isin(entry_keys(model.layers[0].W), grown)]
    assert abs(new.std() - 0.1) < 0.005 and abs(new.mean()) < 0.005
    # a dense layer has no free positions but the dropped ones: SET re-grows exactly those
    dense = SparseMLP([SparseLinear(from_keys(np.arange(12), np.arange(1.0, 13.0) - 6.5, (3, 4)),
                                    np.zeros(4), "linear")])
    (dropped, grown, *_), = set_update(dense, 0.5, np.random.default_rng(0))
    assert dropped.size == 6 and np.array_equal(grown, dropped)


def test_reference_rule_drops_by_the_reference_thresholds():
    """rule='reference': on the 4-weight example the update drops −0.5, 0.1 and 0.8 (the count rule
    drops −0.5 and 0.1) and regrows as many; in a random model every layer drops exactly the entries
    outside the reference's thresholds, and nnz is preserved."""
    layer = SparseLinear(from_keys(np.array([0, 1, 2, 3]), np.array([-0.9, -0.5, 0.1, 0.8]), (2, 4)),
                         np.zeros(4), "linear")
    for rule, expected in (("reference", [1, 2, 3]), ("count", [1, 2])):
        model = SparseMLP([SparseLinear(layer.W.copy(), np.zeros(4), "linear")])
        (dropped, grown, *_), = set_update(model, 0.3, np.random.default_rng(0), rule=rule)
        assert dropped.tolist() == expected and grown.size == len(expected)
        assert model.layers[0].nnz == 4
    model = random_model(3, [30, 20, 10], density=0.3, grid=True)
    before = [(entry_keys(layer.W), layer.W.data.copy()) for layer in model.layers]
    rewires = set_update(model, 0.3, np.random.default_rng(3), rule="reference")
    for (keys, w), r, layer in zip(before, rewires, model.layers):
        outside = np.zeros(w.size, dtype=bool)
        v = np.sort(w)                                       # the thresholds, from the sorted values
        at = np.flatnonzero(np.abs(v) == np.abs(v).min())
        low = v[int(0.7 * at[0])]
        high = v[int(min(v.size - 1, at[-1] + 1 + 0.3 * (v.size - at[-1] - 1)))]
        outside[(w < low) | (w > high)] = True
        assert np.array_equal(r.dropped, keys[~outside]) and layer.nnz == keys.size


def test_train_set_passes_its_rule_to_every_update(teacher, monkeypatch):
    rules = []
    def recording(model, zeta, rng, optimizer=None, init=small_normal, rule="count"):
        rules.append(rule)
        return set_update(model, zeta, rng, optimizer, init, rule)
    monkeypatch.setattr(set_module, "set_update", recording)
    model = SparseMLP.random([16, 32, 10], topology="erdos_renyi", epsilon=3, rng=0)
    train_set(model, teacher, epochs=3, rule="reference", verbose=False)
    assert rules == ["reference", "reference"]


def test_unknown_rule_is_refused_before_any_change(teacher):
    model = random_model(0, [4, 3], density=0.5)
    W0 = model.layers[0].W.copy()
    with pytest.raises(ValueError, match="rule must be one of"):
        set_update(model, 0.3, 0, rule="sorted")
    with pytest.raises(ValueError, match="rule must be one of"):
        train_set(SparseMLP.random([16, 8, 10], density=0.5, rng=0), teacher, epochs=2, rule="Reference",
                  verbose=False)
    assert (model.layers[0].W != W0).nnz == 0


def test_update_refuses_dense_momentum():
    model = random_model(0, [4, 3], density=0.5)
    with pytest.raises(ValueError, match="dense velocity"):
        set_update(model, 0.3, 0, optimizer=SGD(model, dense_momentum=True))


@pytest.fixture(scope="module")
def teacher():
    return load_dataset("teacher", rng=0, n=800, n_features=16, n_hidden=16)


def counting_update(calls):
    """set_update wrapped to check the invariants around every call made by train_set."""
    def wrapped(model, zeta, rng, optimizer=None, init=small_normal, rule="count"):
        keys = [entry_keys(layer.W) for layer in model.layers]
        rewires = set_update(model, zeta, rng, optimizer, init, rule)
        for l, (k, (dropped, grown, *_), layer) in enumerate(zip(keys, rewires, model.layers)):
            assert layer.nnz == k.size and is_canonical(layer.W)
            assert not np.isin(grown, np.setdiff1d(k, dropped)).any()
            assert optimizer.v_W[l].shape == layer.W.data.shape
        calls.append(rewires)
        return rewires
    return wrapped


def test_three_epochs_make_two_updates(teacher, monkeypatch):
    calls = []
    monkeypatch.setattr(set_module, "set_update", counting_update(calls))
    model = SparseMLP.random([16, 32, 10], topology="erdos_renyi", epsilon=3, rng=0)
    history, log = train_set(model, teacher, epochs=3, verbose=False)
    assert len(calls) == 2 and log["epoch"] == [1, 2] and len(history) == 3
    assert history.rows[0]["moved"] == [0.0, 0.0] and sum(history.rows[1]["moved"]) > 0


def test_end_to_end_loss_falls_and_invariants_hold(teacher, monkeypatch):
    calls = []
    monkeypatch.setattr(set_module, "set_update", counting_update(calls))
    model = SparseMLP.random([16, 64, 64, 10], topology="erdos_renyi", epsilon=6, rng=0)
    nnz0 = [layer.nnz for layer in model.layers]
    history, log = train_set(model, teacher, epochs=12, lr=0.05, verbose=False)
    assert len(calls) == 11
    assert history["loss"][-1] < 0.8 * history["loss"][0]
    assert history["test_acc"][-1] > 0.3                     # chance is 0.1
    assert all(nnz == nnz0 for nnz in log["nnz"])
    assert np.all(np.diff(log["ever_active"]) > 0)           # rewiring explores new positions
    assert history["ever_active"][-1] == log["ever_active"][-1]


def test_same_seed_same_run(teacher):
    runs = []
    for _ in range(2):
        model = SparseMLP.random([16, 32, 10], topology="erdos_renyi", epsilon=3, rng=5)
        history, log = train_set(model, teacher, epochs=3, rng=7, verbose=False)
        runs.append((model, history, log))
    (m1, h1, l1), (m2, h2, l2) = runs
    assert np.array_equal(h1["loss"], h2["loss"]) and l1["grown"] == l2["grown"]
    for a, b in zip(m1.layers, m2.layers):
        assert np.array_equal(a.W.indices, b.W.indices) and np.array_equal(a.W.data, b.W.data)
    model = SparseMLP.random([16, 32, 10], topology="erdos_renyi", epsilon=3, rng=5)
    train_set(model, teacher, epochs=3, rng=8, verbose=False)  # another seed: another topology
    assert not np.array_equal(model.layers[0].W.indices, m1.layers[0].W.indices)


def test_fan_in_regrowth_matches_the_layers_initial_scale():
    """init='fan_in': new weights ~ N(0, gain²/fan_in) per layer (ReLU: gain² = 2; the linear output
    layer: 1), not the reference's fixed N(0, 0.1²); a bad init is refused."""
    model = SparseMLP.random([400, 300, 10], topology="erdos_renyi", epsilon=20, rng=0)
    fan_in = [layer.nnz / layer.shape[1] for layer in model.layers]
    rewires = set_update(model, 0.3, 1, init="fan_in")
    for l, (layer, r, f, gain2) in enumerate(zip(model.layers, rewires, fan_in, (2.0, 1.0))):
        new = layer.W.data[np.isin(entry_keys(layer.W), r.grown)]
        assert new.size > 500
        assert new.std() == pytest.approx(np.sqrt(gain2 / f), rel=0.1)
    with pytest.raises(ValueError, match="init"):
        set_update(model, 0.3, 1, init="bogus")


def test_lr_scale_reaches_the_optimizer(teacher):
    """train_set's lr_scale is each layer's step multiplier: a layer scaled by 1e-9 barely moves in an
    epoch (one epoch: no rewiring), while the same layer moves at scale 1."""
    moved = {}
    for scale in (1.0, 1e-9):
        model = SparseMLP.random([16, 32, 10], topology="erdos_renyi", epsilon=3, rng=0)
        before = [layer.W.data.copy() for layer in model.layers]
        train_set(model, teacher, epochs=1, lr=0.05, lr_scale=(1.0, scale), verbose=False)
        moved[scale] = [np.abs(layer.W.data - w).max() for layer, w in zip(model.layers, before)]
    assert moved[1.0][1] > 1e-3 and moved[1e-9][1] < 1e-9
    assert moved[1e-9][0] > 1e-3                             # the unscaled layer still learns
