"""Continual learning: the metrics by hand, the task split, and the invariants of each method — frozen
weights never move (bit for bit), reserved connections are never pruned or overwritten, capacity adds
up — on a small Split MNIST-5k."""
import copy

import numpy as np
import pytest

from minisparse import SparseMLP
from minisparse.continual import average_accuracy, forgetting, split_tasks
from minisparse.continual import finetune, packnet, spacenet
from minisparse.continual.tasks import accuracy
from minisparse.data.datasets import load_dataset
from minisparse.lab.common import mnist_split
from minisparse.network.topology import entry_keys, isin_sorted


@pytest.fixture(scope="module")
def tasks():
    return split_tasks(mnist_split(600, 0))


FAST = {"epochs": 3}


def test_metrics_by_hand():
    R = np.array([[0.9, np.nan, np.nan],
                  [0.6, 0.8, np.nan],
                  [0.5, 0.7, 1.0]])
    # A_0 = 0.9, A_1 = (0.6 + 0.8)/2 = 0.7, A_2 = (0.5 + 0.7 + 1.0)/3 = 0.7333
    assert np.allclose(average_accuracy(R), [0.9, 0.7, 2.2 / 3])
    # forgetting: task 0 max(0.9, 0.6) − 0.5 = 0.4, task 1 max(0.8) − 0.7 = 0.1 → 0.25
    assert forgetting(R) == pytest.approx(0.25)
    assert forgetting(np.array([[0.7]])) == 0.0


def test_split_puts_every_row_in_the_task_of_its_label():
    data = load_dataset("mnist5k", rng=0)
    ts = split_tasks(data)
    assert [t.classes for t in ts] == [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]
    assert sum(len(t.y_train) for t in ts) == len(data.y_train) and sum(len(t.y_test) for t in ts) == len(data.y_test)
    assert all(set(np.unique(t.y_train)) == set(t.classes) for t in ts)
    with pytest.raises(ValueError, match="more than one task"):
        split_tasks(data, ((0, 1), (1, 2)))


def test_task_incremental_accuracy_predicts_within_the_task(tasks):
    model = SparseMLP.random([784, 20, 10], density=0.5, rng=0)
    model.layers[-1].b[:] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 50.0]        # class 9 dominates every logit
    assert accuracy(model, tasks[0], "class") == 0.0                   # never 0 or 1
    assert accuracy(model, tasks[0], "task") > 0.0                    # 0 vs 1 only
    with pytest.raises(ValueError, match="scenario"):
        accuracy(model, tasks[0], "domain")


def test_frozen_weights_and_biases_do_not_move_bit_for_bit(tasks):
    model = SparseMLP.random([784, 30, 20, 10], density=0.3, rng=1)
    frozen = [np.random.default_rng(l).random(layer.nnz) < 0.5 for l, layer in enumerate(model.layers)]
    before = [layer.W.data.copy() for layer in model.layers]
    biases = [layer.b.copy() for layer in model.layers]
    finetune.train_task(model, tasks[1], "class", 0, epochs=2, frozen=lambda: frozen, freeze_biases=True)
    for layer, w0, b0, f in zip(model.layers, before, biases, frozen):
        assert np.array_equal(layer.W.data[f], w0[f]) and np.array_equal(layer.b, b0)
        assert not np.array_equal(layer.W.data[~f], w0[~f])            # the others did learn


def test_naive_finetuning_forgets_in_the_class_incremental_scenario(tasks):
    R = finetune.run_finetune(SparseMLP.random([784, 40, 40, 10], density=0.5, rng=0), tasks, "class", rng=0, **FAST)
    assert R[0, 0] > 0.8 and R[-1, 0] < R[0, 0] - 0.5 and forgetting(R) > 0.3
    assert np.isnan(R[0, 1]) and not np.isnan(R[-1]).any()


