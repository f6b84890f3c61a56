"""Sparse Momentum: redistribution worked out by hand, the update against dense-mask oracles (pruned
= smallest |w|, grown = largest |V| among inactive, grown at 0 with their velocity: the head start),
nnz conserved, and a short end-to-end run whose loss falls."""
import copy
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

from minisparse import SGD, SparseMLP, train_step
from minisparse.data.datasets import make_teacher_data, stratified_split
from minisparse.sparse_training.schedules import sparse_momentum_prune_rate
from minisparse.sparse_training.sparse_momentum import (momentum_shares, prune_count, redistribute,
                                        sparse_momentum_update, train_sparse_momentum)
from minisparse.network.topology import is_canonical, mask

ARTICLE_SHARES = [0.28, 0.12, 0.22, 0.38]     # the four layers' momentum shares in article image 1


# ---------------------------------------------------------------- redistribute, by hand

def test_redistribute_article_shares_without_caps():
    # 100 removed weights, plenty of room: c_l = s_l · 100 exactly.
    assert redistribute(100, ARTICLE_SHARES, [1000] * 4).tolist() == [28, 12, 22, 38]
    # 7 removed: ideal 7·s = 1.96, 0.84, 1.54, 2.66 → floors 1, 0, 1, 2 (sum 4); the 3 left go to
    # the largest fractional parts .96 (layer 0), .84 (layer 1), .66 (layer 3) → 2, 1, 1, 3.
    assert redistribute(7, ARTICLE_SHARES, [1000] * 4).tolist() == [2, 1, 1, 3]


def test_redistribute_capped_layer_passes_its_overflow_on():
    # 100 removed, layer 2 has only 10 free slots. Round 1: ideal 28, 12, 22, 38; 22 ≥ 10 → layer 2
    # capped at 10. Round 2: 90 left for layers 0, 1, 3 with shares .28, .12, .38 (sum .78):
    # 90·.28/.78 = 32.31, 90·.12/.78 = 13.85, 90·.38/.78 = 43.85 → floors 32, 13, 43 (sum 88);
    # the 2 left go to the fractions .85, .85 (layers 1, 3) → 32, 14, 10, 44 (sum 100).
    assert redistribute(100, ARTICLE_SHARES, [1000, 1000, 10, 1000]).tolist() == [32, 14, 10, 44]
    # A cascade: layer 1 also has only 13 free slots, and 13.85 ≥ 13 → capped in round 2. Round 3:
    # 100 − 10 − 13 = 77 for layers 0, 3 (shares .28, .38, sum .66): 77·.28/.66 = 32.67,
    # 77·.38/.66 = 44.33 → floors 32, 44 (sum 76); the 1 left goes to .67 (layer 0) → 33, 13, 10, 44.
    assert redistribute(100, ARTICLE_SHARES, [1000, 13, 10, 1000]).tolist() == [33, 13, 10, 44]


def test_redistribute_zero_shares_and_refusals():
    # shares 0 for layers 1, 2: they get weights only once layer 0 is full, then ∝ free (20 : 60).
    assert redistribute(10, [1.0, 0.0, 0.0], [2, 20, 60]).tolist() == [2, 2, 6]
    assert redistribute(0, ARTICLE_SHARES, [0, 5, 0, 5]).tolist() == [0, 0, 0, 0]
    with pytest.raises(ValueError, match="free slots"):
        redistribute(11, ARTICLE_SHARES, [5, 0, 5, 0])
    with pytest.raises(ValueError, match="per layer"):
        redistribute(1, [0.5, 0.5], [3, 3, 3])


@given(shares=st.lists(st.floats(0, 10), min_size=1, max_size=6), data=st.data())
def test_redistribute_conserves_the_total_and_respects_caps(shares, data):
    free = np.array(data.draw(st.lists(st.integers(0, 50), min_size=len(shares), max_size=len(shares))))
    total = data.draw(st.integers(0, int(free.sum())))
    counts = redistribute(total, shares, free)
    assert counts.sum() == total and np.all(counts >= 0) and np.all(counts <= free)
    s = np.asarray(shares)
    if s.sum() > 0 and np.all(total * s / s.sum() < free):        # no cap binds: within 1 of ∝
        assert np.all(np.abs(counts - total * s / s.sum()) < 1)


def test_prune_count_rounds_up_without_float_noise():
    assert prune_count(0.5, 7) == 4 and prune_count(0.1, 30) == 3 and prune_count(0.0, 9) == 0
    assert prune_count(0.005, 100) == 1 and prune_count(1.0, 5) == 5


def test_prune_count_docstring_example_is_real_float_noise():
    """The docstring's example: 0.07·100 is 7 exactly, but in floating point 7.000000000000001, so
    a plain ceil (the reference's) removes 8; prune_count removes 7. More such products, each an
    integer in exact arithmetic: 0.14·50, 0.28·25, 0.55·100."""
    assert 0.07 * 100 > 7 and math.ceil(0.07 * 100) == 8            # the float noise is real
    assert prune_count(0.07, 100) == 7
    for p, n, k in ((0.14, 50, 7), (0.28, 25, 7), (0.55, 100, 55)):
        assert math.ceil(p * n) == k + 1 and prune_count(p, n) == k
    assert prune_count.__doc__.count("0.07·100 = 7.000000000000001") == 1


# ---------------------------------------------------------------- the update on a tiny 4-layer net

