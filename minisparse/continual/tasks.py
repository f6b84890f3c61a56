"""A sequence of tasks, the two scenarios and the numbers that summarise a run.

Split MNIST: task t holds the digits (2t, 2t + 1), t = 0…4 (Zenke, Poole & Ganguli 2017; the two
scenarios as in van de Ven & Tolias 2019, "Three scenarios for continual learning"):

- task-incremental ('task'): at training and at test the task's identity is given, and the softmax
  runs over its two output units only (a two-way head per task on a shared output layer);
- class-incremental ('class'): no identity; the softmax runs over all ten units at training and at
  test, so the network must tell every digit from every other.

The accuracy matrix R[i, j] is the test accuracy on task j after training on tasks 0…i (NaN for
j > i). From it (Lopez-Paz & Ranzato 2017; Chaudhry et al. 2018, "Riemannian Walk"):

    average accuracy after task i   A_i = (1 / (i + 1)) Σ_{j ≤ i} R[i, j]
    forgetting                      F = (1 / (T − 1)) Σ_{j < T−1} max_{i < T−1} R[i, j] − R[T−1, j]
"""
from typing import NamedTuple

import numpy as np

from ..network.mlp import restrict_logits

SCENARIOS = ("task", "class")


class Task(NamedTuple):
    """One task: its index, its classes (output units), and its train / validation / test rows."""
    index: int
    classes: tuple
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


def split_tasks(data, groups=((0, 1), (2, 3), (4, 5), (6, 7), (8, 9))):
    """The tasks of a :class:`~minisparse.data.datasets.Split`, one per group of labels (each row goes to
    the task holding its label; every label must be in exactly one group)."""
    labels = [c for g in groups for c in g]
    if len(set(labels)) != len(labels):
        raise ValueError(f"a label is in more than one task: {groups}")
    tasks = []
    for t, g in enumerate(groups):
        parts = []
        for X, y in ((data.X_train, data.y_train), (data.X_val, data.y_val), (data.X_test, data.y_test)):
            rows = np.isin(y, g)
            parts += [X[rows], y[rows]]
        if not len(parts[1]):
            raise ValueError(f"task {t} (labels {g}) has no training rows")
        tasks.append(Task(t, tuple(int(c) for c in g), *parts))
    return tasks


def check_scenario(scenario):
    if scenario not in SCENARIOS:
        raise ValueError(f"scenario must be one of {SCENARIOS} (task- or class-incremental), got {scenario!r}")
    return scenario


def head(task, scenario):
    """The output units the softmax runs over: the task's classes (task-incremental) or all (None)."""
    return task.classes if check_scenario(scenario) == "task" else None


def accuracy(model, task, scenario, split="test"):
    """Accuracy on the task's ``split`` rows, predicting among the task's classes (task-incremental)
    or among all classes (class-incremental)."""
    X, y = getattr(task, f"X_{split}"), getattr(task, f"y_{split}")
    Z = model.forward(X)
    classes = head(task, scenario)
    if classes is not None:
        Z = restrict_logits(Z, classes)
    return float(np.mean(Z.argmax(axis=1) == y))


def average_accuracy(R):
    """A_i = mean_{j ≤ i} R[i, j] for every i.   # (T,)"""
    R = np.asarray(R, dtype=float)
    return np.array([R[i, :i + 1].mean() for i in range(R.shape[0])])


def forgetting(R):
    """F = mean over j < T−1 of (max_{i < T−1} R[i, j]) − R[T−1, j]   (0 for a single task)."""
    R = np.asarray(R, dtype=float)
    T = R.shape[0]
    if T < 2:
        return 0.0
    return float(np.mean([np.nanmax(R[j:T - 1, j]) - R[T - 1, j] for j in range(T - 1)]))
