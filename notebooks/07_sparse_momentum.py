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
# # 06 · Sparse Momentum: momentum at every position, weights shared out between layers
#
# This notebook follows article 000, section *Dynamic Sparse Training: Pruning & Growth at Training
# time* (its images 0 and 1), on Sparse Momentum (Dettmers & Zettlemoyer 2019, *Sparse Networks from
# Scratch*). The article describes the "inactive weights momentum based regrowth". The optimizer
# keeps a momentum m_ij at *every* position, pruned or never active, and accumulates it from the
# gradient. Growth picks the inactive positions of largest |m_ij|. A grown connection is "infused"
# with its accumulated momentum, which gives it a "head start".
#
# At the end of every epoch but the last, with prune rate p (0.5, cosine-decayed to 0.005):
#
# 1. each layer's mean |momentum| over its active weights, normalised to sum to 1 (its *share*);
# 2. remove p of each layer's active weights by magnitude;
# 3. share all the removed weights out between the layers in proportion to (1). Each layer is
#    capped at its free slots, and the overflow goes to the others;
# 4. in each layer, grow the inactive positions of largest |momentum|, at value 0.
#
# So the total nnz is fixed, but weights move between layers. Each equation follows the pattern of
# notebooks 01 and 02: a markdown cell with the equation and its source, a hand computation on a tiny
# printed example, the library call, and an `assert` that the two agree. `MINISPARSE_FAST=1` shrinks
# the training runs. The outputs saved in the `.ipynb` come from a full run.

# %%
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # two shared cores: see notebook 02

import copy
import math
import time

import matplotlib.pyplot as plt
import numpy as np

import minisparse
from minisparse import SGD, SparseMLP, fit, train_step
from minisparse.network.cost import epoch_macs, step_macs
from minisparse.data.datasets import load_dataset
from minisparse.growth.criteria import momentum_score
from minisparse.growth.select import grow_highest
from minisparse.sparse_training.schedules import sparse_momentum_prune_rate
from minisparse.sparse_training.sparse_momentum import (momentum_shares, prune_count, redistribute, sparse_momentum_update,
                                        train_sparse_momentum)
from minisparse.network.topology import entry_keys

FAST = os.environ.get("MINISPARSE_FAST", "0") == "1"
np.set_printoptions(precision=4, suppress=True, linewidth=110)
print(f"FAST = {FAST}   (minisparse {minisparse.__version__}, NumPy {np.__version__}, "
      f"OPENBLAS_NUM_THREADS = {os.environ['OPENBLAS_NUM_THREADS']})")


def agree(a, b):
    """The tolerance used for every library-vs-hand check below."""
    return np.allclose(a, b, rtol=1e-6, atol=1e-8)


# %% [markdown]
# ## a. Momentum over inactive positions, and the head start
#
# **Article 000, *Inactive Weights Momentum based Regrowth*, points 1 and 3; the docstring of
# `minisparse.network.optim`.** `SGD(dense_momentum=True)` keeps a dense velocity V (n_in, n_out) for
# every layer and updates it at every step from the dense gradient G = A_prevᵀ dZ:
#
# V ← μ V + G  (all positions),    w ← w − η V  (active positions only; PyTorch form).
#
# An inactive position has no weight, but its V still accumulates. When it is grown, its weight
# starts at 0 and keeps V. Its first step is then −η(μV + g), not the −ηg of a position grown with
# zero momentum (as in RigL). That difference is the head start.
#
# The tiny network used throughout is 6 → 5 → 5 → 4 → 3 at density 0.5, on a fixed batch of 8. It
# takes three steps with μ = 0.9, η = 0.1 and no weight decay. By hand, V follows the same
# recursion at one inactive position of layer 0.

