"""A SpaceNet-style method: every task gets its own hidden units, trains sparse connections into them
inside the positions no earlier task holds, with dynamic sparse training, then reserves its strongest
connections and its units (after Sokar, Mocanu & Pechenizkiy, Neural Networks 2021, "SpaceNet: Make
Free Space for Continual Learning").

The network starts with no connections. In each hidden layer every task owns n_l/T units. For task t:

  (1) units: ``units_per_task`` free units of every hidden layer, drawn at random, become task t's;
  (2) allocate: into each of those units, connections from the units of the layer below that belong
      to tasks 0…t (every pixel for the first layer), ``block_density`` of those positions, drawn at
      random; into the output layer, from the last hidden layer's units of tasks 0…t into the task's
      own class units, ``block_density`` of those positions; new
      weights N(0, 2/fan-in), momentum 0;
  (3) train for ``epochs`` − ``retrain_epochs`` epochs, the reserved connections and (after the first
      task) the biases frozen; after every epoch but the last, SET's rewiring within the task's own
      connections and positions: drop the share ζ with the smallest |w|, regrow as many at random
      free positions of the same blocks;
  (4) keep the share ``reserve_share`` of the task's connections with the largest |w|, remove the
      others, retrain the kept ones for ``retrain_epochs``, then reserve them (frozen for good).

Because a task's units take inputs only from its own and earlier tasks' units, and nothing later ever
connects into them, everything an earlier task computes stays exactly as it was: in the
task-incremental scenario nothing is forgotten, by construction (k-WTA layers are the exception: the
k winners are chosen among all units, so a later task's units compete with an earlier task's). Later
tasks may read earlier tasks' units (forward transfer). Both scenarios test with every connection.

Simplifications against the paper, on purpose: SpaceNet chooses each task's neurons by their
importance during training and grows connections towards important neurons; here the units are drawn
at random up front, connections are grown at random and dropped and reserved by |w| (SET's rules);
removing half of a task's connections at once costs accuracy, so the kept ones are retrained briefly
before they are frozen (PackNet's step 3), within the same per-task epoch budget as every method.
"""
from typing import NamedTuple

import numpy as np

from ..growth.select import grow_at_keys
from ..network.checks import check_fraction, check_rng
from ..network.init import init_weights
from ..network.topology import entry_keys, from_keys, isin_sorted, prune
from ..pruning.select import keep_all_but_lowest
from .finetune import SETTINGS, accuracy_row, train_task

FREE = -1


class Space(NamedTuple):
    """What earlier tasks hold: per layer the reserved connections (sorted flat keys), per hidden layer
    the owner of every unit (FREE = −1)."""
    reserved: list
    unit_owner: list


def empty_space(model):
    """No connections in ``model`` (in place; biases 0) and nothing reserved."""
    for layer in model.layers:
        layer.W = from_keys(np.empty(0, dtype=np.int64), np.empty(0, dtype=layer.W.dtype), layer.shape)
        layer.b[:] = 0.0
    return Space([np.empty(0, dtype=np.int64) for _ in model.layers],
                 [np.full(layer.shape[1], FREE, dtype=np.int64) for layer in model.layers[:-1]])


def claim_units(space, task_index, per_layer, rng):
    """Give task ``task_index`` ``per_layer`` free units of every hidden layer, at random."""
    for owner in space.unit_owner:
        free = np.flatnonzero(owner == FREE)
        if per_layer > free.size:
            raise ValueError(f"a hidden layer has {free.size} free units, the task asks for {per_layer}")
        owner[rng.choice(free, size=per_layer, replace=False)] = task_index


def block(space, model, l, task):
    """The positions task t may use in layer l: rows = units below owned by tasks ≤ t (all inputs for
    the first layer), columns = task t's units (its classes in the output layer).   # sorted keys"""
    n_in, n_out = model.layers[l].shape
    rows = (np.arange(n_in) if l == 0 else
            np.flatnonzero((space.unit_owner[l - 1] != FREE) & (space.unit_owner[l - 1] <= task.index)))
    cols = (np.asarray(task.classes) if l == len(model.layers) - 1 else
            np.flatnonzero(space.unit_owner[l] == task.index))
    return np.sort((rows[:, None] * n_out + cols[None, :]).ravel())


