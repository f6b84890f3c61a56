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
# # 09 · CTRE: grow where the two neurons fire together
#
# **What you will learn.** How CTRE scores a missing connection without any gradient: the cosine
# similarity of Eq. 2, by hand and chunked; one CTRE_sim update on a printed 5-8-3 network (drop,
# similarity picks, random replacements, new weights) and a picture of each position's fate; CTRE_seq's
# switch to random growth; why the cosine and not the dot product when the inputs are noisy; and
# CTRE_sim against SET in the highly sparse regime, with what a similarity pass costs. **Runs in about
# 2 minutes (fast mode: 12 s)** on a 2-core machine shared with other jobs.
#
# This is the last method in article 000, section *Dynamic Sparse Training*: **CTRE**, *Cosine
# similarity-based and Random Topology Exploration* (Atashgahi et al. 2022, "A Brain-inspired
# Algorithm for Training Highly Sparse Neural Networks"; the article's images 3–5). Gradient-based
# growth (RigL, notebook 06; Sparse Momentum, notebook 07) needs a dense gradient over every missing
# connection. Random growth (SET, notebook 05) does not, but it struggles "to find a good sub-network
# because the search space becomes too large in high sparsity scenarios".
#
# CTRE scores a missing connection p → q by how alike the activations of its two neurons are over the
# training samples (Hebb: neurons that fire together wire together). After every epoch but the last,
# each layer drops its ⌊ζ · nnz⌋ smallest weights and grows as many where that similarity is highest,
# with some random growth mixed in (section 2). Training steps stay truly sparse; the similarity is a
# dense array per layer, computed once per epoch from activations only. Each step comes with its
# equation, a hand computation on a tiny printed example, the library function's source and an
# `assert` that they agree. `MINISPARSE_FAST=1` shortens the training runs of section 5; the saved
# outputs come from a full run.

# %%
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # two shared cores: see notebook 02

import contextlib
import copy
import inspect
import math
import sys
import time

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch

import minisparse
from minisparse import SGD, SparseMLP, growth
from minisparse.sparse_training import ctre
from minisparse.lab import fig_ctre
from minisparse.network import topology
from minisparse.network.checks import DivergenceError
from minisparse.network.cost import epoch_macs
from minisparse.sparse_training.ctre import (best_validation, cosine_similarity, ctre_update, drop_count, similarity_macs,
                             train_ctre)
from minisparse.data.datasets import madelon_split, make_teacher_data, stratified_split
from minisparse.network.losses import softmax
from minisparse.network.topology import entry_keys
from minisparse.network.train import run_epoch

FAST = os.environ.get("MINISPARSE_FAST", "0") == "1"
np.set_printoptions(precision=4, suppress=True, linewidth=110)
print(f"FAST = {FAST}   (minisparse {minisparse.__version__}, NumPy {np.__version__}, "
      f"OPENBLAS_NUM_THREADS = {os.environ['OPENBLAS_NUM_THREADS']})")


def agree(a, b):
    """The tolerance used for every library-vs-hand check below."""
    return np.allclose(a, b, rtol=1e-6, atol=1e-8)


# %% [markdown]
# ## 1. Eq. 2: the cosine similarity of two layers' activations
#
# **CTRE, Eq. 2 (Atashgahi et al. 2022; article image 5).** For layer l, with inputs p and outputs q,
# over N samples,
#
# Sim_pq = | â_prev[:, p] · â[:, q] |,   â[:, j] = a[:, j] / ‖a[:, j]‖₂,
#
# each activation column L2-normalised over the samples. a_prev holds the data (layer 1) or the
# previous layer's post-ReLU outputs; a holds the layer's post-ReLU outputs, or the softmax
# probabilities for the last layer. The columns are not centred (this is not a correlation). An
# all-zero column has no direction and scores 0. The absolute value makes an anti-aligned pair score
# like an aligned one; only the first layer can have one, since every other activation is ≥ 0.
#
# By hand, on a 4 → 3 → 2 network and 6 samples, with hidden unit 2 made dead (bias −10).

# %%
tiny = SparseMLP.random([4, 3, 2], density=0.7, rng=1)
tiny.layers[0].b[2] = -10.0                                   # hidden unit 2 never fires
X_tiny = np.random.default_rng(2).standard_normal((6, 4))     # (N=6, 4)

W1, b1 = tiny.layers[0].W.toarray(), tiny.layers[0].b         # dense copies, for the products only
W2, b2 = tiny.layers[1].W.toarray(), tiny.layers[1].b
A1 = np.maximum(X_tiny @ W1 + b1, 0)                          # (6, 3) post-ReLU
P = softmax(A1 @ W2 + b2)                                     # (6, 2) the last layer: softmax outputs


def unit_columns(A):
    """Each column divided by its L2 norm over the rows; an all-zero column stays 0."""
    norm = np.sqrt((A ** 2).sum(axis=0))                      # (n,)
    return np.divide(A, norm, out=np.zeros_like(A), where=norm > 0)


