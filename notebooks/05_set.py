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
# # 05 · SET: Sparse Evolutionary Training
#
# **What you will learn:** how SET (Mocanu et al. 2018; article 000, *Dynamic Sparse Training*)
# starts from an Erdős–Rényi topology, drops weights by its two-sided magnitude rule, regrows as many
# at random, and what that buys over a frozen random mask on MNIST. After every epoch but the last,
# each layer:
#
# 1. **drops** ζ of the positive weights closest to 0 and ζ of the negative weights closest to 0
#    (ζ = 0.3);
# 2. **grows** as many connections at uniformly random inactive positions (zeroth-order growth,
#    notebook 04), with weights N(0, 0.1²) and velocity 0.
#
# Nothing in an update is dense: the drop is a partition of `W.data` (O(nnz)) and the growth samples
# positions, so a SET step costs the same O(B · nnz) as static sparse training. Each step follows the
# pattern of notebooks 01–04: the equation and its source, a hand computation on a tiny printed
# network, the library's code, the library call and an `assert`. Then SET trains LeNet-300-100 on
# MNIST-5k at 5 % density next to the same network with its topology frozen.
#
# **Runs in about 15 s (fast mode: 3 s) on a 2-core machine.** `MINISPARSE_FAST=1`
# shrinks the training run to a small network, 600 images and 15 epochs; the saved outputs come from
# a full run.

# %%
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # one BLAS thread (set before NumPy loads): shared cores

import copy
import inspect
import time

import matplotlib.pyplot as plt
import numpy as np

import minisparse
from minisparse import SGD, SparseMLP, fit
from minisparse import growth, pruning
from minisparse.sparse_training import diagnostics, set_training
from minisparse.network import topology
from minisparse.data.datasets import Split, load_dataset
from minisparse.network.mlp import layer_nnz

FAST = os.environ.get("MINISPARSE_FAST", "0") == "1"
np.set_printoptions(precision=4, suppress=True, linewidth=110)
print(f"FAST = {FAST}   (minisparse {minisparse.__version__}, NumPy {np.__version__})")


# %% [markdown]
# Helpers: the tolerance of notebooks 01–04, and `show`, a header over `topology.show`, which prints a
# small layer with `·` where there is no connection (a stored zero would print as 0.000).

# %%
def agree(a, b, rtol=1e-6, atol=1e-8):
    """The tolerance used for every library-vs-hand check below."""
    return np.allclose(a, b, rtol=rtol, atol=atol)


def show(W, name="W"):
    """Print a small layer: a header, then topology.show (absent positions as '·', stored ones as numbers)."""
    print(f"{name} ({W.shape[0]}×{W.shape[1]}, nnz {W.nnz}):")
    print("\n".join("   " + line for line in topology.show(W, digits=3).splitlines()))


# %% [markdown]
# ## 1. The Erdős–Rényi start
#
# **SET (Mocanu et al. 2018; article 000 names SET but not its start).** Each layer gets
#
# nnz_l = ε · (n_in + n_out)   (capped at n_in · n_out),
#
# placed uniformly at random, so its density ε (n_in + n_out) / (n_in · n_out) is lower for bigger
# layers. The weights follow the sparse fan-in initialisation of notebook 01. A tiny 6-5-3 network
# with ε = 1, by hand:

# %%
sizes_tiny, eps_tiny = [6, 5, 3], 1
shapes_tiny = list(zip(sizes_tiny[:-1], sizes_tiny[1:]))
nnz_hand = [min(round(eps_tiny * (a + b)), a * b) for a, b in shapes_tiny]
print("nnz per layer:", nnz_hand, " densities:", [round(n / (a * b), 3) for n, (a, b) in zip(nnz_hand, shapes_tiny)])

tiny = SparseMLP.random(sizes_tiny, topology="erdos_renyi", epsilon=eps_tiny, rng=4)
for l, layer in enumerate(tiny.layers):
    show(layer.W, f"layer {l}")
