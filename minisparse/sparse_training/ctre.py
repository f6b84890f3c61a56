"""CTRE: grow where the two neurons a connection would join fire together (cosine similarity of their
activations), with random exploration mixed in   (Atashgahi et al. 2022, "A Brain-inspired Algorithm
for Training Highly Sparse Neural Networks", Eq. 2).

For layer l (inputs p of layer l−1 or the data, outputs q), over N training samples,

    Sim^l_pq = | â_p · â_q |,   â = a / ‖a‖₂   (each activation column normalised over the samples),

a_p the data feature or post-activation hidden output p, a_q the post-activation output q (softmax
probabilities for the last layer); a column that is zero on every sample has no direction and scores
0. Sim^l is a dense (n_in, n_out) array: CTRE asks for it, once per epoch, and it costs
N·n_in·n_out multiply-adds per layer (:func:`cosine_similarity`, chunked over the samples so that
only one chunk of activations is held). Training steps stay truly sparse, O(B·nnz).

One update (:func:`ctre_update`), per layer, after an epoch of SGD:

1. drop the k = ⌊ζ·nnz_l⌋ weights of smallest |w|;
2. grow k connections, by ``growth``:
   - ``'sim'`` (CTRE_sim): take the k inactive positions of highest Sim; each pick that is a connection
     just dropped is not re-grown but replaced by a uniformly random inactive position, so the random
     share sets itself (high while the similarity keeps pointing at what magnitude just dropped);
   - ``'cosine'`` (CTRE without random): the k highest Sim, just-dropped positions included;
   - ``'random'``: k uniformly random inactive positions (CTRE_seq after its switch).
   New weights w ~ U(−√(6/n_in), √(6/n_in)) (n_in the layer's dense fan-in), momentum 0.

:func:`train_ctre` runs ``variant`` 'sim', 'seq' (cosine growth until validation accuracy has not
improved for ``patience`` epochs, then random for good) or 'cosine'. Paper defaults: ε = 1,
ζ = 0.2, SGD lr 0.01, Nesterov momentum 0.9, L2 1e-4, batch 100, 500 epochs, patience 40, test
accuracy reported at the best-validation epoch (:func:`best_validation`).

Reading the reference code (github.com/zahraatashgahi/CTRE, TensorFlow 1, ``code/main.py`` and
``code/sparse_optimizers.py``) — what minisparse keeps and what it does not copy:

- kept: drop count ⌊ζ·nnz⌋ of smallest |w|; candidates are the positions not kept (just-dropped ones
  included); Sim from one pass over the training split, ``|l2_normalize(a_prev)ᵀ l2_normalize(a)|``,
  softmax outputs for the last layer; new weights U(±√(6/n_in)) with momentum reset; CTRE_seq's
  counter resets when validation accuracy improves and the switch is permanent.
- not copied (slips of the reference code, not part of the method the paper describes): the
  similarity used at the first update was the all-zero initial buffer (here Sim is always computed
  from the current weights before the update); the training data were never shuffled (``main.py``;
  here every epoch draws a new batch order); the random replacement's exclusion of the cosine picks
  was overwritten (``SparseCTREsimOptimizer._get_update_op``: the second lift starts again from the
  raw random scores), so a random pick could land on a cosine pick (here random positions are drawn
  among positions inactive after the cosine growth).
- re-grown just-dropped connections: a connection dropped in this update can be grown again, by a
  cosine pick (``'cosine'``) or by a random pick (any growth: the random candidates include the
  just-dropped positions, in the reference too). Here it restarts U(±√(6/n_in)) with momentum 0,
  like every grown connection: magnitude judged it among the least useful, and letting the regrowth
  restore it would undo that drop unseen. The reference treats as new only grown ∧ (old mask = 0)
  (``new_connections`` in ``_get_update_op``), so it gets back its old weight and momentum;
  ``reset_regrown=False`` reproduces that (:func:`ctre_update`, :func:`train_ctre`).
- drop count: the reference computes ⌊ζ·nnz⌋ in float32 (see :func:`drop_count`).
- ties in |w|: the reference adds N(0, (10⁻⁵)²) noise to the drop scores (``generic_mask_update``,
  as RigL's code); here ties go to the lowest position (``pruning.keep_all_but_lowest``).
"""
import math
import time
from typing import NamedTuple

import numpy as np

from ..network.checks import (check_fraction, check_optimizer, check_positive_int, check_rng, check_sparse_start,
                              check_X)
