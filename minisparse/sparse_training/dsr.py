"""DSR, Dynamic Sparse Reparameterization: every ``period`` steps remove every weight with |w| < H for
one global threshold H, adapt H towards a target count N_p, and give the freed weights back to the
layers in proportion to their surviving weights, at random positions   (Mostafa & Wang, ICML 2019,
"Parameter Efficient Training of Deep Convolutional Neural Networks by Dynamic Sparse
Reparameterization", Algorithm 1).

One reparameterization, given H, N_p and the tolerance δ:
  (1) prune: in every layer l remove the active weights with |w| < H; K_l removed, R_l survive;
  (2) adapt: K = Σ_l K_l; if K > (1 + δ)·N_p then H ← H/2, if K < (1 − δ)·N_p then H ← 2H;
  (3) reallocate: layer l gets G_l ≈ K·R_l / Σ_l' R_l' new weights (:func:`reallocate`), placed
      uniformly at random among its free positions, value 0 and momentum 0.
Total nnz is preserved exactly; a layer's nnz may change, which is how DSR moves parameters to the
layers that need them.

Truly sparse: (1) compares ``W.data`` with H, (3) samples positions (``growth.random_positions``);
neither reads a gradient or forms a dense array, so a training step stays the O(B·nnz) sparse step and
an update costs O(nnz). No multiply-adds beyond the training steps.

Checked against the authors' code (github.com/IntelAI/dynamic-reparameterization, ``main.py``
``train()`` with ``--rewire --threshold-prune --rewire-scaling``, and ``parameterized_tensors.py``
``SparseTensor.prune_threshold`` / ``grow_random``):

- threshold update: δ = 0.1 hard-coded (``1.1 * n_prune_params``, ``0.9 * ...``), applied after the
  growth, so the new H acts at the next reparameterization; the same here.
- which layers: every sparse layer, first and last included (its LeNet-300-100, ``mnist_mlp``,
  makes all three layers sparse); one H for all of them.
- a layer that would lose every weight keeps one (the code drops ``prune_indices[1:]``, keeping the
  first in storage order); here it keeps its largest |w|.
- rounding: the code rounds K·R_l/ΣR half to even and adds the whole discrepancy to ONE random layer
  (clamped at 0), looping while a full layer could not take its share. Here the shares are floored
  and the remaining units go to the largest fractional parts (ties: the lower layer), a layer
  capped at its free positions passes its excess on in proportion to R_l: deterministic, and the
  total is exactly K every time.
- candidates: the code excludes the positions pruned in this very update
  (``np.setdiff1d(mask_zero_indices, pruned_indices)``); so does minisparse: dropped and grown are
  disjoint.
- optimizer state: the code keeps a dense momentum buffer and never resets it, so a position
  regrown after an earlier life restarts at 0 with its stale momentum; here momentum lives only on
  active weights and a grown weight starts with momentum 0.
- start: the code gives every sparse layer the same density; minisparse's runs start from ERK (see
  :func:`train_dsr`), like RigL's and the static baseline.
- network: the code's ``mnist_mlp`` has BatchNorm and no biases; minisparse's MLP has biases and no
  BatchNorm. Its learning rate follows a schedule file (none is given for MNIST); here it is constant.
- when: every ``period`` iterations (counted across epochs) until ``stop_rewire_epoch`` (190 of 200
  epochs for WRN-28-2, 95 of 100 for ResNet-50): here until 95 % of the steps (``stop_frac``).

Defaults (the code's ``main.py``): H₀ = 0.001, N_p = 600 at its default 98 % sparse ``mnist_mlp``
(5,324 weights: 11.3 % of them, :data:`N_P_FRACTION`), SGD lr 0.1, momentum 0.9, Nesterov, L2 1e-4,
batch 100. The period has no MNIST default there (WRN: 100 iterations, doubling at epochs 25, 80
and 140); 100 here.
"""
import math
import time
from typing import NamedTuple

import numpy as np

from ..growth.select import grow_at_keys, random_positions
from ..network.checks import (check_fraction, check_number, check_optimizer, check_positive_int, check_rng,
                              check_sparse_start, warn_if_no_update)
from ..network.checkpoint import epoch_start, restore, restore_ever
from ..network.cost import epoch_macs
from ..network.optim import SGD
from ..network.topology import entry_keys, is_canonical, pairs, prune
from ..network.train import (History, check_training_args, checked_data, epoch_row, minibatches, progress_line,
                             train_step)
from .diagnostics import EverActive, TopologyLog, topology_change
from .schedules import is_update_step
from .sparse_momentum import redistribute

N_P_FRACTION = 600 / 5324   # the code's N_p over its default network's weights (784-300-100-10 at 2 %)


