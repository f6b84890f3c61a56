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
# # 11 · Sparse activations on sparse weights: k-winners-take-all
#
# **What you will learn:** how a k-winners-take-all (k-WTA) layer keeps only the k largest units of
# each sample, how boosting by duty cycle keeps every unit in use, why its gradient reaches the winners
# only, and how a layer whose input has k active units can pay for k instead of its width. Then what
# the measurements on MNIST-5k say about the claims. Article 001 ends its suggested experiments with
# "Combine with activation sparsity"; article 000's *Future of the Sparse-land* argues that coupling
# sparse connections with sparse activations gives robust representations. The method is Ahmad &
# Scheinkman 2019, "How Can We Be So Dense? The Benefits of Using Highly Sparse Representations"; the
# authors' code is numenta/htmpapers (``how_can_we_be_so_dense``) and numenta/nupic.torch (`KWinners`).
#
# As in the other notebooks: each equation, a hand computation on a tiny printed example, the
# library's source, the library call and an `assert` that they agree.
#
# **Runs in about 5 s (fast mode: 3 s) on a 2-core machine.** The measurements of section e come
# from the committed figure data (`python -m minisparse figures kwta`, about 10 minutes with two
# workers).

# %%
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # one BLAS thread (set before NumPy loads): shared cores

import copy
import inspect
import json
import pathlib
import time

import matplotlib.pyplot as plt
import numpy as np

import minisparse
from minisparse import SparseMLP
from minisparse.network import cost, kernels
from minisparse.network.kernels import active_units, reference
from minisparse.network.kwta import (KWinners, boost_factors, update_duty_cycles, use_kwinners,
                                     winners_mask)

FAST = os.environ.get("MINISPARSE_FAST", "0") == "1"
np.set_printoptions(precision=4, suppress=True, linewidth=110)
print(f"FAST = {FAST}   (minisparse {minisparse.__version__}, NumPy {np.__version__}, "
      f"OPENBLAS_NUM_THREADS = {os.environ['OPENBLAS_NUM_THREADS']})")


def agree(a, b):
    """The tolerance used for every library-vs-hand check below."""
    return np.allclose(a, b, rtol=1e-6, atol=1e-9)


# %% [markdown]
# ## a. The forward pass: keep the k largest of each row
#
# **Ahmad & Scheinkman 2019, §3.** For pre-activations Z (B, n), row b keeps the k units with the
# largest Z[b, j] at their value and sets the others to 0: A[b, j] = Z[b, j]·[j ∈ top_k(Z[b, :])].
# There is no ReLU: a winner may be negative. When several units tie for the last places, the
# authors' `torch.topk` picks any of them; minisparse gives the places to the lower unit indices, so
# that a run is reproducible. Three rows, k = 2:

# %%
Z = np.array([[0.3, -1.2, 2.0, 0.7, 0.1],
              [0.5, 0.5, 0.5, -0.2, 0.5],       # a four-way tie for two places
              [-0.4, -2.0, -0.1, -3.0, -0.9]])  # every value negative
k = 2
by_hand = np.zeros_like(Z)
for b, row in enumerate(Z):
    order = np.argsort(-row, kind="stable")              # descending; equal values keep index order
    by_hand[b, order[:k]] = row[order[:k]]
print(by_hand)
kw = KWinners(5, k=2, boost_strength=0.0, k_inference_factor=1.0)
assert np.array_equal(kw(Z), by_hand)
print(inspect.getsource(winners_mask))

# %% [markdown]
# ## b. Boosting and duty cycles
#
# **§3, boosting.** A unit that rarely wins would learn little. Each unit keeps a duty cycle d_j,
# its recent firing rate, and the selection ranks Z[b, j]·b_j with the boost factor
# b_j = exp(β·(â − d_j)), â = k/n: a unit firing less than â is pushed up, one firing more pushed down.
# The boost only chooses the winners; the value passed on is the un-boosted Z. After each training
# batch of B rows (the authors' code, `update_duty_cycle`):
#
# t ← t + B,   P = min(period, t),   d ← (d·(P − B) + Σ_b [A[b, j] > 0]) / P,
#
# a running mean for the first `period` samples and then an exponential average. Only a winner with
# a positive value counts as firing (the code's `x.gt(0)`). By hand, with β = 2 and duty cycles
# (0.0, 0.0, 0.5, 0.9, 0.3), boosting changes row 0's winners: unit 3 has been firing often and
# drops out, unit 0 has not fired and takes its place:

# %%
kw = KWinners(5, k=2, boost_strength=2.0, duty_cycle_period=4, k_inference_factor=1.0)
kw.duty_cycles = np.array([0.0, 0.0, 0.5, 0.9, 0.3])
b_hand = np.exp(2.0 * (2 / 5 - kw.duty_cycles))
print("boost factors", b_hand)
winners_hand = np.sort(np.argsort(-(Z[0] * b_hand), kind="stable")[:2])
print("boosted row 0", Z[0] * b_hand, "→ winners", winners_hand, "(without boosting: units 2 and 3)")
assert winners_hand.tolist() == [0, 2]
assert agree(boost_factors(kw.duty_cycles, 0.4, 2.0), b_hand)
A = kw(Z[:2], training=True)                              # a training batch of two rows: duty cycles move
fired = A > 0
d_hand = (np.array([0.0, 0.0, 0.5, 0.9, 0.3]) * (2 - 2) + fired.sum(0)) / 2     # t = 2, P = min(4, 2) = 2
print("output", A, "fired", fired.sum(0), "new duty cycles", kw.duty_cycles, sep="\n")
assert agree(kw.duty_cycles, d_hand) and kw.seen == 2
print(inspect.getsource(update_duty_cycles))

# %% [markdown]
# At inference the duty cycles are frozen and more units may fire: k_inference = round(1.5·k) in the
# paper's MNIST runs. After every epoch β shrinks by a factor (0.85 there), so the boosting fades as
# training settles (`SparseMLP.end_epoch`, which every training loop calls).
#
# ## c. The backward pass: the gradient reaches the winners only
#
# Where A[b, j] = Z[b, j] the derivative is 1; where A is set to 0 it is 0, whatever Z does nearby
# (away from ties, the winners do not change under a small perturbation). So dZ = dA ⊙ [A ≠ 0], the
# same rule as ReLU, whose A ≠ 0 means Z > 0. Checked on a tiny network against central differences,
# with boosting on and the winners away from ties:

# %%
rng = np.random.default_rng(3)
net = SparseMLP.random([6, 10, 8, 3], density=0.6, rng=3)
use_kwinners(net, k=3, boost_strength=1.5, k_inference_factor=1.0)
for layer in net.layers[:-1]:
    layer.f.duty_cycles = rng.uniform(0, 0.5, layer.f.n)
X, y = rng.standard_normal((5, 6)), rng.integers(0, 3, 5)
_, grads = copy.deepcopy(net).loss_and_grads(X, y)            # on a copy: its duty-cycle update stays there
h, w = 1e-6, net.layers[1].W.data
numeric = np.zeros(w.size)
for i in range(w.size):
    old = w[i]
    w[i] = old + h
    up = net.loss(X, y)
    w[i] = old - h
    numeric[i] = (up - net.loss(X, y)) / (2 * h)
    w[i] = old
print("layer 1: |dW − central| max", np.abs(grads[1].dW - numeric).max(), " (entries with zero gradient:",
      int(np.sum(np.abs(numeric) < 1e-12)), "of", w.size, ")")
assert agree(grads[1].dW, numeric)

# %% [markdown]
# ## d. Paying for k, not for the width
#
# The layer after a k-WTA layer receives rows with k nonzero inputs. Its three products then need
# only the k active rows of W per sample: B·k·(nnz/n_in) multiply-adds each instead of B·nnz.
#
# - forward: Z[b, :] = Σ_{i active in b} a_bi·W[i, :];
# - weight gradient: dW_(i,j) = Σ_{b: i active in b} a_bi·dZ[b, j], at W's stored entries;
# - input gradient: dA_prev[b, i] = Σ_j dZ[b, j] W[i, j], needed only at the active (b, i), since the
#   k-WTA derivative is 0 elsewhere.
#
# NumPy has no loop that does this per sample fast, so minisparse builds one sparse matrix and lets
# SciPy's compiled products do the work: gather the active rows of W, and move row i of sample b into
# the block of columns b·n_out … (b + 1)·n_out − 1. That matrix P (T × B·n_out, T active units in the
# batch) gives Z.ravel() = Pᵀ·a and dA_active = P·dZ.ravel(). By hand on a 4 → 3 layer, batch of 2:

# %%
W = minisparse.network.topology.from_keys([0, 2, 4, 5, 7, 9, 10], [1.0, 2.0, 3.0, -1.0, 0.5, 4.0, -2.0], (4, 3))
A_prev = np.array([[0.0, 2.0, 0.0, 1.0],        # sample 0: units 1 and 3 fired
                   [3.0, 0.0, 0.0, 0.0]])       # sample 1: unit 0
Ac = active_units.active_rows(A_prev)
P_hand = np.zeros((3, 2 * 3))                   # rows: (b=0, i=1), (b=0, i=3), (b=1, i=0)
Wd = W.toarray()
for t, (b, i) in enumerate([(0, 1), (0, 3), (1, 0)]):
    P_hand[t, b * 3:(b + 1) * 3] = Wd[i]
