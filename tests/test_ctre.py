"""CTRE: the similarity against a plain-loop oracle and the dense formula; the update's invariants as
properties (nnz per layer, drop = k smallest |w|, growth only onto free positions, the 'sim' rule's
replacement of just-dropped picks, 'cosine' keeping them, new weights' range and momentum 0); a
hand-built case where every similarity pick was just dropped; CTRE_seq's switch; best-validation."""
import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

from minisparse import SGD, SparseMLP
from minisparse.sparse_training.ctre import (
    activations,
    best_validation,
    cosine_similarity,
    ctre_update,
    similarity_macs,
    train_ctre,
)
from minisparse.data.datasets import Split, load_dataset
from minisparse.network.topology import entry_keys, is_canonical


def sim_oracle(A_prev, A):
    """Sim_pq = |Σ_b a_bp a_bq| / (‖a_p‖ ‖a_q‖), 0 if either column is all zero, by plain loops."""
    S = np.zeros((A_prev.shape[1], A.shape[1]))
    for p in range(A_prev.shape[1]):
        for q in range(A.shape[1]):
            u, v = A_prev[:, p], A[:, q]
            nu, nv = math.sqrt(sum(x * x for x in u)), math.sqrt(sum(x * x for x in v))
            S[p, q] = 0.0 if nu == 0 or nv == 0 else abs(sum(a * b for a, b in zip(u, v))) / (nu * nv)
    return S


def random_model(seed, sizes, density):
    model = SparseMLP.random(sizes, density=density, rng=seed)
    rng = np.random.default_rng(seed + 1)
    for layer in model.layers:
        layer.W.data[:] = rng.standard_normal(layer.nnz)
        layer.b[:] = rng.standard_normal(layer.shape[1]) * 0.1
    return model


def test_similarity_matches_loop_oracle_with_a_zero_column():
    model = random_model(0, [6, 5, 4, 3], 0.6)
    X = np.random.default_rng(1).standard_normal((23, 6))
    X[:, 2] = 0.0                                               # a feature that is never on
    acts = activations(model, X)
    assert np.allclose(acts[-1].sum(axis=1), 1.0)               # last layer: softmax probabilities
    sims = cosine_similarity(model, X, chunk=4)                 # chunks of 4 rows: 23 = 5·4 + 3
    for l, S in enumerate(sims):
        assert S.shape == model.layers[l].shape
        assert np.allclose(S, sim_oracle(acts[l], acts[l + 1]), atol=1e-12)
    assert np.all(sims[0][2] == 0.0)                            # the zero column scores 0
    assert np.all((sims[1] >= 0) & (sims[1] <= 1 + 1e-12))


def test_similarity_matches_dense_formula_and_ignores_chunking_and_scale():
    model = random_model(3, [8, 7, 3], 0.5)
    X = np.random.default_rng(4).standard_normal((50, 8))
    acts = activations(model, X)
    unit = [a / np.linalg.norm(a, axis=0, keepdims=True) for a in acts]
    one = cosine_similarity(model, X, chunk=1000)
    assert np.allclose(one[0], np.abs(unit[0].T @ unit[1]))
    assert all(np.allclose(a, b) for a, b in zip(one, cosine_similarity(model, X, chunk=1)))
    X2 = X.copy()
    X2[:, 5] *= 1000.0                    # cosine is blind to a column's scale (the dot product is not)
    model.layers[0].W = model.layers[0].W.multiply(np.where(np.arange(8) == 5, 1e-3, 1.0)[:, None]).tocsr()
    assert np.allclose(cosine_similarity(model, X2)[0][5], one[0][5])


def test_similarity_rejects_bad_input():
    model = random_model(0, [4, 3, 2], 0.5)
    with pytest.raises(ValueError, match="4"):
        cosine_similarity(model, np.zeros((5, 3)))
    with pytest.raises(ValueError, match="chunk"):
        cosine_similarity(model, np.zeros((5, 4)), chunk=0)
    assert similarity_macs(model, 10) == {"sparse": 10 * model.nnz, "dense": 10 * (4 * 3 + 3 * 2)}


def fake_sims(model, seed):
    """Random similarity arrays with distinct values (no ties), one per layer."""
    rng = np.random.default_rng(seed)
    return [rng.permutation(np.prod(layer.shape)).reshape(layer.shape) / np.prod(layer.shape)
            for layer in model.layers]


