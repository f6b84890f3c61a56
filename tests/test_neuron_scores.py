"""Neuron scores of three orders (coresets, gate relevance, sensitivity analysis): hand examples,
exact expectations and finite differences."""
import copy
import itertools

import numpy as np
import pytest
from test_structured import assert_canonical, model_from_dense

from minisparse import SparseMLP
from minisparse.pruning.neuron_scores import (
    coreset_prune,
    coreset_sensitivity,
    coreset_weights,
    gating_relevance,
    input_sensitivity,
    output_jacobian,
    prune_neurons_by_score,
    sensitivity_scores,
)
from minisparse.pruning.structured import remove_neurons


def hand_net():
    """2 → 3 → 2, ReLU, dense."""
    W0 = np.array([[3.0, 0.0, 1.0],
                   [4.0, 1.0, -2.0]])
    b0 = [0.0, 0.0, 2.0]                       # ‖w̃‖ = 5, 1, 3
    W1 = np.array([[1.0, -2.0],
                   [4.0, 1.0],
                   [0.0, 3.0]])
    return model_from_dense([W0, W1], [W0 != 0, W1 != 0], [b0, [0.5, -0.5]])


def small_net(sizes=(5, 6, 4, 3), activation="tanh", rng=0):
    m = SparseMLP.random(list(sizes), density=0.8, rng=rng, activation=activation)
    g = np.random.default_rng(rng + 1)
    for layer in m.layers:
        layer.b = g.normal(size=layer.b.shape)
    return m


def data(m, B=7, rng=2):
    g = np.random.default_rng(rng)
    return g.normal(size=(B, m.n_in)), g.integers(0, m.n_classes, B)


# ---- coresets --------------------------------------------------------------------------------

def test_coreset_sensitivity_by_hand():
    # G[j, k] = |W1[j, k]|·‖w̃_j‖ = [[5, 10], [4, 1], [0, 9]]; column sums 9, 20
    s = coreset_sensitivity(hand_net(), 0)
    np.testing.assert_allclose(s, [max(5 / 9, 10 / 20), max(4 / 9, 1 / 20), max(0 / 9, 9 / 20)])


def test_coreset_reweighting_is_unbiased_exactly():
    """E over all n^m draw sequences (each with its probability) of Σ_j u_j a_j W1[j, :] = a W1, to rounding."""
    m0 = hand_net()
    x = np.array([[0.7, 0.2]])
    _, cache = m0.forward(x, keep=True)
    a = cache[0][2][0]                                  # hidden outputs (3,)
    W1 = m0.layers[1].W.toarray()
    s = coreset_sensitivity(m0, 0)
    p = s / s.sum()
    n, draws = 3, 4
    expected = np.zeros(2)
    for seq in itertools.product(range(n), repeat=draws):
        prob = np.prod(p[list(seq)])
        u = coreset_weights(p, np.bincount(seq, minlength=n), draws)
        expected += prob * ((u * a) @ W1)
    np.testing.assert_allclose(expected, a @ W1, rtol=1e-12)


def test_coreset_prune_applies_the_weights():
    m0 = hand_net()
    m = copy.deepcopy(m0)
    kept, u = coreset_prune(m, 0, 2, rng=3)
    assert kept.size == 2 and np.all(u > 0)
    assert_canonical(m)
    np.testing.assert_allclose(m.layers[0].W.toarray(), m0.layers[0].W.toarray()[:, kept])
    np.testing.assert_allclose(m.layers[1].W.toarray(), m0.layers[1].W.toarray()[kept] * u[:, None])
    # fixed m: the kept ones are the distinct draws, factors count/(m p)
    m = copy.deepcopy(m0)
    kept, u = coreset_prune(m, 0, None, rng=3, m=5)
    assert m.layers[0].shape[1] == kept.size
    with pytest.raises(ValueError):
        coreset_prune(copy.deepcopy(m0), 0, 4, rng=0)


def test_coreset_reweighting_unbiased_by_sampling():
    """The fixed-m path of coreset_prune, averaged over many seeds, approaches the original Z_2."""
    m0 = small_net(activation="relu")
    X, _ = data(m0, B=3)
    ref = m0.forward(X, keep=True)[1][1][1]             # Z of the layer after hidden layer 0
    acc = np.zeros_like(ref)
    runs = 3000
    for seed in range(runs):
        m = copy.deepcopy(m0)
        coreset_prune(m, 0, None, rng=seed, m=8)
        acc += m.forward(X, keep=True)[1][1][1]
    np.testing.assert_allclose(acc / runs, ref, atol=0.1 * np.abs(ref).max())


# ---- gate relevance ----------------------------------------------------------------------------

