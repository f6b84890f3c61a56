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
# # 07 · Sparse Momentum: momentum at every position, weights shared out between layers
#
# **What you will learn.** How Sparse Momentum (Dettmers & Zettlemoyer 2019, *Sparse Networks from
# Scratch*) decides where to grow and how many weights each layer gets: the dense velocity kept at
# inactive positions and the "head start" of a grown weight; the layer shares; redistribution with
# capped layers; one whole update on a printed 4-layer network; and a run on MNIST-5k against static
# masks, with the dense cost it pays at every step. **Runs in about 1 minute (fast mode: 5 s)** on
# a 2-core machine.
#
# The lesson follows article 000, section *Dynamic Sparse Training: Pruning & Growth at Training
# time* (images 0 and 1). The article calls the mechanism "inactive weights momentum based regrowth".
# The optimizer keeps a momentum m_ij at *every* position, pruned or never active. Growth picks the
# inactive positions of largest |m_ij|, and a grown connection is "infused" with its accumulated
# momentum, which gives it a "head start".
#
# At the end of every epoch but the last, with prune rate p (0.5, cosine-decayed to 0.005):
#
# 1. each layer's mean |momentum| over its active weights, normalised to sum to 1 (its *share*);
# 2. remove p of each layer's active weights by magnitude;
# 3. share all the removed weights out between the layers in proportion to (1). Each layer is
#    capped at its free slots, and the overflow goes to the others;
# 4. in each layer, grow the inactive positions of largest |momentum|, at value 0.
#
# The total nnz is fixed, but weights move between layers. Each step comes with its equation, a hand
# computation on a tiny printed example, the library function's source and an `assert` that the two
# agree. `MINISPARSE_FAST=1` shrinks the training runs; the saved outputs come from a full run.

# %%
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # two shared cores: see notebook 02

import copy
import inspect
import math
import time

import matplotlib.pyplot as plt
import numpy as np

import minisparse
from minisparse import SGD, SparseMLP, fit, train_step
from minisparse.network import topology
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
# **Article 000, *Inactive Weights Momentum based Regrowth*, points 1 and 3.** `SGD(dense_momentum=True)`
# keeps a dense velocity V (n_in, n_out) per layer and updates it at every step from the dense gradient
# G = A_prevᵀ dZ:
#
# V ← μ V + G  (all positions),    w ← w − η V  (active positions only; PyTorch form).
#
# An inactive position has no weight, but its V still accumulates. When it is grown, its weight
# starts at 0 and keeps V, so its first step is −η(μV + g) rather than the −ηg of a position grown
# with zero momentum (as in RigL). That difference is the head start.
#
# The tiny network used throughout is 6 → 5 → 5 → 4 → 3 at density 0.5, on a fixed batch of 8. It
# takes three steps with μ = 0.9, η = 0.1 and no weight decay, and V is followed by hand. In the
# printed layer, `·` is a position with no connection.

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
print("layer 0 W:\n" + topology.show(W0, digits=3))
print("layer 0 V after 3 steps (every position):\n", opt.V[0])
assert q not in entry_keys(W0)

# %% [markdown]
# The library's velocity step, which the loop above reproduced:

# %%
print(inspect.getsource(SGD._dense_velocity))

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
before_step = copy.deepcopy((net, opt))                          # for exercise 2

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
# The dense velocity has a price: G is computed at every position at **every** step (B·n_in·n_out
# multiply-adds per layer), and the V update adds O(n_in·n_out) element-wise work. Section e counts it.
#
# ## b. Layer shares: the mean momentum magnitude
#
# **Sparse Momentum §3, Algorithm 1, step (1); article image 1.** For each layer,
#
# s_l = mean_{(i,j) active} |V_l[i, j]|  /  Σ_l' mean_{(i,j) active} |V_l'[i, j]|.
#
# The mean is over the *active* weights only, so a layer's share does not depend on its size.

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
print(inspect.getsource(momentum_shares))

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
# is 10×10 with 80 weights. Each loses half (p = 0.5), so K = 50 + 50 + 50 + 40 = 190, and the last
# layer has 100 − 40 = 60 free slots. Its proportional share, 0.38·190 = 72.2, does not fit.

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
# other three in the ratio 28 : 12 : 22. The reference code (TimDettmers/sparse_learning) caps at 0.99
# of the free slots instead, spreads the overflow *equally*, floors the counts and corrects the drift
# in nnz at the next update; `redistribute` keeps the total exact (the module docstring lists every
# difference). Its source, beside the hand version above:

