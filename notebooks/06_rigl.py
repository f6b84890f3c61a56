# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 06 · RigL: drop by magnitude, grow by the dense gradient
#
# **What you will learn:** how RigL (Evci et al. 2020, *Rigging the Lottery*) sizes its layers (ERK),
# schedules its updates (cosine decay), and performs one update (drop the smallest |w|, grow the
# largest |G|), what its dense gradient costs, and how it compares with a static mask on MNIST. The
# notebook follows article 000, *Dynamic Sparse Training: Pruning & Growth at Training time*, which
# names RigL as one of the two reference methods and states its weak point: "the high computational
# cost due to dense gradient calculation for all non-existing connections". Below, that cost is
# counted in multiply-adds.
#
# RigL starts from an ERK topology. Every ΔT training steps until T_end, each layer drops the
# k = ⌊f(t)·nnz_l⌋ active weights of smallest |w| and grows the k inactive positions of largest
# |G|, where G is the dense gradient of the current batch. The drop fraction decays as
# f(t) = α/2·(1 + cos(πt/T_end)). New weights and their momentum start at 0. On an update step the
# optimizer step is skipped.
#
# Each equation follows the pattern of notebooks 01–05: the equation and its source, a hand
# computation on a tiny printed example, the library's code, the library call, and an `assert` that
# the two agree.
#
# **Runs in about 40 s (fast mode: 3 s) on a 2-core machine.** `MINISPARSE_FAST=1`
# shrinks the training runs; the saved outputs come from a full run.

# %%
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # one BLAS thread (set before NumPy loads): shared cores

import copy
import inspect
import math
import time

import matplotlib.pyplot as plt
import numpy as np

import minisparse
from minisparse import SGD, SparseMLP, fit
from minisparse.network import init, topology
from minisparse.network.cost import epoch_macs, step_macs
from minisparse.data.datasets import load_dataset
from minisparse.sparse_training.rigl import drop_count, rigl_step, rigl_steps, rigl_update, train_rigl
from minisparse.sparse_training.schedules import cosine_decay, is_update_step
from minisparse.network.topology import entry_keys

FAST = os.environ.get("MINISPARSE_FAST", "0") == "1"
np.set_printoptions(precision=4, suppress=True, linewidth=110)
print(f"FAST = {FAST}   (minisparse {minisparse.__version__}, NumPy {np.__version__}, "
      f"OPENBLAS_NUM_THREADS = {os.environ['OPENBLAS_NUM_THREADS']})")


def agree(a, b):
    """The tolerance used for every library-vs-hand check below."""
    return np.allclose(a, b, rtol=1e-6, atol=1e-8)


def show(W, name="W"):
    """Print a small layer: a header, then topology.show (absent positions as '·', stored ones as
    numbers, so a connection grown at 0 prints 0.0000 and cannot be mistaken for an absent one)."""
    print(f"{name} ({W.shape[0]}×{W.shape[1]}, nnz {W.nnz}):")
    print("\n".join("   " + line for line in topology.show(W, digits=4).splitlines()))


# %% [markdown]
# ## a. ERK: how many connections each layer starts with
#
# **RigL §3 (Evci et al. 2020), sparsity distribution; `minisparse.network.init.erk_densities`.** ERK
# gives layer l the density
#
# d_l = c · (n_in + n_out) / (n_in · n_out),
#
# with one constant c solved so that Σ_l d_l·n_in·n_out = d · Σ_l n_in·n_out. If a layer comes out
# with d_l > 1, it is made dense and c is solved again over the other layers. Small layers get
# proportionally more connections than large ones.
#
# By hand, for LeNet-300-100 at a global density of 5 % and of 20 %:

# %%
sizes = [784, 300, 100, 10]
shapes = list(zip(sizes[:-1], sizes[1:]))
size = np.array([n_i * n_o for n_i, n_o in shapes], dtype=float)
raw = np.array([(n_i + n_o) / (n_i * n_o) for n_i, n_o in shapes])


