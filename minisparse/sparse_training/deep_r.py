"""DEEP R, Deep Rewiring: every potential connection k has a fixed sign s_k and a parameter θ_k; it is
active while θ_k > 0, with w_k = s_k·θ_k. Every step each active θ takes a Langevin step, those that
reach 0 become dormant, and as many dormant connections, drawn uniformly, become active
(Bellec, Kappel, Maass & Legenstein, ICLR 2018, "Deep Rewiring: Training very sparse deep networks",
Algorithm 1).

One step on a batch, for every active k:
  θ_k ← θ_k − η·∂E/∂θ_k − η·α + √(2ηT)·ν_k,     ν_k ~ N(0, 1),  ∂E/∂θ_k = s_k·∂E/∂w_k;
then every k with θ_k ≤ 0 turns dormant, and in each layer as many dormant positions (the
just-dormant ones included), drawn uniformly without replacement, turn active at θ = ε = 10⁻¹²
with their own fixed sign. Each layer's count of active connections stays exactly K_l.

The gradient term is the optimizer's step on w: with w = sθ and s fixed, θ − η s ∂E/∂w is the same
number as s·(w − η ∂E/∂w), so ``SGD`` on the active weights takes it (:func:`deep_r_step`), and
:func:`deep_r_update` adds the L1 and noise terms and rewires. With α = 0, T = 0 and a step that
brings no θ to 0, a DEEP R step IS a plain SGD step on the active weights.

Truly sparse: the gradient is the sampled one, ∂E/∂w at active positions only (O(B·nnz)); L1, noise
and the sign test are O(nnz); the revived positions are sampled (``growth.random_positions``). The
signs are not stored for the n_in·n_out potential connections: s_k is a fixed pseudo-random function
of (seed, layer, position) (:func:`connection_signs`, a SplitMix64 hash), so a connection that dies
and comes back has the sign it had, with O(1) memory.

Checked against the authors' code (github.com/guillaumeBellec/deep_rewiring,
``script_mnist_deep_rewiring.py`` and ``rewiring_tools.py``: ``weight_sampler_strict_number``,
``rewiring``):

- signs: the code draws a dense ±1 array per layer once (``np.sign(rd.randn(n_in, n_out))``); here
  the hash gives the same fixed, fair ±1 without the array.
- noise: the code adds ``lr·gdnoise·ν`` (gdnoise = 10⁻⁵), i.e. T = η·gdnoise²/2 (its soft-DEEP R
  script writes ``T = lr * noise**2 / 2``); ``temperature=None`` follows that rule, a number fixes T.
- L1 and noise act on active connections only, with the mask from before the step; revived θ = 10⁻¹²
  (``rewiring(..., epsilon=1e-12)``), active means θ > 0; the same here.
- initial weights: the code draws θ = |N(0, 1)|/√n_in at K positions drawn with replacement (a few
  short, topped up by the first rewiring); here the model's own initialisation, with each weight's
  sign replaced by its connection's sign (:func:`signed_init`), at exactly K_l positions.
- network: the code's MNIST net is 784-300-100-10 without biases; here the biases train by the same
  optimizer step and take no L1 or noise.
- optimizer: the code is plain SGD (momentum 0); ``momentum`` > 0 here applies heavy-ball momentum to
  θ (the same as to w, s being fixed), as the DEEP R runs behind the Sparse Momentum paper's figure
  did (its authors ran the IntelAI code, SGD with Nesterov momentum 0.9). A revived connection
  starts with momentum 0.
- defaults (the code's MNIST script): η = 0.5, batch 10, α = 10⁻⁵, gdnoise = 10⁻⁵, η × 0.8 after every
  epoch (``lr_epoch_decay``; T follows η), 10 epochs; layer densities 1 %, 3 %, 30 % (the per-layer
  densities of ERK at 1.3 % are 0.5 %, 1.3 %, 11 %: the same shape).
"""
import math
import time
from typing import NamedTuple

import numpy as np

from ..growth.select import grow_at_keys, random_positions
from ..network.checks import check_number, check_optimizer, check_rng, check_sparse_start
from ..network.checkpoint import epoch_start, restore, restore_ever
from ..network.cost import epoch_macs
from ..network.optim import SGD
from ..network.topology import entry_keys, pairs, prune
from ..network.train import (History, check_loss, check_training_args, checked_data, epoch_row, minibatches,
                             progress_line)
from .diagnostics import EverActive, TopologyLog, topology_change

