"""Structured pruning (whole hidden neurons) against dense oracles and hand-worked examples."""
import copy

import numpy as np
import pytest
from hypothesis import given, strategies as st

from minisparse import SparseLinear, SparseMLP
from minisparse.pruning.structured import (activation_variance, merge_outgoing, merge_similar_neurons,
                                   prune_low_variance, remove_neurons, similarity_merge_score)
from minisparse.network.topology import from_positions, is_canonical, mask


def model_from_dense(Ws, Ms, bs, activation="relu"):
    """A SparseMLP whose layer l stores exactly the positions Ms[l] with values Ws[l] (zeros kept)."""
    layers = []
    for l, (W, M, b) in enumerate(zip(Ws, Ms, bs)):
        rows, cols = np.nonzero(M)
        f = "linear" if l == len(Ws) - 1 else activation
        layers.append(SparseLinear(from_positions(rows, cols, W[rows, cols], W.shape),
                                   np.asarray(b, dtype=float), f))
    return SparseMLP(layers)


def dense(model):
    return [(layer.W.toarray(), mask(layer.W), layer.b.copy()) for layer in model.layers]


def assert_canonical(model):
    for a, b in zip(model.layers, model.layers[1:]):
        assert a.shape[1] == b.shape[0] == a.b.shape[0]
    assert all(is_canonical(layer.W) for layer in model.layers)


def tiny_twins():
    """2 → 3 → 2, ReLU. Hidden neurons 0 and 1 have identical incoming weights and bias."""
    W0 = np.array([[1.0, 1.0, 0.0],
                   [0.5, 0.5, 2.0]])
    M0 = W0 != 0
    b0 = [0.25, 0.25, -0.5]
    W1 = np.array([[2.0, 0.0],          # row 0 lacks (0, 1) ...
                   [0.5, -1.0],         # ... which twin 1 holds: the merge must grow it
                   [0.0, 1.0]])
    M1 = W1 != 0
    b1 = [0.0, 0.125]
    return model_from_dense([W0, W1], [M0, M1], [b0, b1])


X_TINY = np.array([[1.0, 2.0], [-3.0, 0.5]])


# ---------------------------------------------------------------- remove_neurons

def test_remove_neurons_hand_example_keeps_explicit_zeros():
    W0 = np.array([[1.0, 0.0, 3.0],
                   [0.0, 5.0, 6.0]])
    M0 = np.array([[True, True, True],      # (0, 1) is a stored 0 in the *removed* column 1
                   [True, False, True]])    # (1, 0) is a stored 0 in the kept column 0
    W1 = np.array([[0.0, 1.0],              # (0, 0) stored 0 in a kept row
                   [2.0, 0.0],
                   [0.0, 4.0]])
    M1 = np.array([[True, True], [True, False], [False, True]])
    model = model_from_dense([W0, W1], [M0, M1], [[0.1, 0.2, 0.3], [0.0, 0.0]])
    remove_neurons(model, 0, [1])
    (V0, N0, c0), (V1, N1, _) = dense(model)
    assert np.array_equal(V0, [[1.0, 3.0], [0.0, 6.0]])
    assert np.array_equal(N0, [[True, True], [True, True]])        # stored zero at (1, 0) survives
    assert np.array_equal(V1, [[0.0, 1.0], [0.0, 4.0]])
    assert np.array_equal(N1, [[True, True], [False, True]])       # stored zero at (0, 0) survives
    assert np.array_equal(c0, [0.1, 0.3])
    assert model.layers[0].nnz == 4 and model.layers[1].nnz == 3
    assert_canonical(model)


@given(seed=st.integers(0, 10_000), l=st.integers(0, 1), frac=st.floats(0.0, 0.9))
def test_remove_neurons_matches_dense_deletion(seed, l, frac):
    rng = np.random.default_rng(seed)
    model = SparseMLP.random([5, 8, 6, 3], density=0.5, rng=seed)
    model.layers[l].W.data[::3] = 0.0                   # explicit zeros on both sides of neuron j
    model.layers[l + 1].W.data[::4] = 0.0
    n = model.layers[l].shape[1]
    neurons = rng.choice(n, size=min(int(frac * n), n - 1), replace=False)
    before = dense(model)
    remove_neurons(model, l, neurons)
    after = dense(model)
    (V, M, b), (V1, M1, b1) = before[l], before[l + 1]
    assert np.array_equal(after[l][0], np.delete(V, neurons, axis=1))
    assert np.array_equal(after[l][1], np.delete(M, neurons, axis=1))
    assert np.array_equal(after[l][2], np.delete(b, neurons))
    assert np.array_equal(after[l + 1][0], np.delete(V1, neurons, axis=0))
    assert np.array_equal(after[l + 1][1], np.delete(M1, neurons, axis=0))
    assert np.array_equal(after[l + 1][2], b1)
    assert model.layers[l].shape[1] == n - neurons.size               # the width shrinks
    assert_canonical(model)


