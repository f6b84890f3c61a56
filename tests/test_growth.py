"""Growth: random sampling against a chi-square test (and a biased sampler it must reject), every
score against its one-line dense formula or a hand-worked layer, the Hessian score against its
1-D quadratic, the dense Gauss–Newton diagonal against second differences at inserted zeros."""
import copy

import numpy as np
import pytest
from hypothesis import given, strategies as st
from scipy.stats import chisquare

from minisparse import SGD, Adam, SparseMLP, growth

from minisparse.pruning import second_order

from minisparse.network import topology
from minisparse.growth.criteria import gradient_score, hessian_growth_score, hessian_growth_value, magnitude_regrowth_score, momentum_score, remember_dropped
from minisparse.growth.select import Candidates, grow_highest, grow_random, random_positions
from minisparse.network.layer import SparseLinear
from minisparse.network.topology import entry_keys, from_keys, is_canonical

# the hand-built layer: 3 × 4, active at (0, 1), (1, 0), (1, 2), (2, 3) → keys 1, 4, 6, 11
HAND_KEYS = [1, 4, 6, 11]


def hand_layer():
    return from_keys(HAND_KEYS, [1.0, -2.0, 3.0, -4.0], (3, 4))


def one_layer_model(W):
    return SparseMLP([SparseLinear(W, np.zeros(W.shape[1]), "linear")])


def layer_with(seed, n_in, n_out, nnz):
    rng = np.random.default_rng(seed)
    keys = np.sort(rng.choice(n_in * n_out, size=nnz, replace=False))
    return from_keys(keys, rng.standard_normal(nnz), (n_in, n_out))


# ---------------------------------------------------------------- random growth

@given(seed=st.integers(0, 10_000), n_in=st.integers(1, 12), n_out=st.integers(1, 12),
       dens=st.floats(0, 1), frac_k=st.floats(0, 1), n_excl=st.integers(0, 5))
def test_random_positions_never_active_or_excluded_and_distinct(seed, n_in, n_out, dens, frac_k, n_excl):
    n = n_in * n_out
    W = layer_with(seed, n_in, n_out, int(dens * n))
    rng = np.random.default_rng(seed)
    exclude = rng.choice(n, size=min(n_excl, n), replace=False)
    n_free = n - np.union1d(entry_keys(W), exclude).size
    k = int(frac_k * n_free)
    keys = random_positions(W, k, rng, exclude=exclude)
    assert keys.size == k and np.unique(keys).size == k and np.all(np.diff(keys) > 0)
    assert not np.isin(keys, entry_keys(W)).any() and not np.isin(keys, exclude).any()
    assert keys.size == 0 or (keys.min() >= 0 and keys.max() < n)
    with pytest.raises(ValueError, match="free"):
        random_positions(W, n_free + 1, rng, exclude=exclude)


def sorted_first_k(W, k, rng, exclude):
    """A plausible bug: distinct free draws via np.unique (sorted), then the first k: biased low."""
    n = W.shape[0] * W.shape[1]
    taken = np.union1d(entry_keys(W), exclude)
    draws = np.unique(rng.integers(0, n, 4 * k))
    return draws[~np.isin(draws, taken)][:k]


def chi2_pvalue(sampler, W, exclude, k=5, reps=3000, seed=0):
    """Counts of each free position over many draws against the uniform expectation."""
    rng, n = np.random.default_rng(seed), W.shape[0] * W.shape[1]
    counts = np.zeros(n)
    for _ in range(reps):
        np.add.at(counts, sampler(W, k, rng, exclude), 1)
    free = np.setdiff1d(np.arange(n), np.union1d(entry_keys(W), exclude))
    assert counts.sum() == k * reps and counts[free].sum() == k * reps
    return chisquare(counts[free]).pvalue        # expected k·reps/|free| at each free position


@pytest.mark.parametrize("fallback", [0.0, 0.5, 1.0])   # always enumerate / default / always reject
def test_random_positions_are_uniform(monkeypatch, fallback):
    monkeypatch.setattr(growth.select, "DENSE_FALLBACK", fallback)
    W, exclude = layer_with(1, 6, 10, 10), np.array([0, 7, 59])      # 47 free of 60
    assert chi2_pvalue(random_positions, W, exclude) > 1e-3
    # the same test rejects a biased sampler, so it can fail
    assert chi2_pvalue(lambda W, k, rng, ex: sorted_first_k(W, k, rng, ex), W, exclude) < 1e-6