# %%
sizes_tiny = [6, 5, 5, 4, 3]
net = SparseMLP.random(sizes_tiny, density=0.5, rng=3)
rng = np.random.default_rng(7)
X, y = rng.standard_normal((8, 6)), rng.integers(0, 3, size=8)          # (B=8, 6), (B,)
mu, eta = 0.9, 0.1
opt = SGD(net, lr=eta, momentum=mu, dense_momentum=True)
print("nnz per layer:", [layer.nnz for layer in net.layers])

V_hand = [np.zeros(layer.shape) for layer in net.layers]
for step in range(3):
    _, grads = net.loss_and_grads(X, y, dense=True)          # the G the optimizer will use
    V_hand = [mu * V + g.G for V, g in zip(V_hand, grads)]
    train_step(net, opt, X, y, dense=True)
    assert all(agree(V, Vl) for V, Vl in zip(V_hand, opt.V))

W0 = net.layers[0].W
inactive = np.setdiff1d(np.arange(W0.shape[0] * W0.shape[1]), entry_keys(W0))
q = inactive[np.argmax(np.abs(V_hand[0]).ravel()[inactive])]            # the likeliest to be grown
i, j = divmod(int(q), W0.shape[1])
print(f"layer 0, inactive position ({i}, {j}): no weight stored, V = {opt.V[0][i, j]:.5f}")
print("layer 0 mask (1 = active):\n", (W0.toarray() != 0).astype(int))
print("layer 0 V after 3 steps:\n", opt.V[0])
assert q not in entry_keys(W0)

# %% [markdown]
# Now grow (i, j) the way step (4) does: the top |V| among layer 0's inactive positions, at value 0.
# The next step moves it by −η(μV + g). With Nesterov (the paper's setting) the step is
# −η(g + μ(μV + g)) instead. A copy whose V at (i, j) is reset to 0 shows the RigL-style start, −ηg.

# %%
keys = grow_highest(net, 0, momentum_score(opt.V[0], net.layers[0].W), 1, values=0.0, optimizer=opt)
assert keys.tolist() == [q]
W0 = net.layers[0].W
at = np.searchsorted(entry_keys(W0), q)                          # its index in W.data
print(f"grown ({i}, {j}): w = {W0.data[at]}, V kept = {opt.V[0][i, j]:.5f}")
assert W0.data[at] == 0.0 and opt.V[0][i, j] == V_hand[0][i, j]

_, grads = net.loss_and_grads(X, y, dense=True)
g, v = grads[0].G[i, j], V_hand[0][i, j]
head_start = -eta * (mu * v + g)
nesterov = -eta * (g + mu * (mu * v + g))
from_zero = -eta * g

net_n, opt_n = copy.deepcopy((net, opt))
opt_n.hyper["nesterov"] = True
net_z, opt_z = copy.deepcopy((net, opt))
opt_z.V[0][i, j] = 0.0
for n_, o_ in ((net, opt), (net_n, opt_n), (net_z, opt_z)):
    train_step(n_, o_, X, y, dense=True)
w_lib, w_nes, w_zero = (n_.layers[0].W.data[at] for n_ in (net, net_n, net_z))
print(f"g = {g:.5f}, accumulated V = {v:.5f}")
print(f"first step with the accumulated V     −η(μV + g)     = {head_start:+.5f}   library {w_lib:+.5f}")
print(f"the same with Nesterov                −η(g + μ(μV+g)) = {nesterov:+.5f}   library {w_nes:+.5f}")
print(f"first step with V reset to 0 (RigL)   −ηg            = {from_zero:+.5f}   library {w_zero:+.5f}")
assert agree(w_lib, head_start) and agree(w_nes, nesterov) and agree(w_zero, from_zero)

# %% [markdown]
# The dense velocity has a price. G is computed at every position at **every** step, which costs
# B·n_in·n_out multiply-adds per layer. The V update adds O(n_in·n_out) element-wise work. Section e
# counts both.
#
# ## b. Layer shares: the mean momentum magnitude
#
# **Sparse Momentum §3, Algorithm 1, step (1); article image 1.** For each layer,
#
# s_l = mean_{(i,j) active} |V_l[i, j]|  /  Σ_l' mean_{(i,j) active} |V_l'[i, j]|.
#
# The mean is taken over the *active* weights only, so a layer's share does not depend on its size.