def test_removing_a_disconnected_neuron_keeps_outputs():
    model = SparseMLP.random([4, 6, 3], density=0.6, rng=1)
    X = np.random.default_rng(2).standard_normal((10, 4))
    out = model.forward(X)
    V, M, _ = dense(model)[1]
    keep = np.ones(6, bool)
    keep[2] = False                                     # neuron 2 has no outgoing connection now
    rows, cols = np.nonzero(M & keep[:, None])
    model.layers[1].W = from_positions(rows, cols, V[rows, cols], V.shape)
    out = model.forward(X)
    remove_neurons(model, 0, [2])
    assert np.allclose(model.forward(X), out, rtol=0, atol=1e-12)


@pytest.mark.parametrize("l, neurons, match", [
    (1, [0], "hidden layer"), (-1, [0], "hidden layer"), (0, [3], r"\[0, 3\)"),
    (0, [0, 0], "distinct"), (0, [0, 1, 2], "all 3"), (0, [[0]], "1-D"), (0, [0.5], "integer")])
def test_remove_neurons_rejects_bad_input(l, neurons, match):
    model = tiny_twins()
    with pytest.raises(ValueError, match=match):
        remove_neurons(model, l, neurons)


# ---------------------------------------------------------------- similarity merging

def test_similarity_score_hand_example():
    # D[j, j'] = ||(W0[:, j], b_j) - (W0[:, j'], b_j')||^2:
    #   D[0, 1] = 0 (twins);  D[0, 2] = D[1, 2] = (1-0)^2 + (0.5-2)^2 + (0.25+0.5)^2 = 3.8125
    # ||a||^2 per row of W1: a_0 = 4, a_1 = 0.25 + 1 = 1.25, a_2 = 1
    # s(j, j') = ||a_j'||^2 D[j, j'] -> neuron 0: twin 1, 4*0 = 0; neuron 1: twin 0, 0;
    #                                   neuron 2: twin 0 (tie with 1, lowest wins), 1*3.8125
    twin, s = similarity_merge_score(tiny_twins(), 0)
    assert np.array_equal(twin, [1, 0, 0])
    assert np.array_equal(s, [0.0, 0.0, 3.8125])


def test_merging_identical_twins_hand_example_is_exact():
    model = tiny_twins()
    # hidden A for x = (1, 2):   z_0 = z_1 = 1 + 2*0.5 + 0.25 = 2.25,  z_2 = 2*2 - 0.5 = 3.5
    #             x = (-3, .5):  z_0 = z_1 = -3 + 0.25 + 0.25 = -2.5 -> 0,  z_2 = 1 - 0.5 = 0.5
    # logits row 0: 2.25*2 + 2.25*0.5 = 5.625;   2.25*(-1) + 3.5*1 + 0.125 = 1.375
    # logits row 1: 0;                           0.5*1 + 0.125 = 0.625
    expected = np.array([[5.625, 1.375], [0.0, 0.625]])
    assert np.array_equal(model.forward(X_TINY), expected)
    removed, twins = merge_similar_neurons(model, 0, 1)
    assert removed.tolist() == [1] and twins.tolist() == [0]    # tie s(0,1) = s(1,0) = 0: later one goes
    # W1 row 0 <- (2, .) + (0.5, -1) = (2.5, -1): position (0, 1) grown with twin 1's value
    V1, M1, _ = dense(model)[1]
    assert np.array_equal(V1, [[2.5, -1.0], [0.0, 1.0]])
    assert np.array_equal(M1, [[True, True], [False, True]])
    assert np.array_equal(model.forward(X_TINY), expected)     # 2.25 * 2.5 = 5.625, exactly
    assert model.layers[0].shape == (2, 2) and model.layers[1].shape == (2, 2)
    assert_canonical(model)


