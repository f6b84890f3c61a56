"""Every diagnostic against a dense-mask oracle on small random layers, plus a hand-worked example."""
import json

import numpy as np
import pytest
from hypothesis import given, strategies as st

from minisparse import SparseLinear, SparseMLP
from minisparse.network import neurons, topology
from minisparse.network.neurons import dead_neurons, out_degree_map
from minisparse.sparse_training.diagnostics import EverActive, TopologyLog, layer_densities, topology_change
from minisparse.network.topology import from_positions, mask


def small_model(seed, sizes=(6, 5, 4, 3), density=0.4):
    return SparseMLP.random(list(sizes), density=density, rng=seed)


def rewire(model, l, rng, drop=0.3, grow=None):
    """Drop a random share of layer l's entries, then grow ``grow`` random empty positions at 0."""
    W = model.layers[l].W
    topology.prune(model, l, rng.random(W.nnz) >= drop)
    free = np.flatnonzero(~mask(model.layers[l].W).ravel())        # dense: test oracle only
    k = min(free.size, W.nnz - model.layers[l].nnz if grow is None else grow)
    rows, cols = np.divmod(rng.choice(free, size=k, replace=False), W.shape[1])
    topology.grow(model, l, rows, cols, 0.0)                        # grown at 0: still connections


def rewire_all(model, rng):
    for l in range(len(model.layers)):
        rewire(model, l, rng, drop=rng.random(), grow=int(rng.integers(0, 6)))


@given(seed=st.integers(0, 10_000))
def test_layer_densities_match_mask_mean(seed):
    model = small_model(seed)
    rewire_all(model, np.random.default_rng(seed))
    assert layer_densities(model) == pytest.approx([mask(layer.W).mean() for layer in model.layers])


@given(seed=st.integers(0, 10_000), drop=st.floats(0.0, 1.0), grow=st.integers(0, 12))
def test_topology_change_matches_xor_of_masks(seed, drop, grow):
    model = small_model(seed)
    rng = np.random.default_rng(seed)
    W_old = model.layers[0].W
    rewire(model, 0, rng, drop=drop, grow=grow)
    W_new = model.layers[0].W
    M_old, M_new = mask(W_old), mask(W_new)
    c = topology_change(W_old, W_new)
    assert c.moved == (M_old ^ M_new).sum() / 2
    assert c.dropped == (M_old & ~M_new).sum() and c.grown == (M_new & ~M_old).sum()
    assert c.fraction == pytest.approx(c.moved / M_old.sum() if M_old.sum() else 0.0)


@given(seed=st.integers(0, 10_000))
def test_topology_change_conserving_nnz_is_whole_and_symmetric(seed):
    model = small_model(seed)
    W_old = model.layers[1].W
    rewire(model, 1, np.random.default_rng(seed), drop=0.5)        # regrow as many as dropped
    c, back = topology_change(W_old, model.layers[1].W), topology_change(model.layers[1].W, W_old)
    assert c.dropped == c.grown == c.moved and (back.dropped, back.grown) == (c.grown, c.dropped)


def test_topology_change_ignores_values_and_counts_explicit_zeros():
    W_old = from_positions([0, 1], [0, 1], [1.0, 2.0], (2, 3))
    W_new = from_positions([0, 1], [0, 2], [0.0, 0.0], (2, 3))     # (0, 0) kept at 0; (1, 1) → (1, 2)
    assert topology_change(W_old, W_new) == (1, 1, 1.0, 0.5)
    assert topology_change(W_old, W_old) == (0, 0, 0.0, 0.0)
    with pytest.raises(ValueError, match="shape"):
        topology_change(W_old, from_positions([0], [0], [1.0], (3, 2)))


@given(seed=st.integers(0, 10_000), updates=st.integers(1, 6))
def test_ever_active_is_monotone_and_equals_union_of_masks(seed, updates):
    model = small_model(seed)
    rng = np.random.default_rng(seed)
    ever = EverActive(model)
    union = [mask(layer.W) for layer in model.layers]
    rates = [ever.rate]
    for _ in range(updates):
        rewire_all(model, rng)
        ever.update(model)
        union = [U | mask(layer.W) for U, layer in zip(union, model.layers)]
        rates.append(ever.rate)
        assert ever.layer_rates() == pytest.approx([U.mean() for U in union])
        assert ever.rate == pytest.approx(sum(U.sum() for U in union) / sum(U.size for U in union))
    assert np.all(np.diff(rates) >= 0)
    assert [k.size for k in ever.keys] == [U.sum() for U in union]  # memory: distinct positions only


def test_ever_active_starts_at_density():
    model = small_model(0)
    assert EverActive(model).layer_rates() == pytest.approx(layer_densities(model))


def hand_model():
    """3 inputs → 4 hidden (ReLU) → 2 outputs, biases 0.

    hidden 0 ← input 0 (w = +1);  hidden 1 ← nothing;  hidden 2 ← input 1 (w = +1);  hidden 3 ← input 2 (w = −1)
    hidden 0, 1, 3 → output 0 or 1;  hidden 2 → nothing.
    """
    W1 = from_positions([0, 1, 2], [0, 2, 3], [1.0, 1.0, -1.0], (3, 4))
    W2 = from_positions([0, 1, 3], [0, 1, 1], [0.5, 0.5, 0.5], (4, 2))
    return SparseMLP([SparseLinear(W1, np.zeros(4), "relu"), SparseLinear(W2, np.zeros(2), "linear")])


