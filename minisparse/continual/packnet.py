"""PackNet: train a task, prune it, freeze what it kept, give the pruned weights to the next task
(Mallya & Lazebnik, CVPR 2018, "PackNet: Adding Multiple Tasks to a Single Network by Iterative
Pruning").

Every stored weight has an owner: FREE (−1) or the task that kept it. For task t of T:

  (1) train the FREE weights on task t; weights of earlier tasks are frozen (and the biases after the
      first task: the paper fixes biases and batch-norm after the first task);
  (2) prune: of the FREE weights keep the share 1/(T − t) with the largest |w| (the last task keeps
      all) and set the others to 0, FREE for later tasks (a stored 0 is still a connection);
  (3) retrain the kept ones, the pruned held at 0;
  (4) the kept ones now belong to task t, frozen from here on.

Task-incremental test on task j uses only the weights owned by tasks 0…j, the others read as 0: each
task sees exactly the network it was trained with. Class-incremental has no task identity: every
owned weight is used.

Simplifications against the paper, on purpose: an equal share per task (1/(T − t) of what is free,
so each task ends with a fifth of the weights) instead of its fixed pruning ratio per task; one
epoch budget for every method here, ``epochs`` − ``retrain_epochs`` of training plus
``retrain_epochs`` of retraining; the paper's output layer is a separate head per task, here one
shared ten-unit layer whose other tasks' units get no gradient in the task-incremental scenario.
Works on a sparse network unchanged: only stored weights have owners, nothing is grown.
"""
import contextlib

import numpy as np

from ..network.checks import check_rng
from ..pruning.select import keep_all_but_lowest
from .finetune import SETTINGS, accuracy_row, train_task

FREE = -1


def owners_of(model):
    """Every stored weight FREE at the start.   # [(nnz_l,) int]"""
    return [np.full(layer.nnz, FREE, dtype=np.int64) for layer in model.layers]


def keep_share(task_index, n_tasks):
    """1/(T − t): the share of the free weights task t keeps, so that every task ends with as many."""
    return 1.0 / (n_tasks - task_index)


def prune_free(model, owners, share):
    """Among each layer's FREE weights keep the ``share`` with the largest |w| (rounded), set the rest to
    0; returns the keep masks (aligned with W.data, True only at kept FREE weights)."""
    kept = []
    for layer, owner in zip(model.layers, owners):
        free = np.flatnonzero(owner == FREE)
        n_keep = int(round(share * free.size))
        keep = np.zeros(layer.nnz, dtype=bool)
        keep[free[keep_all_but_lowest(np.abs(layer.W.data[free]), free.size - n_keep)]] = True
        layer.W.data[free[~keep[free]]] = 0.0
        kept.append(keep)
    return kept


@contextlib.contextmanager
def task_weights(model, owners, j):
    """Within the block, weights not owned by tasks 0…j read as 0 (restored on exit)."""
    saved = [layer.W.data.copy() for layer in model.layers]
    try:
        for layer, owner in zip(model.layers, owners):
            layer.W.data[(owner == FREE) | (owner > j)] = 0.0
        yield
    finally:
        for layer, data in zip(model.layers, saved):
            layer.W.data[:] = data


def packnet_task(model, owners, task, n_tasks, scenario, rng, retrain_epochs=2, **settings):
    """Steps (1)–(4) for one task; ``owners`` is updated in place."""
    settings = {**SETTINGS, **settings}
    epochs = settings.pop("epochs")
    if not 0 <= retrain_epochs < epochs:
        raise ValueError(f"retrain_epochs must be in [0, {epochs}) (part of the per-task budget), got {retrain_epochs}")
    first = task.index == 0
    train_task(model, task, scenario, rng, epochs=epochs - retrain_epochs, freeze_biases=not first,
               frozen=lambda: [o != FREE for o in owners], **settings)                       # (1)
    kept = prune_free(model, owners, keep_share(task.index, n_tasks))                        # (2)
    if retrain_epochs:
        train_task(model, task, scenario, rng, epochs=retrain_epochs, freeze_biases=not first,
                   frozen=lambda: [~k for k in kept], **settings)                           # (3)
    for owner, keep in zip(owners, kept):                                                    # (4)
        owner[keep] = task.index


def run_packnet(model, tasks, scenario, rng=0, retrain_epochs=2, **settings):
    """PackNet over ``tasks``; returns (accuracy matrix R (T, T), owners)."""
    rng = check_rng(rng)
    owners, T = owners_of(model), len(tasks)
    R = np.full((T, T), np.nan)
    for i, task in enumerate(tasks):
        packnet_task(model, owners, task, T, scenario, rng, retrain_epochs, **settings)
        weights_for = (lambda j: task_weights(model, owners, j)) if scenario == "task" else None
        R[i] = accuracy_row(model, tasks, i, scenario, weights_for)
    return R, owners
