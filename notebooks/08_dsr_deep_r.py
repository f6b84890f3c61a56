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
# # 08 · DSR and DEEP R: the other two methods of the Sparse Momentum figure
#
# **What you will learn:** how Dynamic Sparse Reparameterization (DSR; Mostafa & Wang, ICML 2019)
# moves weights between layers with one global, self-adjusting threshold, and how Deep Rewiring
# (DEEP R; Bellec, Kappel, Maass & Legenstein, ICLR 2018) keeps a fixed number of connections by
# replacing every connection that reaches zero with a random dormant one. Both appear in article
# 000's image 2, Figure 3 of the Sparse Momentum paper (test accuracy against weights kept for
# LeNet-300-100 on MNIST), next to Sparse Momentum and SET. Neither needs a dense gradient: both
# train at the O(B·nnz) cost of a sparse step.
#
# **DSR**, every few hundred steps: (1) remove every active weight with |w| < H, one threshold H for
# all layers; (2) if the number removed K is above (1 + δ)·N_p halve H, if below (1 − δ)·N_p double
# it; (3) give the K weights back to the layers in proportion to the weights each has left, at
# random free positions, value 0.
#
# **DEEP R**, every step: each connection k has a fixed sign s_k and θ_k ≥ 0, with w_k = s_k·θ_k
# while active. θ takes a Langevin step θ ← θ − η ∂E/∂θ − ηα + √(2ηT)·ν; a connection whose θ
# reaches 0 turns dormant, and as many dormant connections, drawn uniformly, turn active.
#
# As in notebooks 04–07, each rule gets its equation, a hand computation on a tiny printed example,
# the library's source, the library call and an `assert` that the two agree.
#
# **Runs in about 10 s (fast mode: 3 s) on a 2-core machine.** `MINISPARSE_FAST=1` shrinks the
# training runs; the saved outputs come from a full run.

# %%
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # one BLAS thread (set before NumPy loads): shared cores

import copy
import inspect
import json
import math
import pathlib
import time

import matplotlib.pyplot as plt
import numpy as np

import minisparse
from minisparse import SGD, SparseMLP
from minisparse.data.datasets import load_dataset
from minisparse.network import topology
from minisparse.network.topology import entry_keys, from_keys
from minisparse.sparse_training.deep_r import (EPSILON, GDNOISE, check_signs, connection_signs, deep_r_step,
                                               deep_r_update, signed_init, temperature_for, train_deep_r)
from minisparse.sparse_training.dsr import (adapt_threshold, below_threshold, default_n_prune, dsr_update,
                                            reallocate, train_dsr)

FAST = os.environ.get("MINISPARSE_FAST", "0") == "1"
np.set_printoptions(precision=4, suppress=True, linewidth=110)
print(f"FAST = {FAST}   (minisparse {minisparse.__version__}, NumPy {np.__version__}, "
      f"OPENBLAS_NUM_THREADS = {os.environ['OPENBLAS_NUM_THREADS']})")


def agree(a, b):
    """The tolerance used for every library-vs-hand check below."""
    return np.allclose(a, b, rtol=1e-6, atol=1e-12)


def show(W, name="W"):
    """Print a small layer: a header, then topology.show (absent positions as '·', stored ones as
    numbers, so a connection grown at 0 prints 0.000 and cannot be mistaken for an absent one)."""
    print(f"{name} ({W.shape[0]}×{W.shape[1]}, nnz {W.nnz}):")
    print("\n".join("   " + line for line in topology.show(W, digits=3).splitlines()))


# %% [markdown]
# ## a. DSR, step 1: prune below one global threshold
#
# **Mostafa & Wang 2019, Algorithm 1; `minisparse.sparse_training.dsr.below_threshold`.** At a
# reparameterization step every layer l loses its active weights with |w| < H (strictly below), K_l
# of them, and keeps R_l. The threshold is the same for every layer, so a layer whose weights are
# small loses more of them. A layer that would lose all its weights keeps its largest one.
#
# The tiny network is 5 → 4 → 3 with 8 and 5 connections and H = 0.1:

# %%
net = SparseMLP.random([5, 4, 3], density=0.4, rng=0)
net.layers[0].W = from_keys([0, 3, 5, 6, 9, 12, 14, 19],
                            [0.62, -0.04, 0.3, 0.08, -0.55, -0.12, 0.02, 0.09], (5, 4))
net.layers[1].W = from_keys([0, 4, 5, 8, 10], [0.5, -0.07, 0.8, -0.45, 0.06], (4, 3))
for l, layer in enumerate(net.layers):
    show(layer.W, f"layer {l}")

H, N_p, delta = 0.1, 4, 0.1
pruned_hand = [entry_keys(layer.W)[np.abs(layer.W.data) < H] for layer in net.layers]
K_hand = [p.size for p in pruned_hand]
R_hand = [layer.nnz - k for layer, k in zip(net.layers, K_hand)]
print(f"H = {H}: pruned keys per layer {[p.tolist() for p in pruned_hand]}, K_l = {K_hand}, R_l = {R_hand}")
assert all(np.array_equal(~below_threshold(layer.W.data, H), np.abs(layer.W.data) < H) for layer in net.layers)

# %% [markdown]
# ## b. DSR, step 2: the threshold follows the target
#
# **Algorithm 1, the adaptive threshold.** K = Σ_l K_l is compared with the target N_p, with a
# tolerance δ = 0.1 (fixed in the authors' code): K > (1 + δ)·N_p means H was too high, so it is
# halved; K < (1 − δ)·N_p means too low, so it is doubled. The new H acts at the *next*
# reparameterization. Here N_p = 4 and K = 6, so H is halved. Both directions, and the band:

# %%
K = sum(K_hand)
H_next_hand = H / 2 if K > (1 + delta) * N_p else 2 * H if K < (1 - delta) * N_p else H
print(f"K = {K}, band [{(1 - delta) * N_p:.1f}, {(1 + delta) * N_p:.1f}]: H {H} → {H_next_hand}")
for K_try in (0, 3, 4, 6):
    print(f"   K = {K_try}: H → {adapt_threshold(H, K_try, N_p, delta)}")
assert adapt_threshold(H, K, N_p, delta) == H_next_hand == 0.05
assert adapt_threshold(H, 3, N_p, delta) == 0.2 and adapt_threshold(H, 4, N_p, delta) == H

# %% [markdown]
# ## c. DSR, step 3: reallocation in proportion to the survivors
#
# **Algorithm 1, the reallocation.** Layer l gets G_l = K·R_l / Σ R back. Counts must be whole and
# add up to K: minisparse floors them and gives the units left over to the largest fractional parts
# (ties: the lower layer). A layer cannot take more than its free positions; its excess is shared
# again among the others. The authors' code rounds half to even and puts the whole discrepancy on one
# randomly chosen layer; both conserve K, but this rule is deterministic.
#
# Here K = 6 and R = (4, 3): ideal 6·4/7 = 3.43 and 6·3/7 = 2.57 → floors 3 and 2, the unit left
# goes to the larger remainder (0.57, layer 1) → (3, 3). Layer 0 gives 4 weights and gets 3 back;
# layer 1 gives 2 and gets 3. The new weights go to random positions that were free *before* the
# update (the authors' code excludes the just-pruned positions), at value 0.

# %%
ideal = K * np.array(R_hand) / sum(R_hand)
counts_hand = np.floor(ideal).astype(int)
left = K - counts_hand.sum()
counts_hand[np.argsort(-(ideal - counts_hand), kind="stable")[:left]] += 1
free = [n_in * n_out - layer.nnz for layer, (n_in, n_out) in zip(net.layers, (l.shape for l in net.layers))]
print(f"ideal {ideal}, counts {counts_hand}, free positions before the update {free}")
assert np.array_equal(reallocate(K, R_hand, free), counts_hand)
print(inspect.getsource(dsr_update))

# %% [markdown]
# The library, on a copy, with SGD-momentum state that is not zero, so that we can see what happens
# to it: pruned weights take their velocity with them, grown ones start at 0.

# %%
net_lib = copy.deepcopy(net)
opt = SGD(net_lib, lr=0.1, momentum=0.9)
for v in opt.v_W:
    v[:] = 1.0