def erk_by_hand(d):
    dense = np.zeros(len(shapes), dtype=bool)
    while True:                                   # solve c, cap the layers above 1, solve again
        c = (d * size.sum() - size[dense].sum()) / (raw * size)[~dense].sum()
        over = ~dense & (c * raw > 1)
        if not over.any():
            return np.where(dense, 1.0, c * raw), c
        dense |= over


for d in (0.05, 0.2):
    erk, c = erk_by_hand(d)
    print(f"global density {d:4}: c = {c:7.3f}   d_l = {erk}   "
          f"global check {(erk * size).sum() / size.sum():.4f}")
    assert agree(init.erk_densities(shapes, d), erk)

erk5, _ = erk_by_hand(0.05)
model = SparseMLP.random(sizes, density=0.05, topology="erk", rng=0)
print("nnz per layer:", [layer.nnz for layer in model.layers], " by hand ≈", np.round(erk5 * size).astype(int))
assert [layer.nnz for layer in model.layers] == np.round(erk5 * size).astype(int).tolist()

# %% [markdown]
# At 5 % the 100→10 output layer gets 92 % of its connections and the 784→300 input layer gets
# 3.8 %. At 20 % the output layer would need c·raw > 1, so it is made dense and the other two layers
# share what is left.
#
# ## b. The cosine drop schedule and the update steps
#
# **RigL §3, Eq. 1.** f(t) = α/2 · (1 + cos(π t / T_end)) for t < T_end, and 0 afterwards, with
# α = 0.3 and T_end = 75 % of the training steps. Updates happen at steps ΔT, 2ΔT, … < T_end (steps
# counted from 1). Each layer drops and regrows k_l = ⌊f(t)·nnz_l⌋ connections; the reference code
# truncates with an `int` cast.
#
# By hand, for 40 epochs of 35 batches (the MNIST-5k run below) with ΔT = 25:

# %%
alpha, delta_t = 0.3, 25
total, t_end = rigl_steps(3500, 100, 40)
steps_hand = list(range(delta_t, t_end, delta_t))
f_hand = [alpha / 2 * (1 + math.cos(math.pi * t / t_end)) for t in steps_hand]
print(f"total steps {total}, T_end = {t_end}, {len(steps_hand)} updates")
for t, f in list(zip(steps_hand, f_hand))[::8]:
    print(f"  step {t:4d}: f = {f:.4f}   layer 0 (nnz 9,051): k = ⌊f·nnz⌋ = {math.floor(f * 9051)}")

assert [t for t in range(1, total + 1) if is_update_step(t, delta_t, t_end)] == steps_hand
assert agree([cosine_decay(t, alpha, t_end) for t in steps_hand], f_hand)
assert all(drop_count(9051, f) == math.floor(f * 9051) for f in f_hand)
assert cosine_decay(0, alpha, t_end) == alpha and cosine_decay(t_end, alpha, t_end) == 0.0
assert drop_count(100, 0.29) == 29                 # float error (0.29·100 = 28.999…) does not cost one

# %% [markdown]
# ## c. One RigL update on a tiny network, by hand
#
# **RigL §3, Algorithm 1.** The network is 6 → 4 → 3 with 10 and 5 connections. It takes two
# ordinary SGD-momentum steps (μ = 0.9), so the velocities are not zero. The third step is an update
# step (ΔT = 3, T_end = 10, α = 0.3), so f = 0.15·(1 + cos(0.3π)) = 0.238, and k = ⌊f·10⌋ = 2 in
# layer 0 and ⌊f·5⌋ = 1 in layer 1. In order:
#
# 1. compute the dense gradient G_l = A_prevᵀ dZ_l of the batch, at *all* positions, with the weights
#    as they are before the drop (the reference "grows connections with the pre-removal gradients");
# 2. drop the k smallest |w| (ties to the lowest position);
# 3. grow the k largest |G_ij| among the positions inactive *after* the drop. A connection dropped in
#    step 2 may be grown straight back. It then restarts at value 0, like any new connection;
# 4. set new weights and their momentum to 0, and take **no** optimizer step.

