"""Sparse Momentum / SNFS   (Dettmers & Zettlemoyer 2019, "Sparse Networks from Scratch"; article image 1).

At the end of every epoch but the last, with prune rate p (0.5 cosine-decayed to 0.005):
  (1) s_l = mean |V_l| over layer l's active weights, normalised so Σ_l s_l = 1;
  (2) remove k_l = ⌈p·nnz_l⌉ smallest |w| of every layer;
  (3) share the K = Σ_l k_l removed weights out in proportion to s_l, each layer capped at its free
      slots (positions inactive after (2)), the overflow passed on to the uncapped layers;
  (4) in every layer grow the inactive positions of largest |V_ij|, at value 0.
Total nnz is preserved exactly; a layer's nnz may change (that is the point of (3)).

What is dense. ``SGD(dense_momentum=True)`` keeps V (n_in, n_out) over all positions and updates it
every step from the dense gradient G = A_prevᵀ dZ: O(B·n_in·n_out) multiply-adds per step, whatever
the density (the 'dense' MACs in the history rows), on top of the O(B·nnz) sparse work. Pruned
weights keep their velocity; a grown weight starts at 0 *with* its accumulated v, so its next step
is −η(μv + g) with plain momentum, −η(g + μ(μv + g)) with Nesterov (the default): the "head
start". Scoring (4) reads |V| over the layer: O(n_in·n_out).

Differences from the reference code (TimDettmers/sparse_learning, ``sparselearning/core.py``):
- Rounding and overflow. The reference asks ⌈s_l·(K + adjusted_growth)⌉ per layer, caps at 0.99 of
  the free slots, spreads the overflow *equally* over all layers (capped ones pass it back), floors,
  and corrects the resulting nnz drift at the next update by exponential smoothing. Here the cap is
  the free slots, the overflow goes to uncapped layers in proportion to s_l, and largest-remainder
  rounding makes Σ counts = K exactly, so nnz never drifts (:func:`redistribute`).
- The reference lowers p for a layer denser than 80 % whose share exceeds 1/L (``adjust_prune_rate``);
  irrelevant at the densities used here, left out.
- Momentum reset. An early version of ``core.py`` called ``reset_momentum`` after each update, setting
  the momentum at every inactive position to the mean momentum of the active ones; the released
  version (``funcs.py`` era) no longer does, and the paper does not mention it. Here V is never
  reset: the paper's regrowth reads the momentum that accumulated at the inactive positions, and a
  reset would erase it; stale values fade by themselves (with μ = 0.9 in ~10 steps; an epoch is longer).
- Weight decay. The reference's ``mnist_cifar/main.py`` builds ``optim.SGD(model.parameters(), ...,
  weight_decay=args.l2)``, so its L2 (5e-4) decays the biases too; here L2 covers the weights only
  (``SGD``'s ``weight_decay``), the biases are not decayed. No option reproduces it.
- Prune count. The reference takes ``math.ceil(prune_rate · nonzeros)`` of the raw float product
  (``sparselearning/funcs.py``, ``magnitude_prune``), so float error can add one (0.07·100 =
  7.000000000000001 → 8); :func:`prune_count` rounds the product to 9 decimals first (→ 7).
- A position pruned in (2) may be regrown in (4) (candidates are the inactive positions after
  pruning, as in the reference). Here it restarts at 0; in the reference it keeps its old value,
  because the mask is applied only once, after growth.
"""
import math
import time
from typing import NamedTuple

import numpy as np

from ..network.checks import check_fraction, check_number, check_optimizer, check_rng, check_sparse_start
from ..network.checkpoint import epoch_start, restore, restore_ever
from ..network.cost import epoch_macs
from .diagnostics import EverActive, TopologyLog
from ..growth.criteria import momentum_score
from ..growth.select import grow_highest
from ..network.optim import SGD
from ..pruning.select import keep_all_but_lowest
from .schedules import is_epoch_update, sparse_momentum_prune_rate
from ..network.topology import entry_keys, pairs, prune
from ..network.train import (History, check_training_args, checked_data, epoch_row, minibatches, progress_line,
                             train_step)