Sim_hand = [np.abs(unit_columns(X_tiny).T @ unit_columns(A1)),    # (4, 3)
            np.abs(unit_columns(A1).T @ unit_columns(P))]         # (3, 2)
print("A_1 =\n", A1, "\nsoftmax outputs =\n", P)
for l, S in enumerate(Sim_hand, start=1):
    print(f"Sim^{l} =\n{S}")

p, q = 1, 0                                                    # one entry, written out as a cosine
x, a = X_tiny[:, p], A1[:, q]
cos_pq = sum(x[b] * a[b] for b in range(6)) / (math.sqrt(sum(x ** 2)) * math.sqrt(sum(a ** 2)))
print(f"Sim^1[{p}, {q}] = |cos| = {abs(cos_pq):.6f}")
assert agree(abs(cos_pq), Sim_hand[0][p, q])
assert np.all(A1[:, 2] == 0) and np.all(Sim_hand[0][:, 2] == 0) and np.all(Sim_hand[1][2, :] == 0)
assert np.all(Sim_hand[0] <= 1 + 1e-12) and np.all(Sim_hand[1] <= 1 + 1e-12)

# %% [markdown]
# The library's `cosine_similarity` reads the rows `chunk` at a time, accumulating the Gram products
# A_prevᵀA and the squared column norms, and divides the norms out at the end: one chunk of activations
# in memory, and the chunk size cannot change the result beyond rounding. Its source, then the check:

# %%
print(inspect.getsource(cosine_similarity))
assert all(agree(a, b) for a, b in zip(ctre.activations(tiny, X_tiny), [X_tiny, A1, P]))
Sim_lib = cosine_similarity(tiny, X_tiny)
assert all(agree(a, b) for a, b in zip(Sim_lib, Sim_hand))
for chunk in (1, 2, 4):
    chunked = cosine_similarity(tiny, X_tiny, chunk=chunk)
    print(f"chunk = {chunk}: largest difference from the hand Sim "
          f"{max(np.abs(a - b).max() for a, b in zip(chunked, Sim_hand)):.1e}")
    assert all(agree(a, b) for a, b in zip(chunked, Sim_hand))
print("cosine_similarity = the hand Sim, for every chunk size")

# %% [markdown]
# ## 2. One CTRE_sim update on a 5-8-3 network, step by step
#
# **CTRE (Atashgahi et al. 2022; article images 3 and 4); the docstring of
# `minisparse.sparse_training.ctre` lists where the library departs from the reference code.** The
# network is 5 → 8 → 3, Erdős–Rényi with ε = 1 (13 and 11 connections), trained for 10 epochs with
# `train_ctre` on a 3-class teacher task (600 rows, 5 features). Then one more update, by hand and by
# the library. Per layer:
#
# 1. k = ⌊ζ · nnz⌋ with ζ = 0.2; drop the k smallest |w| (ties to the lower position);
# 2. the candidates are all positions not kept, the k just-dropped ones included; take the k of highest
#    Sim (ties to the lower position);
# 3. a pick that is a connection just dropped is *not* grown back but replaced by a position drawn
#    uniformly among those inactive at that moment (`growth.random_positions`, notebook 04): the
#    random share is large when the similarity keeps pointing at what magnitude just removed;
# 4. new weights w ~ U(−√(6/n_in), √(6/n_in)), momentum 0.
#
# **Why U(±√(6/n_in)) and not U(−0.1, 0.1).** The article gives "e.g. U(−0.1, 0.1)" as an example of
# a small uniform range. The CTRE reference code (`code/sparse_optimizers.py`, `get_grow_tensor`,
# `'random_uniform'`) draws from U(±√(6/n_in)) with n_in the layer's dense fan-in (He-uniform), and
# the library follows the code (the `ctre` module docstring). On the Madelon network of section 5 the
# two nearly agree: √(6/500) = 0.110 for the first layer, 0.077 for the 1,000-wide ones. On the tiny
# network below, with n_in = 5 or 8, the bound is ±1.1 or ±0.87.
#
# The seed is the first one whose update has a just-dropped pick, so both kinds of growth appear.

# %%
ZETA = 0.2


def drop_and_pick(W, S, zeta):
    """By hand: k, the dropped keys, the kept keys and the top-k Sim picks among the positions not kept."""
    keys, n = entry_keys(W), W.shape[0] * W.shape[1]
    k = math.floor(zeta * W.nnz)
    dropped = np.sort(keys[np.argsort(np.abs(W.data), kind="stable")[:k]])
    kept = np.setdiff1d(keys, dropped)
    free = np.setdiff1d(np.arange(n), kept)                     # inactive after the drop (ascending)
    picks = np.sort(free[np.argsort(-S.ravel()[free], kind="stable")[:k]])
    return k, dropped, kept, picks


def picks_a_dropped_one(model, sims):
    """Does any layer's top-k Sim include a connection the same update drops?"""
    for layer, S in zip(model.layers, sims):
        _, dropped, _, picks = drop_and_pick(layer.W, S, ZETA)
        if np.intersect1d(dropped, picks).size:
            return True
    return False