def _gated_loss(m, X, y, l, j, alpha):
    """L with the output of neuron j of hidden layer l multiplied by alpha (row j of W_{l+1})."""
    g = copy.deepcopy(m)
    W = g.layers[l + 1].W
    rows = np.repeat(np.arange(W.shape[0]), np.diff(W.indptr))
    W.data[rows == j] *= alpha
    return g.loss(X, y)


@pytest.mark.parametrize("l", [0, 1])
def test_gating_relevance_is_minus_the_gate_derivative(l):
    m = small_net()
    X, y = data(m)
    rho = gating_relevance(m, X, y, l)
    h = 1e-5
    fd = [-(_gated_loss(m, X, y, l, j, 1 + h) - _gated_loss(m, X, y, l, j, 1 - h)) / (2 * h)
          for j in range(m.layers[l].shape[1])]
    np.testing.assert_allclose(rho, fd, atol=1e-6)


def test_gating_relevance_vs_true_removal():
    """ρ_j is the first-order estimate of L(α_j = 0) − L(1); it agrees in sign ordering on tanh."""
    m = small_net()
    X, y = data(m, B=50)
    rho = gating_relevance(m, X, y, 0)
    true = np.array([_gated_loss(m, X, y, 0, j, 0.0) - m.loss(X, y) for j in range(6)])
    assert np.corrcoef(rho, true)[0, 1] > 0.5


# ---- sensitivity analysis ------------------------------------------------------------------------

def _fd_jacobian(m, X, l, outputs, h=1e-6):
    """Central differences of the outputs in A_l[b, j], the network run from layer l+1 (or the input)."""
    from minisparse.network.losses import softmax
    _, cache = m.forward(X, keep=True)
    A = X.copy() if l < 0 else cache[l][2].copy()

    def head(A):
        for layer in m.layers[l + 1:]:
            A = layer.forward(A)[1]
        return softmax(A) if outputs == "softmax" else A
    J = np.zeros((X.shape[0], m.n_classes, A.shape[1]))
    for j in range(A.shape[1]):
        Ap, Am = A.copy(), A.copy()
        Ap[:, j] += h
        Am[:, j] -= h
        J[:, :, j] = (head(Ap) - head(Am)) / (2 * h)
    return J


@pytest.mark.parametrize("outputs", ["softmax", "logits"])
@pytest.mark.parametrize("l", [-1, 0, 1])
def test_output_jacobian_matches_finite_differences(l, outputs):
    m = small_net()
    X, _ = data(m)
    np.testing.assert_allclose(output_jacobian(m, X, l, outputs), _fd_jacobian(m, X, l, outputs),
                               atol=1e-8)


def test_sensitivity_aggregation():
    m = small_net()
    X, _ = data(m)
    J = _fd_jacobian(m, X, 1, "softmax")
    np.testing.assert_allclose(sensitivity_scores(m, X, 1), np.sqrt((J ** 2).mean(1)).mean(0), atol=1e-8)
    J = _fd_jacobian(m, X, -1, "logits")
    np.testing.assert_allclose(input_sensitivity(m, X, outputs="logits"),
                               np.sqrt((J ** 2).mean(1)).mean(0), atol=1e-8)


def test_sensitivity_zero_for_a_dead_unit():
    m = hand_net()                        # hidden unit 2 → output 1 only; make it dead: no outgoing
    W = m.layers[1].W
    W.data[W.indptr[2]:W.indptr[3]] = 0.0
    X = np.random.default_rng(0).normal(size=(5, 2))
    s = sensitivity_scores(m, X, 0)
    assert s[2] == 0 and np.all(s[:2] > 0)


# ---- removal -------------------------------------------------------------------------------------

def test_prune_by_score_removes_lowest_ties_to_lowest_index():
    m0 = small_net()
    m = copy.deepcopy(m0)
    removed = prune_neurons_by_score(m, 0, np.array([3.0, 1.0, 2.0, 1.0, 5.0, 0.5]), 3)
    np.testing.assert_array_equal(removed, [1, 3, 5])
    ref = copy.deepcopy(m0)
    remove_neurons(ref, 0, removed)
    X, _ = data(m0)
    np.testing.assert_allclose(m.forward(X), ref.forward(X))
    assert_canonical(m)
    with pytest.raises(ValueError):
        prune_neurons_by_score(m, 0, np.zeros(5), 1)


def test_removing_a_dead_unit_keeps_the_function():
    """A unit of zero sensitivity (no outgoing weights) scores lowest and its removal changes nothing."""
    m = hand_net()
    W = m.layers[1].W
    W.data[W.indptr[2]:W.indptr[3]] = 0.0
    X = np.random.default_rng(0).normal(size=(5, 2))
    before = m.forward(X)
    removed = prune_neurons_by_score(m, 0, sensitivity_scores(m, X, 0), 1)
    np.testing.assert_array_equal(removed, [2])
    np.testing.assert_allclose(m.forward(X), before)