# %%
print(inspect.getsource(redistribute))

# %% [markdown]
# ## d. One full update on the tiny network
#
# **Sparse Momentum, Algorithm 1.** Steps (1)–(4) on the 4-layer network from section a, with
# p = 0.5. Each layer removes k_l = ⌈p·nnz_l⌉ weights, rounding up as the reference does. The growth
# candidates are every position inactive after step (2), so a just-pruned one can come back, at 0.
# V is read and never changed. In the printouts `·` is an absent position; after the update, the
# grown connections print as `0.000`, stored connections that hold the value 0.

# %%
p = 0.5
for l, (layer, V) in enumerate(zip(net.layers, opt.V)):
    print(f"layer {l} {layer.shape}: nnz {layer.nnz}\n W =\n{topology.show(layer.W, digits=3)}\n |V| =\n{np.abs(V)}")

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
print(f"layer 0 after the update (grown (i, j): {report[0].grown_ij.tolist()}, all at 0.000):\n"
      + topology.show(net_lib.layers[0].W, digits=3))

# %% [markdown]
# The whole update in the library, steps (1)–(4) as numbered comments:

# %%
print(inspect.getsource(sparse_momentum_update))

# %% [markdown]
# ## e. Sparse Momentum against static masks on MNIST-5k
#
# LeNet-300-100 at 5 % density on MNIST-5k (3,500 training, 500 validation and 1,000 test images).
# Sparse Momentum starts from a uniform 5 % mask (every layer 5 %) and updates after every epoch but
# the last, with p(e) = 0.005 + 0.2475·(1 + cos(π e / E)). Because step (3) moves weights between
# layers, the fair static baseline is not the uniform mask but one that already gives each layer a
# sensible share: **static ERK** (notebook 06), `SparseMLP.random(..., topology="erk")` at the same
# global 5 % (the same total nnz). The static uniform mask is trained as well, to separate what the
# allocation alone brings. All three runs use the paper's optimizer (SGD, Nesterov momentum 0.9,
# lr 0.1, L2 5e-4, batch 100) for the same number of epochs; the static runs are `fit`, without the
# dense velocity or updates. Each run prints one line when it ends.

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
LABELS = {"uniform": "static uniform 5 %", "erk": "static ERK 5 %", "momentum": "Sparse Momentum 5 %"}

start = time.perf_counter()
runs = {"uniform": [], "erk": [], "momentum": []}
for seed in seeds:
    base = SparseMLP.random(sizes_run, density=0.05, rng=seed)
    erk = SparseMLP.random(sizes_run, density=0.05, topology="erk", rng=seed)
    assert erk.nnz == base.nnz                                    # the same budget of weights
    for name, model in (("uniform", copy.deepcopy(base)), ("erk", erk)):
        t = time.perf_counter()
        runs[name].append(fit(model, SGD(model, **hyper), data, epochs, batch_size=100, rng=seed, verbose=False))
        print(f"seed {seed}  {LABELS[name]:20s} test {runs[name][-1]['test_acc'][-1]:.4f}  "
              f"({time.perf_counter() - t:.1f} s)", flush=True)
    model, t = copy.deepcopy(base), time.perf_counter()
    h, log = train_sparse_momentum(model, data, epochs, prune_rate=0.5, batch_size=100, rng=seed,
                                   verbose=False, **hyper)
    runs["momentum"].append((h, log, model, [layer.density for layer in base.layers]))
    assert model.nnz == base.nnz                                  # total nnz preserved
    print(f"seed {seed}  {LABELS['momentum']:20s} test {h['test_acc'][-1]:.4f}  "
          f"({time.perf_counter() - t:.1f} s)", flush=True)