# %%
net = SparseMLP.random([6, 4, 3], density=0.4, rng=0)
rng = np.random.default_rng(100)
X, y = rng.standard_normal((4, 6)), np.array([0, 1, 2, 1])      # (B=4, 6), (B,)
opt = SGD(net, lr=0.1, momentum=0.9)
for step in (1, 2):                                          # ΔT = 3: steps 1 and 2 are ordinary
    loss, update = rigl_step(net, opt, X, y, step, delta_t=3, t_end=10, alpha=0.3)
    assert update is None
f = 0.3 / 2 * (1 + math.cos(math.pi * 3 / 10))               # f(3) with α = 0.3, T_end = 10
print(f"f(3) = {f:.4f}")
for l, layer in enumerate(net.layers):
    show(layer.W, f"layer {l}")
    print(f"   velocity v_W (aligned with W.data) = {opt.v_W[l]}")

# %% [markdown]
# Step 1, by hand: the forward pass with dense arrays, the backward pass, and G_l = A_prevᵀ dZ_l at
# every position. This is the only place RigL needs a dense (n_in, n_out) product.

# %%
Ws = [layer.W.toarray() for layer in net.layers]
bs = [layer.b.copy() for layer in net.layers]
Z0 = X @ Ws[0] + bs[0]
A0 = np.maximum(Z0, 0)
Z1 = A0 @ Ws[1] + bs[1]
P = np.exp(Z1 - Z1.max(axis=1, keepdims=True))
P /= P.sum(axis=1, keepdims=True)
dZ1 = (P - np.eye(3)[y]) / len(y)
dZ0 = (dZ1 @ Ws[1].T) * (Z0 > 0)
G_hand = [X.T @ dZ0, A0.T @ dZ1]                              # (6, 4), (4, 3)
for l, G in enumerate(G_hand):
    print(f"G_{l} =\n{G}")

_, grads = net.loss_and_grads(X, y, dense=True)
assert all(agree(G, g.G) for G, g in zip(G_hand, grads))

# %% [markdown]
# Steps 2 and 3, by hand. Positions are flat keys i·n_out + j. The drop keeps the nnz − k largest
# |w|. The growth candidates are every position not kept, so the k dropped keys compete with the
# positions that were never active.

# %%
drop_hand, grow_hand = [], []
for l, layer in enumerate(net.layers):
    n_in, n_out = layer.shape
    keys, w = entry_keys(layer.W), layer.W.data
    k = math.floor(f * layer.nnz)
    order = np.argsort(np.abs(w), kind="stable")               # ties: the lower position first
    dropped = np.sort(keys[order[:k]])
    kept = np.setdiff1d(keys, dropped)
    candidates = np.setdiff1d(np.arange(n_in * n_out), kept)   # inactive after the drop
    score = np.abs(G_hand[l]).ravel()[candidates]
    grown = np.sort(candidates[np.argsort(-score, kind="stable")[:k]])
    drop_hand.append(dropped)
    grow_hand.append(grown)
    print(f"layer {l}: k = {k}   dropped keys {dropped}  |w| = {np.abs(layer.W.toarray()).ravel()[dropped]}")
    print(f"          grown keys   {grown}  |G| = {np.abs(G_hand[l]).ravel()[grown]}"
          f"   re-grown just-dropped: {np.intersect1d(dropped, grown)}")

# %%
print(inspect.getsource(rigl_update))        # the code the asserts below check, then the step that calls it
print(inspect.getsource(rigl_step))

# %% [markdown]
# Now the library, on a copy. `rigl_step` at step 3 (a multiple of ΔT) runs `rigl_update` **instead
# of** the optimizer step. The checks:
#
# - the dropped and grown sets match the hand computation, and nnz is unchanged. The update returns
#   them as flat keys (`dropped`, `grown`) and as (i, j) rows (`dropped_ij`, `grown_ij`);
# - every grown weight is 0 with velocity 0. That includes a just-dropped position that was grown
#   back, which had a nonzero value a moment ago. The printed layers show it as 0.0000, while an
#   absent position prints ·;
# - every kept weight, its velocity and the biases are exactly as before: no optimizer step was taken.