for seed in range(50):
    X, y = make_teacher_data(n=600, n_features=5, n_classes=3, n_hidden=8, rng=seed)
    teacher = stratified_split(X, y, rng=seed)
    net = SparseMLP.random([5, 8, 3], topology="erdos_renyi", epsilon=1, rng=seed)
    hist_net, _ = train_ctre(net, teacher, 10, variant="sim", lr=0.05, rng=seed, verbose=False)
    sims = cosine_similarity(net, teacher.X_train)                  # [(5, 8), (8, 3)]
    if picks_a_dropped_one(net, sims):
        break
print(f"seed {seed}: {len(teacher.y_train)} training rows; after 10 epochs validation accuracy "
      f"{hist_net['val_acc'][-1]:.3f}, nnz per layer {[L.nnz for L in net.layers]}")

# %% [markdown]
# Velocities 1, 2, 3, … (layer 0) and 101, 102, … (layer 1) show which state each weight keeps. The
# update by hand uses one generator for every random draw, in the library's order: the values of the
# similarity picks, then the random positions, then their values. Per layer: W before, every position
# the update touches, and W after (`·` is an absent position).

# %%
def with_velocity(model):
    opt = SGD(model, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4)
    for l, layer in enumerate(model.layers):
        opt.v_W[l][:] = 100 * l + np.arange(1, layer.nnz + 1)
    return opt


hand, lib = copy.deepcopy(net), copy.deepcopy(net)
opt_hand, opt_lib = with_velocity(hand), with_velocity(lib)
rng_hand = np.random.default_rng(seed)
steps = []
for l in range(len(hand.layers)):
    W = hand.layers[l].W
    (n_in, n_out), keys = W.shape, entry_keys(W)
    w_before = dict(zip(keys.tolist(), W.data))
    k, dropped, kept, picks = drop_and_pick(W, sims[l], ZETA)
    by_sim, replaced = np.setdiff1d(picks, dropped), np.intersect1d(picks, dropped)
    limit = math.sqrt(6 / n_in)
    topology.prune(hand, l, np.isin(keys, kept), opt_hand)
    sim_values = rng_hand.uniform(-limit, limit, by_sim.size)
    topology.grow(hand, l, *np.divmod(by_sim, n_out), sim_values, opt_hand)
    at_random = growth.random_positions(hand.layers[l].W, replaced.size, rng_hand)
    random_values = rng_hand.uniform(-limit, limit, at_random.size)
    topology.grow(hand, l, *np.divmod(at_random, n_out), random_values, opt_hand)
    new_value = dict(zip(by_sim.tolist(), sim_values)) | dict(zip(at_random.tolist(), random_values))

    print(f"━━ layer {l} ({n_in}→{n_out}): k = ⌊{ZETA}·{W.nnz}⌋ = {k}, new weights U(±√(6/{n_in})) = U(±{limit:.3f})")
    print("W before:\n" + topology.show(W, digits=3))
    print(f"{'(i, j)':>8}  {'w before':>8}  {'Sim':>6}  fate")
    for key in np.union1d(np.union1d(dropped, picks), at_random):
        fate = []
        if key in dropped:
            fate.append("dropped (smallest |w|)")
        if key in replaced:
            fate.append("top-Sim pick, but just dropped: replaced at random")
        elif key in by_sim:
            fate.append(f"grown by similarity, w = {new_value[key]:+.3f}")
        if key in at_random:
            fate.append(f"grown at random, w = {new_value[key]:+.3f}")
        w_txt = f"{w_before[key]:+8.3f}" if key in w_before else f"{'·':>8}"
        print(f"{str(divmod(int(key), n_out)):>8}  {w_txt}  {sims[l].ravel()[key]:6.3f}  {'; '.join(fate)}")
    print("W after:\n" + topology.show(hand.layers[l].W, digits=3))
    is_new = np.isin(entry_keys(hand.layers[l].W), np.union1d(by_sim, at_random))
    print(f"velocity after: {opt_hand.v_W[l]}  (0 at the {is_new.sum()} new weights)\n")
    assert np.all(opt_hand.v_W[l][is_new] == 0) and hand.layers[l].nnz == W.nnz
    steps.append(dict(dropped=dropped, kept=kept, picks=picks, by_sim=by_sim, replaced=replaced,
                      at_random=at_random, limit=limit))

# %% [markdown]
# The same update as a picture: every position of each layer, coloured by its fate, with Sim written
# on the candidates (the positions not kept); the k top picks are in bold.