print(f"{len(seeds)} seed(s) × 3 runs of {epochs} epochs: {time.perf_counter() - start:.1f} s")

final = {name: np.array([(r if name != "momentum" else r[0])["test_acc"][-1] for r in rs])
         for name, rs in runs.items()}
print(f"\ntest accuracy after {epochs} epochs (mean over seeds {seeds}):")
for name, acc in final.items():
    print(f"  {LABELS[name]:20s}: {acc.mean():.4f}   {acc}")
print("ERK densities per layer:", [round(layer.density, 4) for layer in erk.layers])

# %% [markdown]
# **Per-layer density drift.** The shares move weights toward the layers whose active weights have
# the largest mean momentum. The left panel shows each layer's density after every update of the
# first seed (the log records nnz; dividing by n_in·n_out gives the density), with static ERK's
# fixed densities dotted for comparison.

# %%
h, log, model, density0 = runs["momentum"][0]
shapes_run = [layer.shape for layer in model.layers]
n_pos = np.array([n_i * n_o for n_i, n_o in shapes_run])
density = np.vstack([density0] + [np.array(nnz) / n_pos for nnz in log["nnz"]])   # (updates + 1, L)
epochs_axis = np.concatenate([[0], log["epoch"]])
assert np.all(np.array(log["nnz"]).sum(axis=1) == model.nnz)
assert agree(density[-1], [layer.density for layer in model.layers])
erk_density = [layer.density for layer in SparseMLP.random(sizes_run, density=0.05, topology="erk", rng=seeds[0]).layers]

fig, ax = plt.subplots(1, 3, figsize=(13, 3.4))
for l in range(len(shapes_run)):
    ax[0].plot(epochs_axis, density[:, l], "o-", ms=3, color=f"C{l}",
               label=f"layer {l} {shapes_run[l][0]}→{shapes_run[l][1]}")
    ax[0].axhline(erk_density[l], color=f"C{l}", ls=":", lw=1)
ax[0].set_yscale("log")
ax[0].set(xlabel="epoch (after its update)", ylabel="density", title="per-layer density (dotted: ERK)")
ax[0].legend(loc="center right", bbox_to_anchor=(1, 0.72), fontsize=8)
shares_log = np.array(log["shares"])
for l in range(len(shapes_run)):
    ax[1].plot(log["epoch"], shares_log[:, l], label=f"layer {l}")
ax[1].plot(log["epoch"], log["prune_rate"], "k--", label="prune rate p")
ax[1].set(xlabel="epoch", title="momentum shares s_l and p")
ax[1].legend(fontsize=8)
for name, colour in (("uniform", "C0"), ("erk", "C2"), ("momentum", "C1")):
    for s, r in enumerate(runs[name]):
        hh = r[0] if name == "momentum" else r
        ax[2].plot(hh["epoch"], hh["val_acc"], color=colour, alpha=0.7, label=LABELS[name] if s == 0 else None)
ax[2].set(xlabel="epoch", ylabel="validation accuracy",
          title="MNIST-5k, LeNet-300-100" if not FAST else "MNIST-5k (fast: 784-64-32-10)")
if not FAST:
    ax[2].set_ylim(0.85, 0.96)
ax[2].legend(fontsize=8)
fig.tight_layout()
plt.show()
print("density per layer: start", np.round(density[0], 4), "→ after the first update", np.round(density[1], 4),
      "→ end", np.round(density[-1], 4))
print("shares s_l at the first update:", np.round(shares_log[0], 3))