# %%
means = []
for layer, V in zip(net.layers, opt.V):
    M = np.zeros(layer.shape, dtype=bool)
    M[np.divmod(entry_keys(layer.W), layer.shape[1])] = True                # the stored positions
    means.append(np.abs(V[M]).mean())
shares_hand = np.array(means) / np.sum(means)
print("mean |V| over active weights:", np.array(means))
print("shares s_l:", shares_hand, " sum =", shares_hand.sum())
assert agree(momentum_shares(net, opt), shares_hand)

# %% [markdown]
# ## c. Redistribution, with a capped layer
#
# **Sparse Momentum §3, step (3); article image 1 (shares 28 / 12 / 22 / 38 %).** K weights were
# removed in all. Layer l should get c_l = K·s_l, but it cannot take more than its free slots
# (positions inactive after pruning). A layer that would overflow gets exactly its free slots, and
# what is left is shared again among the others in proportion to their s_l, until nothing overflows
# (water-filling). Largest-remainder rounding then makes Σ c_l = K exactly.
#
# The example: four layers with the article's shares. Three are 20×20 with 100 weights and the last
# is 10×10 with 80 weights. Each loses half of its weights (p = 0.5), so K = 50 + 50 + 50 + 40 = 190,
# and the last layer has 100 − 40 = 60 free slots. Its proportional share, 0.38·190 = 72.2, does not
# fit.

# %%
shares = np.array([0.28, 0.12, 0.22, 0.38])
n_positions = np.array([400, 400, 400, 100])
nnz_before = np.array([100, 100, 100, 80])
removed = np.array([math.ceil(0.5 * n) for n in nnz_before])
K, free = int(removed.sum()), n_positions - (nnz_before - removed)
print(f"K = {K}, free slots = {free}, proportional c = K·s = {K * shares}")


def redistribute_by_hand(total, s, free):
    capped = free == 0
    while True:
        left = total - free[capped].sum()
        w = np.where(capped, 0.0, s)
        ideal = left * w / w.sum()
        over = ~capped & (ideal >= free)
        print(f"  capped {capped.astype(int)}: {left} left to share, ideal {ideal}")
        if not over.any():
            break
        capped |= over
    counts = np.floor(ideal).astype(int)
    short = int(left - counts.sum())
    counts[np.argsort(-(ideal - counts), kind="stable")[:short]] += 1   # largest remainders
    counts[capped] = free[capped]
    return counts


counts_hand = redistribute_by_hand(K, shares, free)
print("regrown per layer c_l =", counts_hand, " sum =", counts_hand.sum())
print("nnz before → after   :", nnz_before, "→", nnz_before - removed + counts_hand)
assert np.array_equal(redistribute(K, shares, free), counts_hand)
assert counts_hand.sum() == K and counts_hand[3] == free[3] == 60

# %% [markdown]
# The last layer becomes fully dense (100 of 100), and its overflow of 72.2 − 60 = 12.2 goes to the
# other three in the ratio 28 : 12 : 22. The reference code (TimDettmers/sparse_learning) does this
# differently. It caps at 0.99 of the free slots, spreads the overflow *equally* over the layers,
# floors the counts and corrects the resulting drift in nnz at the next update. `redistribute` keeps
# the total exact (see the docstring of `minisparse/sparse_training/sparse_momentum.py`).
#
# ## d. One full update on the tiny network
#
# **Sparse Momentum, Algorithm 1.** Steps (1)–(4) on the 4-layer network from section a, with
# p = 0.5. Each layer removes k_l = ⌈p·nnz_l⌉ weights, rounding up as the reference does. The
# growth candidates are every position inactive after step (2), so a just-pruned one can come back,
# at 0. V is read and never changed.