assert layer_nnz(shapes_tiny, "erdos_renyi", epsilon=eps_tiny) == nnz_hand
assert [layer.nnz for layer in tiny.layers] == nnz_hand

# %% [markdown]
# Which ε gives LeNet-300-100 (784-300-100-10) a global density of 5 %? Solve
# Σ_l min(ε (n_in + n_out), n_in n_out) = 0.05 · Σ_l n_in n_out for ε. If no layer is capped this is
# ε = 0.05 · Σ n_in n_out / Σ (n_in + n_out). The check below confirms that no layer is capped.
# The per-layer densities come out very uneven: 3.8 %, 11 % and 92 %.

# %%
lenet = [784, 300, 100, 10]
shapes_lenet = list(zip(lenet[:-1], lenet[1:]))
eps_lenet = 0.05 * sum(a * b for a, b in shapes_lenet) / sum(a + b for a, b in shapes_lenet)
nnz_lenet = layer_nnz(shapes_lenet, "erdos_renyi", epsilon=eps_lenet)
print(f"ε = {eps_lenet:.4f}: nnz per layer {nnz_lenet}, densities "
      f"{[round(n / (a * b), 4) for n, (a, b) in zip(nnz_lenet, shapes_lenet)]}, "
      f"global {sum(nnz_lenet) / sum(a * b for a, b in shapes_lenet):.4f}")
assert all(eps_lenet * (a + b) < a * b for a, b in shapes_lenet)           # nothing capped
assert abs(sum(nnz_lenet) / sum(a * b for a, b in shapes_lenet) - 0.05) < 1e-4

# %% [markdown]
# ## 2. The drop: SET's two-sided magnitude rule
#
# **SET's drop (Mocanu et al. 2018): article 000's magnitude pruning, on each sign.** Per layer,
# remove ⌊ζ · N⁻⌉ (ζ · N⁻ rounded) of the N⁻ negative weights closest to 0 (the largest negatives)
# and ⌊ζ · N⁺⌉ of the N⁺ positive weights closest to 0 (the smallest positives). Weights that are
# exactly 0 lie between the two cuts and go too. By hand on layer 0 of the tiny network, with ζ = 0.3:

# %%
zeta = 0.3
w0 = tiny.layers[0].W.data
neg, pos = np.flatnonzero(w0 < 0), np.flatnonzero(w0 > 0)
drop_neg = neg[np.argsort(-w0[neg], kind="stable")[:round(zeta * neg.size)]]     # largest negatives
drop_pos = pos[np.argsort(w0[pos], kind="stable")[:round(zeta * pos.size)]]      # smallest positives
keep_hand = np.ones(w0.size, dtype=bool)
keep_hand[drop_neg] = keep_hand[drop_pos] = False
print("w      =", w0)
print(f"{neg.size} negatives: drop {w0[drop_neg]};  {pos.size} positives: drop {w0[drop_pos]}")
print("keep   =", keep_hand.astype(int))
assert np.array_equal(pruning.set_keep_mask(w0, zeta), keep_hand)

# %%
print(inspect.getsource(pruning.set_keep_mask))          # the code the assert above checks

# %% [markdown]
# On 1,000 weights from N(0, 1), the rule keeps about 70 %. A buggy one-sided variant, copied in two
# widely used PyTorch ports, sorts all the weights and keeps only those below a cut taken on the
# negative side. That keeps only the ζ most negative fraction of the negatives, about ζ/2 = 15 % of
# the layer (16 % on this draw), and no positive weight at all (notebook 02 has the details). After a
# few updates a layer pruned that way would be mostly regrown random weights.