print("P =", P_hand, sep="\n")
Z_hand = (P_hand.T @ Ac.data).reshape(2, 3)
assert np.array_equal(active_units.stacked_rows(W, Ac).toarray(), P_hand)
assert agree(Z_hand, A_prev @ Wd) and agree(active_units.forward_product(W, Ac), A_prev @ Wd)
dZ = np.array([[1.0, -1.0, 0.5], [0.2, 0.0, 2.0]])
assert agree(active_units.input_gradient_product(W, Ac, dZ), (dZ @ Wd.T) * (A_prev != 0))
rows = np.repeat(np.arange(4), np.diff(W.indptr))
assert agree(active_units.sampled_product(W, Ac, dZ, rows), reference.sampled_product(W, A_prev, dZ))
print("Z =", Z_hand, "— the same as A_prev @ W; input gradient and dW agree with the reference forms", sep="\n")
print(inspect.getsource(active_units.forward_product))

# %% [markdown]
# **Does the time follow k?** `python -m minisparse bench-kwta` times the three products on a
# 4,000 × 4,000 layer at 2 % weights for k = 400, 200, 100, 50 (its output is in
# `minisparse/lab/studies/bench_kwta_output.txt`). A smaller version here:

# %%
n, B = (600, 32) if FAST else (3000, 100)
layer_net = SparseMLP.random([n, n], density=0.02, rng=0, dtype=np.float32)
Wb, rows_b = layer_net.layers[0].W, layer_net.layers[0].rows
Zb = np.random.default_rng(0).standard_normal((B, n)).astype(np.float32)
dZb = np.random.default_rng(1).standard_normal((B, n)).astype(np.float32)


def best_of(fn, repeats=5):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


