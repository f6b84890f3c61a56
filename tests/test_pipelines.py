"""Pruning pipelines: the cubic schedule, rewinding, IMP, gradual pruning, prune → fine-tune, SNIP."""
import copy

import numpy as np
import pytest

from minisparse import SparseMLP

from minisparse.network import topology
from minisparse.data.datasets import make_teacher_data, stratified_split
from minisparse.pruning import pipelines
from minisparse.pruning.zeroth_order import magnitude_score


@pytest.fixture(scope="module")
def data():
    X, y = make_teacher_data(n=1200, n_features=20, n_classes=4, n_hidden=16, rng=0)
    return stratified_split(X, y, val_fraction=0.1, test_fraction=0.2, rng=0)


def dense(seed=0):
    return SparseMLP.random([20, 48, 32, 4], density=1.0, rng=seed)


def test_cubic_schedule_by_hand():
    # s_i = 0, s_f = 0.9, halfway: s = 0.9 + (0 − 0.9)·(1 − 0.5)³ = 0.9 − 0.1125 = 0.7875 → d = 0.2125
    assert np.isclose(pipelines.cubic_density(150, 0.1, 100, 200), 0.2125)
    assert pipelines.cubic_density(100, 0.1, 100, 200) == 1.0
    assert np.isclose(pipelines.cubic_density(200, 0.1, 100, 200), 0.1)
    assert np.isclose(pipelines.cubic_density(999, 0.1, 100, 200), 0.1)
    d = [pipelines.cubic_density(t, 0.1, 0, 100) for t in range(101)]
    assert np.all(np.diff(d) <= 0) and np.all(np.diff(d, 2) >= -1e-12)   # falls, fast first then slowly


def test_rewind_restores_survivors_exactly(data):
    model = dense()
    snapshot = copy.deepcopy(model)
    pipelines.train(model, data, 1)
    pipelines.prune_lowest(model, magnitude_score(model), density=0.3)
    keys = [topology.entry_keys(layer.W) for layer in model.layers]
    pipelines.rewind(model, snapshot)
    for layer, old, k in zip(model.layers, snapshot.layers, keys):
        dense_old = old.W.toarray().ravel()
        assert np.array_equal(layer.W.data, dense_old[k]) and np.array_equal(layer.b, old.b)
        assert np.array_equal(topology.entry_keys(layer.W), k)            # the pattern stays pruned


def test_rewind_refuses_a_snapshot_without_the_connection(data):
    small = SparseMLP.random([20, 48, 32, 4], density=0.2, rng=1)
    with pytest.raises(ValueError, match="lacks"):
        pipelines.rewind(dense(), small)


def test_prune_and_finetune(data):
    model = dense()
    pipelines.train(model, data, 3)
    before = pipelines.accuracy_on_test(model, data)
    out = pipelines.prune_and_finetune(model, magnitude_score(model), 0.2, data, finetune_epochs=2)
    assert out["density"] == pytest.approx(0.2, abs=2e-3) and out["macs"] > 0
    assert out["finetuned"] >= out["one_shot"] - 0.02 and before > 0.5


def test_gradual_pruning_follows_the_schedule(data):
    model = dense()
    events, acc, macs = pipelines.gradual_magnitude_pruning(model, data, 0.1, epochs=6, prune_every=5)
    assert model.density == pytest.approx(0.1, abs=2e-3)
    assert len(events["step"]) > 3 and np.all(np.diff(events["density"]) <= 0)
    assert acc > 0.4 and macs > 0                      # chance is 0.25
    for layer in model.layers:
        assert topology.is_canonical(layer.W)


def test_lottery_ticket_reaches_density_round_by_round(data):
    model = dense(2)
    ticket, trace, macs = pipelines.lottery_ticket(model, data, 0.2, rounds=3, epochs=2)
    assert ticket.density == pytest.approx(0.2, abs=0.01)
    assert [round(d, 2) for d, _ in trace][:3] == [1.0, round(0.2 ** (1 / 3), 2), round(0.2 ** (2 / 3), 2)]
    assert macs > 0 and trace[-1][1] > 0.4


def test_ticket_is_the_initial_weights_at_the_largest_initial_magnitudes(data):
    """With no training, one IMP round keeps the largest |w| per layer at their initial values."""
    model = dense(3)
    init = copy.deepcopy(model)
    ticket, _, macs = pipelines.lottery_ticket(model, data, 0.5, rounds=1, epochs=0)
    assert macs == 0
    for layer, old in zip(ticket.layers, init.layers):
        w0 = old.W.toarray().ravel()
        k = round(0.5 * w0.size)
        largest = np.sort(np.argsort(-np.abs(w0), kind="stable")[:k])
        assert np.array_equal(topology.entry_keys(layer.W), largest)
        assert np.array_equal(layer.W.data, w0[largest])


@pytest.mark.parametrize("criterion", ["snip", "grasp"])
def test_prune_at_init_then_train(data, criterion):
    model = dense(4)
    history, acc, macs = pipelines.prune_at_init_then_train(model, data, 0.2, 3, criterion)
    assert model.density == pytest.approx(0.2, abs=2e-3) and len(history) == 3
    assert acc > 0.4 and macs > 0