# %%
w_big = np.random.default_rng(0).standard_normal(1000)
neg_sorted = np.sort(w_big[w_big < 0])                                   # ascending
k_neg = round(zeta * neg_sorted.size)
keep_buggy = w_big < neg_sorted[k_neg]                                   # the k_neg most negative
keep_two = pruning.set_keep_mask(w_big, zeta)
print(f"two-sided rule keeps {keep_two.mean():.1%}; the buggy variant keeps {keep_buggy.mean():.1%} "
      f"({(w_big[keep_buggy] > 0).sum()} positive)")
assert abs(keep_two.mean() - 0.7) < 0.01 and abs(keep_buggy.mean() - 0.15) < 0.03

# %% [markdown]
# ## 3. The regrowth, and one whole update
#
# Grow as many connections as were dropped, at positions drawn uniformly among those inactive
# **after** the drop (`growth.random_positions`, checked in notebook 04). A just-dropped position
# may be drawn again, as in SET's reference code; it then comes back with a fresh value. New weights
# are N(0, 0.1²) (`np.random.randn() / 10` in the reference code), and their velocity is 0. nnz is
# preserved exactly.
#
# By hand, every layer in turn with one generator: keep-mask, prune, draw k positions, then k values.
# The library's `set_update` on a copy with the same seed must give the same network. A momentum SGD
# with a recognisable velocity checks that the kept entries keep their state.

# %%
def with_optimizer(model):
    opt = SGD(model, lr=0.01, momentum=0.9)
    for l, layer in enumerate(model.layers):
        opt.v_W[l][:] = 100 * l + np.arange(1, layer.nnz + 1)              # old velocities: 1, 2, 3, …
    return opt


hand, lib = copy.deepcopy(tiny), copy.deepcopy(tiny)
opt_hand, opt_lib = with_optimizer(hand), with_optimizer(lib)
before = [layer.W for layer in tiny.layers]
rng_hand = np.random.default_rng(3)
dropped_hand, grown_hand = [], []
for l, layer in enumerate(hand.layers):
    keep = pruning.set_keep_mask(layer.W.data, zeta)
    dropped_hand.append(topology.entry_keys(layer.W)[~keep])
    topology.prune(hand, l, keep, opt_hand)
    keys = growth.random_positions(hand.layers[l].W, dropped_hand[l].size, rng_hand)
    values = rng_hand.standard_normal(keys.size) / 10
    topology.grow(hand, l, *np.divmod(keys, layer.shape[1]), values, opt_hand)
    grown_hand.append(keys)
for l in range(len(hand.layers)):
    show(hand.layers[l].W, f"layer {l} after the update")
    print(f"   dropped {dropped_hand[l]}, grown {grown_hand[l]}, "
          f"re-grown just-dropped: {np.intersect1d(dropped_hand[l], grown_hand[l])}")

rewires = set_training.set_update(lib, zeta, np.random.default_rng(3), opt_lib)
for l, (a, b) in enumerate(zip(hand.layers, lib.layers)):
    assert np.array_equal(topology.entry_keys(a.W), topology.entry_keys(b.W)) and agree(a.W.data, b.W.data)
    assert np.array_equal(rewires[l].dropped, dropped_hand[l]) and np.array_equal(rewires[l].grown, grown_hand[l])
    assert b.nnz == tiny.layers[l].nnz and topology.is_canonical(b.W)
    is_new = np.isin(topology.entry_keys(b.W), rewires[l].grown)
    kept_state = opt_lib.v_W[l][~is_new]
    old_state = 100 * l + np.arange(1, tiny.layers[l].nnz + 1)
    assert np.array_equal(kept_state, old_state[pruning.set_keep_mask(tiny.layers[l].W.data, zeta)])
    assert np.all(opt_lib.v_W[l][is_new] == 0)
print("set_update = the hand update; nnz per layer", [layer.nnz for layer in lib.layers], "preserved")

# %%
print(inspect.getsource(set_training.set_update))        # the code the asserts above check

# %% [markdown]
# How much the topology moved: the connections that left and arrived, |M_{t−1} ⊕ M_t| / 2
# (`diagnostics.topology_change`). A re-grown just-dropped position never left, so it does not count.