@pytest.mark.parametrize("scenario", ["task", "class"])
def test_packnet_freezes_owned_weights_and_accounts_for_capacity(tasks, scenario):
    model = SparseMLP.random([784, 40, 40, 10], density=0.5, rng=2)
    owners, T = packnet.owners_of(model), len(tasks)
    snapshots = []
    rng = np.random.default_rng(0)
    for task in tasks:
        packnet.packnet_task(model, owners, task, T, scenario, rng, retrain_epochs=1, **FAST)
        snapshots.append([layer.W.data[o == task.index].copy() for layer, o in zip(model.layers, owners)])
        for l, (layer, o) in enumerate(zip(model.layers, owners)):
            # capacity: every stored weight belongs to one task or is free, and all stored weights are kept
            counts = [int((o == t).sum()) for t in range(task.index + 1)] + [int((o == packnet.FREE).sum())]
            assert sum(counts) == layer.nnz
            assert np.all(layer.W.data[o == packnet.FREE] == 0)        # what is free was pruned to 0
    for j, snap in enumerate(snapshots):                               # owned weights never moved
        for layer, o, w in zip(model.layers, owners, snap):
            assert np.array_equal(layer.W.data[o == j], w)
    for layer, o in zip(model.layers, owners):                         # equal shares: nnz/T each, ±1 per task
        assert (o == packnet.FREE).sum() == 0
        assert np.all(np.abs(np.bincount(o, minlength=T) - layer.nnz / T) <= T)


def test_packnet_task_incremental_forgets_nothing(tasks):
    R, _ = packnet.run_packnet(SparseMLP.random([784, 40, 40, 10], density=0.5, rng=3), tasks, "task", rng=0, **FAST)
    for j in range(len(tasks)):
        assert np.all(R[j:, j] == R[j, j])                             # the same sub-network, the same answers
    assert forgetting(R) == 0.0


def test_spacenet_reserves_and_never_touches_what_it_reserved(tasks):
    model = SparseMLP.random([784, 40, 40, 10], density=0.1, rng=4)
    space = spacenet.empty_space(model)
    assert model.nnz == 0
    rng, T = np.random.default_rng(0), len(tasks)
    history = []
    for task in tasks:
        before = [r.copy() for r in space.reserved]
        spacenet.spacenet_task(model, space, task, T, "task", rng, retrain_epochs=1, **FAST)
        for l, layer in enumerate(model.layers):
            keys = entry_keys(layer.W)
            assert np.all(isin_sorted(before[l], keys))                 # nothing reserved was pruned
            assert np.array_equal(space.reserved[l], keys)               # after a task only reserved ones stay
        history.append([(r.copy(), model.layers[l].W.data[isin_sorted(entry_keys(model.layers[l].W), r)].copy())
                        for l, r in enumerate(space.reserved)])
        for owner in space.unit_owner:                                   # each task owns n/T units
            assert np.bincount(owner[owner >= 0], minlength=task.index + 1).tolist() == [40 // T] * (task.index + 1)
    for snap in history:                                                 # reserved values never overwritten
        for l, (keys, values) in enumerate(snap):
            now = entry_keys(model.layers[l].W)
            assert np.array_equal(model.layers[l].W.data[np.searchsorted(now, keys)], values)
    # capacity: the reserved connections are the whole network, and no task's block reaches into an
    # earlier task's units
    assert model.nnz == sum(r.size for r in space.reserved)
    for l, layer in enumerate(model.layers[:-1]):
        cols = entry_keys(layer.W) % layer.shape[1]
        rows_next = entry_keys(model.layers[l + 1].W) // model.layers[l + 1].shape[1]
        assert np.all(space.unit_owner[l][cols] >= 0) and np.all(space.unit_owner[l][rows_next] >= 0)


def test_spacenet_task_incremental_forgets_nothing_with_relu(tasks):
    R, _ = spacenet.run_spacenet(SparseMLP.random([784, 40, 40, 10], density=0.1, rng=5), tasks, "task", rng=0, **FAST)
    for j in range(len(tasks)):
        assert np.all(R[j:, j] == R[j, j])
    with pytest.raises(ValueError, match="share one width"):
        spacenet.run_spacenet(SparseMLP.random([784, 40, 30, 10], density=0.1, rng=5), tasks, "task", rng=0)


def test_same_seed_same_matrix(tasks):
    a = packnet.run_packnet(SparseMLP.random([784, 30, 30, 10], density=0.5, rng=6), tasks, "class", rng=1, **FAST)[0]
    b = packnet.run_packnet(SparseMLP.random([784, 30, 30, 10], density=0.5, rng=6), tasks, "class", rng=1, **FAST)[0]
    assert np.array_equal(a, b, equal_nan=True)
    c = spacenet.run_spacenet(copy.deepcopy(SparseMLP.random([784, 30, 30, 10], density=0.1, rng=6)), tasks, "class",
                              rng=1, **FAST)[0]
    d = spacenet.run_spacenet(SparseMLP.random([784, 30, 30, 10], density=0.1, rng=6), tasks, "class", rng=1, **FAST)[0]
    assert np.array_equal(c, d, equal_nan=True)
