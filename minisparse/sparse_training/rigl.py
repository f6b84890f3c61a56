"""RigL: every ΔT steps until T_end, drop the k = ⌊f(t)·nnz_l⌋ smallest |w| of each layer and grow the
k largest |G| among its inactive positions, f(t) = α/2·(1 + cos(πt/T_end))   (Evci et al. 2020).

The explicit pieces: :func:`rigl_update` (one topology update), :func:`rigl_step` (an update *instead
of* the optimizer step on an update step, a plain ``train_step`` otherwise) and :func:`train_rigl`
(the step loop with a per-epoch History and a per-update TopologyLog). Start from an ERK topology:
``SparseMLP.random(sizes, density=d, topology="erk")``.

Checked against the reference code, google-research/rigl ``rigl/sparse_optimizers.py``
(``SparseRigLOptimizer``), whose update lives in ``rigl/sparse_optimizers_base.py``
(``SparseRigLOptimizerBase`` and its base ``SparseSETOptimizerBase._get_update_op``):

- drop count: ``n_prune = cast(n_ones · drop_fraction, int32)``, a truncation: k_l = ⌊f·nnz_l⌋.
  The reference does it in float32, f included (TensorFlow's ``cosine_decay``), so where f·nnz is
  an integer k can come out one lower than here (float64, +1e-9): numbers in :func:`drop_count`;
  ``count_dtype=np.float32`` reproduces it.
- gradient: "grows connections with the pre-removal gradients" — the dense gradient of the masked
  weights comes from ``compute_gradients`` on the step's batch, before the mask update. So G is
  computed with the PRE-drop weights, in the same forward/backward pass as the batch loss.
- candidates: every position not kept after the drop (kept ones get score min − 1), so a connection
  dropped in this very update can be re-grown.
- new connections: ``grow_init='zeros'``, and ``reset_momentum`` sets their optimizer slots to
  ``initial_acc_scale · g`` = 0 (the default). The reference's "new" means grown ∧ (old mask = 0):
  a just-dropped, re-grown connection keeps its old weight and momentum, as if never dropped.
  minisparse restarts it at value 0, momentum 0, like every grown connection (the paper: new
  connections start at 0), because magnitude dropped it as one of the least useful and a silent
  restore would undo that drop: the default here (``reset_regrown=True``);
  ``reset_regrown=False`` reproduces the reference.
- update step: ``cond_mask_update_op(global_step, apply_gradient_op)`` runs the mask update *or* the
  wrapped optimizer, never both: the optimizer step is skipped on an update step.
- schedule: ``cosine_decay(α, global_step, end − begin)``; update when begin ≤ step ≤ end and
  last_update + ΔT ≤ step, last_update starting at −ΔT (so TF also updates at step 0, and as the
  skipped optimizer does not advance ``global_step`` its updates fall every ΔT + 1 batches). Here
  ``schedules.is_update_step``: batches counted from 1, updates at ΔT, 2ΔT, … < T_end (RigL-PyTorch).
- ties: the reference adds N(0, (10⁻⁵)²) noise to |w|; here ties go to the lowest position (stable).
"""
import math
import time
from typing import NamedTuple

import numpy as np

from ..network.checks import (check_fraction, check_optimizer, check_positive_int, check_rng, check_sparse_start,
                              warn_if_no_update)
from ..network.checkpoint import epoch_start, restore, restore_ever
from ..network.cost import step_macs
from .diagnostics import EverActive, TopologyLog, topology_change
from ..growth.criteria import gradient_score
from ..growth.select import grow_highest
from ..network.optim import SGD
from ..pruning.select import keep_all_but_lowest
from .schedules import cosine_decay, is_update_step
from ..network.topology import entry_keys, is_canonical, pairs, prune
from ..network.train import (History, check_loss, check_training_args, checked_data, epoch_row, minibatches,
                             progress_line, train_step)


class RigLUpdate(NamedTuple):
    """One update: the batch loss (pre-drop), f, and per layer the connections dropped and grown, as
    flat positions i·n_out + j (sorted, (k,) each) and as (i, j) rows ((k, 2), same order). Dropped and
    grown may share a just-dropped, re-grown position."""
    loss: float
    drop_fraction: float
    dropped: list
    grown: list
    dropped_ij: list
    grown_ij: list


def drop_count(nnz, drop_fraction, dtype=None):
    """k = ⌊f · nnz⌋ (the reference's int cast); +1e-9 so that float error (0.29·100 = 28.999…) cannot cost one.

    ``dtype=np.float32``: k = int(float32(nnz) · float32(f)), the reference's arithmetic
    (``rigl/sparse_optimizers_base.py``, ``_get_update_op``: ``n_ones`` and ``drop_fraction`` are
    float32 tensors). Alone it rarely changes k: the difference comes from f, which the reference
    also computes in float32 (:func:`cosine_decay_float32`, used by :func:`rigl_step` with
    ``count_dtype=np.float32``). Over ΔT = 100, α = 0.3, T_end = 30,000 (299 updates) and nnz =
    1…1,000, the reference's k is one lower than the default's in 76 of the 299,000 (step, nnz)
    pairs and never higher: 50 at t = T_end/2, where float32's cos(π/2) = −4.4·10⁻⁸ puts f just
    under α/2 = 0.15 (every nnz divisible by 20), 25 at t = 2T_end/3 (f just under α/4, nnz divisible
    by 40) and 1 elsewhere.
    """
    f = check_fraction(drop_fraction, "drop_fraction")
    if _check_count_dtype(dtype, "dtype") is None:
        return int(math.floor(f * nnz + 1e-9))
    return int(np.float32(nnz) * np.float32(f))