def test_random_positions_dense_layer_uniform():
    W = layer_with(2, 6, 10, 40)                                      # 40 + 5 > 30: enumeration path
    assert chi2_pvalue(random_positions, W, np.array([], dtype=np.int64)) > 1e-3


def test_random_positions_extreme_densities():
    W = layer_with(3, 1000, 1000, 100)                                # density 1e-4
    keys = random_positions(W, 1000, np.random.default_rng(0))
    assert keys.size == 1000 and not np.isin(keys, entry_keys(W)).any()
    W = layer_with(4, 100, 100, 9990)                                 # density 0.999: 10 free
    free = np.setdiff1d(np.arange(10_000), entry_keys(W))
    assert np.array_equal(random_positions(W, 10, np.random.default_rng(0)), free)
    assert np.array_equal(random_positions(W, 7, 0, exclude=free[:3]), free[3:])
    with pytest.raises(ValueError):
        random_positions(W, 11, np.random.default_rng(0))


def test_grow_random_values_callable_seeded_and_exclusion():
    def run(seed):
        model = one_layer_model(layer_with(5, 8, 9, 20))
        keys = grow_random(model, 0, 6, np.random.default_rng(seed), exclude=np.arange(30),
                           values=growth.uniform_values(0.25))
        return model.layers[0].W, keys
    W, keys = run(7)
    assert np.array_equal(W.toarray(), run(7)[0].toarray())        # same seed → same weights
    assert W.nnz == 26 and is_canonical(W) and keys.min() >= 30
    new = W.toarray().ravel()[keys]
    assert np.all(np.abs(new) <= 0.25) and np.unique(new).size == 6


@given(seed=st.integers(0, 10_000), drop=st.floats(0, 1))
def test_prune_then_grow_random_conserves_nnz_and_is_disjoint(seed, drop):
    model = one_layer_model(layer_with(seed, 7, 9, 30))
    W0 = model.layers[0].W
    keep = np.random.default_rng(seed).random(W0.nnz) >= drop
    dropped = entry_keys(W0)[~keep]
    topology.prune(model, 0, keep)
    grown = grow_random(model, 0, dropped.size, np.random.default_rng(seed), exclude=dropped)
    assert model.layers[0].W.nnz == 30 and is_canonical(model.layers[0].W)
    assert not np.isin(grown, dropped).any() and not np.isin(grown, entry_keys(W0)[keep]).any()
    assert np.array_equal(model.layers[0].W.toarray().ravel()[grown], np.zeros(grown.size))


# ---------------------------------------------------------------- scores by hand

def test_gradient_growth_by_hand():
    G = np.array([[0.5, -9.0, 0.1, -0.7],
                  [8.0, -0.2, 7.0, 0.3],
                  [-0.6, 0.05, 0.4, 9.9]])
    # the largest |G| (9.9, 9, 8, 7) sit at the active keys 11, 1, 4, 6 and must not count.
    # inactive |G|: key 0 → .5, 2 → .1, 3 → .7, 5 → .2, 7 → .3, 8 → .6, 9 → .05, 10 → .4
    # k = 3 → .7 (key 3), .6 (key 8), .5 (key 0)
    S = gradient_score(G, hand_layer())
    assert np.all(S.ravel()[HAND_KEYS] == -np.inf) and S[0, 3] == 0.7
    model = one_layer_model(hand_layer())
    assert list(grow_highest(model, 0, S, 3)) == [0, 3, 8]
    assert model.layers[0].W.nnz == 7 and np.array_equal(model.layers[0].W.toarray().ravel()[[0, 3, 8]], [0, 0, 0])


def test_momentum_growth_by_hand_ties_to_lowest_position():
    V = np.array([[-0.3, 5.0, 0.3, 0.1],
                  [4.0, -0.3, 6.0, 0.2],
                  [0.3, 0.0, -0.8, 7.0]])
    # inactive |V|: key 0 → .3, 2 → .3, 3 → .1, 5 → .3, 7 → .2, 8 → .3, 9 → 0, 10 → .8
    # k = 3 → .8 (key 10), then the tie at .3 between keys 0, 2, 5, 8 goes to 0 and 2
    model = one_layer_model(hand_layer())
    assert list(grow_highest(model, 0, momentum_score(V, hand_layer()), 3)) == [0, 2, 10]