from ..network.checkpoint import epoch_start, restore, restore_ever
from .diagnostics import EverActive, TopologyLog
from ..growth.select import grow_at_keys, grow_random, top_k_dense, uniform_values
from ..network.losses import softmax
from ..network.optim import SGD
from ..pruning.select import keep_all_but_lowest
from .rigl import _restore_regrown
from .schedules import is_epoch_update
from ..network.topology import entry_keys, pairs, prune
from ..network.cost import epoch_macs
from ..network.train import (HEARTBEAT, History, check_training_args, checked_data, epoch_row, progress_line,
                             run_epoch)

GROWTH = ("sim", "cosine", "random")
VARIANTS = {"sim": "CTRE_sim", "seq": "CTRE_seq", "cosine": "CTRE without random"}


def activations(model, X):
    """[X, A_1, …, A_{L−1}, softmax(Z_L)]: the data, every hidden layer's post-activation output and the
    output probabilities, for the rows of X.   # [(B, n_0), (B, n_1), …, (B, n_L)]"""
    Z, cache = model.forward(X, keep=True)
    return [cache[0][0]] + [A for _, _, A in cache[:-1]] + [softmax(Z)]


def cosine_similarity(model, X, chunk=1000, normalize=True):
    """Sim^l = |Â_{l−1}ᵀ Â_l| for every layer l, activation columns L2-normalised over the rows of X
    (no centring; a zero column scores 0)   (CTRE, Eq. 2).   # [(n_in, n_out) per layer]

    Dense by definition: one (n_in, n_out) array per layer, N·Σ n_in·n_out multiply-adds. The rows are
    taken ``chunk`` at a time — Σ_chunks A_prevᵀ A and Σ_chunks a² per column are accumulated, and
    the norms divided out at the end — so memory is the Sim arrays plus one chunk of activations.
    ``normalize=False`` gives the raw |A_{l−1}ᵀ A_l|, the dot product CTRE argues against (F6).
    """
    X = check_X(X, model.n_in)
    if not (isinstance(chunk, (int, np.integer)) and chunk >= 1):
        raise ValueError(f"chunk must be a positive number of rows, got {chunk!r}")
    dims = [model.n_in] + [layer.shape[1] for layer in model.layers]
    gram = [np.zeros((a, b), dtype=model.dtype) for a, b in zip(dims, dims[1:])]
    sq = [np.zeros(d, dtype=model.dtype) for d in dims]
    for start in range(0, len(X), chunk):
        acts = activations(model, X[start:start + chunk])
        for l in range(len(gram)):
            gram[l] += acts[l].T @ acts[l + 1]                       # (n_in, n_out)
        for s, a in zip(sq, acts):
            s += np.einsum("bi,bi->i", a, a)                         # Σ_b a_bi²
    if not normalize:
        return [np.abs(g) for g in gram]
    inv = [np.divide(1.0, np.sqrt(s), out=np.zeros_like(s), where=s > 0) for s in sq]
    return [np.abs(g) * inv[l][:, None] * inv[l + 1][None, :] for l, g in enumerate(gram)]


def similarity_macs(model, n_samples):
    """{'sparse': N·nnz (the forward pass), 'dense': N·Σ n_in·n_out (the Gram products)} of one
    :func:`cosine_similarity` over ``n_samples`` rows."""
    return {"sparse": n_samples * model.nnz,
            "dense": n_samples * sum(layer.shape[0] * layer.shape[1] for layer in model.layers)}


class CTREUpdate(NamedTuple):
    """One layer's update: flat positions i·n_out + j dropped, grown by similarity and grown at random
    (each sorted, (k,)), and the dropped and all grown connections as (i, j) rows ((k, 2), sorted)."""
    dropped: np.ndarray
    by_similarity: np.ndarray
    at_random: np.ndarray
    dropped_ij: np.ndarray
    grown_ij: np.ndarray


def drop_count(nnz, zeta):
    """k = ⌊ζ · nnz⌋ (the reference's int cast; +1e-9 so that float error cannot cost one).

    The reference casts float32(nnz)·float32(ζ) to int (``_get_update_op`` in
    ``code/sparse_optimizers.py``, taken from RigL's code); with its constant ζ = 0.2 the two agree
    for every nnz ≤ 10⁶ (float32(0.2) = 0.2000000030 lies above 0.2, so the float32 product never
    falls short of an integer it should reach).
    """
    return int(math.floor(check_fraction(zeta, "zeta") * nnz + 1e-9))