# %%
FATES = ["absent", "kept", "dropped", "grown by similarity", "just dropped, picked: replaced", "grown at random"]
fate_cmap = ListedColormap(["white", "0.75", "#f4a6a6", "#5cb85c", "#f0ad4e", "#5b9bd5"])
fig, axes = plt.subplots(1, 2, figsize=(7.5, 4.6), gridspec_kw={"width_ratios": [8, 3]})
for l, (ax, s) in enumerate(zip(axes, steps)):
    n_in, n_out = sims[l].shape
    fate = np.zeros(n_in * n_out, dtype=int)
    for code, group in ((1, s["kept"]), (2, s["dropped"]), (3, s["by_sim"]), (4, s["replaced"]),
                        (5, s["at_random"])):
        fate[group] = code
    ax.imshow(fate.reshape(n_in, n_out), cmap=fate_cmap, vmin=-0.5, vmax=len(FATES) - 0.5)
    for key in np.setdiff1d(np.arange(n_in * n_out), s["kept"]):
        i, j = divmod(int(key), n_out)
        ax.text(j, i, f"{sims[l][i, j]:.2f}", ha="center", va="center", fontsize=7,
                fontweight="bold" if key in s["picks"] else "normal")
    ax.set_xticks(np.arange(n_out))
    ax.set_yticks(np.arange(n_in))
    ax.set_xticks(np.arange(n_out) - 0.5, minor=True)
    ax.set_yticks(np.arange(n_in) - 0.5, minor=True)
    ax.grid(which="minor", color="k", lw=0.3)
    ax.tick_params(which="minor", length=0)
    ax.set(title=f"layer {l} ({n_in}→{n_out}): Sim$^{l + 1}$", xlabel="q (output)", ylabel="p (input)")
fig.legend(handles=[Patch(facecolor=fate_cmap(c), edgecolor="k", lw=0.3, label=name)
                    for c, name in enumerate(FATES)], loc="lower center", ncol=3, fontsize=8, frameon=False)
fig.tight_layout(rect=(0, 0.1, 1, 1))
plt.show()

# %% [markdown]
# In layer 0, hidden unit 3 has no incoming connection, so it outputs 0 on every sample: its column of
# Sim¹ and its row of Sim² are 0, as in section 1. While other candidates score above 0, growth by
# similarity never reconnects it; only random growth can.
#
# The library, on a copy with a generator in the same state, must give the same drops, picks, random
# positions and weights; every kept weight keeps its value and velocity, and nnz does not change. Each
# `CTREUpdate` gives the positions as flat keys (`dropped`, `by_similarity`, `at_random`) and as (i, j)
# rows (`dropped_ij`, `grown_ij`).

# %%
updates = ctre_update(lib, ZETA, np.random.default_rng(seed), opt_lib, "sim", sims)
n_replaced = 0
for l, (u, s, old, new) in enumerate(zip(updates, steps, net.layers, lib.layers)):
    assert np.array_equal(u.dropped, s["dropped"]) and np.array_equal(u.by_similarity, s["by_sim"])
    assert u.at_random.size == s["replaced"].size                              # invariants of the random share
    assert not np.isin(u.at_random, np.union1d(s["kept"], s["by_sim"])).any()
    assert np.array_equal(u.at_random, s["at_random"])                         # same generator state
    assert np.array_equal(entry_keys(new.W), entry_keys(hand.layers[l].W)) and agree(new.W.data, hand.layers[l].W.data)
    is_new = np.isin(entry_keys(new.W), np.union1d(u.by_similarity, u.at_random))
    assert np.all(np.abs(new.W.data[is_new]) <= s["limit"]) and np.all(opt_lib.v_W[l][is_new] == 0)
    was_kept = np.isin(entry_keys(old.W), s["kept"])
    assert np.array_equal(new.W.data[~is_new], old.W.data[was_kept])
    assert np.array_equal(opt_lib.v_W[l][~is_new], (100 * l + np.arange(1, old.nnz + 1))[was_kept])
    assert new.nnz == old.nnz and topology.is_canonical(new.W)
    n_replaced += s["replaced"].size
    assert np.array_equal(u.dropped_ij @ [new.shape[1], 1], s["dropped"])          # (i, j) ↔ i·n_out + j
    assert np.array_equal(u.grown_ij @ [new.shape[1], 1], np.union1d(s["by_sim"], s["at_random"]))
    print(f"layer {l}: dropped (i, j) {u.dropped_ij.tolist()}, grown (i, j) {u.grown_ij.tolist()} "
          f"({u.by_similarity.size} by similarity, {u.at_random.size} at random); "
          f"random share {u.at_random.size}/{u.dropped.size}")
assert n_replaced >= 1, "this seed shows a just-dropped pick replaced at random"
print("ctre_update = the hand update")


# %% [markdown]
# The library's update, steps 1–4 per layer:

# %%
print(inspect.getsource(ctre_update))

# %% [markdown]
# A random replacement is drawn among *all* positions inactive at that moment, so it can land on a
# just-dropped connection again, which then restarts with a fresh value. (The reference code meant to
# keep random picks off the cosine picks but overwrote that exclusion; here the random positions are
# drawn after the similarity growth, so the two never collide.) With `growth='cosine'` (CTRE without
# random), the just-dropped picks are grown back, with fresh values too:

# %%
cos_net = copy.deepcopy(net)
cos_updates = ctre_update(cos_net, ZETA, np.random.default_rng(seed), None, "cosine", sims)
for l, (u, s) in enumerate(zip(cos_updates, steps)):
    assert np.array_equal(u.by_similarity, s["picks"]) and u.at_random.size == 0
    print(f"layer {l}: grown by similarity {u.by_similarity} (just-dropped among them: "
          f"{np.intersect1d(u.by_similarity, u.dropped)})")


# %% [markdown]
# ## 3. CTRE_seq: similarity first, random for good once validation stalls
#
# **CTRE paper (Atashgahi et al. 2022), CTRE_seq; the docstring of `minisparse.sparse_training.ctre`.**
# CTRE_seq grows by similarity alone, just-dropped picks allowed back (`growth='cosine'`). After each
# epoch a strict improvement of the best validation accuracy resets a counter; anything else adds one.
# When the counter reaches `patience` (40 in the paper, for 500 epochs), every later update grows at
# random, for good. `history['growth']` records the rule of the update that *follows* each epoch. A
# short run with patience 3, replayed by hand from the logged validation accuracies:

# %%
PATIENCE = 3
seq_net = SparseMLP.random([5, 8, 3], topology="erdos_renyi", epsilon=1, rng=seed)
hist_seq, log_seq = train_ctre(seq_net, teacher, 20, variant="seq", patience=PATIENCE, lr=0.05, rng=seed,
                               verbose=False)

best, stalled, rule, replay = -np.inf, 0, "cosine", []
print("epoch  val acc  best   stalled  growth of the next update")
for epoch, val in zip(hist_seq["epoch"], hist_seq["val_acc"]):
    if rule == "cosine":
        best, stalled = (val, 0) if val > best else (best, stalled + 1)
        rule = "random" if stalled >= PATIENCE else rule
    replay.append(rule)
    print(f"{epoch:5d}  {val:7.3f}  {best:5.3f}  {stalled:7d}  {rule}")
growth_seq = list(hist_seq["growth"])
switch = growth_seq.index("random") + 1 if "random" in growth_seq else None
print(f"switch after epoch {switch}")
assert replay == growth_seq and switch is not None

# %% [markdown]
# After the switch the counter is no longer kept: later epochs beat the old best, and growth stays
# random. The update log shows the same switch from the growth side:

# %%
n_sim = [sum(r) for r in log_seq["by_similarity"]]
n_rand = [sum(r) for r in log_seq["at_random"]]
print("update after epoch:", log_seq["epoch"])
print("grown by similarity:", n_sim)
print("grown at random:    ", n_rand)
assert all((s == 0) == (g == "random") and (r == 0) == (g == "cosine")
           for s, r, g in zip(n_sim, n_rand, log_seq["growth"]))


# %% [markdown]
# ## 4. Why the cosine, and not the dot product
#
# **Article image 5 and the text beside it.** The article says the cosine is used "to make the metric
# insensitive to the features' magnitude". Otherwise noise "may bias the growth policy toward neurons
# with very high activation magnitudes, even if those neurons correspond to uninformative or noisy
# features". The raw dot product |A_prevᵀ A|_pq grows with ‖a_p‖; the cosine divides that out.
#
# The test bed is the Madelon-like set (`madelon_split`): 500 features, of which 5 are informative and
# 15 are linear combinations of them (std about 2), plus 480 noise probes N(0, s²). For each probe
# scale s, the same 500 → 3 × 1,000 → 2 network at its ε = 1 start computes Sim¹ over the 1,800
# training rows, as the cosine and as the raw dot product (`cosine_similarity(..., normalize=False)`).
# The table counts how many of layer 1's k = ⌊0.2 · nnz⌋ top picks start at one of the 20 useful
# features; uniform random growth would put 4 % there.

# %%
H = 1000
SIZES = [500, H, H, H, 2]
start_net = SparseMLP.random(SIZES, topology="erdos_renyi", epsilon=1, rng=0)
W_in = start_net.layers[0].W
k_in = drop_count(W_in.nnz, ZETA)
print(f"layer 1: nnz {W_in.nnz}, k = {k_in} picks per update")
print(" probe std s | cosine: on useful  useful features hit | dot product: on useful  useful features hit")
share = {}
for s in (1, 2, 5, 10, 20):
    data_s, informative, redundant = madelon_split(0, probe_scale=s, return_informative=True)
    useful = np.union1d(informative, redundant)                       # the 20 columns that carry the label
    row = []
    for normalize in (True, False):
        S = cosine_similarity(start_net, data_s.X_train, normalize=normalize)[0]    # (500, H)
        S = np.where(topology.mask(W_in), -np.inf, S)                 # active positions are not candidates
        picks = np.argsort(-S.ravel(), kind="stable")[:k_in]
        inputs = picks // H
        on_useful = np.isin(inputs, useful)
        share[s, normalize] = on_useful.mean()
        row.append(f"{on_useful.mean():16.1%}  {np.unique(inputs[on_useful]).size:13d} of 20")
    print(f"{s:12g} | {row[0]}    | {row[1]}")