class LayerUpdate(NamedTuple):
    """One layer at one update: momentum share s_l; nnz before, after pruning, after regrowth; the
    connections pruned and grown as (i, j) rows ((k, 2), sorted by i·n_out + j)."""
    share: float
    before: int
    after_prune: int
    after_regrowth: int
    dropped_ij: np.ndarray
    grown_ij: np.ndarray


def momentum_shares(model, optimizer):
    """s_l = mean_{(i,j) active} |V_l[i, j]| / Σ_l' (same)   (Sparse Momentum, step 1).   # (L,)

    A layer without weights has mean 0. If every mean is 0 (V = 0 before the first step) the
    shares are equal, 1/L.
    """
    means = np.array([np.abs(V[layer.rows, layer.cols]).mean() if layer.nnz else 0.0
                      for layer, V in zip(model.layers, optimizer.V)])
    total = means.sum()
    return means / total if total > 0 else np.full(means.size, 1.0 / means.size)


def _largest_remainder(ideal, total):
    """Round ``ideal`` (summing to ``total``) to integers with the same sum: floor, then +1 to the
    largest fractional parts (ties to the lower layer index)."""
    counts = np.floor(ideal).astype(np.int64)
    short = int(total - counts.sum())
    counts[np.argsort(-(ideal - counts), kind="stable")[:short]] += 1
    return counts


def redistribute(total, shares, free_slots):
    """c_l ∝ s_l with c_l ≤ free_l and Σ c_l = total   (Sparse Momentum, step 3; water-filling).   # (L,)

    A layer whose proportional share of what is left reaches its free slots gets exactly its free
    slots; the rest is shared again among the other layers in proportion to their s_l, until no
    layer overflows. Then largest-remainder rounding (ties: lower index) conserves the total.
    Layers with s_l = 0 get weights only if every other layer is full (then ∝ their free slots).
    """
    shares, free = np.asarray(shares, dtype=float), np.asarray(free_slots, dtype=np.int64)
    if shares.shape != free.shape or shares.ndim != 1 or np.any(shares < 0) or np.any(free < 0):
        raise ValueError(f"need one share ≥ 0 and one free-slot count ≥ 0 per layer, got {shares} and {free}")
    if not 0 <= total <= free.sum():
        raise ValueError(f"cannot place {total} weights in {free.sum()} free slots")
    capped = free == 0
    while True:
        left = total - free[capped].sum()
        weight = np.where(capped, 0.0, shares)
        if weight.sum() == 0:                       # only zero-share layers can still take weights
            weight = np.where(capped, 0.0, free.astype(float))
        ideal = left * weight / weight.sum() if left else np.zeros_like(weight)
        overflow = ~capped & (ideal >= free)
        if not overflow.any():
            break
        capped |= overflow
    counts = _largest_remainder(ideal, left)         # every uncapped ideal < free: rounding up fits
    counts[capped] = free[capped]
    return counts


def prune_count(prune_rate, nnz):
    """k = ⌈p·nnz⌉ (reference ``magnitude_prune``), after rounding p·nnz to 9 decimals so that float
    noise does not add one: in floating point 0.07·100 = 7.000000000000001, whose plain ceil is 8;
    here k = 7. (The reference's plain ceil would remove 8.)"""
    return min(nnz, math.ceil(round(prune_rate * nnz, 9)))