@given(seed=st.integers(0, 10_000), sizes=st.lists(st.integers(2, 9), min_size=2, max_size=4),
       density=st.floats(0.1, 0.9), zeta=st.floats(0.0, 1.0), growth=st.sampled_from(["sim", "cosine", "random"]))
def test_update_invariants(seed, sizes, density, zeta, growth):
    model = random_model(seed, sizes, density)
    opt = SGD(model, lr=0.1, momentum=0.9)
    for l, layer in enumerate(model.layers):
        opt.v_W[l][:] = 1.0 + np.arange(layer.nnz)
    before = [(entry_keys(layer.W), layer.W.data.copy()) for layer in model.layers]
    sims = fake_sims(model, seed)
    updates = ctre_update(model, zeta, seed, opt, growth, None if growth == "random" else sims)
    for l, ((keys, w), u, layer, S) in enumerate(zip(before, updates, model.layers, sims)):
        k = int(math.floor(zeta * keys.size + 1e-9))
        assert np.array_equal(u.dropped, np.sort(keys[np.argsort(np.abs(w), kind="stable")[:k]]))
        grown = np.concatenate([u.by_similarity, u.at_random])
        assert layer.nnz == keys.size and grown.size == k and np.unique(grown).size == k
        assert is_canonical(layer.W)
        kept = np.setdiff1d(keys, u.dropped)
        assert not np.isin(grown, kept).any()                       # never onto an active position
        assert np.array_equal(entry_keys(layer.W), np.union1d(kept, grown))
        free = np.setdiff1d(np.arange(S.size), kept)                # candidates after the drop
        top = np.sort(free[np.argsort(-S.ravel()[free], kind="stable")[:k]])
        if growth == "cosine":                                      # the k highest Sim, dropped or not
            assert np.array_equal(u.by_similarity, top) and u.at_random.size == 0
        elif growth == "sim":                                       # just-dropped picks replaced
            assert np.array_equal(u.by_similarity, np.setdiff1d(top, u.dropped))
            assert u.at_random.size == np.isin(top, u.dropped).sum()
        else:
            assert u.by_similarity.size == 0 and u.at_random.size == k
        new = np.isin(entry_keys(layer.W), grown)
        limit = math.sqrt(6.0 / layer.shape[0])
        assert np.all(np.abs(layer.W.data[new]) <= limit) and np.all(opt.v_W[l][new] == 0.0)
        assert np.array_equal(layer.W.data[~new], w[np.isin(keys, kept)])   # survivors untouched