# %%
p = 0.5
for l, (layer, V) in enumerate(zip(net.layers, opt.V)):
    print(f"layer {l} {layer.shape}: nnz {layer.nnz}\n W =\n{layer.W.toarray()}\n |V| =\n{np.abs(V)}")

shares_hand = momentum_shares(net, opt)                                         # (1), checked in b
kept_hand, free_hand = [], []
for layer in net.layers:                                                       # (2)
    keys, w = entry_keys(layer.W), layer.W.data
    k = math.ceil(p * layer.nnz)
    assert k == prune_count(p, layer.nnz)
    kept = np.sort(keys[np.argsort(np.abs(w), kind="stable")[k:]])             # drop the k smallest |w|
    kept_hand.append(kept)
    free_hand.append(layer.shape[0] * layer.shape[1] - kept.size)
K = sum(layer.nnz for layer in net.layers) - sum(k.size for k in kept_hand)
print(f"shares {shares_hand}, removed K = {K}, free slots {free_hand}")
counts = redistribute_by_hand(K, shares_hand, np.array(free_hand))             # (3)
grown_hand = []
for l, layer in enumerate(net.layers):                                         # (4)
    n = layer.shape[0] * layer.shape[1]
    candidates = np.setdiff1d(np.arange(n), kept_hand[l])
    score = np.abs(opt.V[l]).ravel()[candidates]
    grown_hand.append(np.sort(candidates[np.argsort(-score, kind="stable")[:counts[l]]]))
print("regrown per layer:", counts)

net_lib, opt_lib = copy.deepcopy((net, opt))
V_before = [V.copy() for V in opt.V]
report = sparse_momentum_update(net_lib, opt_lib, p)
print(f"{'layer':>5} {'share':>7} {'nnz before':>10} {'after prune':>11} {'after regrowth':>14}")
for l, u in enumerate(report):
    print(f"{l:5d} {u.share:7.4f} {u.before:10d} {u.after_prune:11d} {u.after_regrowth:14d}")
for l, layer in enumerate(net_lib.layers):
    assert np.array_equal(entry_keys(layer.W), np.union1d(kept_hand[l], grown_hand[l]))
    is_new = np.isin(entry_keys(layer.W), grown_hand[l])
    assert np.all(layer.W.data[is_new] == 0)
    assert np.array_equal(opt_lib.V[l], V_before[l])                           # V kept everywhere
    assert [u.after_prune for u in report][l] == kept_hand[l].size
assert [u.after_regrowth for u in report] == [k.size + c for k, c in zip(kept_hand, counts)]
assert net_lib.nnz == net.nnz and agree([u.share for u in report], shares_hand)
print("layer 0 after the update:\n", net_lib.layers[0].W.toarray())

# %% [markdown]
# ## e. Sparse Momentum against a static mask on MNIST-5k
#
# LeNet-300-100 at a uniform 5 % density on MNIST-5k (3,500 training, 500 validation and 1,000 test
# images). Both runs use the paper's optimizer: SGD with Nesterov momentum 0.9, lr 0.1, L2 5e-4 and
# batch 100, from the same initial topology and weights. Sparse Momentum updates after every epoch but
# the last, with p(e) = 0.005 + 0.2475·(1 + cos(π e / E)). The static run is `fit`: the same
# optimizer without the dense velocity or updates.

# %%
E_demo = 40
p_hand = [0.005 + (0.5 - 0.005) / 2 * (1 + math.cos(math.pi * e / E_demo)) for e in range(1, E_demo)]
print(f"prune rate over {E_demo} epochs: p(1) = {p_hand[0]:.4f}, p(20) = {p_hand[19]:.4f}, p(39) = {p_hand[-1]:.4f}")
assert agree([sparse_momentum_prune_rate(e, E_demo) for e in range(1, E_demo)], p_hand)