def sparse_momentum_update(model, optimizer, prune_rate):
    """One Sparse Momentum update, steps (1)–(4) of the module docstring; returns [LayerUpdate].

    ``optimizer`` must be ``SGD(dense_momentum=True)``: its ``V`` is read and never modified.
    """
    p = check_fraction(prune_rate, "prune_rate")
    if not getattr(optimizer, "hyper", {}).get("dense_momentum"):
        raise ValueError("Sparse Momentum needs the dense velocity: use SGD(..., dense_momentum=True)")
    check_optimizer(model, optimizer)
    shares = momentum_shares(model, optimizer)                              # (1)
    before, dropped, grown = [layer.nnz for layer in model.layers], [], []
    for l, layer in enumerate(model.layers):                                # (2)
        keep = keep_all_but_lowest(np.abs(layer.W.data), prune_count(p, layer.nnz))
        dropped.append(pairs(entry_keys(layer.W)[~keep], layer.shape[1]))
        prune(model, l, keep, optimizer)
    after_prune = [layer.nnz for layer in model.layers]
    free = [n_in * n_out - nnz for (n_in, n_out), nnz in
            zip((layer.shape for layer in model.layers), after_prune)]
    counts = redistribute(sum(before) - sum(after_prune), shares, free)     # (3)
    for l, layer in enumerate(model.layers):                                # (4)
        keys = grow_highest(model, l, momentum_score(optimizer.V[l], layer.W), int(counts[l]),
                            values=0.0, optimizer=optimizer)
        grown.append(pairs(keys, layer.shape[1]))
    assert model.nnz == sum(before), "Sparse Momentum must preserve the total nnz"
    return [LayerUpdate(float(s), b, a, layer.nnz, d, g)
            for s, b, a, layer, d, g in zip(shares, before, after_prune, model.layers, dropped, grown)]


def train_sparse_momentum(model, data, epochs, prune_rate=0.5, lr=0.1, momentum=0.9, nesterov=True,
                          weight_decay=5e-4, batch_size=100, rng=0, verbose=True,
                          checkpoint=None, resume=None):
    """Train ``model`` in place with Sparse Momentum; return ``(history, log)``.

    SGD (η = ``lr``, μ = ``momentum``, Nesterov, L2 λ = ``weight_decay``) with a dense velocity; the
    dense gradient every step; after every epoch but the last (reference ``main.py``: ``epoch <
    args.epochs``) one :func:`sparse_momentum_update` with p = ``sparse_momentum_prune_rate(epoch,
    epochs, p0=prune_rate)``. History rows are logged before the update of their epoch and carry
    the epoch's training MACs (``macs_sparse``, ``macs_dense``). ``log`` is ``TopologyLog.as_dict()``
    with per update: ``prune_rate``, ``shares``, ``removed`` and ``regrown`` per layer, and the
    ever-active rate.
    """
    epochs, batch_size = check_training_args(epochs, batch_size)
    rng = check_rng(rng)
    check_number(prune_rate, "prune_rate", ge=0.005, le=1,       # the schedule decays it to p_min = 0.005
                 what="p₀ of the cosine schedule, which decays to p_min = 0.005")
    check_sparse_start(model, "Sparse Momentum")
    X, y, splits = checked_data(model, data)
    opt = SGD(model, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay,
              dense_momentum=True)
    history, log, ever_active = History(), TopologyLog(), EverActive(model)
    first, step = restore(resume, opt, history, log)
    restore_ever(ever_active, resume)
    every_layer = range(len(model.layers))
    for epoch in range(first, epochs + 1):
        epoch_start(checkpoint, epoch, first, model, opt, rng, step, history, log, ever_active)
        start, macs = time.perf_counter(), epoch_macs(model, len(y), batch_size, every_layer)
        losses = []
        for idx in minibatches(len(y), batch_size, rng):
            loss, _ = train_step(model, opt, X[idx], y[idx], dense=True)    # G and V: dense
            losses.append(loss * len(idx))
            step += 1
        model.end_epoch()                        # k-WTA layers decay their boost strength
        row = epoch_row(model, X, y, splits, epoch, float(np.sum(losses) / len(y)), step,
                        time.perf_counter() - start, macs, ever_active=ever_active.rate)
        history.append(**row)
        if verbose:
            print(progress_line(row, epochs), flush=True)
        if is_epoch_update(epoch, epochs):
            p = sparse_momentum_prune_rate(epoch, epochs, p0=prune_rate)
            W_before = [layer.W for layer in model.layers]
            update = sparse_momentum_update(model, opt, p)
            size = sum(n_in * n_out for n_in, n_out in (layer.shape for layer in model.layers))
            log.record(model, W_before, step=step, epoch=epoch, ever_active=ever_active,
                       macs={"sparse": sum(u.before for u in update), "dense": size},
                       extra=dict(prune_rate=p, shares=[u.share for u in update],
                                  removed=[u.before - u.after_prune for u in update],
                                  regrown=[u.after_regrowth - u.after_prune for u in update]))
    return history, log.as_dict()