def test_dense_momentum_growth_keeps_the_velocity_head_start():
    rng = np.random.default_rng(0)
    model = SparseMLP.random([6, 5, 3], density=0.4, rng=rng)
    X, y = rng.standard_normal((8, 6)), rng.integers(0, 3, 8)
    opt = SGD(model, lr=0.1, momentum=0.9, dense_momentum=True)
    opt.step(model.loss_and_grads(X, y, dense=True)[1])
    V_before = opt.V[0].copy()
    keys = grow_highest(model, 0, momentum_score(opt.V[0], model.layers[0].W), 4, optimizer=opt)
    assert np.array_equal(opt.V[0], V_before)                                 # velocity untouched
    assert np.all(model.layers[0].W.toarray().ravel()[keys] == 0)             # grown at 0
    G = model.loss_and_grads(X, y, dense=True)[1][0].G
    opt.step(model.loss_and_grads(X, y, dense=True)[1])
    # w = 0 − η(μV + G): the accumulated velocity moves the new weight on its first step
    expected = -0.1 * (0.9 * V_before.ravel()[keys] + G.ravel()[keys])
    assert np.allclose(model.layers[0].W.toarray().ravel()[keys], expected, rtol=1e-12, atol=1e-15)


def test_magnitude_regrowth_dict_and_dense_agree():
    W = from_keys([0, 4], [1.0, -1.0], (2, 3))
    last = {1: 0.5, 2: -0.9, 4: 3.0, 5: 0.2}       # key 4 is active again; 0 and 3 never pruned
    # candidates 1 → .5, 2 → .9, 5 → .2; k = 2 → keys 2 and 1
    cand = magnitude_regrowth_score(last, W)
    assert list(cand.keys) == [1, 2, 5] and list(cand.scores) == [0.5, 0.9, 0.2]
    dense = np.full((2, 3), np.nan)
    dense.ravel()[list(last)] = list(last.values())
    S = magnitude_regrowth_score(dense, W)
    assert np.array_equal(S.ravel(), [-np.inf, 0.5, 0.9, -np.inf, -np.inf, 0.2])
    for scores in (cand, S):
        model = one_layer_model(W.copy())
        assert list(grow_highest(model, 0, scores, 2)) == [1, 2]
    with pytest.raises(ValueError, match="only 3 candidates"):
        grow_highest(one_layer_model(W.copy()), 0, S, 4)


def test_remember_dropped_records_last_magnitudes():
    W = from_keys([1, 3, 5], [0.4, -2.0, 0.1], (2, 3))
    last = remember_dropped({3: 9.0}, W, np.array([True, False, False]))
    assert last == {3: 2.0, 5: 0.1}


# ---------------------------------------------------------------- Hessian-guided growth

def test_hessian_score_is_g2_over_h_plus_lambda():
    rng = np.random.default_rng(0)
    W = layer_with(0, 5, 7, 12)
    G, H = rng.standard_normal((5, 7)), rng.random((5, 7))
    S = hessian_growth_score(G, H, W, 0.1)
    inactive = ~topology.mask(W)
    assert np.allclose(S[inactive], G[inactive] ** 2 / (H[inactive] + 0.1), rtol=1e-15)
    assert np.all(S[~inactive] == -np.inf)
    # constant curvature: the ranking is RigL's |g|
    a, b = one_layer_model(W.copy()), one_layer_model(W.copy())
    assert np.array_equal(grow_highest(a, 0, hessian_growth_score(G, np.full((5, 7), 2.0), W, 0.0), 6),
                          grow_highest(b, 0, gradient_score(G, W), 6))
    with pytest.raises(ValueError, match="damping"):
        hessian_growth_score(G, np.zeros((5, 7)), W, 0.0)


def test_hessian_score_on_a_one_dimensional_quadratic():
    # L(w) = L0 + g·w + ½·H·w² with g = −1.5, H = 0.6 for one weight grown at 0
    L0, g, H = 2.0, -1.5, 0.6
    L = lambda w: L0 + g * w + 0.5 * H * w ** 2
    W = from_keys([], [], (1, 1))
    w_star = hessian_growth_value(np.array([[g]]), np.array([[H]]), 0.0)[0, 0]
    assert w_star == pytest.approx(2.5)                    # −g/H = 1.5/0.6
    assert L(w_star) - L0 == pytest.approx(-1.875)         # −g²/(2H) = −2.25/1.2
    grid = np.linspace(-10, 10, 200_001)
    assert grid[np.argmin(L(grid))] == pytest.approx(w_star, abs=1e-4)
    score = hessian_growth_score(np.array([[g]]), np.array([[H]]), W, 0.0)[0, 0]
    assert score == pytest.approx(3.75) == pytest.approx(-2 * (L(w_star) - L0))
    # damped: the minimiser of L + ½λw²,  w* = −g/(H + λ) = 1.5/1.0
    lam = 0.4
    w_damped = hessian_growth_value(np.array([[g]]), np.array([[H]]), lam)[0, 0]
    assert w_damped == pytest.approx(grid[np.argmin(L(grid) + 0.5 * lam * grid ** 2)], abs=1e-4)