EPSILON = 1e-12     # θ of a connection when it turns active (the code's ``rewiring(..., epsilon=1e-12)``)
GDNOISE = 1e-5      # the code's noise scale: ν's std per step is η·GDNOISE, so T = η·GDNOISE²/2

_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix64(x):
    """SplitMix64's finaliser on a uint64 array (wrapping arithmetic): a fixed, well-mixed hash."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def connection_signs(keys, layer_index, seed):
    """s_k ∈ {−1, +1} of layer ``layer_index``'s connections at flat positions ``keys`` (i·n_out + j):
    the top bit of a SplitMix64 hash of (seed, layer, key), so each potential connection has one
    fixed sign, +1 and −1 equally likely, with nothing stored.   # (k,) float64"""
    keys = np.asarray(keys, dtype=np.int64)
    if keys.size and keys.min() < 0:
        raise ValueError("connection positions (keys) must be ≥ 0")
    with np.errstate(over="ignore"):
        base = _splitmix64(np.array([int(seed) & int(_M64)], dtype=np.uint64))
        base = _splitmix64(base ^ np.uint64(int(layer_index) + 1))
        h = _splitmix64(keys.astype(np.uint64) ^ base)
    return 1.0 - 2.0 * (h >> np.uint64(63)).astype(np.float64)


def signed_init(model, seed):
    """In place: every active weight becomes s_k·max(|w_k|, ε), the sign its connection has under
    :func:`connection_signs` (θ = |w| keeps the initial magnitudes; a stored 0 becomes ε, so that every
    stored connection is active)."""
    for l, layer in enumerate(model.layers):
        s = connection_signs(entry_keys(layer.W), l, seed).astype(layer.W.dtype)
        layer.W.data[:] = s * np.maximum(np.abs(layer.W.data), EPSILON)


def check_signs(model, seed):
    """True when every stored weight is nonzero and has its connection's fixed sign (θ > 0)."""
    return all(np.array_equal(np.sign(layer.W.data), connection_signs(entry_keys(layer.W), l, seed))
               for l, layer in enumerate(model.layers))


class DeepRUpdate(NamedTuple):
    """One step's rewiring: per layer the connections that turned dormant and those revived, as flat
    positions i·n_out + j (sorted, (k,) each) and as (i, j) rows ((k, 2), same order). A connection
    may be in both (it died and was drawn back, at θ = ε)."""
    dropped: list
    grown: list
    dropped_ij: list
    grown_ij: list


def temperature_for(lr, temperature=None):
    """T: ``temperature`` if given, else the code's η·GDNOISE²/2 (noise std η·GDNOISE per step)."""
    if temperature is None:
        return lr * GDNOISE ** 2 / 2
    check_number(temperature, "temperature", ge=0, what="T, the Langevin noise temperature; None: η·1e-10/2")
    return float(temperature)


def deep_r_update(model, optimizer, l1, temperature, rng, sign_seed):
    """After the gradient step: θ ← θ − η·α + √(2ηT)·ν on every active connection, then those with
    θ ≤ 0 turn dormant and as many uniformly drawn dormant positions of the same layer turn active at
    θ = ε   (DEEP R, the rest of Algorithm 1). η is ``optimizer.layer_lr(l)``; T as in
    :func:`temperature_for`. Returns a :class:`DeepRUpdate`; each layer's nnz is unchanged.
    """
    rng = check_rng(rng)
    check_number(l1, "l1", ge=0, what="α, the L1 penalty on θ per step")
    check_optimizer(model, optimizer)
    dropped, grown = [], []
    for l, layer in enumerate(model.layers):
        lr = optimizer.layer_lr(l)
        T = temperature_for(lr, temperature)
        keys = entry_keys(layer.W)
        s = connection_signs(keys, l, sign_seed)
        theta = s * layer.W.data - lr * l1                                        # (nnz,)
        if T > 0:
            theta += math.sqrt(2 * lr * T) * rng.standard_normal(theta.size)
        layer.W.data[:] = s * theta
        alive = theta > 0
        dead = keys[~alive]
        if dead.size:
            prune(model, l, alive, optimizer)
            new = random_positions(layer.W, dead.size, rng)          # among ALL dormant, just-dead included
            grow_at_keys(model, l, new, values=connection_signs(new, l, sign_seed) * EPSILON, optimizer=optimizer)
        else:
            new = dead
        dropped.append(dead)
        grown.append(new)
    n_out = [layer.shape[1] for layer in model.layers]
    return DeepRUpdate(dropped, grown, [pairs(d, n) for d, n in zip(dropped, n_out)],
                       [pairs(g, n) for g, n in zip(grown, n_out)])