# %%
for l, (W_old, layer) in enumerate(zip(before, lib.layers)):
    old, new = set(topology.entry_keys(W_old).tolist()), set(topology.entry_keys(layer.W).tolist())
    moved_hand = len(old ^ new) / 2
    change = diagnostics.topology_change(W_old, layer.W)
    print(f"layer {l}: moved {change.moved:g} of {W_old.nnz} ({change.fraction:.0%})")
    assert change.moved == moved_hand and change.dropped == change.grown

# %% [markdown]
# ## 4. SET against a static topology, at full size
#
# **Article 000, *Dynamic Sparse Training*, "The Challenge of Training Sparse Networks from Scratch"**:
# a fixed random mask may trap the network, and pruning and regrowth let it explore. `train_set` runs
# the loop with the reference code's defaults (ζ = 0.3, SGD lr 0.01, momentum 0.9, weight decay 2e-4,
# batch 100; see the module docstring for where minisparse departs from it). The static run trains
# the same starting network with the same optimizer, and never rewires it. Both start from seed 0, but
# `train_set` draws its batch order and its rewiring from one generator, so after the first epoch the
# two runs see the batches in different orders.
#
# Two measures of the topology come with each update (`diagnostics.TopologyLog`, `EverActive`):
# the share of each layer's connections that moved, and the in-time over-parameterisation rate
# R = |M_0 ∪ … ∪ M_t| / Σ n_in · n_out (Liu et al. 2021), the share of all positions that have ever
# held a connection. A static network stays at R = its density.
#
# Which epoch to report is chosen on the **validation** split (500 images): each run reports its test
# accuracy at the epoch of its best validation accuracy, and at the last epoch. Taking the best
# *test* accuracy over epochs would select on the test set and flatter both runs.

# %%
data = load_dataset("mnist5k", rng=0)
if FAST:
    data = Split(data.X_train[:600], data.y_train[:600], data.X_val[:200], data.y_val[:200],
                 data.X_test[:500], data.y_test[:500])
    sizes, epochs = [784, 64, 32, 10], 15
else:
    sizes, epochs = lenet, 60
shapes = list(zip(sizes[:-1], sizes[1:]))
eps = 0.05 * sum(a * b for a, b in shapes) / sum(a + b for a, b in shapes)
start_net = SparseMLP.random(sizes, topology="erdos_renyi", epsilon=eps, rng=0)
print(start_net, f"  ε = {eps:.3f}, {len(data.y_train)} training images, {epochs} epochs")

start = time.perf_counter()
set_net = copy.deepcopy(start_net)
hist_set, log = set_training.train_set(set_net, data, epochs, rng=0, verbose=False)
t_set = time.perf_counter() - start
print(f"SET trained ({epochs} epochs, {t_set:.1f} s); now the static mask …", flush=True)
start = time.perf_counter()
static_net = copy.deepcopy(start_net)
hist_static = fit(static_net, SGD(static_net, lr=0.01, momentum=0.9, weight_decay=2e-4), data, epochs,
                  batch_size=100, rng=0, verbose=False)
t_static = time.perf_counter() - start


def chosen_epoch(h):
    """Index of the epoch with the best validation accuracy (the first, on a tie)."""
    return int(np.argmax(h["val_acc"]))


for name, h, t in (("SET", hist_set, t_set), ("static", hist_static, t_static)):
    e = chosen_epoch(h)
    print(f"{name:7s}: best validation accuracy {h['val_acc'][e]:.3f} at epoch {e + 1}, "
          f"test accuracy there {h['test_acc'][e]:.3f};  last epoch: test {h['test_acc'][-1]:.3f}, "
          f"train loss {h['loss'][-1]:.4f}  ({t:.1f} s)")
print(f"SET updates: {len(log['epoch'])}; ever-active rate R at the end {hist_set['ever_active'][-1]:.3f} "
      f"(density {start_net.nnz / sum(a * b for a, b in shapes):.3f})")