# %%
net_lib, opt_lib = copy.deepcopy((net, opt))
loss, update = rigl_step(net_lib, opt_lib, X, y, 3, delta_t=3, t_end=10, alpha=0.3)
assert update is not None and agree(update.drop_fraction, f)
regrown_total = 0
for l, (old, new) in enumerate(zip(net.layers, net_lib.layers)):
    assert np.array_equal(update.dropped[l], drop_hand[l]) and np.array_equal(update.grown[l], grow_hand[l])
    assert new.nnz == old.nnz
    keys_new, keys_old = entry_keys(new.W), entry_keys(old.W)
    is_new = np.isin(keys_new, grow_hand[l])
    assert np.all(new.W.data[is_new] == 0) and np.all(opt_lib.v_W[l][is_new] == 0)
    kept_old = np.isin(keys_old, np.setdiff1d(keys_old, drop_hand[l]))
    assert np.array_equal(new.W.data[~is_new], old.W.data[kept_old])           # values untouched
    assert np.array_equal(opt_lib.v_W[l][~is_new], opt.v_W[l][kept_old])        # velocities untouched
    assert np.array_equal(new.b, old.b)
    regrown_total += np.intersect1d(drop_hand[l], grow_hand[l]).size
    assert np.array_equal(update.dropped_ij[l] @ [new.shape[1], 1], drop_hand[l])   # (i, j) ↔ i·n_out + j
    assert np.array_equal(update.grown_ij[l] @ [new.shape[1], 1], grow_hand[l])
    back = np.isin(update.grown[l], update.dropped[l])
    print(f"layer {l}: dropped (i, j) {update.dropped_ij[l].tolist()}, grown {update.grown_ij[l].tolist()}, "
          f"re-grown just-dropped {update.grown_ij[l][back].tolist()}")
    show(new.W, f"layer {l} after the update")
assert opt_lib.t == opt.t == 2, "the optimizer did not step"
assert regrown_total >= 1, "this example shows a just-dropped connection grown back (at 0)"

# %% [markdown]
# The reference code (google-research/rigl) lets a re-grown just-dropped connection keep its old
# value and momentum, as if it had never been dropped. `rigl_update(..., reset_regrown=False)`
# reproduces that; the default restarts it at 0, like any new connection (see the docstring of
# `minisparse.sparse_training.rigl`).

# %%
net_ref, opt_ref = copy.deepcopy((net, opt))
rigl_update(net_ref, X, y, f, opt_ref, reset_regrown=False)
for l, (old, ref) in enumerate(zip(net.layers, net_ref.layers)):
    back = np.intersect1d(drop_hand[l], grow_hand[l])
    w_old = old.W.toarray().ravel()[back]
    w_ref = ref.W.toarray().ravel()[back]
    print(f"layer {l}: re-grown {back.tolist()}: value before {w_old}, with reset_regrown=False {w_ref}")
    assert np.array_equal(w_old, w_ref)

# %% [markdown]
# ## d. What an update step costs
#
# **Article 000, end of *Dynamic Sparse Training*; `minisparse.network.cost`.** An ordinary step of a layer
# costs B·nnz multiply-adds each for the forward product, dW and dA_prev (dA_prev is skipped for the
# first layer). RigL's update step also computes G = A_prevᵀ dZ at all n_in·n_out positions, which
# costs B·n_in·n_out more whatever the density. RigL pays this only once every ΔT steps. Sparse
# Momentum (notebook 07) pays it at every step.

# %%
B = 100
lenet = SparseMLP.random(sizes, density=0.05, topology="erk", rng=0)
nnz = [layer.nnz for layer in lenet.layers]
sparse_hand = sum(B * n * (2 if l == 0 else 3) for l, n in enumerate(nnz))
dense_hand = sum(B * n_i * n_o for n_i, n_o in shapes)
ordinary = step_macs(lenet, B)
update_cost = step_macs(lenet, B, dense_layers=range(3))
print(f"LeNet-300-100 at 5 % ERK, B = {B}:")
print(f"  ordinary step: sparse {ordinary['sparse']:>12,}  dense {ordinary['dense']:>12,}")
print(f"  update step  : sparse {update_cost['sparse']:>12,}  dense {update_cost['dense']:>12,}"
      f"   ({update_cost['dense'] / update_cost['sparse']:.1f}× the sparse work)")