def grow_in_block(model, l, keys_allowed, k, rng, optimizer=None):
    """Add k connections to layer l at random positions of ``keys_allowed`` not yet held,
    N(0, 2/fan-in) with the fan-in of the block; returns their keys."""
    layer = model.layers[l]
    free = keys_allowed[~isin_sorted(keys_allowed, entry_keys(layer.W))]
    if k > free.size:
        raise ValueError(f"layer {l}: {free.size} free positions in the task's block, {k} asked")
    keys = np.sort(rng.choice(free, size=k, replace=False))
    cols = max(np.unique(keys_allowed % layer.shape[1]).size, 1)
    gain = "relu" if l < len(model.layers) - 1 else "linear"
    return grow_at_keys(model, l, keys, values=init_weights(k, max(k / cols, 1.0), rng, gain, layer.W.dtype),
                        optimizer=optimizer)


def own_entries(model, space, l):
    """True at layer l's stored entries that are not reserved (the current task's).   # (nnz,)"""
    return ~isin_sorted(entry_keys(model.layers[l].W), space.reserved[l])


def rewire(model, space, blocks, rng, zeta, optimizer):
    """SET within the task's connections: drop the ζ share with the smallest |w|, regrow as many at
    random free positions of the task's blocks."""
    for l, layer in enumerate(model.layers):
        idx = np.flatnonzero(own_entries(model, space, l))
        k = int(round(zeta * idx.size))
        if not k:
            continue
        keep = np.ones(layer.nnz, dtype=bool)
        keep[idx[~keep_all_but_lowest(np.abs(layer.W.data[idx]), k)]] = False
        prune(model, l, keep, optimizer)
        grow_in_block(model, l, blocks[l], k, rng, optimizer)


def keep_strongest(model, space, share):
    """Of the task's connections keep the ``share`` with the largest |w|, remove the others; returns the
    kept keys per layer."""
    kept = []
    for l, layer in enumerate(model.layers):
        keys, own = entry_keys(layer.W), np.flatnonzero(own_entries(model, space, l))
        n_keep = int(round(share * own.size))
        keep = np.ones(layer.nnz, dtype=bool)
        keep[own] = False
        keep[own[keep_all_but_lowest(np.abs(layer.W.data[own]), own.size - n_keep)]] = True
        kept.append(keys[own][keep[own]])
        prune(model, l, keep)
    return kept


def spacenet_task(model, space, task, n_tasks, scenario, rng, block_density=0.2, zeta=0.2, reserve_share=0.5,
                  retrain_epochs=2, **settings):
    """Steps (1)–(4) for one task; ``space`` is updated in place."""
    settings = {**SETTINGS, **settings}
    check_fraction(block_density, "block_density")
    check_fraction(reserve_share, "reserve_share")
    if not 0 <= retrain_epochs < settings["epochs"]:
        raise ValueError(f"retrain_epochs must be in [0, {settings['epochs']}) (part of the per-task budget), "
                         f"got {retrain_epochs}")
    claim_units(space, task.index, model.layers[0].shape[1] // n_tasks, rng)                          # (1)
    blocks = [block(space, model, l, task) for l in range(len(model.layers))]
    for l, keys in enumerate(blocks):                                                                 # (2)
        grow_in_block(model, l, keys, int(round(block_density * keys.size)), rng)
    epochs = settings.pop("epochs") - retrain_epochs

    def frozen():
        return [~own_entries(model, space, l) for l in range(len(model.layers))]

    def after_epoch(epoch, optimizer):
        if epoch < epochs:
            rewire(model, space, blocks, rng, zeta, optimizer)

    train_task(model, task, scenario, rng, epochs=epochs, freeze_biases=task.index > 0, frozen=frozen,   # (3)
               after_epoch=after_epoch, **settings)
    kept = keep_strongest(model, space, reserve_share)                                                # (4)
    if retrain_epochs:
        train_task(model, task, scenario, rng, epochs=retrain_epochs, freeze_biases=task.index > 0,
                   frozen=frozen, **settings)
    for l, keys in enumerate(kept):
        space.reserved[l] = np.union1d(space.reserved[l], keys)


def run_spacenet(model, tasks, scenario, rng=0, **options):
    """The SpaceNet-style loop over ``tasks`` on ``model`` (emptied first); returns (R (T, T), space).
    Every hidden layer must have the same width, divisible among the tasks."""
    rng = check_rng(rng)
    widths = {layer.shape[1] for layer in model.layers[:-1]}
    if len(widths) != 1 or min(widths) < len(tasks):
        raise ValueError(f"hidden layers must share one width of at least {len(tasks)} units, got {sorted(widths)}")
    space = empty_space(model)
    T = len(tasks)
    R = np.full((T, T), np.nan)
    for i, task in enumerate(tasks):
        spacenet_task(model, space, task, T, scenario, rng, **options)
        R[i] = accuracy_row(model, tasks, i, scenario)
    return R, space