def similarity_oracle(model, l):
    """Plain loops over all pairs: s(j, j') = sum_k W1[j', k]^2 * sum_i (w~_j[i] - w~_j'[i])^2."""
    W, b = model.layers[l].W.toarray(), model.layers[l].b
    A = model.layers[l + 1].W.toarray()
    n = W.shape[1]
    best = []
    for jp in range(n):
        cands = []
        for j in range(n):
            if j != jp:
                d = sum((W[i, j] - W[i, jp]) ** 2 for i in range(W.shape[0])) + (b[j] - b[jp]) ** 2
                cands.append((sum(a * a for a in A[jp]) * d, j))
        best.append(min(cands))
    return np.array([j for _, j in best]), np.array([s for s, _ in best])


@given(seed=st.integers(0, 10_000))
def test_similarity_score_matches_loop_oracle(seed):
    model = SparseMLP.random([4, 7, 5, 3], density=0.5, rng=seed)
    model.layers[1].b[:] = np.random.default_rng(seed).standard_normal(5)
    for l in (0, 1):
        twin, s = similarity_merge_score(model, l)
        twin_o, s_o = similarity_oracle(model, l)
        assert np.array_equal(twin, twin_o)
        assert np.allclose(s, s_o, rtol=1e-12, atol=1e-14)


def test_bias_counts_in_the_similarity():
    model = tiny_twins()
    model.layers[0].b[1] = 1.25                     # same incoming weights, different bias
    twin, s = similarity_merge_score(model, 0)
    assert s[1] == 1.25 * 1.0                       # ||a_1||^2 = 1.25, D = (0.25 - 1.25)^2 = 1


@given(seed=st.integers(0, 10_000))
def test_merge_outgoing_lands_the_exact_sum(seed):
    rng = np.random.default_rng(seed)
    model = SparseMLP.random([3, 6, 5], density=0.5, rng=seed)
    model.layers[1].W.data[::3] = 0.0               # stored zeros must be carried as connections
    j, jp = rng.choice(6, size=2, replace=False)
    V, M, _ = dense(model)[1]
    merge_outgoing(model, 0, j, jp)
    V2, M2, _ = dense(model)[1]
    V[j] += V[jp]
    M[j] |= M[jp]
    assert np.array_equal(V2, V) and np.array_equal(M2, M)
    assert is_canonical(model.layers[1].W)


@given(seed=st.integers(0, 10_000), n_remove=st.integers(0, 4))
def test_greedy_merging_equals_recomputing_after_each_merge(seed, n_remove):
    model = SparseMLP.random([4, 6, 5, 3], density=0.6, rng=seed)
    oracle = copy.deepcopy(model)
    removed, twins = merge_similar_neurons(model, 1, n_remove)
    for _ in range(n_remove):                       # one merge at a time, scores from scratch
        merge_similar_neurons(oracle, 1, 1)
    for a, b in zip(dense(model), dense(oracle)):
        assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert removed.size == twins.size == n_remove and np.unique(removed).size == n_remove
    assert model.layers[1].shape[1] == 5 - n_remove
    assert_canonical(model)


def test_merging_identical_random_neurons_keeps_outputs():
    model = SparseMLP.random([6, 8, 7, 4], density=0.5, rng=3)
    V, M, b = dense(model)[0]
    V[:, 5], M[:, 5], b[5] = V[:, 2], M[:, 2], 0.3   # neuron 5 := a copy of neuron 2
    b[2] = 0.3
    rows, cols = np.nonzero(M)
    model.layers[0].W = from_positions(rows, cols, V[rows, cols], V.shape)
    model.layers[0].b = b
    X = np.random.default_rng(4).standard_normal((20, 6))
    out = model.forward(X)
    removed, twins = merge_similar_neurons(model, 0, 1)
    assert (removed[0], twins[0]) == (5, 2)
    assert np.allclose(model.forward(X), out, rtol=0, atol=1e-12)
    assert model.layers[0].shape == (6, 7) and model.layers[1].shape == (7, 7)
    assert_canonical(model)


def test_merge_rejects_bad_counts():
    model = tiny_twins()
    for n_remove in (-1, 3, 1.0):
        with pytest.raises(ValueError, match="n_remove"):
            merge_similar_neurons(model, 0, n_remove)
    with pytest.raises(ValueError, match="hidden layer"):
        similarity_merge_score(model, 1)


# ---------------------------------------------------------------- activity / variance

def with_constant_neuron(seed, l, j, value):
    """A 5-8-6-3 model in which hidden neuron j of layer l has no inputs and bias ``value``."""
    model = SparseMLP.random([5, 8, 6, 3], density=0.6, rng=seed)
    V, M, b = dense(model)[l]
    M[:, j] = False
    b[j] = value
    rows, cols = np.nonzero(M)
    model.layers[l].W = from_positions(rows, cols, V[rows, cols], V.shape)
    model.layers[l].b = b
    return model