print(f"  averaged over ΔT = {delta_t} steps, the dense gradient adds "
      f"{update_cost['dense'] / delta_t / ordinary['sparse']:.0%} to the sparse work")
assert ordinary == {"sparse": sparse_hand, "dense": 0}
assert update_cost == {"sparse": sparse_hand, "dense": dense_hand}

# %% [markdown]
# ## e. RigL against a static ERK mask on MNIST-5k
#
# LeNet-300-100 at 5 % ERK on the bundled MNIST-5k (3,500 training, 500 validation and 1,000 test
# images). Both runs use SGD with lr 0.1, momentum 0.9, L2 1e-4, batch 100, and the same initial
# topology and weights. RigL uses α = 0.3 and T_end = 75 %. The paper's ΔT = 100 assumes hundreds of
# batches per epoch. Here an epoch has 35 batches, so ΔT = 25. Each run is repeated over seeds and
# the test accuracy averaged. The static run is `fit`: the same batches in the same order, with an
# optimizer step where RigL updates its topology instead.

# %%
data = load_dataset("mnist5k", rng=0)
if FAST:
    sizes_run, epochs, seeds, delta_t = [784, 64, 32, 10], 3, [0], 10
else:
    sizes_run, epochs, seeds, delta_t = sizes, 40, [0, 1, 2], 25
hyper = dict(lr=0.1, momentum=0.9, weight_decay=1e-4)

start = time.perf_counter()
runs = {"static": [], "rigl": []}
for seed in seeds:
    base = SparseMLP.random(sizes_run, density=0.05, topology="erk", rng=seed)
    static = copy.deepcopy(base)
    h_static = fit(static, SGD(static, **hyper), data, epochs, batch_size=100, rng=seed, verbose=False)
    rigl = copy.deepcopy(base)
    h_rigl, log = train_rigl(rigl, data, epochs, delta_t=delta_t, alpha=0.3, batch_size=100, rng=seed,
                             verbose=False, **hyper)
    runs["static"].append(h_static)
    runs["rigl"].append((h_rigl, log))
    assert [l.nnz for l in rigl.layers] == [l.nnz for l in base.layers]   # per-layer nnz preserved
    print(f"  seed {seed}: static and RigL trained ({time.perf_counter() - start:.1f} s so far)", flush=True)
print(f"{len(seeds)} seed(s) × 2 runs of {epochs} epochs: {time.perf_counter() - start:.1f} s")

acc_static = np.array([h["test_acc"][-1] for h in runs["static"]])
acc_rigl = np.array([h["test_acc"][-1] for h, _ in runs["rigl"]])
print(f"test accuracy after {epochs} epochs (mean over seeds {seeds}):")
print(f"  static ERK 5 %: {acc_static.mean():.4f}   {acc_static}")
print(f"  RigL  ERK 5 %: {acc_rigl.mean():.4f}   {acc_rigl}")
h_rigl, log = runs["rigl"][0]
print(f"RigL (seed {seeds[0]}): {len(log['step'])} updates, in-time over-parameterisation "
      f"R = {h_rigl['ever_active'][-1]:.3f} of the positions ever active (start: 0.05)")

# %% [markdown]
# In the full run RigL ends above the static ERK mask for every seed, by about a point on average
# (0.934 against 0.924). By the end it has tried about three times as many positions as it holds at
# once (R = 0.161 against a density of 0.05).
#
# **Topology change per update.** For each update, |M_t ⊕ M_{t−1}|/2 / nnz is the share of
# connections that moved. It is at most f(t): per layer, the moved count is k = ⌊f·nnz_l⌋ minus the
# connections dropped and grown straight back. The log records k and those re-grown ones, so the
# identity can be checked exactly. In the 92 % dense output layer most of the dropped connections
# come straight back, as it has few other free positions; in the input layer about one in ten does.

# %%
steps = np.array(log["step"])
moved = np.array([sum(m) for m in log["moved"]])
k_all = np.array([sum(k) for k in log["k"]])
regrown = np.array([sum(r) for r in log["regrown"]])
nnz_total = sum(log["nnz"][0])
assert np.array_equal(moved, k_all - regrown)
assert all(k == [drop_count(n, fr) for n in nnz_l]
           for k, nnz_l, fr in zip(log["k"], log["nnz"], log["drop_fraction"]))