data = load_dataset("mnist5k", rng=0)
if FAST:
    sizes_run, epochs, seeds = [784, 64, 32, 10], 3, [0]
else:
    sizes_run, epochs, seeds = [784, 300, 100, 10], 40, [0, 1, 2]
hyper = dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)

start = time.perf_counter()
runs = {"static": [], "momentum": []}
for seed in seeds:
    base = SparseMLP.random(sizes_run, density=0.05, rng=seed)
    static = copy.deepcopy(base)
    runs["static"].append(fit(static, SGD(static, **hyper), data, epochs, batch_size=100, rng=seed,
                              verbose=False))
    model = copy.deepcopy(base)
    h, log = train_sparse_momentum(model, data, epochs, prune_rate=0.5, batch_size=100, rng=seed,
                                   verbose=False, **hyper)
    runs["momentum"].append((h, log, model, [layer.density for layer in base.layers]))
    assert model.nnz == base.nnz                                  # total nnz preserved
print(f"{len(seeds)} seed(s) × 2 runs of {epochs} epochs: {time.perf_counter() - start:.1f} s")

acc_static = np.array([h["test_acc"][-1] for h in runs["static"]])
acc_momentum = np.array([r[0]["test_acc"][-1] for r in runs["momentum"]])
print(f"test accuracy after {epochs} epochs (mean over seeds {seeds}):")
print(f"  static uniform 5 %  : {acc_static.mean():.4f}   {acc_static}")
print(f"  Sparse Momentum 5 % : {acc_momentum.mean():.4f}   {acc_momentum}")

# %% [markdown]
# **Per-layer density drift.** The shares move weights toward the layers whose active weights have
# the largest mean momentum. Below, each layer's density starts at 5 % and is shown after every
# update. The log records the nnz after each update; dividing by n_in·n_out gives the density.

# %%
h, log, model, density0 = runs["momentum"][0]
shapes_run = [layer.shape for layer in model.layers]
n_pos = np.array([n_i * n_o for n_i, n_o in shapes_run])
density = np.vstack([density0] + [np.array(nnz) / n_pos for nnz in log["nnz"]])   # (updates + 1, L)
epochs_axis = np.concatenate([[0], log["epoch"]])
assert np.all(np.array(log["nnz"]).sum(axis=1) == model.nnz)
assert agree(density[-1], [layer.density for layer in model.layers])

fig, ax = plt.subplots(1, 3, figsize=(14, 3.6))
for l in range(len(shapes_run)):
    ax[0].plot(epochs_axis, density[:, l], "o-", ms=3, label=f"layer {l} {shapes_run[l][0]}→{shapes_run[l][1]}")
ax[0].set_yscale("log")
ax[0].set_xlabel("epoch (after its update)")
ax[0].set_ylabel("density")
ax[0].set_title("per-layer density, Sparse Momentum")
ax[0].legend(loc="center right")
shares_log = np.array(log["shares"])
for l in range(len(shapes_run)):
    ax[1].plot(log["epoch"], shares_log[:, l], label=f"layer {l}")
ax[1].plot(log["epoch"], log["prune_rate"], "k--", label="prune rate p")
ax[1].set_xlabel("epoch")
ax[1].set_title("momentum shares s_l and p")
ax[1].legend()
for name, colour in (("static", "C0"), ("momentum", "C1")):
    for s, r in enumerate(runs[name]):
        hh = r if name == "static" else r[0]
        ax[2].plot(hh["epoch"], hh["val_acc"], color=colour, alpha=0.7,
                   label=(f"{'static' if name == 'static' else 'Sparse Momentum'} 5 %") if s == 0 else None)
ax[2].set_xlabel("epoch")
ax[2].set_ylabel("validation accuracy")
ax[2].set_title("MNIST-5k, LeNet-300-100" if not FAST else "MNIST-5k (fast: 784-64-32-10)")
ax[2].legend()
fig.tight_layout()
plt.show()
print("density per layer: start", np.round(density[0], 4), "→ after the first update", np.round(density[1], 4),
      "→ end", np.round(density[-1], 4))