def ctre_update(model, zeta, rng, optimizer=None, growth="sim", sims=None, reset_regrown=True):
    """Per layer: drop the ⌊ζ·nnz_l⌋ smallest |w|, grow as many by ``growth`` (see the module
    docstring), new weights U(±√(6/n_in)) and optimizer state 0   (CTRE, Atashgahi et al. 2022).

    ``sims``: one Sim array per layer (:func:`cosine_similarity`), needed unless growth='random'.
    A position dropped in this update may be grown again: by a cosine pick with ``'cosine'``, by a
    random pick with any growth. It restarts like any grown connection (value U(±√(6/n_in)), state 0),
    unless ``reset_regrown=False``: it then gets back its value and optimizer state from before the
    drop, as in the reference code (``code/sparse_optimizers.py``, which treats as new only positions
    that were inactive before the update). nnz per layer is preserved exactly. Returns one
    :class:`CTREUpdate` per layer (a restored position still counts as grown).
    """
    rng = check_rng(rng)
    if growth not in GROWTH:
        raise ValueError(f"growth must be one of {GROWTH}, got {growth!r}")
    if growth != "random":
        if sims is None or len(sims) != len(model.layers):
            raise ValueError(f"growth={growth!r} needs one similarity array per layer ({len(model.layers)})")
        for l, (S, layer) in enumerate(zip(sims, model.layers)):
            if np.shape(S) != layer.shape or not np.all(np.isfinite(S)):
                raise ValueError(f"sims[{l}] must be a finite {layer.shape} array, got shape {np.shape(S)}")
    if optimizer is not None and optimizer.hyper.get("dense_momentum"):
        raise ValueError("CTRE keeps no dense velocity: a grown weight would inherit V instead of 0")
    check_fraction(zeta, "zeta")
    if optimizer is not None:
        check_optimizer(model, optimizer)
    updates = []
    for l, layer in enumerate(model.layers):
        nnz0, k = layer.nnz, drop_count(layer.nnz, zeta)
        init = uniform_values(math.sqrt(6.0 / layer.shape[0]))
        keep = keep_all_but_lowest(np.abs(layer.W.data), k)                      # (nnz,) False at the k smallest |w|
        dropped = entry_keys(layer.W)[~keep]                           # (k,)
        old = (layer.W.data[~keep].copy(),
               {name: getattr(optimizer, name)[l][~keep] for name in getattr(optimizer, "aligned", ())})
        prune(model, l, keep, optimizer)
        by_sim = dropped[:0]
        if growth != "random":
            picks = top_k_dense(sims[l], model.layers[l].W, k, where=f"layer {l}")   # (k,) sorted
            if growth == "sim":                    # a just-dropped pick is not re-grown: replaced at random
                picks = picks[~np.isin(picks, dropped, assume_unique=True)]
            by_sim = grow_at_keys(model, l, picks, init(picks.size, rng), optimizer, None)
        at_random = grow_random(model, l, k - by_sim.size, rng, values=init, optimizer=optimizer)
        if not reset_regrown:
            _restore_regrown(model.layers[l], l, optimizer, dropped, *old)
        assert model.layers[l].nnz == nnz0
        n_out = layer.shape[1]
        updates.append(CTREUpdate(dropped, by_sim, at_random, pairs(dropped, n_out),
                                  pairs(np.union1d(by_sim, at_random), n_out)))
    return updates


def best_validation(history):
    """(epoch, val_acc, test_acc) at the first epoch of highest validation accuracy — how the CTRE
    paper reports test accuracy."""
    val = np.asarray(history["val_acc"], dtype=float)
    if val.size == 0 or not np.any(np.isfinite(val)):
        raise ValueError("the history holds no validation accuracy: train with a validation split")
    i = int(np.nanargmax(val))
    return history["epoch"][i], float(val[i]), float(history["test_acc"][i])