def deep_r_step(model, optimizer, X, y, l1, temperature, rng, sign_seed):
    """One DEEP R step on the batch (X, y): the optimizer's step on the active weights (the −η ∂E/∂θ
    term), then :func:`deep_r_update`. Returns (batch loss, DeepRUpdate)."""
    with np.errstate(over="ignore", invalid="ignore"):
        loss, grads = model.loss_and_grads(X, y)                 # sampled: active positions only
    check_loss(loss, model.n_classes, optimizer.hyper.get("lr"), where=" at a DEEP R step")
    optimizer.step(grads)
    return loss, deep_r_update(model, optimizer, l1, temperature, rng, sign_seed)


def train_deep_r(model, data, epochs, l1=1e-5, temperature=None, lr=0.5, lr_decay=0.8, momentum=0.0,
                 nesterov=False, batch_size=10, rng=0, sign_seed=None, verbose=True,
                 checkpoint=None, resume=None):
    """Train ``model`` in place with DEEP R; return (History, TopologyLog.as_dict()).

    Defaults are the authors' MNIST script (module docstring): plain SGD η = 0.5 × ``lr_decay`` after
    every epoch, batch 10, α = ``l1`` = 1e-5, T = η·(1e-5)²/2 unless ``temperature`` is given. Start
    from ``SparseMLP.random(sizes, density=d, topology="erk")``; its signs are set by
    :func:`signed_init` first (``sign_seed``, default: the integer ``rng`` or 0). Every step may
    rewire; the log has one row per EPOCH (the net pattern change over the epoch, with 'rewired' =
    connections that died and were replaced, per layer, summed over its steps), and History rows add
    'lr', 'rewired', 'moved', 'moved_fraction' and 'ever_active'.
    """
    epochs, batch_size = check_training_args(epochs, batch_size)
    seed = (rng if isinstance(rng, (int, np.integer)) else 0) if sign_seed is None else sign_seed
    rng = check_rng(rng)
    check_number(l1, "l1", ge=0, what="α, the L1 penalty on θ per step")
    check_number(lr_decay, "lr_decay", gt=0, le=1, what="η is multiplied by it after every epoch")
    optimizer = SGD(model, lr=lr, momentum=momentum, nesterov=nesterov)   # checks η before signed_init
    temperature_for(lr, temperature)                                 # check T before any work
    check_sparse_start(model, "DEEP R")
    X, y, splits = checked_data(model, data)
    if resume is None:
        signed_init(model, seed)                 # values only: the optimizer's state stays aligned
    else:
        seed = resume.scalars["sign_seed"]
    history, log, ever = History(), TopologyLog(), EverActive(model)
    first, step = restore(resume, optimizer, history, log)
    restore_ever(ever, resume)
    for epoch in range(first, epochs + 1):
        epoch_start(checkpoint, epoch, first, model, optimizer, rng, step, history, log, ever, sign_seed=int(seed))
        start, W_start, loss_sum = time.perf_counter(), [layer.W for layer in model.layers], 0.0
        rewired = np.zeros(len(model.layers), dtype=np.int64)
        macs = epoch_macs(model, len(y), batch_size)
        for idx in minibatches(len(y), batch_size, rng):
            step += 1
            loss, update = deep_r_step(model, optimizer, X[idx], y[idx], l1, temperature, rng, seed)
            loss_sum += loss * len(idx)
            died = [d.size for d in update.dropped]
            rewired += died
            if any(died):
                ever.update(model)
        log.record(model, W_start, step=step, epoch=epoch, macs={"sparse": 0, "dense": 0}, ever_active=ever,
                   extra=dict(rewired=rewired.tolist(), lr=optimizer.hyper["lr"]))
        moved = sum(topology_change(W0, layer.W).moved for W0, layer in zip(W_start, model.layers))
        model.end_epoch()                        # k-WTA layers decay their boost strength
        row = epoch_row(model, X, y, splits, epoch, loss_sum / len(y), step, time.perf_counter() - start, macs,
                        lr=optimizer.hyper["lr"], rewired=rewired.tolist(), moved=moved,
                        moved_fraction=moved / model.nnz, ever_active=ever.rate)
        history.append(**row)
        if verbose:
            print(f"{progress_line(row, epochs)}  lr {optimizer.hyper['lr']:.3g}  rewired {int(rewired.sum())}  "
                  f"moved {moved:g}  ever-active {ever.rate:.3f}", flush=True)
        optimizer.hyper["lr"] *= lr_decay
    return history, log.as_dict()