update = dsr_update(net_lib, H, N_p, rng=0, optimizer=opt, tolerance=delta)
print(update.pruned, update.surviving, update.grown_counts, update.next_threshold)
assert update.pruned == K_hand and update.surviving == R_hand and update.grown_counts == counts_hand.tolist()
assert update.next_threshold == H_next_hand and net_lib.nnz == net.nnz
for l, (old, new) in enumerate(zip(net.layers, net_lib.layers)):
    keys = entry_keys(new.W)
    grown = np.isin(keys, update.grown[l])
    assert np.array_equal(update.dropped[l], pruned_hand[l])
    assert not np.isin(update.grown[l], entry_keys(old.W)).any()       # free before the update, never a just-pruned one
    assert np.all(new.W.data[grown] == 0) and np.all(opt.v_W[l][grown] == 0) and np.all(opt.v_W[l][~grown] == 1)
    show(new.W, f"layer {l} after the update (grown at {update.grown_ij[l].tolist()})")

# %% [markdown]
# ## d. DSR on MNIST-5k: the threshold finds its level
#
# LeNet-300-100 at 5 % (ERK, as every sparse start in F3) with the authors' defaults: H₀ = 0.001,
# N_p = 11.3 % of the weights (their 600 of 5,324), SGD lr 0.1, Nesterov momentum 0.9, L2 1e-4. With
# 35 batches per epoch the period is 25 steps (F3's choice on validation). H starts far too low: K is
# tiny, so H doubles at every update, overshoots (K well above the band), is halved back, and after a
# few swings settles where K stays inside the band. The layers trade weights, but at this density
# only a few percent of each layer's count: every layer prunes at the same H and gets back in
# proportion to what it kept, so a layer only grows when its weights are larger than the others'.

# %%
data = load_dataset("mnist5k", rng=0)
sizes, epochs, period = ([784, 64, 32, 10], 4, 10) if FAST else ([784, 300, 100, 10], 30, 25)
model = SparseMLP.random(sizes, density=0.05, topology="erk", rng=0)
start = time.perf_counter()
h_dsr, log_dsr = train_dsr(model, data, epochs, period=period, rng=0, verbose=False)
print(f"{epochs} epochs, {len(log_dsr['step'])} reparameterizations, {time.perf_counter() - start:.1f} s; "
      f"test accuracy {h_dsr['test_acc'][-1]:.4f}; N_p = {default_n_prune(model)}")
K_run = np.array([sum(p) for p in log_dsr["pruned"]])
band = ((1 - 0.1) * default_n_prune(model), (1 + 0.1) * default_n_prune(model))
assert all(Hn == (H0 / 2 if k > band[1] else 2 * H0 if k < band[0] else H0)
           for k, H0, Hn in zip(K_run, log_dsr["threshold"], log_dsr["next_threshold"]))

fig, ax = plt.subplots(1, 3, figsize=(13, 3.4))
ax[0].semilogy(log_dsr["step"], log_dsr["threshold"], "o-", ms=3)
ax[0].set(title="H at each reparameterization", xlabel="training step", ylabel="H")
ax[1].plot(log_dsr["step"], K_run, "o-", ms=3, label="K pruned")
ax[1].axhspan(*band, color="C2", alpha=0.2, label="(1 ± δ)·N_p")
ax[1].set(title="weights pruned per update", xlabel="training step")
ax[1].legend()
dens = np.array([r["density"] for r in h_dsr.rows])
for l in range(dens.shape[1]):
    ax[2].plot(h_dsr["epoch"], dens[:, l] / dens[0, l], label=f"layer {l}")
ax[2].set(title="layer density / its start", xlabel="epoch")
ax[2].legend()
fig.tight_layout()
plt.show()
print("per-layer density at the start and the end:", np.round(dens[0], 4), np.round(dens[-1], 4))

# %% [markdown]
# ## e. DEEP R: a fixed sign for every potential connection
#
# **Bellec et al. 2018, §2.** A potential connection k (every (i, j) of every layer) has a sign s_k,
# drawn once and never changed, and a parameter θ_k. It is *active* while θ_k > 0, with w_k = s_k·θ_k,
# and *dormant* otherwise (w_k = 0, not stored). The authors' code stores a dense ±1 array per layer.
# minisparse stores nothing: s_k is a fixed hash of (seed, layer, position), so a connection that dies
# and returns later has its old sign, with O(1) memory. `signed_init` gives the starting weights
# their connections' signs and keeps their magnitudes.