def _check_count_dtype(dtype, name):
    """None, or np.float32 (in any spelling NumPy reads as float32); anything else: ValueError."""
    if dtype is None:
        return None
    try:
        ok = np.dtype(dtype) == np.float32
    except TypeError:
        ok = False
    if not ok:
        raise ValueError(f"{name} must be None (float64, the default) or np.float32 (the reference's "
                         f"arithmetic), got {dtype!r}")
    return np.float32


def cosine_decay_float32(t, alpha, t_end):
    """f(t) = α/2·(1 + cos(π t / T_end)) step by step in float32, as TensorFlow's ``cosine_decay``
    computes RigL's drop fraction (t clipped at T_end; π rounded to float32). NumPy's float32 cos may
    differ from TensorFlow's in the last bit.   # np.float32"""
    f32 = np.float32
    t = min(f32(t), f32(t_end))
    return f32(alpha) * (f32(0.5) * (f32(1.0) + np.cos(f32(math.pi) * (t / f32(t_end)))))


def rigl_update(model, X, y, drop_fraction, optimizer=None, reset_regrown=True, count_dtype=None):
    """Per layer: drop the k = ⌊f·nnz_l⌋ smallest |w|, grow the k largest |G_ij| at inactive (i, j)   (RigL).

    G_l = A_prevᵀ dZ is the dense gradient on the batch (X, y), computed with the pre-drop weights (as
    the reference does) and ONLY here: it is RigL's dense cost, O(B·n_in·n_out) per layer, on top of
    the O(B·nnz) sparse step. Candidates are the positions inactive after the drop, just-dropped ones
    included. Grown weights get value 0 and optimizer state 0 — a re-grown just-dropped one too, unless
    ``reset_regrown=False`` (it then keeps its value and state, as in the reference). nnz_l is
    preserved; no optimizer step is taken. ``count_dtype``: see :func:`drop_count`. Returns a
    :class:`RigLUpdate`.
    """
    _check_count_dtype(count_dtype, "count_dtype")
    check_fraction(drop_fraction, "drop_fraction")
    if optimizer is not None:
        check_optimizer(model, optimizer)
    with np.errstate(over="ignore", invalid="ignore"):
        loss, grads = model.loss_and_grads(X, y, dense=True)         # G: [(n_in, n_out)], pre-drop
    check_loss(loss, model.n_classes, getattr(optimizer, "hyper", {}).get("lr"), where=" at a RigL update")
    dropped, grown = [], []
    for l, (layer, g) in enumerate(zip(model.layers, grads)):
        nnz0, k = layer.nnz, drop_count(layer.nnz, drop_fraction, count_dtype)
        keep = keep_all_but_lowest(np.abs(layer.W.data), k)                      # (nnz,) False at the k smallest |w|
        gone = ~keep
        old = (entry_keys(layer.W)[gone], layer.W.data[gone].copy(),
               {name: getattr(optimizer, name)[l][gone] for name in getattr(optimizer, "aligned", ())})
        prune(model, l, keep, optimizer)
        keys = grow_highest(model, l, gradient_score(g.G, layer.W), k, values=0.0, optimizer=optimizer)
        if not reset_regrown:
            _restore_regrown(layer, l, optimizer, *old)
        assert layer.nnz == nnz0 and is_canonical(layer.W)
        dropped.append(old[0])
        grown.append(keys)
    n_out = [layer.shape[1] for layer in model.layers]
    return RigLUpdate(float(loss), float(drop_fraction), dropped, grown,
                      [pairs(d, n) for d, n in zip(dropped, n_out)], [pairs(g, n) for g, n in zip(grown, n_out)])


def _restore_regrown(layer, l, optimizer, keys, values, state):
    """Give re-grown just-dropped entries back their value and optimizer state (the reference's rule)."""
    now = entry_keys(layer.W)
    back = np.isin(keys, now)
    idx = np.searchsorted(now, keys[back])
    layer.W.data[idx] = values[back]
    for name, v in state.items():
        getattr(optimizer, name)[l][idx] = v[back]


def rigl_step(model, optimizer, X, y, step, delta_t, t_end, alpha, reset_regrown=True, count_dtype=None):
    """Training step ``step`` (counted from 1) of RigL; returns (batch loss, RigLUpdate or None).

    On an update step (ΔT | step, step < T_end) :func:`rigl_update` with f = cosine_decay(step, α, T_end)
    runs INSTEAD of the optimizer step; otherwise one ``train_step`` (sparse gradients only).
    ``count_dtype=np.float32``: f from :func:`cosine_decay_float32` and k in float32, as the reference.
    """
    if is_update_step(step, delta_t, t_end):
        if _check_count_dtype(count_dtype, "count_dtype") is None:
            f = cosine_decay(step, alpha, t_end)
        else:
            f = cosine_decay_float32(step, check_fraction(alpha, "alpha"), t_end)
        update = rigl_update(model, X, y, f, optimizer, reset_regrown, count_dtype)
        return update.loss, update
    loss, _ = train_step(model, optimizer, X, y)
    return loss, None