# %% [markdown]
# Over three seeds the full run ends at 94.6 % test accuracy for Sparse Momentum, 93.1 % for static
# ERK and 91.0 % for the static uniform mask. Of the 3.6 points Sparse Momentum gains over the uniform
# mask, 2.1 come from the allocation alone. At a uniform 5 % the 100 → 10 output layer holds only 50
# connections, 5 per class; its share of the momentum at the first update is 0.88, so that one update
# makes it dense, and ERK gives it 92 % from the start. Against static ERK, the fair baseline, the
# gain is 1.5 points, on every seed. Sparse Momentum also moves weights out of the first layer (to
# about 3.2 %, below ERK's 3.9 %) and into the middle one (16 % against 11 %). The budget of weights
# is the same, but not the work per step, as the next cell counts.

# %% [markdown]
# **The dense cost per step** (`minisparse.network.cost.step_macs`). The sparse work is 3·B·nnz_l
# multiply-adds per layer (2·B·nnz for the first layer). The dense gradient adds B·n_in·n_out per
# layer at **every** step, because V must see every position. RigL (notebook 06) pays that only once
# every ΔT steps, and the static masks never.

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
#
# ## Summary
#
# - The optimizer keeps a dense velocity V over every position; it keeps accumulating where there is
#   no weight, and a weight grown there starts at 0 with that V, so its first step is −η(μV + g).
# - A layer's share s_l is the mean |V| over its active weights, normalised over the layers.
# - The removed weights are shared out in proportion to s_l, with each layer capped at its free slots
#   (water-filling) and the total kept exact by largest-remainder rounding.
# - Growth takes the largest |V| among the positions inactive after pruning, at value 0.
# - On MNIST-5k the update moves most of the budget's growth into the small output layer; compare
#   it with static ERK, which allocates by layer shape from the start, not with a uniform mask.
# - The price is the dense gradient at every step, most of the run's multiply-adds.
#
# ## Exercises
#
# Each answer cell holds `None`; replace it and run the cell, which prints "correct" or a hint.
#
# **1.** Three layers with shares s = (0.5, 0.3, 0.2) and free slots (10, 100, 100) receive K = 60
# regrown weights. How many does each layer get? Write the list of three counts.

# %%
def check_exercise_1(answer):
    if answer is None:
        print("hint: 0.5·60 = 30 does not fit in 10 free slots; share the rest between the other two")
        return
    truth = redistribute(60, [0.5, 0.3, 0.2], [10, 100, 100])
    print("correct" if np.array_equal(np.asarray(answer), truth) else f"not quite: {list(answer)}")


answer_1 = None
check_exercise_1(answer_1)

# %% [markdown]
# **2.** In section a the grown weight at (i, j) took its first step with μ = 0.9 and plain momentum.
# What would that step be with μ = 0.5 (the V accumulated so far unchanged, plain momentum)? Use the
# printed g and V. The check runs the library's step on a copy of the network.

# %%
def check_exercise_2(answer):
    if answer is None:
        print("hint: the step is −η(μV + g) with the new μ and the printed g and V")
        return
    net_c, opt_c = copy.deepcopy(before_step)
    opt_c.hyper["momentum"] = 0.5
    train_step(net_c, opt_c, X, y, dense=True)
    truth = net_c.layers[0].W.data[at]
    print("correct" if abs(answer - truth) < 5e-5 else f"not quite: {answer:+.5f}")


answer_2 = None
check_exercise_2(answer_2)

# %% [markdown]
# **3.** ERK gives layer l a density proportional to (n_in + n_out) / (n_in·n_out), scaled so that the
# whole network holds 5 % of its positions. What density does it give LeNet-300-100's last layer
# (100 → 10)? The check builds the ERK network.

# %%
def check_exercise_3(answer):
    if answer is None:
        print("hint: density_l = ε·(n_in + n_out)/(n_in·n_out) with ε = 0.05·Σ n_in·n_out / Σ (n_in + n_out)")
        return
    truth = SparseMLP.random([784, 300, 100, 10], density=0.05, topology="erk", rng=0).layers[-1].density
    print("correct" if abs(answer - truth) < 0.005 else f"not quite: {answer:.4f}")


answer_3 = None
check_exercise_3(answer_3)