# %%
s = connection_signs(np.arange(12), 0, 7)
print("signs of layer 0's first 12 positions (seed 7):", s.astype(int))
print("the same positions again:                      ", connection_signs(np.arange(12), 0, 7).astype(int))
print(f"share of +1 over 10⁶ positions: {np.mean(connection_signs(np.arange(10**6), 0, 7) > 0):.4f}")
tiny = SparseMLP.random([4, 3, 2], density=0.5, rng=1)
signed_init(tiny, 7)
assert check_signs(tiny, 7)
for l, layer in enumerate(tiny.layers):
    show(layer.W, f"layer {l} (signed)")
print(inspect.getsource(deep_r_update))

# %% [markdown]
# ## f. One DEEP R step by hand
#
# **Algorithm 1.** For every active k:
#
# θ_k ← θ_k − η·∂E/∂θ_k − η·α + √(2ηT)·ν_k,   ∂E/∂θ_k = s_k·∂E/∂w_k,   ν_k ~ N(0, 1).
#
# The gradient term is an ordinary SGD step on w (w − η ∂E/∂w = s·(θ − η s ∂E/∂w)), so `deep_r_step`
# lets the optimizer take it and `deep_r_update` adds the rest. Then every θ ≤ 0 turns dormant and
# the same number of dormant positions of that layer, drawn uniformly (the just-dormant ones
# included: a draw may land on the very position that just died), turn active at θ = ε = 10⁻¹². The α and T below are far above the authors' (10⁻⁵ and
# η·10⁻¹⁰/2) so that a connection dies in one step.

# %%
rng_batch = np.random.default_rng(3)
X, y = rng_batch.standard_normal((6, 4)), np.array([0, 1, 1, 0, 1, 0])
eta, alpha, T, seed = 0.5, 0.2, 1e-3, 7
_, grads = tiny.loss_and_grads(X, y)
noise = np.random.default_rng(11)                         # the generator deep_r_update will use
theta_hand, dead_hand = [], []
for l, (layer, g) in enumerate(zip(tiny.layers, grads)):
    s_l = connection_signs(entry_keys(layer.W), l, seed)
    theta = s_l * layer.W.data
    theta = theta - eta * s_l * g.dW - eta * alpha + math.sqrt(2 * eta * T) * noise.standard_normal(theta.size)
    theta_hand.append(theta)
    dead_hand.append(entry_keys(layer.W)[theta <= 0])
    print(f"layer {l}: θ before {s_l * layer.W.data}\n         θ after  {theta}\n         dies: keys {dead_hand[-1]}")
    if l == 0:
        break                      # the noise for layer 1 is drawn after layer 0's revival draw

tiny_lib = copy.deepcopy(tiny)
opt = SGD(tiny_lib, lr=eta, momentum=0.0)
_, up = deep_r_step(tiny_lib, opt, X, y, alpha, T, np.random.default_rng(11), seed)
assert np.array_equal(up.dropped[0], dead_hand[0])
W0 = tiny_lib.layers[0].W
survivors = ~np.isin(entry_keys(tiny.layers[0].W), dead_hand[0])
s0 = connection_signs(entry_keys(tiny.layers[0].W), 0, seed)
kept_after = np.isin(entry_keys(W0), entry_keys(tiny.layers[0].W)[survivors]) & ~np.isin(entry_keys(W0), up.grown[0])
assert agree(W0.data[kept_after], (s0 * theta_hand[0])[survivors])
revived = np.isin(entry_keys(W0), up.grown[0])
assert np.array_equal(W0.data[revived], connection_signs(up.grown[0], 0, seed) * EPSILON)
assert [layer.nnz for layer in tiny_lib.layers] == [layer.nnz for layer in tiny.layers] and check_signs(tiny_lib, seed)
print(f"dropped {up.dropped_ij[0].tolist()}, revived {up.grown_ij[0].tolist()} at ±ε with their own signs")
show(W0, "layer 0 after the step")