class DSRUpdate(NamedTuple):
    """One reparameterization: H used and H for the next one; per layer the weights pruned (K_l),
    surviving (R_l) and grown (G_l); the connections dropped and grown as flat positions i·n_out + j
    (sorted, (k,) each) and as (i, j) rows ((k, 2), same order)."""
    threshold: float
    next_threshold: float
    pruned: list
    surviving: list
    grown_counts: list
    dropped: list
    grown: list
    dropped_ij: list
    grown_ij: list


def below_threshold(w, threshold):
    """Keep-mask of one layer's active weights: |w| ≥ H   (DSR step 1; strict |w| < H is pruned).   # (nnz,)

    If every weight would go, the largest |w| stays (a layer is never emptied; the code keeps one too).
    """
    keep = np.abs(w) >= threshold
    if w.size and not keep.any():
        keep[np.argmax(np.abs(w))] = True
    return keep


def adapt_threshold(threshold, n_pruned, target, tolerance=0.1):
    """H ← H/2 if K > (1 + δ)·N_p;  H ← 2H if K < (1 − δ)·N_p;  else H   (DSR step 2, δ = 0.1)."""
    if not threshold > 0 or not target > 0:
        raise ValueError(f"need a threshold H > 0 and a target N_p > 0, got {threshold!r} and {target!r}")
    tolerance = check_fraction(tolerance, "tolerance")
    if n_pruned > (1 + tolerance) * target:
        return threshold / 2
    if n_pruned < (1 - tolerance) * target:
        return threshold * 2
    return threshold


def reallocate(total, surviving, free):
    """G_l = K·R_l / Σ R, rounded to integers with Σ G_l = K, each G_l ≤ free_l   (DSR step 3).   # (L,)

    Floor, then +1 to the largest fractional parts (ties: the lower layer); a layer whose share
    exceeds its free positions gets them all and the excess is shared again ∝ R_l
    (:func:`~minisparse.sparse_training.sparse_momentum.redistribute`). E.g. K = 10, R = (6, 3, 1):
    ideal (6, 3, 1); K = 7: ideal (4.2, 2.1, 0.7) → floors (4, 2, 0), the one left over goes to the
    largest remainder 0.7 → (4, 2, 1).
    """
    R = np.asarray(surviving, dtype=float)
    shares = R / R.sum() if R.sum() > 0 else np.full(R.size, 1.0 / max(R.size, 1))
    return redistribute(int(total), shares, free)


def dsr_update(model, threshold, n_prune, rng, optimizer=None, tolerance=0.1):
    """One reparameterization, steps (1)–(3) of the module docstring; returns a :class:`DSRUpdate`
    whose ``next_threshold`` is H for the next update.

    ``threshold`` H > 0, ``n_prune`` N_p (the target of K), ``tolerance`` δ. Growth candidates are the
    positions inactive before the update (the just-pruned ones are excluded, as in the code). The
    model is checked before anything changes: K must fit in the free positions.
    """
    rng = check_rng(rng)
    if not threshold > 0 or not np.isfinite(threshold):
        raise ValueError(f"threshold H must be a finite number > 0, got {threshold!r}")
    if not isinstance(n_prune, (int, np.integer)) or n_prune < 1:
        raise ValueError(f"n_prune (N_p, the target count) must be an integer ≥ 1, got {n_prune!r}")
    check_fraction(tolerance, "tolerance")                  # used after the update: checked before it
    if optimizer is not None:
        check_optimizer(model, optimizer)
    keeps = [below_threshold(layer.W.data, threshold) for layer in model.layers]          # (1)
    pruned = [int(k.size - k.sum()) for k in keeps]
    surviving = [int(k.sum()) for k in keeps]
    free = [n_in * n_out - layer.nnz for layer, (n_in, n_out) in
            zip(model.layers, (layer.shape for layer in model.layers))]   # inactive before the update
    K = sum(pruned)
    if K > sum(free):
        raise ValueError(f"DSR would prune {K} weights but only {sum(free)} positions are free to "
                         f"regrow them: the network is too dense for DSR (density {model.density:.3f})")
    counts = reallocate(K, surviving, free)                                                # (3)
    dropped, grown = [], []
    for l, (layer, keep) in enumerate(zip(model.layers, keeps)):
        gone = entry_keys(layer.W)[~keep]
        prune(model, l, keep, optimizer)
        keys = random_positions(layer.W, int(counts[l]), rng, exclude=gone)
        grow_at_keys(model, l, keys, values=0.0, optimizer=optimizer)
        assert is_canonical(layer.W)
        dropped.append(gone)
        grown.append(keys)
    n_out = [layer.shape[1] for layer in model.layers]
    return DSRUpdate(float(threshold), float(adapt_threshold(threshold, K, n_prune, tolerance)),   # (2)
                     pruned, surviving, [int(c) for c in counts], dropped, grown,
                     [pairs(d, n) for d, n in zip(dropped, n_out)], [pairs(g, n) for g, n in zip(grown, n_out)])