print("shares s_l at the first update:", np.round(shares_log[0], 3))

# %% [markdown]
# In the full run Sparse Momentum ends about 3.6 points above the static mask (0.946 against 0.910,
# over three seeds). Part of that gain comes from the layer shares alone. At a uniform 5 %, the
# 100 → 10 output layer holds only 50 connections, 5 per class. Its share of the momentum at the first
# update is 0.88, so that one update makes it dense. ERK (notebook 05) gives that layer most of its
# connections from the start, and a static ERK mask is the stronger baseline to compare with.

# %% [markdown]
# **The dense cost per step** (`minisparse.network.cost.step_macs`). The sparse work is 3·B·nnz_l
# multiply-adds per layer (2·B·nnz for the first layer). The dense gradient adds B·n_in·n_out per
# layer at **every** step, because V must see every position. RigL (notebook 05) pays that only once
# every ΔT steps.

# %%
B = 100
macs = step_macs(model, B, dense_layers=range(len(model.layers)))
sparse_hand = sum(B * layer.nnz * (2 if l == 0 else 3) for l, layer in enumerate(model.layers))
dense_hand = B * int(n_pos.sum())
print(f"one step, B = {B}, final topology: sparse {macs['sparse']:,} MACs, dense {macs['dense']:,} MACs "
      f"({macs['dense'] / macs['sparse']:.1f}× the sparse work)")
print(f"plus the V update: {int(n_pos.sum()):,} multiply-adds of element-wise work per step (not counted above)")
assert macs == {"sparse": sparse_hand, "dense": dense_hand}
assert h.rows[0]["macs_dense"] == epoch_macs(model, len(data.y_train), B, range(len(model.layers)))["dense"]
total_sparse, total_dense = int(np.sum(h["macs_sparse"])), int(np.sum(h["macs_dense"]))
print(f"whole run ({epochs} epochs): sparse {total_sparse:,}, dense {total_dense:,} "
      f"= {total_dense / (total_sparse + total_dense):.0%} of all multiply-adds")

# %% [markdown]
# ## f. Where to break in
#
# To step through Sparse Momentum in a debugger (`breakpoint()`, or your IDE on this `.py` twin), set
# a breakpoint in:
#
# | to see | break in |
# | --- | --- |
# | V ← μV + G at every position; w moves with V at its own positions | `minisparse.network.optim.SGD._dense_velocity` |
# | the dense G (every step) | `minisparse.network.mlp.SparseMLP.loss_and_grads` with `dense=True` |
# | (1) the layer shares s_l | `minisparse.sparse_training.sparse_momentum.momentum_shares` |
# | (2) k = ⌈p·nnz⌉ smallest \|w\| | `minisparse.sparse_training.sparse_momentum.prune_count`, `minisparse.pruning.select.keep_all_but_lowest` (then `minisparse.network.topk.bottom_k_indices`) |
# | (3) water-filling with caps, largest-remainder rounding | `minisparse.sparse_training.sparse_momentum.redistribute` |
# | (4) top \|V\| among inactive positions, at value 0, V kept | `minisparse.growth.criteria.momentum_score`, `minisparse.growth.select.grow_highest` |
# | one whole update | `minisparse.sparse_training.sparse_momentum.sparse_momentum_update` |
# | p(e), the cosine-decayed prune rate | `minisparse.sparse_training.schedules.sparse_momentum_prune_rate` |
# | the training loop and its MACs | `minisparse.sparse_training.sparse_momentum.train_sparse_momentum` |
#
# For example, to stop inside one update of the tiny network above:
#
# ```python
# import pdb
# net_dbg, opt_dbg = copy.deepcopy((net, opt))
# pdb.runcall(sparse_momentum_update, net_dbg, opt_dbg, 0.5)
# ```
