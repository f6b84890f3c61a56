"""EGP: the binary entropy, the layer entropies by hand, the softmax allocation with its cap, and one
pruning step against the rule."""
import numpy as np
import pytest

from minisparse import SparseMLP
from minisparse.network.topology import from_keys
from minisparse.pruning.entropy_guided import binary_entropy, egp_counts, egp_prune, layer_entropies


def test_binary_entropy():
    assert binary_entropy([0.0, 1.0, 0.5]).tolist() == [0.0, 0.0, 1.0]
    assert binary_entropy(0.25) == pytest.approx(-0.25 * np.log2(0.25) - 0.75 * np.log2(0.75))


def test_layer_entropy_by_hand():
    # one hidden layer, 3 units; W makes unit 0 = x0, unit 1 = x1, unit 2 = −x0 − x1 − 10 (always off)
    model = SparseMLP.random([2, 3, 2], density=1.0, topology="dense", rng=0)
    model.layers[0].W = from_keys([0, 2, 4, 5], [1.0, -1.0, 1.0, -1.0], (2, 3))
    model.layers[0].b[:] = [0.0, 0.0, -10.0]
    X = np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, -1.0], [1.0, 1.0]])
    # batch of 4: unit 0 on in 3 (p = 3/4), unit 1 on in 2 (p = 1/2), unit 2 never (left out)
    H = layer_entropies(model, X, batch_size=4)
    assert H[0] == pytest.approx((binary_entropy(0.75) + 1.0) / 2)
    # two batches of 2: [p0 = 1, p1 = 1/2] → only unit 1 varies: 1.0; [p0 = 1/2, p1 = 1/2] → 1.0; mean 1.0
    assert layer_entropies(model, X, batch_size=2)[0] == pytest.approx(1.0)


def test_allocation_is_a_softmax_of_the_inverse_entropy_magnitude_with_a_cap():
    H, m, nnz = [0.5, 1.0, 2.0], [1.0, 1.0, 1.0], [1000, 1000, 1000]
    k = egp_counts(H, m, nnz, 0.2)                      # 600 to remove; no layer runs out
    E = np.array(H)
    a = E.sum() / E
    share = np.exp(a - a.max()) / np.exp(a - a.max()).sum()
    assert np.allclose(k, 600 * share) and k[0] > k[1] > k[2]
    # a small first layer is capped at its size; its excess goes to the others by the same rule
    k = egp_counts(H, m, [100, 1000, 1000], 0.5)
    assert k[0] == 100
    rest = np.array([1.0, 2.0])
    a = (rest.sum()) / rest
    share = np.exp(a - a.max()) / np.exp(a - a.max()).sum()
    assert np.allclose(k[1:], (1050 - 100) * share)
    assert egp_counts([0.0, 1.0], [1.0, 1.0], [10, 10], 0.5).tolist() == [0.0, 5.0]   # H = 0: not pruned


def test_one_step_removes_the_allocated_smallest_weights_of_the_hidden_layers():
    rng = np.random.default_rng(0)
    model = SparseMLP.random([12, 10, 8, 3], density=0.6, rng=0)
    X = rng.standard_normal((64, 12))
    before = [layer.W.copy() for layer in model.layers]
    H, removed = egp_prune(model, X, amount=0.5, batch_size=32)
    expected = egp_counts(H, [np.abs(w.data).mean() for w in before[:-1]], [w.nnz for w in before[:-1]], 0.5)
    assert removed == [int(k) for k in expected]
    for w0, layer, n in zip(before, model.layers, removed + [0]):
        assert layer.nnz == w0.nnz - n
        if n:
            kept = np.abs(layer.W.data)
            assert kept.min() >= np.sort(np.abs(w0.data))[n - 1]        # the n smallest |w| went
    assert (model.layers[-1].W != before[-1]).nnz == 0                   # the output layer is never pruned
