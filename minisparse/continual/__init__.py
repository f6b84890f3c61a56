"""Continual learning with sparse networks (article 000, "Better Continual Learning"): a task sequence,
its accuracy matrix, and three ways to learn task after task, each an explicit loop built from
minisparse's own training, pruning and growth pieces.

- :mod:`~.tasks` — Split MNIST-5k (five tasks of two digits), the two scenarios (task-incremental:
  the task's label picks its output pair; class-incremental: no label), the accuracy matrix, average
  accuracy and forgetting.
- :mod:`~.finetune` — naive sequential fine-tuning (dense or sparse), the baseline that forgets, and
  the per-task training step shared by all methods (frozen weights and biases never move).
- :mod:`~.packnet` — PackNet (Mallya & Lazebnik 2018): train, prune, freeze, pass the freed weights on.
- :mod:`~.spacenet` — a SpaceNet-style method (Sokar, Mocanu & Pechenizkiy 2021): sparse training of
  each task inside the free positions, then reserve its strongest connections.
"""
from . import finetune, packnet, spacenet, tasks
from .finetune import run_finetune
from .packnet import run_packnet
from .spacenet import run_spacenet
from .tasks import Task, average_accuracy, forgetting, split_tasks