# %% [markdown]
# With α = 0 and T = 0 nothing but the gradient moves θ, and as long as no θ reaches 0 a DEEP R step
# is a plain SGD step on the active weights, to the last bit:

# %%
plain, deep = copy.deepcopy(tiny), copy.deepcopy(tiny)
_, g_plain = plain.loss_and_grads(X, y)
SGD(plain, lr=0.01, momentum=0.0).step(g_plain)
_, up0 = deep_r_step(deep, SGD(deep, lr=0.01, momentum=0.0), X, y, 0.0, 0.0, 0, seed)
assert all(d.size == 0 for d in up0.dropped)
assert all(np.array_equal(a.W.toarray(), b.W.toarray()) for a, b in zip(plain.layers, deep.layers))
print("T = 0, α = 0: identical to SGD")

# %% [markdown]
# ## g. DEEP R on MNIST-5k: a revived connection usually dies again
#
# The authors' MNIST script: η = 0.5 with batch 10, ×0.8 after every epoch, α = 10⁻⁵ and the noise
# std η·10⁻⁵ per step (T = η·10⁻¹⁰/2: tiny). A connection revived at θ = 10⁻¹² sits at the boundary,
# so its first gradient step decides whether it lives. Per epoch, the connections that died outnumber
# the net change of the pattern many times over: most deaths are of connections revived a step
# earlier. The second cell follows the revivals of a few more steps and counts how many survive
# their first step.

# %%
sizes_r, epochs_r = ([784, 64, 32, 10], 2) if FAST else ([784, 300, 100, 10], 6)
model_r = SparseMLP.random(sizes_r, density=0.05, topology="erk", rng=0)
start = time.perf_counter()
h_r, log_r = train_deep_r(model_r, data, epochs_r, rng=0, verbose=False)
print(f"{epochs_r} epochs of batch 10 ({h_r['step'][-1]} steps): {time.perf_counter() - start:.1f} s, "
      f"test accuracy {h_r['test_acc'][-1]:.4f}")
for row in h_r.rows:
    print(f"  epoch {row['epoch']}: lr {row['lr']:.3f}  died and replaced {sum(row['rewired']):6d}  "
          f"net moved {row['moved']:6.0f}  ever active {row['ever_active']:.3f}")
assert check_signs(model_r, 0)
print(f"died per net move, epoch 1: {sum(h_r.rows[0]['rewired']) / h_r.rows[0]['moved']:.0f}")

# %%
opt_r = SGD(model_r, lr=h_r["lr"][-1] * 0.8, momentum=0.0)         # where the run's lr schedule left off
rng_r, survived, revived = np.random.default_rng(1), 0, 0
idx = rng_r.permutation(len(data.y_train))
previous = None
for t in range(50):
    b = idx[t * 10:(t + 1) * 10]
    _, up = deep_r_step(model_r, opt_r, data.X_train[b], data.y_train[b], 1e-5, None, rng_r, 0)
    if previous is not None:                     # revived at step t − 1: did they survive step t?
        for l in range(len(model_r.layers)):
            revived += previous[l].size
            survived += np.isin(previous[l], entry_keys(model_r.layers[l].W)).sum()
    previous = up.grown
print(f"over 49 steps, {revived} revived connections; {survived} ({survived / revived:.0%}) survived their first step")

# %% [markdown]
# ## h. In the figure: F3 with all of the paper's methods
#
# F3 (`python -m minisparse figures dst_accuracy`) trains every method for 60 epochs at 1–10 %
# weights on MNIST-5k over three seeds, the learning rate (and the update period of RigL and DSR)
# chosen on validation by one rule for all. The grid is of the steady-state step η/(1 − μ), so DEEP R,
# plain SGD as in its authors' code, gets learning rates ten times those of the momentum methods.
# The table below is read from the committed figure data:

# %%
f3 = json.loads((pathlib.Path("..") / "figures" / "f3_dst_accuracy.json").read_text())
print(f"{'method':16s} " + " ".join(f"{d:>10.0%}" for d in f3["densities"]))
for m, r in f3["methods"].items():
    if m != "dense":
        print(f"{m:16s} " + " ".join(f"{100 * a:5.1f} ± {100 * (h or 0):3.1f}" for a, h in zip(r["mean"], r["ci"])))