assert share[10, True] > 0.9 and share[10, False] < 0.05

# %% [markdown]
# With s = 1 or 2 the useful features are also the largest, so both measures pick them. Once the
# probes are larger (s ≥ 5), the dot product follows the noise. At s = 10 the cosine still puts 99 % of
# its picks on useful features and the dot product none. At s = 20 the cosine slips too: a hidden
# unit's output is then mostly the noise it receives.
#
# This comparison is made at the start, before any training. Training on the loud data at the paper's
# learning rate does not survive the first epoch:

# %%
data_10 = madelon_split(0, probe_scale=10)
loud = copy.deepcopy(start_net)
try:
    run_epoch(loud, SGD(loud, **fig_ctre.HP), data_10.X_train, data_10.y_train, 100, np.random.default_rng(1000))
    print("one epoch at s = 10 trained without diverging")
except DivergenceError as err:
    print(f"s = 10, lr {fig_ctre.HP['lr']}: {err}")

# %% [markdown]
# Figure F6 (`figures/f6_cosine_vs_dot.png`, written by `python -m minisparse figures cosine_vs_dot`)
# follows the share over several updates and seeds.
#
# ## 5. The highly sparse regime: ε = 1, 3 × 1,000 hidden units
#
# **CTRE's main experiment (article image 6).** A 500 → 1,000 → 1,000 → 1,000 → 2 MLP with ε = 1 holds
# ε · (n_in + n_out) connections per layer: 0.3 % of the first layer's positions, 0.2 % of each hidden
# one, half of the output layer. Read off image 6, the paper reports on the real Madelon about 79 %
# test accuracy for CTRE_sim against about 62 % for SET, after 500 epochs. Both runs here use the
# paper's shared settings (SGD lr 0.01, Nesterov momentum 0.9, L2 1e-4, batch 100, ζ = 0.2), as figure
# F7 does; CTRE_sim goes through `train_ctre` directly to keep its update log. The Madelon-like set has
# 1,800 training, 200 validation and 600 test rows. As in the paper, test accuracy is reported at the
# epoch of best validation accuracy (`best_validation`), and at the last epoch. CTRE_sim prints its
# progress every tenth epoch, SET one line at the end.

# %%
EPOCHS, SEEDS = (3, (0,)) if FAST else (100, (0, 1))
print(f"{start_net}: nnz {start_net.nnz:,} of {sum(a * b for a, b in zip(SIZES, SIZES[1:])):,} "
      f"positions, density {start_net.density:.3%}; per layer {[f'{L.density:.3%}' for L in start_net.layers]}")
assert start_net.density < 0.003

class EveryTenthEpoch:
    """stdout for a verbose run: passes on the progress lines of epochs 10, 20, … and of the last one."""

    def __init__(self, out, epochs):
        self.out, self.epochs, self.pending = out, epochs, ""

    def write(self, text):                          # print() writes a line and its "\n" separately
        *lines, self.pending = (self.pending + text).split("\n")
        for line in lines:
            epoch = int(line.split("/")[0].split()[-1]) if line.startswith("epoch") else None
            if epoch is not None and (epoch % 10 == 0 or epoch == self.epochs):
                self.out.write(line + "\n")

    def flush(self):
        self.out.flush()


results, t0 = {}, time.perf_counter()
for seed_5 in SEEDS:
    data = madelon_split(seed_5)
    t = time.perf_counter()
    model = fig_ctre.build("CTRE_sim", SIZES, 1, seed_5)
    with contextlib.redirect_stdout(EveryTenthEpoch(sys.stdout, EPOCHS)):
        hist, log = train_ctre(model, data, EPOCHS, variant="sim", zeta=ZETA, patience=40, rng=seed_5 + 1000,
                               verbose=True, **fig_ctre.HP)
    epoch, _, best_test = best_validation(hist)
    results["CTRE_sim", seed_5] = dict(test=list(hist["test_acc"]), last=hist["test_acc"][-1], best_epoch=epoch,
                                       best_test=best_test, hist=hist, log=log, model=model, data=data)
    print(f"seed {seed_5}  CTRE_sim  {EPOCHS} epochs  ({time.perf_counter() - t:.0f} s)", flush=True)
    t = time.perf_counter()
    r = fig_ctre.run("SET", data, H, 1, EPOCHS, seed_5)
    results["SET", seed_5] = dict(test=r["test"], last=r["last"], best_epoch=r["best_epoch"], best_test=r["best_test"])
    print(f"seed {seed_5}  SET       {EPOCHS} epochs  ({time.perf_counter() - t:.0f} s)", flush=True)
print(f"{len(SEEDS)} seed(s) × 2 methods × {EPOCHS} epochs: {time.perf_counter() - t0:.0f} s\n")
print("method    seed  best-val epoch  test acc there  test acc, last epoch")
for (method, s), r in results.items():
    print(f"{method:8s}  {s:4d}  {r['best_epoch']:14d}  {r['best_test']:14.3f}  {r['last']:20.3f}")