def test_activation_variance_matches_loop_oracle():
    model = SparseMLP.random([5, 8, 6, 3], density=0.6, rng=0)
    X = np.random.default_rng(1).standard_normal((12, 5))
    variances = activation_variance(model, X)
    assert [v.shape for v in variances] == [(8,), (6,)]
    _, cache = model.forward(X, keep=True)
    for v, (_, _, A) in zip(variances, cache):
        for j in range(A.shape[1]):
            col = [A[b, j] for b in range(A.shape[0])]
            mean = sum(col) / len(col)
            assert np.isclose(v[j], sum((a - mean) ** 2 for a in col) / len(col), rtol=1e-12)


def test_variance_fold_hand_example():
    # hidden neuron 1 has no inputs and bias 0.75 -> a_1 = relu(0.75) = 0.75 for every x;
    # W1 row 1 = (2, -4) -> b1 += 0.75 * (2, -4) = (1.5, -3)
    W0, M0 = np.array([[1.0, 0.0], [-1.0, 0.0]]), np.array([[True, False], [True, False]])
    W1, M1 = np.array([[1.0, 1.0], [2.0, -4.0]]), np.ones((2, 2), bool)
    model = model_from_dense([W0, W1], [M0, M1], [[0.0, 0.75], [0.5, 0.25]])
    X = np.array([[1.0, 0.0], [0.0, 3.0], [2.0, 1.0]])
    out = model.forward(X)
    assert np.array_equal(activation_variance(model, X)[0][1], 0.0)
    removed = prune_low_variance(model, X, 0, 1)
    assert removed.tolist() == [1]
    assert np.array_equal(model.layers[1].b, [2.0, -2.75])
    assert np.array_equal(model.forward(X), out)
    assert model.layers[0].shape == (2, 1) and model.layers[1].shape == (1, 2)


@pytest.mark.parametrize("l", [0, 1])
@pytest.mark.parametrize("value", [0.7, -2.0])       # -2: a dead ReLU, constant 0
def test_constant_neuron_removal_keeps_outputs(l, value):
    model = with_constant_neuron(seed=5, l=l, j=3, value=value)
    X = np.random.default_rng(6).standard_normal((30, 5))
    out = model.forward(X)
    removed = prune_low_variance(model, X, l, 1)
    assert removed.tolist() == [3]
    assert np.allclose(model.forward(X), out, rtol=0, atol=1e-12)
    assert model.layers[l].shape[1] == (8, 6)[l] - 1
    assert_canonical(model)


@given(seed=st.integers(0, 10_000), n_remove=st.integers(0, 5))
def test_removes_the_lowest_variances(seed, n_remove):
    model = SparseMLP.random([5, 8, 6, 3], density=0.6, rng=seed)
    X = np.random.default_rng(seed + 1).standard_normal((15, 5))
    var = activation_variance(model, X)[1]
    oracle = sorted(range(6), key=lambda j: (var[j], j))[:n_remove]
    removed = prune_low_variance(model, X, 1, n_remove)
    assert sorted(removed.tolist()) == sorted(oracle)
    assert model.layers[1].shape[1] == 6 - n_remove
    assert_canonical(model)


def test_near_constant_neuron_changes_logits_by_its_deviation():
    model = with_constant_neuron(seed=7, l=1, j=2, value=0.5)
    model.layers[1].b[[0, 1, 3, 4, 5]] = 1.0         # keep the other neurons clearly varying
    V, M, b = dense(model)[1]
    M[0, 2], V[0, 2] = True, 1e-6                   # a tiny input: a_2 = relu(0.5 + 1e-6 * a_0)
    rows, cols = np.nonzero(M)
    model.layers[1].W = from_positions(rows, cols, V[rows, cols], V.shape)
    X = np.random.default_rng(8).standard_normal((25, 5))
    out, cache = model.forward(X, keep=True)
    a = cache[1][2][:, 2]                           # (B,)
    w_next = model.layers[2].W.toarray()[2]         # (n_classes,)
    assert 0 < a.var() < 1e-10 and np.argmin(activation_variance(model, X)[1]) == 2
    assert prune_low_variance(model, X, 1, 1).tolist() == [2]
    change = model.forward(X) - out
    # Z_{l+1} changes by -(a_j(x) - mean a_j) * W_{l+1}[j, :]: small, and exactly that
    assert np.allclose(change, -np.outer(a - a.mean(), w_next), rtol=0, atol=1e-12)
    assert 0 < np.abs(change).max() < 1e-4
