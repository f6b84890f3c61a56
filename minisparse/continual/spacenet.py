"""A SpaceNet-style method: each task trains its own sparse connections inside the positions no
earlier task holds, with dynamic sparse training, then reserves its strongest connections and gives
the rest back (after Sokar, Mocanu & Pechenizkiy, Neural Networks 2021, "SpaceNet: Make Free Space
for Continual Learning").

The network starts with no connections. For task t:

  (1) allocate: in every hidden layer ``hidden_density``·n_in·n_out connections at uniformly random
      free positions, in the output layer ``head_density`` of the positions of the task's own output
      units; new weights N(0, 2/fan-in), momentum 0 (positions reserved by earlier tasks are taken,
      so growth never lands on them);
  (2) train the task's connections for ``epochs`` epochs with the reserved ones and (after the
      first task) the biases frozen; after every epoch but the last, SET's rewiring within the task's
      own connections: drop the share ζ with the smallest |w|, regrow as many at random free
      positions (the same rule as (1));
  (3) keep the share ``reserve_share`` of the task's connections with the largest |w| and remove the
      others, which frees their positions for later tasks; retrain the kept ones for
      ``retrain_epochs`` (within the same per-task budget as every method: ``epochs`` in all), then
      reserve them: frozen for good.

Both scenarios test with every connection the network holds (no task identity is needed).
Simplifications against the paper, on purpose: SpaceNet also reserves the task's most important
neurons, scores connections by their importance over training, and grows new connections near the
important neurons; here connections are dropped by |w|, grown at random (SET's rules) and reserved
by |w|, and no neuron is reserved; removing half of a task's connections at once costs accuracy,
so the kept ones are retrained briefly before they are frozen (PackNet's step 3).
"""
import numpy as np

from ..growth.select import grow_at_keys, random_positions
from ..network.checks import check_fraction, check_rng
from ..network.init import init_weights
from ..network.topology import entry_keys, from_keys, isin_sorted, prune
from ..pruning.select import keep_all_but_lowest
from .finetune import SETTINGS, accuracy_row, train_task


def empty_like(model):
    """The same layers with no connections and zero biases (in place; returns the model)."""
    for layer in model.layers:
        layer.W = from_keys(np.empty(0, dtype=np.int64), np.empty(0, dtype=layer.W.dtype), layer.shape)
        layer.b[:] = 0.0
    return model


def head_positions(layer, classes):
    """Flat positions of the output layer's columns ``classes``.   # (n_in·|classes|,) sorted"""
    n_in, n_out = layer.shape
    return np.sort((np.arange(n_in)[:, None] * n_out + np.asarray(classes)[None, :]).ravel())


def grow_task(model, l, k, rng, classes, optimizer=None):
    """Add k connections to layer l at random free positions (the output layer: in ``classes``'
    columns only), N(0, 2/fan-in) with fan-in k/n_out; returns their keys."""
    layer = model.layers[l]
    if l == len(model.layers) - 1:
        pool = head_positions(layer, classes)
        free = pool[~isin_sorted(pool, entry_keys(layer.W))]
        if k > free.size:
            raise ValueError(f"the task's output units have {free.size} free positions, {k} asked")
        keys = np.sort(rng.choice(free, size=k, replace=False))
    else:
        keys = random_positions(layer.W, k, rng)
    fan_in = max(k / (len(classes) if l == len(model.layers) - 1 else layer.shape[1]), 1.0)
    values = init_weights(keys.size, fan_in, rng, "relu" if l < len(model.layers) - 1 else "linear", layer.W.dtype)
    return grow_at_keys(model, l, keys, values=values, optimizer=optimizer)


def allocation(model, hidden_density, head_density, classes):
    """Connections task gets per layer: round(d·n_in·n_out) in hidden layers, round(d_head·n_in·|classes|)
    in the output layer."""
    sizes = [int(round(hidden_density * n_in * n_out)) for n_in, n_out in (l.shape for l in model.layers[:-1])]
    n_in = model.layers[-1].shape[0]
    return sizes + [int(round(head_density * n_in * len(classes)))]


def rewire(model, reserved, rng, zeta, classes, optimizer):
    """SET within the task's connections: drop the ζ share with the smallest |w| (never a reserved one),
    regrow as many at random free positions."""
    for l, layer in enumerate(model.layers):
        own = ~isin_sorted(entry_keys(layer.W), reserved[l])
        idx = np.flatnonzero(own)
        k = int(round(zeta * idx.size))
        if not k:
            continue
        keep = np.ones(layer.nnz, dtype=bool)
        keep[idx[~keep_all_but_lowest(np.abs(layer.W.data[idx]), k)]] = False
        prune(model, l, keep, optimizer)
        grow_task(model, l, k, rng, classes, optimizer)


def keep_strongest(model, reserved, share):
    """Of the task's connections (those not reserved) keep the ``share`` with the largest |w|, remove
    the others; returns the kept keys per layer."""
    kept = []
    for l, layer in enumerate(model.layers):
        keys = entry_keys(layer.W)
        own = np.flatnonzero(~isin_sorted(keys, reserved[l]))
        n_keep = int(round(share * own.size))
        keep = np.ones(layer.nnz, dtype=bool)
        keep[own] = False
        keep[own[keep_all_but_lowest(np.abs(layer.W.data[own]), own.size - n_keep)]] = True
        kept.append(keys[own][keep[own]])
        prune(model, l, keep)
    return kept


def spacenet_task(model, reserved, task, scenario, rng, hidden_density=0.04, head_density=0.3, zeta=0.2,
                  reserve_share=0.5, retrain_epochs=2, **settings):
    """Steps (1)–(3) for one task; ``reserved`` (sorted keys per layer) is updated in place."""
    settings = {**SETTINGS, **settings}
    check_fraction(reserve_share, "reserve_share")
    if not 0 <= retrain_epochs < settings["epochs"]:
        raise ValueError(f"retrain_epochs must be in [0, {settings['epochs']}) (part of the per-task budget), "
                         f"got {retrain_epochs}")
    for l, k in enumerate(allocation(model, hidden_density, head_density, task.classes)):      # (1)
        grow_task(model, l, k, rng, task.classes)
    epochs = settings.pop("epochs") - retrain_epochs

    def frozen():
        return [isin_sorted(entry_keys(layer.W), r) for layer, r in zip(model.layers, reserved)]

    def after_epoch(epoch, optimizer):
        if epoch < epochs:
            rewire(model, reserved, rng, zeta, task.classes, optimizer)

    train_task(model, task, scenario, rng, epochs=epochs, freeze_biases=task.index > 0,        # (2)
               frozen=frozen, after_epoch=after_epoch, **settings)
    kept = keep_strongest(model, reserved, reserve_share)                                       # (3)
    if retrain_epochs:
        train_task(model, task, scenario, rng, epochs=retrain_epochs, freeze_biases=task.index > 0,
                   frozen=frozen, **settings)
    for l, keys in enumerate(kept):
        reserved[l] = np.union1d(reserved[l], keys)


def run_spacenet(model, tasks, scenario, rng=0, **options):
    """The SpaceNet-style loop over ``tasks`` on ``model`` emptied first; returns (R (T, T), reserved)."""
    rng = check_rng(rng)
    empty_like(model)
    reserved = [np.empty(0, dtype=np.int64) for _ in model.layers]
    T = len(tasks)
    R = np.full((T, T), np.nan)
    for i, task in enumerate(tasks):
        spacenet_task(model, reserved, task, scenario, rng, **options)
        R[i] = accuracy_row(model, tasks, i, scenario)
    return R, reserved