def train_ctre(model, data, epochs, variant="sim", zeta=0.2, lr=0.01, momentum=0.9, nesterov=True,
               weight_decay=1e-4, batch_size=100, patience=40, sim_samples=None, rng=0, verbose=True,
               reset_regrown=True, checkpoint=None, resume=None):
    """Train ``model`` with CTRE: an epoch of SGD, log it, then (every epoch but the last) the
    similarity over the training split and :func:`ctre_update`   (Atashgahi et al. 2022).

    ``variant``: 'sim' (CTRE_sim), 'seq' (CTRE_seq: cosine-only growth until the validation accuracy
    has not improved for ``patience`` epochs, then random growth) or 'cosine' (CTRE without random).
    ``model`` is usually ``SparseMLP.random(sizes, topology="erdos_renyi", epsilon=1)``; ``data`` a
    :class:`~minisparse.datasets.Split` (with a validation part for 'seq' and :func:`best_validation`).
    ``sim_samples``: compute Sim on this many training rows drawn at random each update (default: all).
    Returns ``(history, log)``. Each History row also holds ``growth``, the growth rule of the update
    that follows the epoch (CTRE_seq's switch epoch is the first 'random'), and ``ever_active``. The
    log has one entry per update: ``by_similarity`` and ``at_random`` (per layer), ``random_share``,
    ``growth``, ``seconds`` and the update's multiply-adds (the similarity pass; sparse + dense).
    ``reset_regrown=False``: a just-dropped connection grown again keeps its old value and momentum,
    as in the reference code (see :func:`ctre_update`).
    """
    epochs, batch_size = check_training_args(epochs, batch_size)
    rng = check_rng(rng)
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {tuple(VARIANTS)}, got {variant!r}")
    check_fraction(zeta, "zeta")                 # ζ is checked now, not at the first update
    check_positive_int(patience, "patience", "epochs without a better validation accuracy before CTRE_seq "
                       "switches to random growth", minimum=0)
    check_sparse_start(model, "CTRE")
    X, y, splits = checked_data(model, data)
    if variant == "seq" and "val" not in splits:
        raise ValueError("CTRE_seq switches on validation accuracy: data needs a non-empty validation split")
    if sim_samples is not None and not (isinstance(sim_samples, (int, np.integer)) and 1 <= sim_samples):
        raise ValueError(f"sim_samples must be a positive number of rows or None, got {sim_samples!r}")
    optimizer = SGD(model, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)
    history, log, ever_active = History(), TopologyLog(), EverActive(model)
    growth = "cosine" if variant in ("seq", "cosine") else "sim"
    first, step = restore(resume, optimizer, history, log)
    restore_ever(ever_active, resume)
    best_val, stalled = -np.inf, 0
    if resume:
        best_val, stalled, growth = resume.scalars["best_val"], resume.scalars["stalled"], resume.scalars["growth"]
        best_val = -np.inf if best_val is None else best_val
    for epoch in range(first, epochs + 1):
        epoch_start(checkpoint, epoch, first, model, optimizer, rng, step, history, log, ever_active,
                    best_val=None if best_val == -np.inf else float(best_val), stalled=stalled, growth=growth)
        start = time.perf_counter()
        loss, step = run_epoch(model, optimizer, X, y, batch_size, rng, step0=step,
                               report_every=HEARTBEAT if verbose else None)
        model.end_epoch()                        # k-WTA layers decay their boost strength
        row = epoch_row(model, X, y, splits, epoch, loss, step, time.perf_counter() - start,
                        epoch_macs(model, len(y), batch_size), ever_active=ever_active.rate)
        if variant == "seq" and growth == "cosine":
            best_val, stalled = (row["val_acc"], 0) if row["val_acc"] > best_val else (best_val, stalled + 1)
            if stalled >= patience:
                growth = "random"                                     # CTRE_seq's switch, for good
        history.append(**row, growth=growth)                          # the growth of the coming update
        if verbose:
            print(f"{progress_line(row, epochs)}  growth {growth}", flush=True)
        if not is_epoch_update(epoch, epochs):                         # no rewiring after the last epoch
            continue
        start, W_before = time.perf_counter(), [layer.W for layer in model.layers]
        sims, macs = None, {"sparse": 0, "dense": 0}
        if growth != "random":
            rows = slice(None) if sim_samples is None or sim_samples >= len(y) else \
                np.sort(rng.choice(len(y), sim_samples, replace=False))
            sims = cosine_similarity(model, X[rows])
            macs = similarity_macs(model, len(X[rows]))
        updates = ctre_update(model, zeta, rng, optimizer, growth, sims, reset_regrown)
        n_sim = [int(u.by_similarity.size) for u in updates]
        n_rand = [int(u.at_random.size) for u in updates]
        log.record(model, W_before, step=step, epoch=epoch, macs=macs, ever_active=ever_active,
                   extra={"growth": growth, "by_similarity": n_sim, "at_random": n_rand,
                          "random_share": sum(n_rand) / max(1, sum(n_sim) + sum(n_rand)),
                          "seconds": time.perf_counter() - start})
    return history, log.as_dict()