fig, ax = plt.subplots(1, 2, figsize=(11, 3.6))
ax[0].plot(steps, np.array(log["drop_fraction"]), "k--", label="f(t) (drop fraction)")
ax[0].plot(steps, moved / nnz_total, "o-", ms=3, label="moved / nnz")
ax[0].plot(steps, regrown / nnz_total, "s-", ms=3, label="dropped and re-grown / nnz")
ax[0].set_xlabel("training step")
ax[0].set_title("topology change per RigL update")
ax[0].legend()
for name, colour in (("static", "C0"), ("rigl", "C1")):
    for i, h in enumerate(runs[name]):
        h = h if name == "static" else h[0]
        ax[1].plot(h["epoch"], h["val_acc"], color=colour, alpha=0.7,
                   label=f"{'static' if name == 'static' else 'RigL'} (ERK 5 %)" if i == 0 else None)
ax[1].axvline(t_end / total * epochs if not FAST else 0.75 * epochs, color="grey", lw=0.8, ls=":")
ax[1].set_xlabel("epoch")
ax[1].set_ylabel("validation accuracy")
ax[1].set_title("MNIST-5k, LeNet-300-100" if not FAST else "MNIST-5k (fast: 784-64-32-10)")
ax[1].legend()
fig.tight_layout()
plt.show()
print(f"first update: {moved[0]:.0f} of {nnz_total} moved ({moved[0] / nnz_total:.3f}, f = {log['drop_fraction'][0]:.3f}); "
      f"last: {moved[-1]:.0f} ({moved[-1] / nnz_total:.4f}, f = {log['drop_fraction'][-1]:.4f})")
share_back = np.array(log["regrown"]).sum(axis=0) / np.array(log["k"]).sum(axis=0)
print("share of the dropped connections grown straight back, per layer, over the run:", np.round(share_back, 3))

# %% [markdown]
# **The multiply-adds, split into sparse and dense work.** Each update step's dense gradient is logged
# (`macs_dense`). Summed over the run and set against the sparse work of every step, it shows what
# gradient-guided growth costs at this density. It comes out a little under ¾ of the 34 % of section
# d, because the updates stop at T_end = 75 % of training.

# %%
n_train, n_steps = len(data.y_train), int(h_rigl["step"][-1])
sparse_run = epochs * epoch_macs(rigl, n_train, 100)["sparse"]            # nnz per layer is constant
dense_run = sum(log["macs_dense"])
n_updates = len(log["step"])
print(f"RigL, {epochs} epochs = {n_steps} steps, {n_updates} update steps:")
print(f"  sparse work (all steps)            : {sparse_run:>15,} MACs")
print(f"  dense gradient (update steps only) : {dense_run:>15,} MACs  ({dense_run / sparse_run:.1%} of the sparse work)")
dense_every_step = epochs * epoch_macs(rigl, n_train, 100, dense_layers=range(len(rigl.layers)))["dense"]
print(f"  a dense gradient at every step would be {dense_every_step:,} MACs "
      f"({dense_every_step / sparse_run:.1f}× the sparse work): Sparse Momentum's price, notebook 07")
assert dense_run == n_updates * 100 * sum(n_i * n_o for n_i, n_o in (l.shape for l in rigl.layers))