def test_every_pick_just_dropped_is_replaced_at_random():
    """One 4×4 layer, weights 1…8 on the left half: ζ = 0.25 drops the two smallest, (0,0) and (0,1),
    and Sim is highest exactly there. CTRE_sim replaces both picks by random free positions (never a
    kept one; a just-dropped one only by the luck of the uniform draw); cosine-only puts them back."""
    def net():
        model = SparseMLP.random([4, 4], topology="dense", rng=0)
        keys = np.array([0, 1, 4, 5, 8, 9, 12, 13])                 # columns 0 and 1 of each row
        model.layers[0].W = model.layers[0].W.__class__(
            (np.arange(1.0, 9.0), (keys // 4, keys % 4)), shape=(4, 4))
        return model
    S = np.zeros((4, 4))
    S[0, 0], S[0, 1] = 0.9, 0.8
    S.ravel()[[2, 3, 6, 7, 10, 11, 14, 15]] = 0.1                  # the free positions: all equal, lower
    u = ctre_update(net(), 0.25, 0, None, "sim", [S])[0]
    assert np.array_equal(u.dropped, [0, 1]) and u.by_similarity.size == 0 and u.at_random.size == 2
    assert not np.isin(u.at_random, [4, 5, 8, 9, 12, 13]).any()
    u = ctre_update(net(), 0.25, 0, None, "cosine", [S])[0]
    assert np.array_equal(u.by_similarity, [0, 1]) and u.at_random.size == 0


@pytest.mark.parametrize("growth", ["sim", "cosine", "random"])
def test_reset_regrown_false_gives_regrown_connections_their_old_value_and_momentum(growth):
    """A dense 4 → 3 layer: the only free positions after the drop are the k = 6 just dropped, so
    every growth rule grows exactly those again. reset_regrown=False (the reference's rule) leaves
    weights and velocities as they were; the default restarts the six at U(±√(6/4)), velocity 0."""
    def net():
        model = SparseMLP.random([4, 3], density=1.0, rng=0)
        model.layers[0].W.data[:] = np.arange(1.0, 13.0) * np.array([1, -1] * 6)   # |w| = 1 … 12
        opt = SGD(model, lr=0.1, momentum=0.9)
        opt.v_W[0][:] = np.arange(100.0, 112.0)
        return model, opt
    S = [np.arange(12.0).reshape(4, 3)]
    model, opt = net()
    w0, v0 = model.layers[0].W.data.copy(), opt.v_W[0].copy()
    u = ctre_update(model, 0.5, 0, opt, growth, S, reset_regrown=False)[0]
    assert np.array_equal(u.dropped, np.arange(6))           # |w| = 1 … 6 are entries 0 … 5
    assert np.array_equal(np.union1d(u.by_similarity, u.at_random), np.arange(6))
    assert np.array_equal(model.layers[0].W.data, w0) and np.array_equal(opt.v_W[0], v0)
    model, opt = net()
    ctre_update(model, 0.5, 0, opt, growth, S)
    w, v = model.layers[0].W.data, opt.v_W[0]
    assert np.all(np.abs(w[:6]) <= math.sqrt(6 / 4)) and not np.isin(w[:6], w0).any()
    assert np.all(v[:6] == 0.0)
    assert np.array_equal(w[6:], w0[6:]) and np.array_equal(v[6:], v0[6:])      # survivors untouched


def test_reset_regrown_false_restores_only_the_regrown_ones():
    """4×4 layer, weights 1…8 in columns 0–1, ζ = 0.25 drops (0,0) and (0,1) and cosine growth takes
    them back (Sim highest there): with reset_regrown=False they return with w = 1, 2 and their
    velocity; with 'sim' the picks go to random free positions instead, which start afresh."""
    keys = np.array([0, 1, 4, 5, 8, 9, 12, 13])
    def net():
        model = SparseMLP.random([4, 4], topology="dense", rng=0)
        model.layers[0].W = model.layers[0].W.__class__((np.arange(1.0, 9.0), (keys // 4, keys % 4)),
                                                        shape=(4, 4))
        opt = SGD(model, lr=0.1, momentum=0.9)
        opt.v_W[0][:] = np.arange(10.0, 18.0)
        return model, opt
    S = np.zeros((4, 4))
    S[0, 0], S[0, 1] = 0.9, 0.8
    model, opt = net()
    ctre_update(model, 0.25, 0, opt, "cosine", [S], reset_regrown=False)
    assert np.array_equal(entry_keys(model.layers[0].W), keys)
    assert np.array_equal(model.layers[0].W.data, np.arange(1.0, 9.0))
    assert np.array_equal(opt.v_W[0], np.arange(10.0, 18.0))
    model, opt = net()
    u = ctre_update(model, 0.25, 0, opt, "sim", [S], reset_regrown=False)[0]
    now = entry_keys(model.layers[0].W)
    back = np.isin(now, [0, 1])                              # a random pick may land on (0,0) or (0,1)
    fresh = np.isin(now, u.at_random) & ~back
    assert np.array_equal(model.layers[0].W.data[back], np.array([1.0, 2.0])[np.isin([0, 1], now)])
    assert np.all(opt.v_W[0][fresh] == 0.0) and fresh.sum() + back.sum() == 2


def test_train_ctre_passes_reset_regrown_to_every_update(small_data, monkeypatch):
    import minisparse.sparse_training.ctre as ctre_module
    seen = []
    real = ctre_module.ctre_update
    def recording(*args, **kwargs):
        seen.append(args[6] if len(args) > 6 else kwargs.get("reset_regrown", True))
        return real(*args, **kwargs)
    monkeypatch.setattr(ctre_module, "ctre_update", recording)
    model = SparseMLP.random([784, 20, 10], topology="erdos_renyi", epsilon=1, rng=0)
    train_ctre(model, small_data, epochs=3, variant="sim", reset_regrown=False, verbose=False)
    assert seen == [False, False]


def test_update_rejects_bad_arguments():
    model = random_model(0, [5, 4, 3], 0.5)
    with pytest.raises(ValueError, match="growth"):
        ctre_update(model, 0.2, 0, growth="gradient")
    with pytest.raises(ValueError, match="similarity"):
        ctre_update(model, 0.2, 0, growth="sim")
    with pytest.raises(ValueError, match="sims"):
        ctre_update(model, 0.2, 0, growth="sim", sims=[np.zeros((5, 4)), np.zeros((4, 2))])
    with pytest.raises(ValueError, match="zeta"):
        ctre_update(model, 1.5, 0, growth="random")
    with pytest.raises(ValueError, match="dense velocity"):
        ctre_update(model, 0.2, 0, SGD(model, dense_momentum=True), growth="random")


@pytest.fixture(scope="module")
def small_data():
    d = load_dataset("mnist5k", rng=0)
    return Split(d.X_train[:600], d.y_train[:600], d.X_val[:200], d.y_val[:200], d.X_test[:200], d.y_test[:200])


def test_train_ctre_sim_learns_and_logs_every_update(small_data):
    model = SparseMLP.random([784, 64, 64, 10], topology="erdos_renyi", epsilon=4, rng=0)
    nnz = [layer.nnz for layer in model.layers]
    history, log = train_ctre(model, small_data, 5, variant="sim", lr=0.05, rng=0, verbose=False)
    assert len(history) == 5 and len(log["epoch"]) == 4                # no update after the last epoch
    assert [layer.nnz for layer in model.layers] == nnz
    assert history["test_acc"][-1] > 0.5                               # chance is 0.1
    k = [int(0.2 * n) for n in nnz]                                    # ⌊ζ·nnz⌋ per layer
    for n_sim, n_rand, share in zip(log["by_similarity"], log["at_random"], log["random_share"]):
        assert [a + b for a, b in zip(n_sim, n_rand)] == k
        assert share == pytest.approx(sum(n_rand) / sum(k))
    sim_cost = similarity_macs(model, 600)["dense"]
    assert all(m == sim_cost for m in log["macs_dense"])               # the similarity pass, each update


def test_ctre_seq_switches_after_patience_and_stays_random(small_data):
    model = SparseMLP.random([784, 32, 10], topology="erdos_renyi", epsilon=2, rng=0)
    history, log = train_ctre(model, small_data, 6, variant="seq", lr=1e-12, zeta=0.0, patience=2, rng=0,
                              verbose=False)
    # nothing moves: validation accuracy last improved at epoch 1 and has stalled for 2 epochs at epoch 3
    assert len(set(history["val_acc"])) == 1
    assert list(history["growth"]) == ["cosine", "cosine", "random", "random", "random", "random"]
    assert log["growth"] == ["cosine", "cosine", "random", "random", "random"]
    sim_cost = similarity_macs(model, 600)["dense"]
    assert log["macs_dense"] == [sim_cost, sim_cost, 0, 0, 0]          # random growth needs no similarity


def test_train_ctre_is_deterministic_and_checks_its_input(small_data):
    runs = []
    for _ in range(2):
        model = SparseMLP.random([784, 16, 10], topology="erdos_renyi", epsilon=2, rng=3)
        train_ctre(model, small_data, 3, variant="sim", sim_samples=100, rng=7, verbose=False)
        runs.append(model.layers[0].W)
    assert (runs[0] != runs[1]).nnz == 0
    model = SparseMLP.random([784, 16, 10], topology="erdos_renyi", epsilon=2, rng=3)
    with pytest.raises(ValueError, match="variant"):
        train_ctre(model, small_data, 2, variant="set")
    with pytest.raises(ValueError, match="validation"):
        train_ctre(model, dataclasses.replace(small_data, X_val=small_data.X_val[:0], y_val=small_data.y_val[:0]),
                   2, variant="seq")
    with pytest.raises(ValueError, match="sim_samples"):
        train_ctre(model, small_data, 2, sim_samples=0)


def test_best_validation_reports_test_accuracy_at_the_first_best_epoch():
    history = {"epoch": [1, 2, 3, 4], "val_acc": [0.5, 0.7, 0.6, 0.7], "test_acc": [0.4, 0.66, 0.7, 0.69]}
    assert best_validation(history) == (2, 0.7, 0.66)
    with pytest.raises(ValueError, match="validation"):
        best_validation({"epoch": [1], "val_acc": [], "test_acc": []})