def relu_toy(seed=0, sizes=(5, 6, 4, 3), B=4):
    """A ReLU net whose hidden pre-activations stay ≥ 0.02 away from the kink (checked)."""
    rng = np.random.default_rng(seed)
    model = SparseMLP.random(list(sizes), density=0.5, rng=rng)
    for layer in model.layers:
        layer.b[:] = rng.standard_normal(layer.b.size) * 0.1
    X, y = rng.standard_normal((B, sizes[0])), rng.integers(0, sizes[-1], B)
    _, cache = model.forward(X, keep=True)
    assert min(np.abs(Z).min() for _, Z, _ in cache[:-1]) > 0.02
    return model, X, y


def second_difference(model, X, y, l, k, h=1e-4):
    """(L(w + h e_k) − 2L(w) + L(w − h e_k)) / h² for entry k of layer l's W.data."""
    data, L0 = model.layers[l].W.data, model.loss(X, y)
    old = data[k]
    data[k] = old + h
    up = model.loss(X, y)
    data[k] = old - h
    down = model.loss(X, y)
    data[k] = old
    return (up - 2 * L0 + down) / h ** 2


@pytest.mark.parametrize("l", [0, 1, 2])
def test_dense_gauss_newton_diagonal(l):
    model, X, y = relu_toy()
    D = growth.gauss_newton_diagonal_dense(model, X, y, l)
    W = model.layers[l].W
    assert D.shape == W.shape
    active = entry_keys(W)
    assert np.allclose(D.ravel()[active], second_order.hessian_diagonal(model, X, y)[l], rtol=1e-12)
    # inactive positions: insert explicit zeros (the loss does not move), then second differences
    inactive = np.setdiff1d(np.arange(D.size), active)
    grown = copy.deepcopy(model)
    topology.grow(grown, l, *np.divmod(inactive, W.shape[1]), values=0.0)
    assert grown.loss(X, y) == pytest.approx(model.loss(X, y), rel=1e-14)
    where = np.searchsorted(entry_keys(grown.layers[l].W), inactive)
    numeric = np.array([second_difference(grown, X, y, l, k) for k in where])
    exact = D.ravel()[inactive]
    assert np.abs(numeric).max() > 1e-3                    # not a vacuous comparison of zeros
    assert np.linalg.norm(numeric - exact) / np.linalg.norm(exact) < 1e-4


# ---------------------------------------------------------------- grow_highest: selection and state

@given(seed=st.integers(0, 10_000), k_frac=st.floats(0, 1), n_excl=st.integers(0, 6))
def test_grow_highest_matches_a_stable_sort_oracle(seed, k_frac, n_excl):
    rng = np.random.default_rng(seed)
    W = layer_with(seed, 6, 7, 15)
    S = rng.integers(0, 4, (6, 7)).astype(float)         # many ties
    S[rng.random((6, 7)) < 0.2] = -np.inf
    exclude = rng.choice(42, size=n_excl, replace=False)
    # oracle: mask active and excluded to −inf, stable sort descending, keep the finite ones
    flat = S.ravel().copy()
    flat[entry_keys(W)] = -np.inf
    flat[exclude] = -np.inf
    order = np.argsort(-flat, kind="stable")
    order = order[flat[order] > -np.inf]
    k = int(k_frac * order.size)
    cand = np.flatnonzero(S.ravel() > -np.inf)[::-1]      # candidates in any order
    for scores in (S, Candidates(cand, S.ravel()[cand])):
        model = one_layer_model(W.copy())
        keys = grow_highest(model, 0, scores, k, exclude=exclude)
        assert np.array_equal(keys, np.sort(order[:k]))
        assert model.layers[0].W.nnz == 15 + k and is_canonical(model.layers[0].W)