print(f"dense: {100 * f3['methods']['dense']['mean'][0]:.1f}; chosen: "
      + ", ".join(f"{m} lr {hp['lr']:g}" for m, hp in f3["chosen"].items()))

# %% [markdown]
# ## i. Where to break in
#
# | to see | break in |
# | --- | --- |
# | \|w\| < H, keeping one weight per layer | `minisparse.sparse_training.dsr.below_threshold` |
# | H halved or doubled | `minisparse.sparse_training.dsr.adapt_threshold` |
# | the counts per layer | `minisparse.sparse_training.dsr.reallocate` (then `minisparse.sparse_training.sparse_momentum.redistribute`) |
# | one whole DSR reparameterization | `minisparse.sparse_training.dsr.dsr_update` |
# | DSR's loop, its period and stop | `minisparse.sparse_training.dsr.train_dsr` |
# | a connection's fixed sign | `minisparse.sparse_training.deep_r.connection_signs` |
# | the L1 and noise terms, death and revival | `minisparse.sparse_training.deep_r.deep_r_update` |
# | the gradient term (the optimizer's step), then the rest | `minisparse.sparse_training.deep_r.deep_r_step` |
# | random revival among the dormant positions | `minisparse.growth.select.random_positions` |
#
# For example: `pdb.runcall(dsr_update, copy.deepcopy(net), 0.1, 4, 0)`.
#
# ## Summary
#
# - DSR prunes |w| < H with one H for the whole network, moves H by a factor 2 to keep the number
#   pruned near N_p, and hands the freed weights back in proportion to each layer's survivors, at
#   random positions that were free before the update, at 0. Total nnz is fixed; layers trade.
# - DEEP R gives each potential connection a fixed sign and trains θ = |w| by a Langevin step; a
#   connection reaching 0 is replaced by a uniformly drawn dormant one at θ = 10⁻¹², so every layer
#   keeps its count. Without noise and L1 it is SGD plus "dead weights are replaced at random".
# - Neither reads a dense gradient or a dense array: both cost what a sparse step costs.
#
# ## Exercises
#
# Each answer cell holds a placeholder; replace `None` with your answer and run the check below it.
#
# **1.** In section a, which H would prune exactly one weight in each layer of the tiny network?
# Give any such H.

# %%
answer_1 = None                      # a number


def check_exercise_1(answer):
    if answer is None:
        print("hint: sort each layer's |w|; H must be above the smallest and at most the second smallest")
        return
    assert [int((~below_threshold(layer.W.data, answer)).sum()) for layer in net.layers] == [1, 1], \
        f"not quite: H = {answer} prunes {[int((~below_threshold(l.W.data, answer)).sum()) for l in net.layers]}"
    print("correct")


check_exercise_1(answer_1)

# %% [markdown]
# **2.** DSR prunes K = 10 weights from three layers that keep R = (50, 30, 20) and have plenty of
# free positions. How many does each layer get back?

# %%
answer_2 = None                      # a list of three integers


def check_exercise_2(answer):
    if answer is None:
        print("hint: 10·R/100 are whole numbers here; no rounding needed")
        return
    assert list(answer) == reallocate(10, [50, 30, 20], [10**6] * 3).tolist(), f"not quite: {answer}"
    print("correct")


check_exercise_2(answer_2)

# %% [markdown]
# **3.** In the authors' MNIST script (η = 0.5, noise scale 10⁻⁵), what is the temperature T, and what
# is the standard deviation of the noise added to θ in one step?

# %%
answer_3 = None                      # a pair (T, std)


def check_exercise_3(answer):
    if answer is None:
        print("hint: the code adds η·gdnoise·ν, which is √(2ηT)·ν with T = η·gdnoise²/2")
        return
    T_true = temperature_for(0.5)
    assert agree(answer[0], T_true) and agree(answer[1], math.sqrt(2 * 0.5 * T_true)), f"not quite: {answer}"
    print(f"correct: T = {T_true:.3g}, std = {0.5 * GDNOISE:.3g}")


check_exercise_3(answer_3)