assert len(log["epoch"]) == epochs - 1                                   # no update after the last epoch
assert all(n == start_net.nnz for n in hist_set["nnz"])                  # nnz never changes
assert all(nl == [layer.nnz for layer in start_net.layers] for nl in log["nnz"])
assert np.all(np.diff(hist_set["ever_active"]) > 0)                      # every update reaches new positions
assert all(np.array_equal(topology.entry_keys(a.W), topology.entry_keys(b.W))
           for a, b in zip(static_net.layers, start_net.layers))         # the static mask never moved

# %% [markdown]
# The moved share per layer is close to ζ = 0.3 in the large sparse layers. The nearly dense last
# layer has few free positions, so its regrowth often lands on a just-dropped one, which does not
# count as moved.

# %%
fraction = np.array(log["fraction"])                                     # (updates, layers)
epochs_u = np.array(log["epoch"])
fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
ax = axes[0]
for name, h, colour in (("SET", hist_set, "C0"), ("static", hist_static, "C1")):
    e = chosen_epoch(h)
    ax.plot(h["epoch"], h["test_acc"], color=colour, label=name)
    ax.plot(h["epoch"][e], h["test_acc"][e], "o", color=colour, ms=8, mfc="none")
ax.plot([], [], "o", color="grey", mfc="none", label="epoch chosen on validation")
ax.set(xlabel="epoch", ylabel="test accuracy", title=f"{'-'.join(map(str, sizes))} at 5 % density")
ax.legend()
ax = axes[1]
for l in range(fraction.shape[1]):
    ax.plot(epochs_u, fraction[:, l], label=f"layer {l} ({shapes[l][0]}×{shapes[l][1]})")
ax.set(xlabel="update after epoch", ylabel="moved / nnz", title="topology change per update", ylim=(0, 0.35))
ax.legend()
ax = axes[2]
ax.plot(hist_set["epoch"], hist_set["ever_active"], label="SET")
ax.plot(hist_static["epoch"], [start_net.nnz / sum(a * b for a, b in shapes)] * epochs, label="static")
ax.set(xlabel="epoch", ylabel="R = ever-active positions / all", title="in-time over-parameterisation")
ax.legend()
for ax in axes:
    ax.grid(alpha=0.3)
plt.tight_layout()
plt.show()
print("moved share per layer, first and last update:", fraction[0], fraction[-1])
assert np.all(fraction[:, 0] > 0.25) and np.all(fraction <= zeta + 0.01)

# %% [markdown]
# Read these accuracies with care: one seed, and a test split of 1,000 images (500 in fast mode), so
# a point between SET and static is within the noise. In the full run the two are within about a
# point (test accuracy at the epoch chosen on validation: SET 0.908, static 0.914). SET's
# exploration is clearest in R: over its updates it has tried about 11 times as many positions as
# the static mask holds (R = 0.569 against a density of 0.050), while never holding more than 5 % at
# once.
#
# ## 5. Where to break in
#
# | to see | break in |
# | --- | --- |
# | one SET update, layer by layer (drop, prune, random regrowth, nnz check) | `minisparse.sparse_training.set_training.set_update` |
# | SET's two thresholds | `minisparse.pruning.zeroth_order.set_keep_mask` |
# | rejection sampling of the new positions | `minisparse.growth.select.random_positions` |
# | the pattern changing and the optimizer state following | `minisparse.network.topology.prune`, `minisparse.network.topology.grow` |
# | the epoch loop and what it logs | `minisparse.sparse_training.set_training.train_set`, `minisparse.sparse_training.diagnostics.TopologyLog.record` |
#
# To step through one update of the tiny network, run:
#
# ```python
# import pdb
# net = copy.deepcopy(tiny)
# pdb.runcall(set_training.set_update, net, zeta, np.random.default_rng(3), SGD(net))
# ```
#
# ## Summary
#
# - SET's Erdős–Rényi start gives each layer ε (n_in + n_out) connections, so big layers are
#   sparser; ε = 8.35 puts LeNet-300-100 at 5 % overall (3.8 %, 11 % and 92 % per layer).
# - The drop is two-sided: round(ζ·N⁻) negatives and round(ζ·N⁺) positives closest to 0, about
#   70 % kept at ζ = 0.3. The one-sided variant keeps about 15 %.
# - The regrowth is uniform over the positions free after the drop, at N(0, 0.1²) with velocity 0;
#   nnz per layer never changes, and nothing in an update is dense.
# - A nearly full layer has few free positions, so many regrown connections land back on
#   just-dropped ones and its topology barely moves.
# - On MNIST-5k at 5 %, SET and a frozen mask reach about the same test accuracy (chosen on
#   validation); SET visits about 11 times more positions over training.
#
# ## Exercises
#
# Each answer cell holds a placeholder; replace `None` with your answer and run the check below it.
#
# **1.** Which entries of `w_ex` does SET's drop remove at ζ = 0.3 (the default count rule)? Give their
# indices. Watch the zero and the rounding (Python rounds half to even).

