"""Naive sequential fine-tuning, and the per-task training step every method here shares.

:func:`train_task` is plain SGD on one task's rows, with two guards the other methods need: weights
marked frozen get a zero gradient (and, with a fresh optimizer per task, a zero velocity, so they do
not move at all, bit for bit), and the biases can be frozen too. :func:`run_finetune` trains the tasks
one after the other with nothing frozen: every weight is free to be overwritten by the next task,
which is what catastrophic forgetting looks like.
"""
import numpy as np

from ..network.checks import check_rng
from ..network.optim import SGD
from ..network.train import minibatches
from .tasks import accuracy, check_scenario, head

SETTINGS = {"epochs": 10, "lr": 0.02, "momentum": 0.9, "batch_size": 64}   # the same for every method


def train_task(model, task, scenario, rng, epochs=10, lr=0.02, momentum=0.9, batch_size=64, frozen=None,
               freeze_biases=False, after_epoch=None):
    """SGD (fresh momentum) on ``task`` for ``epochs`` epochs; returns the mean loss of the last epoch.

    ``frozen``: None, or a function () → one boolean array per layer, aligned with W.data (True: this
    weight must not move), called at the start of every epoch (``after_epoch`` may change the pattern).
    ``freeze_biases``: the biases stay as they are. ``after_epoch(epoch, optimizer)`` runs after each
    epoch; if it changes the pattern it must pass ``optimizer`` to ``topology.prune`` / ``grow``.
    """
    rng, classes = check_rng(rng), head(task, check_scenario(scenario))
    optimizer = SGD(model, lr=lr, momentum=momentum)
    loss_sum = 0.0
    for epoch in range(1, epochs + 1):
        masks = frozen() if frozen is not None else None
        if masks is not None and [m.shape for m in masks] != [(layer.nnz,) for layer in model.layers]:
            raise ValueError("frozen() must return one boolean array per layer, aligned with its W.data")
        loss_sum = 0.0
        for idx in minibatches(len(task.y_train), batch_size, rng):
            loss, grads = model.loss_and_grads(task.X_train[idx], task.y_train[idx], classes=classes)
            for l, g in enumerate(grads):
                if masks is not None:
                    g.dW[masks[l]] = 0.0
                if freeze_biases:
                    g.db[:] = 0.0
            optimizer.step(grads)
            loss_sum += loss * len(idx)
        model.end_epoch()                                   # k-WTA layers decay their boost strength
        if after_epoch is not None:
            after_epoch(epoch, optimizer)
            if any(v.shape != (layer.nnz,) for v, layer in zip(optimizer.v_W, model.layers)):
                raise ValueError("after_epoch changed a pattern without carrying the optimizer's state "
                                 "(pass the optimizer to topology.prune / grow)")
    return loss_sum / len(task.y_train)


def accuracy_row(model, tasks, upto, scenario, weights_for=None):
    """[R[upto, j] for j ≤ upto], NaN for j > upto. ``weights_for(j)``: a context manager that sets the
    model up to be tested on task j (PackNet's task masks), or None."""
    row = np.full(len(tasks), np.nan)
    for j in range(upto + 1):
        if weights_for is None:
            row[j] = accuracy(model, tasks[j], scenario)
        else:
            with weights_for(j):
                row[j] = accuracy(model, tasks[j], scenario)
    return row


def run_finetune(model, tasks, scenario, rng=0, **settings):
    """Train ``model`` on every task in turn, nothing frozen; return the accuracy matrix R (T, T)."""
    rng, settings = check_rng(rng), {**SETTINGS, **settings}
    R = np.full((len(tasks), len(tasks)), np.nan)
    for i, task in enumerate(tasks):
        train_task(model, task, scenario, rng, **settings)
        R[i] = accuracy_row(model, tasks, i, scenario)
    return R