def default_n_prune(model):
    """N_p = round(N_P_FRACTION · nnz): the code's default 600 of 5,324 weights, scaled to ``model``."""
    return max(1, round(N_P_FRACTION * model.nnz))


def train_dsr(model, data, epochs, threshold=1e-3, n_prune=None, tolerance=0.1, period=100, stop_frac=0.95,
              lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4, batch_size=100, rng=0, verbose=True,
              checkpoint=None, resume=None):
    """Train ``model`` in place with DSR and SGD; return (History, TopologyLog.as_dict()).

    Every step is a plain sparse ``train_step``; after steps ``period``, 2·``period``, … before
    ``stop_frac`` of all steps, one :func:`dsr_update` (the optimizer step is taken, then the update,
    as in the code). H starts at ``threshold`` and carries over; ``n_prune`` = N_p (default
    :func:`default_n_prune`). Start from ``SparseMLP.random(sizes, density=d, topology="erk")``: the
    code gives every layer the same density, which at LeNet-300-100's 1–10 % leaves the 100 → 10
    output layer 10–100 weights, and a reallocation ∝ survivors gives a small layer only a small
    share back (the paper's WRN keeps its last layer dense). History rows add 'updates', 'threshold' (H after
    the epoch), 'moved' (net pattern change over the epoch), 'moved_fraction' and 'ever_active'; the
    log has one row per update: H used, K ('pruned' per layer), 'regrown' per layer and the next H.
    """
    epochs, batch_size = check_training_args(epochs, batch_size)
    rng = check_rng(rng)
    stop_frac = check_fraction(stop_frac, "stop_frac")
    check_number(threshold, "threshold", gt=0, what="H₀, the initial pruning threshold")
    if n_prune is not None:
        check_positive_int(n_prune, "n_prune", "N_p, the target count of pruned weights per update")
    check_fraction(tolerance, "tolerance")
    period = check_positive_int(period, "period", "training steps between reparameterizations")
    check_sparse_start(model, "DSR")
    X, y, splits = checked_data(model, data)
    n_prune = default_n_prune(model) if n_prune is None else n_prune
    optimizer = SGD(model, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)
    t_end = int(stop_frac * epochs * math.ceil(len(y) / batch_size))
    warn_if_no_update("train_dsr", epochs, math.ceil(len(y) / batch_size), period, "period",
                      stop_frac, "stop_frac", t_end)
    history, log, ever = History(), TopologyLog(), EverActive(model)
    first, step = restore(resume, optimizer, history, log)
    restore_ever(ever, resume)
    H = resume.scalars["threshold"] if resume else float(threshold)
    for epoch in range(first, epochs + 1):
        epoch_start(checkpoint, epoch, first, model, optimizer, rng, step, history, log, ever, threshold=H)
        start, W_start, loss_sum = time.perf_counter(), [layer.W for layer in model.layers], 0.0
        macs = epoch_macs(model, len(y), batch_size)
        for idx in minibatches(len(y), batch_size, rng):
            step += 1
            loss, _ = train_step(model, optimizer, X[idx], y[idx])
            loss_sum += loss * len(idx)
            if is_update_step(step, period, t_end):
                before = [layer.W for layer in model.layers]
                update = dsr_update(model, H, n_prune, rng, optimizer, tolerance)
                log.record(model, before, step=step, epoch=epoch, ever_active=ever, macs={"sparse": 0, "dense": 0},
                           extra=dict(threshold=update.threshold, next_threshold=update.next_threshold,
                                      pruned=update.pruned, regrown=update.grown_counts))
                H = update.next_threshold
        moved = sum(topology_change(W0, layer.W).moved for W0, layer in zip(W_start, model.layers))
        model.end_epoch()                        # k-WTA layers decay their boost strength
        row = epoch_row(model, X, y, splits, epoch, loss_sum / len(y), step, time.perf_counter() - start, macs,
                        updates=len(log), threshold=H, moved=moved, moved_fraction=moved / model.nnz,
                        ever_active=ever.rate)
        history.append(**row)
        if verbose:
            print(f"{progress_line(row, epochs)}  updates {len(log)}  H {H:.3g}  moved {moved:g}  "
                  f"ever-active {ever.rate:.3f}", flush=True)
    return history, log.as_dict()