# %%
w_ex = np.array([-0.9, -0.5, -0.2, 0.0, 0.1, 0.4, 0.8, 1.2, -1.5, 0.3])
answer_1 = None                      # e.g. [0, 5]


def check_exercise_1(answer):
    if answer is None:
        print("hint: 4 negatives and 5 positives; round(0.3·4) and round(0.3·5) = round(1.5) weights go, plus the 0")
        return
    truth = np.flatnonzero(~pruning.set_keep_mask(w_ex, 0.3))
    assert sorted(answer) == truth.tolist(), f"not quite: you gave {sorted(answer)}"
    print("correct")


check_exercise_1(answer_1)

# %% [markdown]
# **2.** Find ε such that LeNet-300-100 has a global density of 10 % under SET's start. The shortcut
# of section 1 no longer works: one layer hits its cap n_in · n_out.

# %%
answer_2 = None                      # a float


def check_exercise_2(answer):
    if answer is None:
        print("hint: which layer has ε (n_in + n_out) > n_in · n_out at ε ≈ 16.7? Give it all its "
              "positions and solve for ε over the other two")
        return
    nnz_ex = layer_nnz(shapes_lenet, "erdos_renyi", epsilon=answer)
    density = sum(nnz_ex) / sum(a * b for a, b in shapes_lenet)
    assert abs(density - 0.10) < 5e-4, f"not quite: ε = {answer} gives a density of {density:.4f}"
    print(f"correct: nnz per layer {nnz_ex}, density {density:.4f}")


check_exercise_2(answer_2)

# %% [markdown]
# **3.** Predict the share of the last layer's connections that one update moves (the flat line in
# the middle panel). An update drops k ≈ ζ · nnz connections and draws k new positions among the
# free ones, which include the k just dropped; a draw that lands on one of those does not move.

# %%
answer_3 = None                      # a fraction of nnz, e.g. 0.2


def check_exercise_3(answer):
    n_in_l, n_out_l = shapes[-1]
    nnz_l = start_net.layers[-1].nnz
    k_l = round(zeta * nnz_l)
    free = n_in_l * n_out_l - nnz_l + k_l
    oracle = k_l * (1 - k_l / free) / nnz_l            # expected moved / nnz
    if answer is None:
        print(f"hint: the last layer is {n_in_l}×{n_out_l} with nnz {nnz_l}; each of the k new positions "
              "is a just-dropped one with probability k / (free positions after the drop)")
        return
    assert abs(answer - oracle) < 0.01, f"not quite: {answer} (the run measured {fraction[:, -1].mean():.4f})"
    print(f"correct: expected {oracle:.4f}, the run measured {fraction[:, -1].mean():.4f} on average")


check_exercise_3(answer_3)