def rigl_steps(n_train, batch_size, epochs, t_end_frac=0.75):
    """(total training steps, T_end = ⌊t_end_frac · total⌋), with ⌈n_train / B⌉ batches per epoch."""
    total = epochs * math.ceil(n_train / batch_size)
    return total, int(check_fraction(t_end_frac, "t_end_frac") * total)


def train_rigl(model, data, epochs, delta_t=100, t_end_frac=0.75, alpha=0.3, lr=0.1, momentum=0.9,
               nesterov=False, weight_decay=1e-4, batch_size=100, rng=0, verbose=True,
               reset_regrown=True, count_dtype=None, checkpoint=None, resume=None):
    """Train ``model`` in place with RigL and SGD; return (History, TopologyLog.as_dict()).

    ``delta_t`` is ΔT (update period in steps), ``t_end_frac`` · total steps is T_end, ``alpha`` is α
    (the initial drop fraction of each layer's nnz). Paper defaults: ΔT = 100, T_end = 75 %, α = 0.3;
    the reference's MNIST script: SGD with momentum 0.9 (Nesterov), batch 100, L2 1e-4 (lr 0.2).
    History rows add 'updates' (so far), 'moved' (Σ_l |M_end ⊕ M_start|/2 over the epoch),
    'moved_fraction' (moved / nnz) and 'ever_active' (R, in-time over-parameterisation). The log has
    one row per update: step, epoch, per-layer k (= ⌊f·nnz_l⌋ dropped and grown), regrown (just-dropped
    ones grown back; 'dropped'/'grown'/'moved' are the net pattern change, without them), drop_fraction,
    loss and the update step's MACs ('dense' = Σ_l B·n_in·n_out, the dense gradient).
    ``reset_regrown=False`` and ``count_dtype=np.float32`` reproduce the reference code's re-grown
    connections and drop count (see :func:`rigl_update`, :func:`drop_count`).
    """
    epochs, batch_size = check_training_args(epochs, batch_size)
    rng = check_rng(rng)
    _check_count_dtype(count_dtype, "count_dtype")
    delta_t = check_positive_int(delta_t, "delta_t", "ΔT, training steps between topology updates")
    check_fraction(t_end_frac, "t_end_frac")
    check_fraction(alpha, "alpha")
    check_sparse_start(model, "RigL")
    X, y, splits = checked_data(model, data)
    optimizer = SGD(model, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)
    _, t_end = rigl_steps(len(y), batch_size, epochs, t_end_frac)
    warn_if_no_update("train_rigl", epochs, math.ceil(len(y) / batch_size), delta_t, "delta_t",
                      t_end_frac, "t_end_frac", t_end)
    history, log, ever = History(), TopologyLog(), EverActive(model)
    all_layers = range(len(model.layers))
    first, step = restore(resume, optimizer, history, log)
    restore_ever(ever, resume)
    for epoch in range(first, epochs + 1):
        epoch_start(checkpoint, epoch, first, model, optimizer, rng, step, history, log, ever)
        start, W_start, loss_sum = time.perf_counter(), [layer.W for layer in model.layers], 0.0
        macs = {"sparse": 0, "dense": 0}
        for idx in minibatches(len(y), batch_size, rng):
            step += 1
            before = [layer.W for layer in model.layers]
            loss, update = rigl_step(model, optimizer, X[idx], y[idx], step, delta_t, t_end, alpha,
                                     reset_regrown, count_dtype)
            loss_sum += loss * len(idx)
            step_cost = step_macs(model, len(idx), dense_layers=all_layers if update else ())
            macs = {k: macs[k] + step_cost[k] for k in macs}
            if update is not None:
                log.record(model, before, step=step, epoch=epoch, ever_active=ever, macs=step_cost,
                           extra=dict(drop_fraction=update.drop_fraction, loss=update.loss,
                                      k=[d.size for d in update.dropped],
                                      regrown=[np.intersect1d(d, g).size
                                               for d, g in zip(update.dropped, update.grown)]))
        seconds = time.perf_counter() - start
        moved = sum(topology_change(W0, layer.W).moved for W0, layer in zip(W_start, model.layers))
        model.end_epoch()                        # k-WTA layers decay their boost strength
        row = epoch_row(model, X, y, splits, epoch, loss_sum / len(y), step, seconds, macs,
                        updates=len(log), moved=moved, moved_fraction=moved / model.nnz,
                        ever_active=ever.rate)
        history.append(**row)
        if verbose:
            print(f"{progress_line(row, epochs)}  updates {len(log)}  moved {moved:g}  "
                  f"ever-active {ever.rate:.3f}", flush=True)
    return history, log.as_dict()
