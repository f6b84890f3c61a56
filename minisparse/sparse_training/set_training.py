"""SET: after every epoch but the last, drop ζ of each layer's positive and ζ of its negative weights
closest to 0, regrow as many at random   (Sparse Evolutionary Training, Mocanu et al. 2018).

Nothing here is dense: the drop is a partition of each layer's ``W.data`` (O(nnz), not a sort) and random
growth *samples* positions (``growth.random_positions``), never enumerating the n_in·n_out grid
(except in a layer more than half full, where listing its free positions is the cheaper way).
Training steps are the O(B·nnz) sampled products of ``minisparse.layer``.

Defaults and what they follow, from the reference code (github.com/dcmocanu/
sparse-evolutionary-artificial-neural-networks):
- ζ = 0.3, lr η = 0.01, momentum μ = 0.9, weight decay 2e-4
  (``SET-MLP-Sparse-Python-Data-Structures/set_mlp_sparse_data_structures.py``, its ``__main__``);
  batch 100 (``SET-MLP-Keras-Weights-Mask/set_mlp_keras_cifar10.py``; the SciPy script uses 2);
  ε = 20 in both (pass it to ``SparseMLP.random(..., topology="erdos_renyi", epsilon=ε)``).
- Weight decay: the reference subtracts λ·w from weights and biases at every step, outside the
  learning rate; here λ is L2 inside the gradient on weights only (``optim.SGD``, PyTorch form), so
  the same λ shrinks weights about (1 − μ)/η = 10× less per step at η = 0.01. The reference also
  trains with MSE on sigmoid outputs; minisparse uses softmax cross-entropy.
- New weights: w ~ N(0, 0.1²) (``np.random.randn() / 10`` in ``weightsEvolution``), velocity 0.
  (The Keras script grows at 0; the later ``set_mlp_sequential.py`` grows U(±√(6/(n_l + n_{l+1}))).)
- Drop count: by default each sign loses exactly round(ζ·count) weights (``rule="count"``, the
  paper's "fraction ζ"). ``weightsEvolution`` instead cuts at two thresholds read off the sorted
  weights at truncated index positions, which (ties aside) drops 0–2 more weights per sign, e.g.
  all but −0.9 of [−0.9, −0.5, 0.1, 0.8] at ζ = 0.3; ``rule="reference"`` reproduces those
  thresholds exactly (``pruning.set_keep_mask``; also ``set_update`` and ``train_set``).
- Re-growth of a just-dropped position is allowed: ``weightsEvolution`` draws (i, j) until it hits a
  position not *kept*, so a connection dropped in this update may come back, with a fresh value and
  velocity 0. This also lets a dense (ε-capped) layer rewire at all.
"""
import time
from typing import NamedTuple

import numpy as np

from ..network.checks import check_fraction, check_optimizer, check_rng, check_sparse_start
from ..network.checkpoint import epoch_start, restore, restore_ever
from .diagnostics import EverActive, TopologyLog
from ..growth.select import grow_random
from ..network.init import init_weights
from ..network.optim import SGD
from ..pruning.zeroth_order import SET_RULES, set_keep_mask
from .schedules import is_epoch_update
from ..network.topology import entry_keys, pairs, prune
from ..network.cost import epoch_macs
from ..network.train import (HEARTBEAT, History, check_training_args, checked_data, epoch_row, progress_line,
                             run_epoch)


def small_normal(n, rng):
    """w ~ N(0, 0.1²): SET's new weights (``np.random.randn() / 10`` in the reference code).   # (n,)"""
    return rng.standard_normal(n) / 10


def fan_in_normal(layer):
    """(n, rng) → w ~ N(0, gain²/fan_in) with the layer's sparse fan-in (nnz / n_out, read now): new
    weights on the scale of the initial ones. For very wide layers, where the reference's fixed
    N(0, 0.1²) dwarfs weights of std ~ 1/√fan_in (a dense 333,333 → 10 output layer: 0.0017)."""
    gain_activation = "relu" if layer.activation == "relu" else "linear"
    fan_in, dtype = layer.nnz / layer.shape[1], layer.W.dtype
    return lambda n, rng: init_weights(n, fan_in, rng, gain_activation, dtype)


class Rewire(NamedTuple):
    """One layer's update: the connections dropped and grown, as flat positions i·n_out + j (sorted,
    (k,)) and as (i, j) rows ((k, 2), same order)."""
    dropped: np.ndarray
    grown: np.ndarray
    dropped_ij: np.ndarray
    grown_ij: np.ndarray