for method in ("CTRE_sim", "SET"):
    last = np.mean([results[method, s]["last"] for s in SEEDS])
    best = np.mean([results[method, s]["best_test"] for s in SEEDS])
    print(f"{method:8s}  mean  {'':14s}  {best:14.3f}  {last:20.3f}")

# %% [markdown]
# At the best-validation epoch CTRE_sim is ahead on both seeds (0.673 against 0.647, 0.827 against
# 0.792; mean 0.750 against 0.719); at the last epoch the gap shrinks to 0.9 points. But each seed draws
# its own data set as well as its own network, and one test row is 0.17 points: the seeds differ far
# more than the methods, so two seeds at 100 epochs do not rank them. The paper's gap comes from 500
# epochs on the real Madelon; figure F7 runs three seeds, F8 more densities.
#
# How CTRE_sim grew: the share of each update's growth that went to a random position because the
# similarity pick was a connection just dropped (0 if the similarity only ever pointed at new
# positions). The right panel follows it per update; the printout splits it by layer.

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
for (method, s), r in results.items():
    axes[0].plot(np.arange(1, EPOCHS + 1), r["test"], color=fig_ctre.COLORS[method],
                 ls="-" if s == SEEDS[0] else "--", label=f"{method}, seed {s}")
axes[0].set(xlabel="epoch", ylabel="test accuracy", title=f"Madelon-like, 3 × {H} hidden, ε = 1")
for s in SEEDS:
    log = results["CTRE_sim", s]["log"]
    axes[1].plot(log["epoch"], log["random_share"], ls="-" if s == SEEDS[0] else "--", label=f"seed {s}")
axes[1].set(xlabel="update after epoch", ylabel="grown at random / grown", ylim=(0, 1),
            title="CTRE_sim: random share of each update")
for ax in axes:
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
fig.tight_layout()
plt.show()
for s in SEEDS:
    log = results["CTRE_sim", s]["log"]
    by_layer = np.array(log["at_random"]).sum(axis=0) / (np.array(log["by_similarity"]) + np.array(log["at_random"])).sum(axis=0)
    print(f"seed {s}: random share, first update {log['random_share'][0]:.3f}, mean over the run "
          f"{np.mean(log['random_share']):.3f}; per layer over the run {np.round(by_layer, 3)}")

# %% [markdown]
# **What a similarity pass costs.** One training epoch over N rows costs N · nnz multiply-adds per
# layer for the forward product and as much for dW, plus N · nnz for dA_prev in every layer but the
# first (`cost.epoch_macs`, notebook 06). The similarity pass runs the same forward pass, N · nnz, and
# then the Gram products A_prevᵀA at every position, N · Σ n_in · n_out = N · nnz / density, whatever
# the weights (`similarity_macs`). So a pass costs about 1 / (3 · density) epochs' worth of
# multiply-adds: the sparser the network, the larger the share. Times are for this machine, one core
# shared with other jobs.

# %%
r = results["CTRE_sim", SEEDS[0]]
model, data, hist, log = r["model"], r["data"], r["hist"], r["log"]
N = len(data.y_train)
sim_cost, epoch_cost = similarity_macs(model, N), epoch_macs(model, N, 100)
assert sim_cost == {"sparse": N * model.nnz, "dense": N * sum(a * b for a, b in zip(SIZES, SIZES[1:]))}
assert log["macs_sparse"][0] == sim_cost["sparse"] and log["macs_dense"][0] == sim_cost["dense"]
t0 = time.perf_counter()
for _ in range(3):
    cosine_similarity(model, data.X_train)
t_sim = (time.perf_counter() - t0) / 3
t_epoch = float(np.median(hist["seconds"]))
print(f"N = {N} rows, nnz = {model.nnz:,}")
print(f"one training epoch : {epoch_cost['sparse']:>14,} MACs (sparse)       {t_epoch:6.3f} s (median)")
print(f"one similarity pass: {sim_cost['sparse']:>14,} MACs (sparse)")
print(f"                   + {sim_cost['dense']:>14,} MACs (dense)        {t_sim:6.3f} s")
print(f"→ the similarity pass is {sum(sim_cost.values()) / epoch_cost['sparse']:.0f}× an epoch in multiply-adds, "
      f"{t_sim / t_epoch:.1f}× in seconds")