# %% [markdown]
# ## f. Where to break in
#
# To step through RigL in a debugger (`breakpoint()`, or your IDE on this `.py` twin), set a
# breakpoint in:
#
# | to see | break in |
# | --- | --- |
# | ERK densities, with capping | `minisparse.network.init.erk_densities` |
# | f(t) = α/2·(1 + cos(πt/T_end)); when to update | `minisparse.sparse_training.schedules.cosine_decay`, `minisparse.sparse_training.schedules.is_update_step` |
# | k = ⌊f·nnz⌋ | `minisparse.sparse_training.rigl.drop_count` |
# | update step vs ordinary step (the skipped optimizer step) | `minisparse.sparse_training.rigl.rigl_step` |
# | the dense G, the drop, the growth of one update | `minisparse.sparse_training.rigl.rigl_update` |
# | the k smallest \|w\| | `minisparse.pruning.select.keep_all_but_lowest` (then `minisparse.network.topk.bottom_k_indices`) |
# | \|G\| at inactive positions; top-k growth at value 0, momentum 0 | `minisparse.growth.criteria.gradient_score`, `minisparse.growth.select.grow_highest` |
# | the training loop, the topology log and its MACs | `minisparse.sparse_training.rigl.train_rigl` |
#
# For example, to stop inside the update of the tiny network above:
#
# ```python
# import pdb
# net_dbg, opt_dbg = copy.deepcopy((net, opt))
# pdb.runcall(rigl_update, net_dbg, X, y, 0.3, opt_dbg)
# ```
#
# ## Summary
#
# - ERK gives each layer a density proportional to (n_in + n_out) / (n_in · n_out), capped at 1;
#   at 5 % LeNet-300-100 gets 3.8 %, 11 % and 92 %.
# - Every ΔT steps until T_end = 75 % of training, each layer drops k = ⌊f(t)·nnz⌋ of its smallest
#   |w| and grows the k inactive positions of largest |G|, with f(t) = α/2·(1 + cos(πt/T_end)).
# - The gradient is taken before the drop, and the candidates include the just-dropped positions:
#   one may come straight back, at 0 with momentum 0 (`topology.show` prints it as 0.0000, not ·).
#   An update step takes no optimizer step.
# - The dense gradient costs B·n_in·n_out per layer whatever the density: 8.6× an ordinary step's
#   sparse work at 5 %, about 25 % more work over a run with ΔT = 25.
# - On MNIST-5k at 5 % ERK, RigL ends about a point above the static mask over three seeds.
#
# ## Exercises
#
# Each answer cell holds a placeholder; replace `None` with your answer and run the check below it.
#
# **1.** In the full run (ΔT = 25, T_end = 1050, α = 0.3), how many connections does layer 1
# (nnz 3,340) drop at the update of step 500?

# %%
answer_1 = None                      # an integer


def check_exercise_1(answer):
    if answer is None:
        print("hint: f(500) = 0.3/2·(1 + cos(π·500/1050)), then k = ⌊f·3340⌋")
        return
    truth = drop_count(3340, cosine_decay(500, 0.3, 1050))
    assert answer == truth, f"not quite: {answer}"
    print("correct")


check_exercise_1(answer_1)

# %% [markdown]
# **2.** With the paper's ΔT = 100 instead of 25, how much does the dense gradient add, averaged over
# the steps, to the sparse work of LeNet-300-100 at 5 % ERK with B = 100? Answer as a fraction
# (0.34 would be 34 %).

# %%
answer_2 = None                      # a fraction


def check_exercise_2(answer):
    if answer is None:
        print("hint: section d prints the dense MACs of an update step and the sparse MACs of a step")
        return
    truth = step_macs(lenet, 100, dense_layers=range(3))["dense"] / 100 / step_macs(lenet, 100)["sparse"]
    assert abs(answer - truth) < 0.005, f"not quite: {answer}"
    print(f"correct: {truth:.4f}")


check_exercise_2(answer_2)

# %% [markdown]
# **3.** In the tiny update of section c, suppose the drop fraction were f = 0.3 instead of 0.238.
# Which flat keys would layer 0 grow? Use the printed weights and G₀.

# %%
answer_3 = None                      # a list of keys, e.g. [0, 7, 11]


def check_exercise_3(answer):
    if answer is None:
        print("hint: k = ⌊0.3·10⌋ = 3; drop the 3 smallest |w|, then take the 3 largest |G₀| among every "
              "position not kept (just-dropped ones included)")
        return
    net_x, opt_x = copy.deepcopy((net, opt))
    truth = rigl_update(net_x, X, y, 0.3, opt_x).grown[0]
    assert sorted(answer) == truth.tolist(), f"not quite: {sorted(answer)}"
    print("correct")


check_exercise_3(answer_3)