@pytest.fixture
def trained():
    """A 6-8-7-5-3 net at 40 % trained 5 steps with a dense velocity, so V ≠ 0 everywhere."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 6)), rng.integers(0, 3, 40)
    model = SparseMLP.random([6, 8, 7, 5, 3], density=0.4, rng=0)
    opt = SGD(model, lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4, dense_momentum=True)
    for _ in range(5):
        train_step(model, opt, X, y, dense=True)
    return model, opt, X, y


def test_momentum_shares_match_a_dense_mask_oracle(trained):
    model, opt, _, _ = trained
    means = [np.abs(V[mask(layer.W)]).mean() for layer, V in zip(model.layers, opt.V)]
    assert np.allclose(momentum_shares(model, opt), np.array(means) / sum(means))
    assert np.isclose(momentum_shares(model, opt).sum(), 1.0)


def test_update_prunes_smallest_w_and_grows_largest_v_at_zero(trained):
    model, opt, _, _ = trained
    old = [(layer.W.copy(), mask(layer.W)) for layer in model.layers]
    V_before = [V.copy() for V in opt.V]
    shares = momentum_shares(model, opt)
    report = sparse_momentum_update(model, opt, 0.5)
    assert model.nnz == sum(M.sum() for _, M in old)                        # total nnz exact
    removed = [prune_count(0.5, int(M.sum())) for _, M in old]
    free = [M.size - M.sum() + k for (_, M), k in zip(old, removed)]
    counts = redistribute(sum(removed), shares, free)
    for l, (layer, (W0, M0), V0) in enumerate(zip(model.layers, old, V_before)):
        u = report[l]
        assert np.isclose(u.share, shares[l]) and u.before == M0.sum()
        assert u.after_prune == M0.sum() - removed[l] and u.after_regrowth == u.after_prune + counts[l]
        # oracle of (2): the removed[l] smallest |w|, ties by position (stable)
        W0d = W0.toarray()
        active = np.flatnonzero(M0)
        order = active[np.argsort(np.abs(W0d.ravel()[active]), kind="stable")]
        kept = order[removed[l]:]
        # oracle of (4): the counts[l] largest |V| among positions inactive after pruning
        S = np.abs(V0).ravel().copy()
        S[kept] = -np.inf
        grown = np.argsort(-S, kind="stable")[:counts[l]]
        M = mask(layer.W).ravel()
        assert set(np.flatnonzero(M)) == set(kept) | set(grown)
        Wd = layer.W.toarray().ravel()
        assert np.array_equal(Wd[kept], W0d.ravel()[kept])                  # survivors untouched
        assert np.all(Wd[grown] == 0)                                       # grown at value 0 …
        assert np.array_equal(opt.V[l], V0)                                 # … V never touched
        assert is_canonical(layer.W)


def test_grown_weights_get_their_head_start(trained):
    model, opt, X, y = trained
    sparse_momentum_update(model, opt, 0.5)
    grown = [mask(layer.W) & (layer.W.toarray() == 0) for layer in model.layers]
    V_old = [V.copy() for V in opt.V]
    _, grads = copy.deepcopy(model).loss_and_grads(X, y, dense=True)
    train_step(model, opt, X, y, dense=True)
    for layer, g, V0, G0 in zip(model.layers, grads, V_old, grown):
        v = 0.9 * V0 + g.G                                   # w = 0, so λw adds nothing
        expected = -0.1 * (g.G + 0.9 * v)                    # Nesterov: −η(g + μv)
        cold = -0.1 * (g.G + 0.9 * g.G)                      # what a velocity reset to 0 would give
        assert G0.any() and np.allclose(layer.W.toarray()[G0], expected[G0])
        assert not np.allclose(expected[G0], cold[G0])


def test_update_refuses_an_optimizer_without_dense_velocity(trained):
    model, _, _, _ = trained
    with pytest.raises(ValueError, match="dense_momentum"):
        sparse_momentum_update(model, SGD(model, lr=0.1), 0.5)


# ---------------------------------------------------------------- end to end

def test_training_learns_keeps_nnz_and_logs_each_update(capsys):
    X, y = make_teacher_data(n=1200, n_features=20, n_classes=4, n_hidden=16, rng=0)
    data = stratified_split(X, y, val_fraction=0.15, test_fraction=0.15, rng=0)
    model = SparseMLP.random([20, 64, 64, 4], density=0.2, rng=0)
    nnz0 = model.nnz
    history, log = train_sparse_momentum(model, data, epochs=6, lr=0.05, batch_size=50, rng=0)
    assert len(capsys.readouterr().out.strip().splitlines()) == 6
    assert history["loss"][-1] < 0.7 * history["loss"][0] and history["test_acc"][-1] > 0.55
    assert np.all(history["nnz"] == nnz0) and model.nnz == nnz0
    assert log["epoch"] == [1, 2, 3, 4, 5]                                     # all but the last
    assert np.allclose(log["prune_rate"], [sparse_momentum_prune_rate(e, 6) for e in range(1, 6)])
    assert all(np.isclose(sum(s), 1) for s in log["shares"])
    assert all(sum(r) == sum(g) for r, g in zip(log["removed"], log["regrown"]))
    assert any(r != g for r, g in zip(log["removed"], log["regrown"]))        # layers traded weights
    assert log["ever_active"][-1] > 0.2 and all(is_canonical(layer.W) for layer in model.layers)
    assert history["macs_dense"][0] == 840 * (20 * 64 + 64 * 64 + 64 * 4)      # B·n_in·n_out per row