# %% [markdown]
# In seconds the gap is far smaller than in multiply-adds: the Gram product is a dense BLAS product,
# many times faster per multiply-add than SciPy's sparse products and NumPy's index work. It is still
# the largest cost of a CTRE epoch here. That is the price of "no dense gradient": CTRE avoids the
# O(B · n_in · n_out) backward work of RigL and Sparse Momentum, but Eq. 2 is itself dense in
# n_in · n_out. `train_ctre(sim_samples=…)` computes it on a random subset of rows to cut the N.
#
# ## 6. Where to break in
#
# | to see | break in |
# | --- | --- |
# | Eq. 2: activations, chunked Gram products, the column norms | `minisparse.sparse_training.ctre.cosine_similarity`, `minisparse.sparse_training.ctre.activations` |
# | one update per layer: drop, top-k Sim, the just-dropped picks replaced at random, U(±√(6/n_in)) | `minisparse.sparse_training.ctre.ctre_update` |
# | k = ⌊ζ · nnz⌋ and the k smallest \|w\| | `minisparse.sparse_training.ctre.drop_count`, `minisparse.pruning.select.keep_all_but_lowest` |
# | top-k among the positions not kept, ties to the lower position | `minisparse.growth.select.top_k_dense` |
# | the random positions | `minisparse.growth.select.random_positions` |
# | CTRE_seq's counter and switch; what each update logs | `minisparse.sparse_training.ctre.train_ctre` |
# | the cost of a similarity pass | `minisparse.sparse_training.ctre.similarity_macs` |
#
# To stop inside the update of the 5-8-3 network of section 2:
#
# ```python
# import pdb
# net_dbg = copy.deepcopy(net)
# pdb.runcall(ctre_update, net_dbg, 0.2, np.random.default_rng(seed), with_velocity(net_dbg), "sim", sims)
# ```
#
# Figures F4–F8 cover CTRE at full size: one update drawn (F4), where the growth comes from and
# CTRE_seq's switch over a long run (F5), cosine against dot product under noise (F6), accuracy per
# epoch at ε = 1 for every method (F7), and accuracy against density (F8). To write them into
# `figures/`:
#
# ```bash
# python -m minisparse figures ctre_update ctre_trace cosine_vs_dot ctre_accuracy ctre_density
# ```
#
# ## Summary
#
# - Eq. 2 scores a missing connection p → q by |cos| between the two neurons' activation columns over
#   the training samples: no gradient, but a dense (n_in, n_out) array per layer.
# - An update drops the ⌊ζ · nnz⌋ smallest |w| and grows as many at the highest Sim among the positions
#   not kept; CTRE_sim sends each just-dropped pick to a random position instead, so its random share
#   sets itself.
# - New weights come from U(±√(6/n_in)), as in the reference code, with momentum 0.
# - CTRE_seq grows by similarity until validation accuracy stops improving for `patience` epochs, then
#   at random for good.
# - Unlike the dot product, the cosine keeps its picks on informative inputs among loud noise.
# - A similarity pass costs N · Σ n_in · n_out multiply-adds, far more than a sparse epoch at ε = 1
#   (less so in seconds: it is a dense BLAS product).
#
# ## Exercises
#
# Each answer cell holds `None`; replace it and run the cell, which prints "correct" or a hint.
#
# **1.** In the tiny 4 → 3 → 2 network of section 1, what is Sim¹[0, 1], the similarity between input
# feature 0 and hidden unit 1? Compute it from `X_tiny` and `A1` with the cosine formula.

# %%
def check_exercise_1(answer):
    if answer is None:
        print("hint: |X_tiny[:, 0] · A1[:, 1]| / (‖X_tiny[:, 0]‖ ‖A1[:, 1]‖)")
        return
    truth = cosine_similarity(tiny, X_tiny)[0][0, 1]
    print("correct" if abs(answer - truth) < 1e-6 else f"not quite: {answer:.6f}")


answer_1 = None
check_exercise_1(answer_1)

# %% [markdown]
# **2.** A 1,000 → 1,000 hidden layer of the section 5 network holds ε · (n_in + n_out) = 2,000
# connections. How many does one CTRE update drop (ζ = 0.2), and what is the bound b of the new
# weights' range U(−b, b)? Answer as a pair `(k, b)`.

# %%
def check_exercise_2(answer):
    if answer is None:
        print("hint: k = ⌊ζ · nnz⌋ and b = √(6 / n_in)")
        return
    k, b = answer
    layer = start_net.layers[1]
    ok = k == drop_count(layer.nnz, ZETA) and abs(b - math.sqrt(6 / layer.shape[0])) < 1e-3
    print("correct" if ok else f"not quite: {answer}")


answer_2 = None
check_exercise_2(answer_2)

# %% [markdown]
# **3.** CTRE_seq with patience 2 sees the validation accuracies 0.50, 0.60, 0.60, 0.55, 0.70, 0.65 after
# epochs 1 to 6. After which epoch does it switch to random growth? (Only a strict improvement resets
# the counter.) The check replays the rule of section 3.

# %%
def check_exercise_3(answer):
    if answer is None:
        print("hint: count the epochs since the last strict improvement; switch when the count reaches 2")
        return
    best, stalled, truth = -np.inf, 0, None
    for epoch, val in enumerate([0.50, 0.60, 0.60, 0.55, 0.70, 0.65], start=1):
        best, stalled = (val, 0) if val > best else (best, stalled + 1)
        if stalled >= 2:
            truth = epoch
            break
    print("correct" if answer == truth else f"not quite: {answer}")


answer_3 = None
check_exercise_3(answer_3)