def test_grow_highest_refuses_nan_and_ignores_unmasked_active_scores():
    W = hand_layer()
    S = np.zeros((3, 4))
    S.ravel()[HAND_KEYS] = 100.0                           # caller forgot to mask the active ones
    S[0, 0] = 1.0
    assert list(grow_highest(one_layer_model(W.copy()), 0, S, 1)) == [0]
    S[2, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        grow_highest(one_layer_model(W.copy()), 0, S, 1)


def state_by_key(W, v):
    return dict(zip(entry_keys(W).tolist(), v.tolist()))


@pytest.mark.parametrize("state, new_v", [(None, 0.0), ({"v_W": 0.7}, 0.7), ("dense", "dense")])
def test_grow_highest_sgd_state_and_values(state, new_v):
    rng = np.random.default_rng(1)
    model = SparseMLP.random([6, 5, 3], density=0.4, rng=rng)
    X, y = rng.standard_normal((8, 6)), rng.integers(0, 3, 8)
    opt = SGD(model, lr=0.1, momentum=0.9)
    opt.step(model.loss_and_grads(X, y)[1])
    old = state_by_key(model.layers[0].W, opt.v_W[0])
    G = model.loss_and_grads(X, y, dense=[0])[1][0].G
    dense_state = rng.standard_normal(G.shape)
    if state == "dense":
        state = {"v_W": dense_state}
    values = hessian_growth_value(G, np.ones_like(G), 1.0)          # −G/2, dense, gathered
    nnz0 = model.layers[0].nnz
    keys = grow_highest(model, 0, gradient_score(G, model.layers[0].W), 5, values=values,
                        optimizer=opt, state=state)
    W = model.layers[0].W
    assert W.nnz == nnz0 + 5 and opt.v_W[0].shape == (W.nnz,)
    assert np.array_equal(W.toarray().ravel()[keys], -G.ravel()[keys] / 2)
    new = state_by_key(W, opt.v_W[0])
    assert all(new[key] == v for key, v in old.items())               # old state followed its weight
    expected = dense_state.ravel()[keys] if new_v == "dense" else np.full(5, new_v)
    assert np.array_equal([new[key] for key in keys.tolist()], expected)


def test_grow_random_adam_state_is_zero():
    rng = np.random.default_rng(2)
    model = SparseMLP.random([6, 5, 3], density=0.4, rng=rng)
    X, y = rng.standard_normal((8, 6)), rng.integers(0, 3, 8)
    opt = Adam(model)
    opt.step(model.loss_and_grads(X, y)[1])
    old_m = state_by_key(model.layers[1].W, opt.m_W[1])
    keys = grow_random(model, 1, 3, rng, values=lambda n, r: r.standard_normal(n) * 0.01, optimizer=opt)
    m, v = state_by_key(model.layers[1].W, opt.m_W[1]), state_by_key(model.layers[1].W, opt.v_W[1])
    assert all(m[key] == 0 and v[key] == 0 for key in keys.tolist())
    assert all(m[key] == val for key, val in old_m.items()) and len(m) == len(old_m) + 3


@given(seed=st.integers(0, 10_000), n_in=st.integers(1, 12), n_out=st.integers(1, 12),
       density=st.floats(0.0, 0.9), k_share=st.floats(0.0, 1.0), grid=st.booleans(), with_exclude=st.booleans())
def test_top_k_dense_selects_what_the_candidate_list_does(seed, n_in, n_out, density, k_share, grid, with_exclude):
    """The dense fast path (mask a copy, partition) against the candidate-list path, with ties (grid),
    −inf scores, excluded positions and every feasible k; the caller's array is left untouched."""
    from minisparse.growth.select import _as_candidates, top_k_dense, top_k_keys
    from minisparse.network.init import random_sparse
    rng = np.random.default_rng(seed)
    W = random_sparse(n_in, n_out, max(1, int(density * n_in * n_out)), rng)
    S = rng.standard_normal((n_in, n_out))
    if grid:
        S = np.round(S)                                           # many ties
    S[rng.random((n_in, n_out)) < 0.2] = -np.inf
    exclude = rng.choice(n_in * n_out, size=min(3, n_in * n_out), replace=False) if with_exclude else None
    keys, s = _as_candidates(S, W, exclude)
    k = int(k_share * keys.size)
    before = S.copy()
    assert np.array_equal(top_k_dense(S, W, k, exclude), top_k_keys(keys, s, k))
    assert np.array_equal(S, before)
    with pytest.raises(ValueError, match="candidates"):
        top_k_dense(S, W, keys.size + 1, exclude)