print(f"{n} × {n} at 2 %, batch {B}: ms per product")
for kb in (n // 10, n // 20, n // 40, n // 80):
    Ab = active_units.active_rows(np.where(winners_mask(Zb, kb), Zb, 0))
    t = [best_of(lambda: active_units.forward_product(Wb, Ab)),
         best_of(lambda: active_units.sampled_product(Wb, Ab, dZb, rows_b)),
         best_of(lambda: active_units.input_gradient_product(Wb, Ab, dZb))]
    print(f"  k = {kb:4d} ({kb / n:.2%}): forward {1e3 * t[0]:6.2f}  weight gradient {1e3 * t[1]:6.2f}  "
          f"input gradient {1e3 * t[2]:6.2f}")

# %% [markdown]
# The forward and input-gradient times halve with k; the weight gradient has a floor, because it
# writes one value per stored weight whatever k is. SciPy's dense-input products multiply every
# input, zeros included, but do it B rows at a time, so they stay faster until fewer than about 5 %
# of the inputs are active: the layer switches to the active-unit forms below that
# (`kernels.uses_active`). `minisparse.network.cost` counts what the computation needs,
# B·(k/n_in)·nnz per product, whichever kernel runs it:

# %%
lenet = use_kwinners(SparseMLP.random([784, 500, 500, 10], density=0.3, rng=0), percent_on=0.1)
relu = SparseMLP.random([784, 500, 500, 10], density=0.3, rng=0)
for name, m in (("ReLU", relu), ("k-WTA 10 %", lenet)):
    print(f"{name:11s}: {cost.step_macs(m, 64)['sparse']:>12,} multiply-adds per step of 64   "
          f"input fractions {[layer.input_fraction for layer in m.layers]}")
print(f"layer 1 uses the active-unit kernels: {kernels.uses_active(lenet.layers[1])} (10 % > 5 %)")

# %% [markdown]
# ## e. The measurements
#
# The figure `kwta` trains 784-500-500-10 on MNIST-5k for every pair of weight density (100, 30, 10,
# 3 %) and activation density (ReLU; k-WTA 30, 10, 5 %) over three seeds, with the same SGD for all
# (lr 0.02, momentum 0.9, batch 64, 20 epochs) and the paper's boosting. It then replaces a growing
# share of each test image's pixels by the paper's noise value and measures accuracy, and counts the
# hidden units that never fire on the training set, with boosting and without.

# %%
data = json.loads((pathlib.Path("..") / "figures" / "kwta_sparse_activations.json").read_text())
ads = data["activation_densities"]
print("test accuracy % (multiply-adds of a step / dense)")
print(f"{'weights':>8} " + " ".join(f"{'ReLU' if a is None else f'k-WTA {a:.0%}':>18}" for a in ads))
for wd in data["weight_densities"]:
    cells = [next(c for c in data["cells"] if c["weight_density"] == wd and c["activation_density"] == a) for a in ads]
    print(f"{wd:>8.0%} " + " ".join(f"{100 * c['mean']:6.1f} ± {100 * (c['ci'] or 0):3.1f} ({c['macs_vs_dense']:.3f})"
                                     for c in cells))

fig, ax = plt.subplots(1, 2, figsize=(11, 3.8))
for i, (name, (wd, ad)) in enumerate(data["kinds"].items()):
    c = next(c for c in data["cells"] if c["weight_density"] == wd and c["activation_density"] == ad)
    ax[0].plot(np.array(data["noise_levels"]) * 100, np.array(c["noise_curve"]) * 100, marker="o", ms=3,
               label=f"{name}: score {100 * c['noise_mean']:.1f}")
    print(f"{name:18s} clean {100 * c['mean']:.1f} %, noise score {100 * c['noise_mean']:.1f} "
          f"± {100 * (c['noise_ci'] or 0):.1f}")
ax[0].set(xlabel="pixels replaced by noise (%)", ylabel="test accuracy (%)", title="noise robustness")
ax[0].legend(fontsize=8)
for name, runs in data["boosting"].items():
    ep = [t["epoch"] for t in runs[0]["trace"]]
    ax[1].plot(ep, np.mean([[t["silent"] for t in r["trace"]] for r in runs], axis=0), marker="o", ms=3, label=name)
ax[1].set(xlabel="epoch", ylabel="hidden units never firing", title="weights 30 %, k-WTA 10 %")
ax[1].legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# Cost falls with both densities, but in this setting every k-WTA cell tests below the ReLU cell of the
# same weight density, and sparse activations lower the noise score instead of raising it: the
# paper's noise-robustness claim (made for CNNs on 60,000 images) does not reproduce for this MLP on
# 3,500. The README's section on sparse activations has the numbers and the checks behind them. More
# units stay silent without boosting early in training; as β decays, boosting's advantage fades.
#
# ## f. Where to break in
#
# | to see | break in |
# | --- | --- |
# | the k winners of each row, ties to the lower index | `minisparse.network.kwta.winners_mask` |
# | boosting, the duty-cycle update, inference k | `minisparse.network.kwta.KWinners` (`__call__`, `winners`) |
# | the duty cycles by the authors' formula | `minisparse.network.kwta.update_duty_cycles` |
# | switching a model's hidden layers to k-WTA | `minisparse.network.kwta.use_kwinners` |
# | which kernel a product runs | `minisparse.network.kernels.uses_active` |
# | the products from the active inputs | `minisparse.network.kernels.active_units.forward_product`, `minisparse.network.kernels.active_units.sampled_product`, `minisparse.network.kernels.active_units.input_gradient_product` |
# | the multiply-adds after a k-WTA layer | `minisparse.network.cost.step_macs`, `minisparse.network.cost.active_macs` |
#
# ## Summary
#
# - k-WTA keeps the k largest pre-activations of each sample (ties: lower index) and passes the
#   gradient to them only; boosting by exp(β(â − d_j)) chooses winners among rarely firing units more
#   often, and the duty cycles follow the authors' running average.
# - A layer whose input has k active units per row needs B·k·nnz/n_in multiply-adds per product.
#   Gathering the active rows of W into one stacked sparse matrix lets SciPy do that in compiled code;
#   the forward and input-gradient times halve with k, the weight gradient keeps an O(nnz) floor.
# - What the measurements say about accuracy, cost and noise is in section e and the README.
#
# ## Exercises
#
# Each answer cell holds a placeholder; replace `None` with your answer and run the check below it.
#
# **1.** Which units win row [0.2, 0.9, 0.9, 0.9, −0.5] with k = 2 and no boosting?

# %%
answer_1 = None                      # a list of unit indices


def check_exercise_1(answer):
    if answer is None:
        print("hint: three units tie at 0.9 for two places")
        return
    truth = np.flatnonzero(winners_mask(np.array([[0.2, 0.9, 0.9, 0.9, -0.5]]), 2)[0]).tolist()
    assert sorted(answer) == truth, f"not quite: {sorted(answer)}"
    print("correct")


check_exercise_1(answer_1)

# %% [markdown]
# **2.** A unit of a layer with â = 0.1 and β = 1.5 has never fired (d = 0). By what factor is its
# pre-activation multiplied for the ranking?

# %%
answer_2 = None                      # a number


def check_exercise_2(answer):
    if answer is None:
        print("hint: b = exp(β·(â − d))")
        return
    assert abs(answer - np.exp(1.5 * 0.1)) < 1e-3, f"not quite: {answer}"
    print("correct")


check_exercise_2(answer_2)

# %% [markdown]
# **3.** A 500 → 500 layer holds 75,000 weights. Its input comes from a k-WTA layer with k = 25. How
# many multiply-adds does its forward product need for a batch of 64?

# %%
answer_3 = None                      # an integer


def check_exercise_3(answer):
    if answer is None:
        print("hint: B·(k/n_in)·nnz")
        return
    assert answer == 64 * 25 * 75_000 // 500, f"not quite: {answer}"
    print("correct")


check_exercise_3(answer_3)