def set_update(model, zeta, rng, optimizer=None, init=small_normal, rule="count"):
    """Per layer: keep = two-sided |w| rule with ζ; prune; grow as many uniformly random inactive
    positions with w = init(k, rng) and optimizer state 0   (SET, Mocanu et al. 2018).

    ``init``: a callable (n, rng) → (n,) values, or ``"fan_in"`` for :func:`fan_in_normal` of each layer
    (its fan-in before the drop, which the regrowth restores).
    ``rule``: ``"count"`` drops round(ζ·count) weights of each sign; ``"reference"`` uses the
    thresholds of the reference's ``weightsEvolution`` (0–2 more per sign; see
    :func:`~minisparse.pruning.zeroth_order.set_keep_mask`). Either way as many are regrown.

    Every layer, the last included (as in ``weightsEvolution``). Growth candidates are the positions
    inactive after the drop, so a just-dropped position may be re-grown (the reference does the
    same). nnz per layer is preserved exactly. Returns one :class:`Rewire` per layer.
    """
    rng = check_rng(rng)
    check_fraction(zeta, "zeta")
    _check_rule(rule)
    _check_init(init)
    if optimizer is not None:
        check_optimizer(model, optimizer)
    if optimizer is not None and optimizer.hyper.get("dense_momentum"):
        raise ValueError("SET keeps no dense velocity: a grown weight would inherit V instead of 0")
    rewires = []
    for l, layer in enumerate(model.layers):
        nnz_before = layer.nnz
        values = fan_in_normal(layer) if isinstance(init, str) and init == "fan_in" else init
        if not callable(values):
            raise ValueError(f"init must be a callable (n, rng) -> values or 'fan_in', got {init!r}")
        keep = set_keep_mask(layer.W.data, zeta, rule)               # (nnz,)
        dropped = entry_keys(layer.W)[~keep]                         # (k,)
        prune(model, l, keep, optimizer)
        grown = grow_random(model, l, dropped.size, rng, values=values, optimizer=optimizer)
        assert model.layers[l].nnz == nnz_before
        n_out = layer.shape[1]
        rewires.append(Rewire(dropped, grown, pairs(dropped, n_out), pairs(grown, n_out)))
    return rewires


def _check_rule(rule):
    if rule not in SET_RULES:
        raise ValueError(f"rule must be one of {SET_RULES} (SET's drop count), got {rule!r}")


def _check_init(init):
    if not (callable(init) or (isinstance(init, str) and init == "fan_in")):
        raise ValueError(f"init must be a callable (n, rng) -> values or 'fan_in', got {init!r}")


def train_set(model, data, epochs, zeta=0.3, lr=0.01, momentum=0.9, weight_decay=2e-4, batch_size=100,
              rng=0, verbose=True, init=small_normal, lr_scale=None, rule="count",
              checkpoint=None, resume=None):
    """Train ``model`` with SET: an epoch of SGD, log it, then :func:`set_update` unless it was the last
    epoch   (Mocanu et al. 2018; defaults from the reference code, see the module docstring).

    ``model`` is usually ``SparseMLP.random(sizes, topology="erdos_renyi", epsilon=ε)``; ``data`` a
    :class:`~minisparse.datasets.Split`. One ``rng`` drives both the batch order and the rewiring.
    Each History row also holds ``moved`` (per layer, connections moved by the update *before* this
    epoch, 0 at epoch 1) and ``ever_active`` (fraction of positions ever active so far). Returns
    ``(history, log)`` with ``log`` the :class:`~minisparse.diagnostics.TopologyLog` as a dict of
    columns, one entry per update (``epochs − 1`` of them). ``lr_scale``: per-layer multipliers of
    ``lr`` (see :class:`~minisparse.optim.SGD`; very wide networks need a smaller one for the output layer).
    ``rule``: SET's drop count, ``"count"`` or ``"reference"`` (see :func:`set_update`).
    """
    epochs, batch_size = check_training_args(epochs, batch_size)
    rng = check_rng(rng)
    check_fraction(zeta, "zeta")                 # ζ and the rule are checked now, not at the first update
    _check_rule(rule)
    _check_init(init)
    check_sparse_start(model, "SET")
    X, y, splits = checked_data(model, data)
    optimizer = SGD(model, lr=lr, momentum=momentum, weight_decay=weight_decay, lr_scale=lr_scale)
    history, log, ever_active = History(), TopologyLog(), EverActive(model)
    first, step = restore(resume, optimizer, history, log)
    restore_ever(ever_active, resume)
    moved = resume.scalars["moved"] if resume else [0.0] * len(model.layers)
    for epoch in range(first, epochs + 1):
        epoch_start(checkpoint, epoch, first, model, optimizer, rng, step, history, log, ever_active, moved=moved)
        start = time.perf_counter()
        loss, step = run_epoch(model, optimizer, X, y, batch_size, rng, step0=step,
                               report_every=HEARTBEAT if verbose else None)
        model.end_epoch()                        # k-WTA layers decay their boost strength
        row = epoch_row(model, X, y, splits, epoch, loss, step, time.perf_counter() - start,
                        epoch_macs(model, len(y), batch_size), moved=moved, ever_active=ever_active.rate)
        history.append(**row)
        if verbose:
            print(f"{progress_line(row, epochs)}  moved {sum(moved):g}  ever-active {row['ever_active']:.3f}",
                  flush=True)
        if not is_epoch_update(epoch, epochs):                       # no rewiring after the last epoch
            continue
        start, W_before = time.perf_counter(), [layer.W for layer in model.layers]
        set_update(model, zeta, rng, optimizer, init, rule)
        # the update's own cost: a partition and random sampling, no multiply-adds, nothing dense
        moved = log.record(model, W_before, step=step, epoch=epoch, macs={"sparse": 0, "dense": 0},
                           ever_active=ever_active, extra={"seconds": time.perf_counter() - start})["moved"]
    return history, log.as_dict()