def test_dead_neurons_hand_worked():
    X = np.array([[1.0, 1.0, 1.0],
                  [2.0, 0.0, 1.0]])
    # Z = X @ W1:  hidden 0: [1, 2]  hidden 1: [0, 0] (no input, b = 0)  hidden 2: [1, 0]  hidden 3: [−1, −1]
    # A = ReLU(Z): hidden 0 and 2 fire on some row; hidden 1 and 3 never do.
    (layer,) = dead_neurons(hand_model(), X)
    idx = layer["indices"]
    assert idx["no_input"].tolist() == [1]            # column 1 of W1 is empty
    assert idx["no_output"].tolist() == [2]           # row 2 of W2 is empty
    assert idx["never_active"].tolist() == [1, 3]     # hidden 2 fires on row 0 only: not dead
    assert idx["dead"].tolist() == [1, 2, 3]
    assert layer["counts"] == {"no_input": 1, "no_output": 1, "never_active": 2, "dead": 3}
    (no_data,) = dead_neurons(hand_model())
    assert "never_active" not in no_data["indices"] and no_data["indices"]["dead"].tolist() == [1, 2]


@given(seed=st.integers(0, 10_000), density=st.floats(0.05, 0.6))
def test_dead_neurons_match_dense_oracle(seed, density):
    model = small_model(seed, sizes=(5, 6, 6, 3), density=density)
    for layer in model.layers:
        layer.b[:] = np.random.default_rng(seed).normal(size=layer.b.size)
    X = np.random.default_rng(seed + 1).normal(size=(7, 5))
    report = dead_neurons(model, X)
    A, acts = X, []
    for layer in model.layers:                       # dense forward: the oracle
        A = np.maximum(A @ layer.W.toarray() + layer.b, 0)
        acts.append(A)
    assert len(report) == 2
    for l, r in enumerate(report):
        expect = {"no_input": ~mask(model.layers[l].W).any(axis=0),
                  "no_output": ~mask(model.layers[l + 1].W).any(axis=1),
                  "never_active": ~(acts[l] > 0).any(axis=0)}
        expect["dead"] = expect["no_input"] | expect["no_output"] | expect["never_active"]
        for kind, flags in expect.items():
            assert r["indices"][kind].tolist() == np.flatnonzero(flags).tolist()
            assert r["counts"][kind] == flags.sum()
    in_batches = neurons._never_active(model, X, batch_size=2)
    assert all(np.array_equal(a, np.isin(np.arange(a.size), r["indices"]["never_active"]))
               for a, r in zip(in_batches, report))


@given(seed=st.integers(0, 10_000))
def test_out_degree_map_matches_mask_row_sums(seed):
    model = small_model(seed, sizes=(16, 5, 3))
    rewire(model, 0, np.random.default_rng(seed), drop=0.4, grow=3)
    img = out_degree_map(model, shape=(4, 4))
    assert img.shape == (4, 4) and img.sum() == model.layers[0].nnz
    assert np.array_equal(img, mask(model.layers[0].W).sum(axis=1).reshape(4, 4))
    assert np.array_equal(out_degree_map(model, shape=None), img.ravel())


def test_out_degree_map_mnist_shape_and_bad_shape():
    model = SparseMLP.random([784, 20, 10], density=0.05, rng=1)
    img = out_degree_map(model)
    assert img.shape == (28, 28) and img.sum() == model.layers[0].nnz
    with pytest.raises(ValueError, match="784"):
        out_degree_map(model, shape=(27, 28))


def test_topology_log_records_changes_and_dumps_to_json():
    model, rng = small_model(5), np.random.default_rng(5)
    log, ever = TopologyLog(), EverActive(model)
    expected = []
    for step in (10, 20, 30):
        before = [layer.W for layer in model.layers]
        masks = [mask(W) for W in before]
        rewire_all(model, rng)
        row = log.record(model, before, step=step, epoch=step // 10, ever_active=ever,
                         macs={"sparse": 100 * step, "dense": 7}, extra={"random_share": 0.25})
        expected.append([(M ^ mask(layer.W)).sum() / 2 for M, layer in zip(masks, model.layers)])
        assert row["nnz"] == [layer.nnz for layer in model.layers]
    cols = json.loads(json.dumps(log.as_dict()))
    assert len(log) == 3 and all(len(v) == 3 for v in cols.values())
    assert cols["step"] == [10, 20, 30] and cols["epoch"] == [1, 2, 3]
    assert cols["moved"] == expected
    assert cols["macs_sparse"] == [1000, 2000, 3000] and cols["macs_dense"] == [7, 7, 7]
    assert cols["ever_active"][-1] == pytest.approx(ever.rate) and cols["random_share"] == [0.25] * 3
    assert np.all(np.diff(cols["ever_active"]) >= 0)
    with pytest.raises(ValueError, match="layers"):
        log.record(model, before[:1])
