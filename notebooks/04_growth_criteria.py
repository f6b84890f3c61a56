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
# # 04 · Growth criteria: which missing connection to add
#
# **What you will learn:** how each growth criterion of article 000 (*Unstructured Growth Methods*,
# and the growth half of *Dynamic Sparse Training*) ranks the connections a layer does **not** have,
# and what each costs. As for pruning, the article sorts them by derivative order:
#
# - **zeroth order**: random growth (SET), and magnitude-based regrowth of previously pruned positions;
# - **first order**: the gradient |G| (RigL) and the momentum |V| (Sparse Momentum);
# - **second order**: Hessian-guided growth, g² / (H_qq + λ), derived below.
#
# One convention covers `minisparse.growth` (scores in `growth.criteria`, selection in
# `growth.select`). A **growth score** covers the *inactive* positions of a layer: a dense
# (n_in, n_out) array with −inf at active positions, or `Candidates` (flat keys i·n_out + j with
# scores). **High means grow.** `grow_highest` adds the k highest, `grow_random` k random ones.
# Candidates are the positions inactive *after* the drop, so the notebook drops a few connections
# from a tiny layer, then scores the rest once per criterion: hand computation, the library's code,
# the call and an `assert`. Section 5 runs every criterion on LeNet-300-100's first layer.
#
# **Runs in about 5 s (fast mode: 3 s) on a 2-core machine.** `MINISPARSE_FAST=1`
# shrinks the sampling experiments and the full-size network; the saved outputs come from a full run.

# %%
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # one BLAS thread (set before NumPy loads): shared cores

import copy
import inspect
import time

import matplotlib.pyplot as plt
import numpy as np

import minisparse
from minisparse import SGD, SparseLinear, SparseMLP
from minisparse import growth, pruning
from minisparse.network import topology
from minisparse.pruning import second_order
from minisparse.data.datasets import load_dataset

FAST = os.environ.get("MINISPARSE_FAST", "0") == "1"
np.set_printoptions(precision=4, suppress=True, linewidth=110)
print(f"FAST = {FAST}   (minisparse {minisparse.__version__}, NumPy {np.__version__})")


# %% [markdown]
# Helpers: the central and second differences of notebooks 02 and 03 (perturbing an array **in
# place**), the tolerance used everywhere, and `show`, a header over `topology.show`, which prints a
# layer with `·` at inactive positions (a stored zero prints as 0.000).

# %%
def central_diff(loss, theta, h=1e-6):
    """∂loss/∂θ_k ≈ (loss(θ + h·e_k) − loss(θ − h·e_k)) / 2h for every element k of θ (edited in place)."""
    grad = np.zeros(theta.shape)
    for k in np.ndindex(theta.shape):
        old = theta[k]
        theta[k] = old + h
        up = loss()
        theta[k] = old - h
        down = loss()
        theta[k] = old
        grad[k] = (up - down) / (2 * h)
    return grad


def second_diff(loss, theta, h=1e-4):
    """∂²loss/∂θ_k² ≈ (loss(θ + h·e_k) − 2·loss(θ) + loss(θ − h·e_k)) / h² for every k (in place)."""
    centre, curv = loss(), np.zeros(theta.shape)
    for k in np.ndindex(theta.shape):
        old = theta[k]
        theta[k] = old + h
        up = loss()
        theta[k] = old - h
        down = loss()
        theta[k] = old
        curv[k] = (up - 2 * centre + down) / h ** 2
    return curv


def agree(a, b, rtol=1e-6, atol=1e-8):
    """The tolerance used for every library-vs-hand check below."""
    return np.allclose(a, b, rtol=rtol, atol=atol)


def show(W, name="W"):
    """Print a small layer: a header, then topology.show (absent positions as '·', stored ones as numbers)."""
    print(f"{name} ({W.shape[0]}×{W.shape[1]}, nnz {W.nnz}):")
    print("\n".join("   " + line for line in topology.show(W, digits=3).splitlines()))


# %% [markdown]
# ## 0. A tiny network, a few training steps, and a drop
#
# A 4 → 6 (ReLU) → 3 (linear) network on a batch of B = 6 samples. Layer 0 starts with 10 of its 24
# positions; layer 1 is dense. It takes three SGD steps with a **dense** velocity
# (`SGD(dense_momentum=True)`: V is kept at every position, as Sparse Momentum needs), recording the
# dense gradients for section 2b. Then the 4 smallest |w| of layer 0 are dropped, leaving 18 inactive
# positions: the candidates for growth.

# %%
rng = np.random.default_rng(0)
n_in, n_hid, n_cls, B = 4, 6, 3, 6
keys0 = np.sort(rng.choice(n_in * n_hid, size=10, replace=False))
W0 = topology.from_keys(keys0, rng.standard_normal(10), (n_in, n_hid))
W1 = topology.from_positions(*np.indices((n_hid, n_cls)).reshape(2, -1), rng.standard_normal(n_hid * n_cls),
                             shape=(n_hid, n_cls))
net = SparseMLP([SparseLinear(W0, 0.1 * rng.standard_normal(n_hid), "relu"),
                 SparseLinear(W1, np.zeros(n_cls), "linear")])
X = rng.standard_normal((B, n_in))                              # (B, n_in)
y = np.array([0, 1, 2, 0, 1, 2])                                # (B,)

opt = SGD(net, lr=0.1, momentum=0.9, dense_momentum=True)
G_steps = []
for t in range(3):
    loss, grads = net.loss_and_grads(X, y, dense=True)
    G_steps.append(grads[0].G.copy())                           # layer 0's dense gradient, (n_in, n_hid)
    opt.step(grads)
    print(f"step {t + 1}: loss {loss:.4f}")
show(net.layers[0].W, "layer 0 before the drop")

keep = np.ones(net.layers[0].nnz, dtype=bool)
keep[np.argsort(np.abs(net.layers[0].W.data), kind="stable")[:4]] = False       # the 4 smallest |w|
last_magnitude = growth.remember_dropped({}, net.layers[0].W, keep)               # key → last |w|
topology.prune(net, 0, keep, opt)
W = net.layers[0].W
active = topology.mask(W)                                        # (n_in, n_hid), True where a connection is
show(W, "layer 0 after the drop")
print("dropped (key: last |w|):", {k: round(v, 4) for k, v in last_magnitude.items()})
print(f"{(~active).sum()} inactive positions: the candidates")
assert W.nnz == 6 and (~active).sum() == 18
n_pos, k = n_in * n_hid, 3                                       # every section grows k = 3 connections

# %% [markdown]
# ## 1. Zeroth order
#
# ### 1a. Random growth (SET)
#
# **Article 000, *Zeroth-Order Growth Methods*, Random Growth: "select random zeroed positions …
# pair with pruning to keep constant sparsity".** Choose k positions uniformly among the inactive ones,
# without replacement, and never an active one.
#
# `random_positions` never lists the n_in · n_out grid, which for a large sparse layer is mostly empty
# and too big to enumerate at every update. It draws flat keys uniformly in [0, n_in · n_out), throws
# away the active ones and repeats, keeping the first k distinct survivors in draw order. That is a
# uniform k-subset of the free positions. By hand, with the same generator, one draw at a time:

# %%
taken = topology.entry_keys(W)                                   # sorted active keys
n_free = n_pos - taken.size
rng_hand = np.random.default_rng(7)
chosen = []
while len(chosen) < k:
    need = k - len(chosen)
    draws = rng_hand.integers(0, n_pos, size=int(need * n_pos / (n_free - len(chosen))) + 16, dtype=np.int64)
    for key in draws:
        if key not in taken and key not in chosen and len(chosen) < k:
            chosen.append(int(key))
keys_hand = np.sort(chosen)
print("drawn keys", keys_hand, "= positions", [divmod(int(q), n_hid) for q in keys_hand])

keys_lib = growth.random_positions(W, k, np.random.default_rng(7))
assert np.array_equal(keys_hand, keys_lib)
assert not active.ravel()[keys_lib].any()

# %%
print(inspect.getsource(growth.select.random_positions))        # the code the assert above checks

# %% [markdown]
# Uniformity: over many draws every free position should be picked with probability k / n_free, and an
# active position never. When more than half the layer would be taken (here: k = 8, since
# 6 + 8 > 12), the library switches to listing the free positions and choosing among them, so both
# regimes are checked.

# %%
n_draws = 3000 if FAST else 20000
for k_u in (3, 8):
    counts = np.zeros(n_pos)
    rng_u = np.random.default_rng(1)
    for _ in range(n_draws):
        counts[growth.random_positions(W, k_u, rng_u)] += 1
    freq = counts / n_draws
    expect = k_u / n_free
    sd = np.sqrt(expect * (1 - expect) / n_draws)
    regime = "rejection" if taken.size + k_u <= growth.select.DENSE_FALLBACK * n_pos else "enumerate free"
    print(f"k = {k_u} ({regime}): P(pick) expected {expect:.4f}; over the free positions "
          f"min {freq[~active.ravel()].min():.4f}, max {freq[~active.ravel()].max():.4f}; "
          f"active positions picked {int(counts[active.ravel()].sum())} times")
    assert counts[active.ravel()].sum() == 0
    assert np.all(np.abs(freq[~active.ravel()] - expect) < 5 * sd)

# %% [markdown]
# `grow_random` adds the drawn positions to the layer, with values from a callable (SET: N(0, 0.1²);
# CTRE: U(±√(6/fan_in))) or a constant. The pattern grows by exactly k and stays canonical.

# %%
net_r = copy.deepcopy(net)
grown = growth.grow_random(net_r, 0, k, np.random.default_rng(7), values=growth.uniform_values(0.5))
show(net_r.layers[0].W, "after grow_random")
assert np.array_equal(grown, keys_hand) and net_r.layers[0].nnz == W.nnz + k
assert topology.is_canonical(net_r.layers[0].W)
is_grown = np.isin(topology.entry_keys(net_r.layers[0].W), grown)          # stored entries, not toarray()
assert is_grown.sum() == k and np.all(np.abs(net_r.layers[0].W.data[is_grown]) <= 0.5)

# %% [markdown]
# ### 1b. Magnitude-based regrowth
#
# **Article 000, *Zeroth-Order Growth Methods*, Magnitude-Based Growth: "re-adding previously pruned
# positions based on heuristics".** The heuristic here is a position's last known magnitude:
# s_q = |w_q| when q was last active, for previously pruned q that are inactive now. A position that
# was never active is not a candidate. `remember_dropped` (called before the drop, in section 0)
# records the magnitudes. The score comes as `Candidates` from a dict, or dense (with NaN for never
# active) from an array.

# %%
cand_hand = sorted(((q, v) for q, v in last_magnitude.items() if not active.ravel()[q]), key=lambda t: t[0])
keys_c, scores_c = np.array([q for q, _ in cand_hand]), np.array([v for _, v in cand_hand])
top_hand = np.sort(keys_c[np.argsort(-scores_c, kind="stable")[:k]])
print("candidates (key, last |w|):", [(int(q), round(v, 4)) for q, v in cand_hand])
print("regrow the", k, "largest:", top_hand)

cands = growth.magnitude_regrowth_score(last_magnitude, W)
last_dense = np.full(W.shape, np.nan)
last_dense.ravel()[list(last_magnitude)] = list(last_magnitude.values())
S_mag = growth.magnitude_regrowth_score(last_dense, W)
assert np.array_equal(cands.keys, keys_c) and agree(cands.scores, scores_c)
for scores in (cands, S_mag):
    net_m = copy.deepcopy(net)
    assert np.array_equal(growth.grow_highest(net_m, 0, scores, k), top_hand)

# %%
print(inspect.getsource(growth.criteria.magnitude_regrowth_score))   # the code the asserts above check

# %% [markdown]
# ## 2. First order
#
# ### 2a. The gradient |G| (RigL)
#
# **Article 000, *First-Order Growth Methods*, Gradient-Based Growth: "connections with the largest
# gradients indicate positions where adding a weight would most significantly reduce the loss".**
# RigL (Evci et al. 2020) grows the inactive positions with the largest |∂L/∂w_ij| on the current
# batch, at w = 0.
#
# **Why growth needs the dense gradient.** A missing edge i → j, added at 0, would have the gradient
#
# ∂L/∂w_ij = Σ_b a_i[b] · δ_j[b],   a = A_prev (B, n_in),  δ = dZ (B, n_out),
#
# as an existing edge. The sparse backward pass computes it only at the stored positions
# (O(B · nnz)). Ranking *every* missing edge needs all of G = A_prevᵀ δ, O(B · n_in · n_out): the
# "high computational cost due to dense gradient calculation for all non-existing connections" that
# the article names (*Dynamic Sparse Training*).
#
# By hand: forward, softmax cross-entropy, back through layer 1 and the ReLU, then G.

# %%
W_d, W1_d = W.toarray(), net.layers[1].W.toarray()
Z1 = X @ W_d + net.layers[0].b                                   # (B, n_hid)
A1 = np.maximum(Z1, 0)
Z2 = A1 @ W1_d + net.layers[1].b                                 # (B, n_cls)
P = np.exp(Z2 - Z2.max(axis=1, keepdims=True))
P /= P.sum(axis=1, keepdims=True)
dZ2 = (P - np.eye(n_cls)[y]) / B                                  # (B, n_cls)
dZ1 = (dZ2 @ W1_d.T) * (Z1 > 0)                                   # δ of layer 0, (B, n_hid)
G_hand = X.T @ dZ1                                                # (n_in, n_hid)

i_q, j_q = np.argwhere(~active)[0]                                # the first missing edge
g_loop = sum(X[b, i_q] * dZ1[b, j_q] for b in range(B))
print(f"missing edge {i_q} → {j_q}: Σ_b a_i δ_j = {g_loop:.6f}")
print("G (dense; active positions marked *) =")
for i in range(n_in):
    print("   " + " ".join(f"{G_hand[i, j]:8.4f}{'*' if active[i, j] else ' '}" for j in range(n_hid)))

loss, grads = net.loss_and_grads(X, y, dense=[0])
assert np.isclose(g_loop, G_hand[i_q, j_q])
assert agree(grads[0].G, G_hand)
assert agree(grads[0].dW, G_hand[active])                         # the sparse dW is G at the stored positions
print("smallest |Z1| =", np.abs(Z1).min(), "(away from the ReLU kink)")

# %% [markdown]
# The missing edge's gradient is a real derivative: grow (i, j) at exactly 0 (a stored zero is a
# connection, notebook 01), then take the central difference of the loss in that one weight.

# %%
net_g = copy.deepcopy(net)
topology.grow(net_g, 0, [i_q], [j_q], 0.0)
k_new = int(np.flatnonzero(topology.entry_keys(net_g.layers[0].W) == i_q * n_hid + j_q)[0])
g_num = central_diff(lambda: net_g.loss(X, y), net_g.layers[0].W.data[k_new:k_new + 1])[0]
print(f"central difference at the grown-at-0 edge: {g_num:.6f}")
assert np.isclose(g_num, g_loop, rtol=1e-6, atol=1e-9) and np.isclose(net_g.loss(X, y), loss)

# %% [markdown]
# The cost, counted in multiply-adds per batch of 100 on the first layer of LeNet-300-100 at 5 %
# density: the sparse backward pass (dW at the stored positions) against the dense G that growth
# needs. RigL pays for G only at update steps (every ΔT = 100 steps); Sparse Momentum, below, at every
# step.

# %%
B_c, ni_c, no_c, d_c = 100, 784, 300, 0.05
sparse_macs, dense_macs = B_c * round(d_c * ni_c * no_c), B_c * ni_c * no_c
print(f"dW on the pattern: {sparse_macs:,} MACs;  dense G: {dense_macs:,} MACs  ({dense_macs / sparse_macs:.0f}×)")
assert dense_macs / sparse_macs == 1 / d_c

# %% [markdown]
# The score is s_ij = |G_ij| at inactive (i, j), −inf at active. `grow_highest` takes the k highest;
# ties go to the lowest flat key i · n_out + j.

# %%
S_grad_hand = np.where(active, -np.inf, np.abs(G_hand))
top_grad_hand = np.sort(np.argsort(-S_grad_hand.ravel(), kind="stable")[:k])
S_grad = growth.gradient_score(grads[0].G, W)
net_gr = copy.deepcopy(net)
top_grad = growth.grow_highest(net_gr, 0, S_grad, k)
print("grow by |G|:", top_grad, "=", [divmod(int(q), n_hid) for q in top_grad])
assert agree(S_grad[~active], S_grad_hand[~active]) and np.all(S_grad[active] == -np.inf)
assert np.array_equal(top_grad, top_grad_hand)

# %%
print(inspect.getsource(growth.criteria.gradient_score))         # the code the asserts above check
print(inspect.getsource(growth.criteria._inactive_only))

# %% [markdown]
# ### 2b. The momentum |V| (Sparse Momentum)
#
# **Article 000, *First-Order Growth Methods*, Momentum-Based Growth, and *Dynamic Sparse Training*,
# "Inactive Weights Momentum based Regrowth".** Sparse Momentum (Dettmers & Zettlemoyer 2019) keeps
# the velocity at *every* position,
#
# V ← μV + G   (dense, from the dense gradient at every step),
#
# and grows the inactive positions with the largest |V_ij|: those whose gradient has pointed the same
# way for several steps. A grown weight keeps its V, which gives it a head start. By hand: replay the
# three recorded dense gradients of section 0 (no weight decay here).

# %%
mu = opt.hyper["momentum"]
V_hand = np.zeros((n_in, n_hid))
for G_t in G_steps:
    V_hand = mu * V_hand + G_t
print("V (dense; active positions marked *) =")
for i in range(n_in):
    print("   " + " ".join(f"{V_hand[i, j]:8.4f}{'*' if active[i, j] else ' '}" for j in range(n_hid)))
S_mom_hand = np.where(active, -np.inf, np.abs(V_hand))
top_mom_hand = np.sort(np.argsort(-S_mom_hand.ravel(), kind="stable")[:k])

assert agree(opt.V[0], V_hand)
S_mom = growth.momentum_score(opt.V[0], W)
net_mo = copy.deepcopy(net)
opt_mo = SGD(net_mo, lr=0.1, momentum=0.9, dense_momentum=True)
opt_mo.V = [V.copy() for V in opt.V]
top_mom = growth.grow_highest(net_mo, 0, S_mom, k, optimizer=opt_mo)
print("grow by |V|:", top_mom, "  by |G|:", top_grad, "  in common:", np.intersect1d(top_mom, top_grad))
assert agree(S_mom[~active], S_mom_hand[~active]) and np.all(S_mom[active] == -np.inf)
assert np.array_equal(top_mom, top_mom_hand)
assert np.array_equal(opt_mo.V[0], opt.V[0])                       # the dense V is untouched: grown weights keep it
is_grown = np.isin(topology.entry_keys(net_mo.layers[0].W), top_mom)       # grown: stored, at value 0
assert is_grown.sum() == k and np.all(net_mo.layers[0].W.data[is_grown] == 0)

# %%
print(inspect.getsource(growth.criteria.momentum_score))         # the code the asserts above check

# %% [markdown]
# ## 3. Second order: Hessian-guided growth
#
# **Article 000, *Second-Order Growth Methods*, Hessian-Guided Growth** ("add where removal would hurt
# most, using approximations"). The article gives no formula and no library has one, so here is the
# derivation the library follows. An inactive weight q enters at w_q = 0. With every other weight
# fixed, expand the loss to second order in w_q:
#
# L(w_q) ≈ L + g_q · w_q + ½ H_qq · w_q².
#
# Setting dL/dw_q = g_q + H_qq w_q = 0 gives the best first value and the loss it saves:
#
# w_q* = −g_q / H_qq,   ΔL* = L(w_q*) − L = −g_q² / (2 H_qq).
#
# So the growth score is −2ΔL* = g_q² / H_qq, with a damping λ ≥ 0 against H_qq ≈ 0:
#
# s_q = g_q² / (H_qq + λ),   w_q* = −g_q / (H_qq + λ)   (the minimiser of the model plus ½λw_q²).
#
# If every H_qq is the same constant c, the ranking by g² / (c + λ) is the ranking by |g|: **RigL is
# the constant-curvature case** of this score. H_qq is the Gauss–Newton diagonal that OBD uses
# (notebook 03), here evaluated at the inactive positions too. It is never negative, so the model
# always has a minimum (an exact H_qq < 0 would have none).
#
# On the article's wording: it speaks of "directions of high Hessian eigenvalues", but for a given
# gradient the score favours **low** curvature (a flat direction allows a larger step). And OBD's
# saliency ½ H_qq w_q² is 0 for every missing weight, so "where removal would hurt most" cannot rank
# them; the Taylor step does.
#
# First the step itself, checked on a 1-D quadratic by brute force over a fine grid:

# %%
g1, H1, L0, lam1 = 0.8, 2.5, 1.0, 0.5
quad = lambda w: L0 + g1 * w + 0.5 * H1 * w ** 2
grid = np.linspace(-2, 2, 400001)
w_best = grid[np.argmin(quad(grid))]
print(f"grid minimiser {w_best:.5f}   −g/H = {-g1 / H1:.5f}")
print(f"grid ΔL*       {quad(w_best) - L0:.6f}   −g²/2H = {-g1 ** 2 / (2 * H1):.6f}")
w_damped = grid[np.argmin(quad(grid) + 0.5 * lam1 * grid ** 2)]
w_lib = growth.hessian_growth_value(np.array([[g1]]), np.array([[H1]]), lam1)[0, 0]
print(f"damped: grid minimiser {w_damped:.5f}   hessian_growth_value = −g/(H+λ) = {w_lib:.5f}")
assert abs(w_best + g1 / H1) < 1e-5 and np.isclose(quad(w_best) - L0, -g1 ** 2 / (2 * H1))
assert abs(w_damped - w_lib) < 1e-5

# %% [markdown]
# Now H_qq at every position of layer 0 of the tiny network, by hand. With softmax cross-entropy and
# L = (1/B) Σ_b L_b, the Gauss–Newton diagonal is
#
# H_(i,j) = (1/B) Σ_b a_i[b]² · h[b, j],   h[b, j] = f′(z_j[b])² · w₁ⱼᵀ (diag p_b − p_b p_bᵀ) w₁ⱼ,
#
# where w₁ⱼ is row j of layer 1 (neuron j's outgoing weights) and p_b the softmax output. For ReLU the
# logits are piecewise linear in any one w_q, so this is the exact second derivative. It is checked
# against a second difference at a grown-at-0 position, and against `second_order.hessian_diagonal` at
# the active ones.

# %%
h_hand = np.zeros((B, n_hid))
for b in range(B):
    S_b = np.diag(P[b]) - np.outer(P[b], P[b])                    # (n_cls, n_cls)
    for j in range(n_hid):
        h_hand[b, j] = float(Z1[b, j] > 0) * W1_d[j] @ S_b @ W1_d[j]
H_hand = (X ** 2).T @ h_hand / B                                  # (n_in, n_hid)
print("H_qq (dense; active positions marked *) =")
for i in range(n_in):
    print("   " + " ".join(f"{H_hand[i, j]:8.4f}{'*' if active[i, j] else ' '}" for j in range(n_hid)))

H_lib = growth.gauss_newton_diagonal_dense(net, X, y, 0)
H_num = second_diff(lambda: net_g.loss(X, y), net_g.layers[0].W.data[k_new:k_new + 1])[0]
print(f"second difference at the grown-at-0 edge {i_q} → {j_q}: {H_num:.6f}   (hand {H_hand[i_q, j_q]:.6f})")
assert agree(H_lib, H_hand)
assert np.isclose(H_num, H_hand[i_q, j_q], rtol=1e-4)
assert agree(second_order.hessian_diagonal(net, X, y)[0], H_hand[active])

# %% [markdown]
# The score, by hand and from the library, with λ = 10⁻³ × the mean diagonal. Then grow the best
# position at its Newton value w* and compare the loss actually saved with the prediction
# ΔL_model = g w* + ½ H w*². The loss is not exactly quadratic in w_q (the softmax bends it), so the
# two agree only approximately, but the loss falls.

# %%
lam = 1e-3 * H_hand.mean()
S_hess_hand = np.where(active, -np.inf, G_hand ** 2 / (H_hand + lam))
top_hess_hand = np.sort(np.argsort(-S_hess_hand.ravel(), kind="stable")[:k])
S_hess = growth.hessian_growth_score(grads[0].G, H_lib, W, lam)
assert agree(S_hess[~active], S_hess_hand[~active]) and np.all(S_hess[active] == -np.inf)

net_h = copy.deepcopy(net)
w_star = growth.hessian_growth_value(grads[0].G, H_lib, lam)      # (n_in, n_hid)
best = growth.grow_highest(net_h, 0, S_hess, 1, values=w_star)
q_i, q_j = divmod(int(best[0]), n_hid)
g_q, H_q = G_hand[q_i, q_j], H_hand[q_i, q_j]
predicted = g_q * w_star[q_i, q_j] + 0.5 * H_q * w_star[q_i, q_j] ** 2
actual = net_h.loss(X, y) - loss
print(f"best position ({q_i}, {q_j}): g = {g_q:.4f}, H = {H_q:.4f}, w* = {w_star[q_i, q_j]:.4f}")
print(f"loss change: predicted {predicted:.6f}, actual {actual:.6f}")
print("grow by g²/(H+λ):", top_hess_hand, "  by |G|:", top_grad, "  (small H_qq lifts a small g)")
assert best[0] == np.argmax(S_hess_hand)
assert actual < 0 and abs(actual - predicted) < 0.5 * abs(predicted)

# %%
print(inspect.getsource(growth.criteria.hessian_growth_score))   # the code the asserts above check
print(inspect.getsource(growth.criteria.hessian_growth_value))

# %% [markdown]
# The quadratic model is only local, and λ is what keeps it honest. Grow each of the three picks
# alone at its Newton value w* and compare the predicted and the actual change. The pick (0, 2) has a
# tiny gradient and an even tinier curvature (few samples activate neuron 2), so its w* is large. A
# weight that large switches other samples' ReLUs, where the model no longer holds, and the loss
# **rises**. A larger λ shrinks every step to −g/(H_qq + λ) and pulls the ranking toward |G|. With
# λ = the mean H_qq, every pick lowers the loss here.


# %%
def grow_at_newton_value(q, lam_q):
    """Loss change (predicted, actual) when position q alone is grown at w* = −g/(H_qq + λ)."""
    i, j = divmod(int(q), n_hid)
    w_q = -G_hand[i, j] / (H_hand[i, j] + lam_q)
    net_q = copy.deepcopy(net)
    topology.grow(net_q, 0, [i], [j], w_q)
    return G_hand[i, j] * w_q + 0.5 * H_hand[i, j] * w_q ** 2, net_q.loss(X, y) - loss


for lam_q in (lam, H_hand.mean()):
    S_q = growth.hessian_growth_score(G_hand, H_hand, W, lam_q)
    picks = np.sort(np.argsort(-S_q.ravel(), kind="stable")[:k])
    print(f"λ = {lam_q:.5f}: picks {picks}")
    for q in picks:
        i, j = divmod(int(q), n_hid)
        pred, act = grow_at_newton_value(q, lam_q)
        print(f"   ({i}, {j}): g = {G_hand[i, j]:+.4f}, H = {H_hand[i, j]:.4f}, "
              f"w* = {-G_hand[i, j] / (H_hand[i, j] + lam_q):+7.3f}, predicted {pred:+.4f}, actual {act:+.4f}")
assert top_hess_hand[0] == 0 * n_hid + 2 and grow_at_newton_value(top_hess_hand[0], lam)[1] > 0   # (0, 2) overshoots
assert all(grow_at_newton_value(q, H_hand.mean())[1] < 0
           for q in np.argsort(-growth.hessian_growth_score(G_hand, H_hand, W, H_hand.mean()).ravel())[:k])

# %% [markdown]
# RigL as the constant-curvature case: with H_qq = c everywhere the Hessian score selects exactly the
# positions that |G| selects, whatever c and λ are.

# %%
for c in (0.01, 1.0, 50.0):
    S_c = growth.hessian_growth_score(grads[0].G, np.full(W.shape, c), W, lam)
    net_c = copy.deepcopy(net)
    assert np.array_equal(growth.grow_highest(net_c, 0, S_c, k), top_grad), c
print("with constant H, g²/(H+λ) grows", top_grad, "= RigL's |G| choice")

# %% [markdown]
# The three scored criteria side by side on the tiny layer: grey cells are active (not candidates),
# red circles the k = 3 positions each one grows.

# %%
fig, axes = plt.subplots(1, 3, figsize=(11, 2.6))
panels = (("|G|  (RigL)", S_grad_hand, top_grad), ("|V|  (Sparse Momentum)", S_mom_hand, top_mom),
          ("g²/(H+λ),  λ = 10⁻³·mean H", S_hess_hand, top_hess_hand))
for ax, (title, S, chosen_keys) in zip(axes, panels):
    im = ax.imshow(np.where(active, np.nan, S), cmap="viridis")
    ax.imshow(np.where(active, 1.0, np.nan), cmap="Greys", vmin=0, vmax=2)      # active positions in grey
    rows, cols = np.divmod(chosen_keys, n_hid)
    ax.scatter(cols, rows, s=260, facecolors="none", edgecolors="red", linewidths=2)
    ax.set(title=title, xlabel="j (neuron of layer 1)", ylabel="i (input)", xticks=range(n_hid),
           yticks=range(n_in))
    fig.colorbar(im, ax=ax, shrink=0.85)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 4. What `grow_highest` promises
#
# Whatever the score: grown positions were inactive (and not in `exclude`), nnz rises by exactly k,
# W stays canonical, old entries keep their values and optimizer state, and new ones get the values
# and state asked for (a scalar, or a dense array gathered at the grown positions). Ties go to the
# lowest flat key. Here with an ordinary SGD (velocity `v_W` aligned with `W.data`), growing at the
# Newton values with velocity 0.5 (the 11.055 at (0, 2) is section 3's overshooting value):

# %%
net_i = copy.deepcopy(net)
opt_i = SGD(net_i, lr=0.1, momentum=0.9)
opt_i.v_W[0][:] = np.arange(1, W.nnz + 1)                        # recognisable old state
old_keys, old_vals = topology.entry_keys(net_i.layers[0].W), net_i.layers[0].W.data.copy()
excl = best                                                      # forbid the best position
new = growth.grow_highest(net_i, 0, S_hess, k, values=w_star, optimizer=opt_i, state={"v_W": 0.5},
                          exclude=excl)
W_i = net_i.layers[0].W
keys_i = topology.entry_keys(W_i)
is_new = np.isin(keys_i, new)
print("grown", new, "(excluded", excl, ")")
show(W_i, "after grow_highest")
print("v_W =", opt_i.v_W[0])
assert W_i.nnz == W.nnz + k and topology.is_canonical(W_i)
assert not np.isin(new, old_keys).any() and not np.isin(new, excl).any()
assert np.array_equal(keys_i[~is_new], old_keys) and np.array_equal(W_i.data[~is_new], old_vals)
assert agree(W_i.data[is_new], w_star.ravel()[new])
assert np.array_equal(opt_i.v_W[0][~is_new], np.arange(1, W.nnz + 1)) and np.all(opt_i.v_W[0][is_new] == 0.5)
expect_excl = np.sort(np.setdiff1d(np.argsort(-S_hess_hand.ravel(), kind="stable"), excl, assume_unique=True)[:k])
assert np.array_equal(new, expect_excl)

net_t = copy.deepcopy(net)
tied = growth.grow_highest(net_t, 0, np.where(active, -np.inf, 1.0), k)      # every candidate ties
print("all scores equal → the lowest free keys:", tied)
assert np.array_equal(tied, np.flatnonzero(~active.ravel())[:k])
try:
    growth.grow_highest(copy.deepcopy(net), 0, S_grad, 19)
    raise AssertionError("growing more than the 18 free positions must fail")
except ValueError as err:
    print("k = 19:", err)

# %%
print(inspect.getsource(growth.select.grow_highest))             # the code the asserts above check

# %% [markdown]
# ## 5. At full size
#
# The same criteria on layer 0 of LeNet-300-100 (784 → 300, 5 % ERK: 9,051 connections), after one
# epoch of SGD with the dense velocity on MNIST-5k, so V has something to remember. 30 % of layer 0
# is dropped by magnitude, and each criterion, on its own copy, grows as many back, scored on one
# batch of 100. The table gives the seconds to score and grow, the picks shared with RigL's |G|, and
# the picks that were just dropped. Fast mode uses a 784-64-32-10 network.

# %%
data = load_dataset("mnist5k", rng=0)
sizes_f = [784, 64, 32, 10] if FAST else [784, 300, 100, 10]
big = SparseMLP.random(sizes_f, density=0.05, topology="erk", rng=0)
opt_big = SGD(big, lr=0.1, momentum=0.9, dense_momentum=True)
for s in range(0, len(data.y_train), 100):                       # one epoch; V sees every position
    _, grads_s = big.loss_and_grads(data.X_train[s:s + 100], data.y_train[s:s + 100], dense=True)
    opt_big.step(grads_s)
Xb, yb = data.X_train[:100], data.y_train[:100]                  # (100, 784), (100,)

W_full = big.layers[0].W
k_b = round(0.3 * W_full.nnz)
keep_b = pruning.keep_all_but_lowest(np.abs(W_full.data), k_b)
dropped_b = topology.entry_keys(W_full)[~keep_b]
last_b = growth.remember_dropped({}, W_full, keep_b)
topology.prune(big, 0, keep_b, opt_big)
W_b = big.layers[0].W
print(f"layer 0 {W_b.shape}: {W_full.nnz} connections, {k_b} dropped, "
      f"{W_b.shape[0] * W_b.shape[1] - W_b.nnz:,} candidates")


def grow_by(criterion):
    """Grow k_b positions of layer 0 on a copy of ``big`` with one criterion: (keys, seconds)."""
    net_c, opt_c = copy.deepcopy((big, opt_big))
    start = time.perf_counter()
    if criterion == "random":
        keys = growth.grow_random(net_c, 0, k_b, np.random.default_rng(0))
    elif criterion == "magnitude":
        keys = growth.grow_highest(net_c, 0, growth.magnitude_regrowth_score(last_b, W_b), k_b)
    elif criterion == "momentum |V|":
        keys = growth.grow_highest(net_c, 0, growth.momentum_score(opt_c.V[0], W_b), k_b, optimizer=opt_c)
    else:                                                        # both need the dense G of the batch
        _, grads_c = net_c.loss_and_grads(Xb, yb, dense=[0])
        if criterion == "gradient |G|":
            S_c = growth.gradient_score(grads_c[0].G, W_b)
        else:
            H_c = growth.gauss_newton_diagonal_dense(net_c, Xb, yb, 0)
            S_c = growth.hessian_growth_score(grads_c[0].G, H_c, W_b, H_c.mean())
        keys = growth.grow_highest(net_c, 0, S_c, k_b)
    seconds = time.perf_counter() - start
    assert net_c.layers[0].nnz == W_full.nnz and topology.is_canonical(net_c.layers[0].W)
    assert not np.isin(keys, topology.entry_keys(W_b)).any()
    return keys, seconds


picks = {c: grow_by(c) for c in ("random", "magnitude", "gradient |G|", "momentum |V|", "Hessian g²/(H+λ)")}
rigl_keys = picks["gradient |G|"][0]
print(f"{'criterion':>17} {'seconds':>8} {'shared with |G|':>16} {'just dropped':>13}")
for c, (keys, seconds) in picks.items():
    print(f"{c:>17} {seconds:8.4f} {np.intersect1d(keys, rigl_keys).size:16d} "
          f"{np.intersect1d(keys, dropped_b).size:13d}")
assert np.array_equal(picks["magnitude"][0], np.sort(dropped_b))   # with one update's memory: an undo

# %% [markdown]
# Random growth and magnitude regrowth never form a (784, 300) array. The gradient and Hessian rows
# pay for the dense G at the update (the Hessian also for its C backward passes); the momentum row
# looks cheap only because Sparse Momentum already paid a dense G at each of the 35 steps before.
# Magnitude regrowth remembers only this update's drops, so all it can do is put them back. And the
# criteria disagree: in the full run |V| shares only about a fifth of its picks with the current
# batch's |G|, and the Hessian score with λ = mean H_qq about 60 %.

# %% [markdown]
# ## 6. Article name → function
#
# | order | article name | score s_q (inactive q only) | dense cost per update | `minisparse` |
# | --- | --- | --- | --- | --- |
# | 0 | random growth (SET) | uniform, sampled | none: O(nnz + k log nnz) | `minisparse.growth.select.random_positions`, `minisparse.growth.select.grow_random` |
# | 0 | magnitude-based growth | last \|w_q\| of a pruned position | none | `minisparse.growth.criteria.remember_dropped`, `minisparse.growth.criteria.magnitude_regrowth_score` |
# | 1 | gradient-based growth (RigL) | \|G_q\| | G: O(B · n_in · n_out) | `minisparse.growth.criteria.gradient_score` |
# | 1 | momentum-based growth (Sparse Momentum) | \|V_q\| | G at every step, V kept dense | `minisparse.growth.criteria.momentum_score` |
# | 2 | Hessian-guided growth | g_q² / (H_qq + λ), grown at −g_q / (H_qq + λ) | G and H: O(B · n_in · n_out) each, plus C backward passes for H | `minisparse.growth.criteria.hessian_growth_score`, `minisparse.growth.criteria.hessian_growth_value`, `minisparse.growth.criteria.gauss_newton_diagonal_dense` |
# | – | add the k highest | invariants of section 4 | | `minisparse.growth.select.grow_highest` |
#
# ## 7. Where to break in
#
# | to see | break in |
# | --- | --- |
# | rejection sampling of free positions (and the dense fallback) | `minisparse.growth.select.random_positions` |
# | dense scores: active and excluded positions set to −inf, then the k highest | `minisparse.growth.select.top_k_dense` |
# | the same for a candidate list (`Candidates`), and its tie rule | `minisparse.growth.select._as_candidates`, `minisparse.growth.select.top_k_keys` (the tie rule: `minisparse.network.topk.top_k_indices`) |
# | the pattern growing, optimizer state following | `minisparse.growth.select.grow_at_keys`, `minisparse.network.topology.add_entries`, `minisparse.network.topology.grow` |
# | the Gauss–Newton diagonal at every position | `minisparse.growth.criteria.gauss_newton_diagonal_dense`, `minisparse.pruning.second_order.gauss_newton_curvature` |
#
# For example, to step through the selection of the Hessian-guided growth above, run:
#
# ```python
# import pdb
# pdb.runcall(growth.grow_highest, copy.deepcopy(net), 0, S_hess, k, values=w_star)
# ```
#
# ## Summary
#
# - A growth score covers only the positions a layer lacks (−inf at active ones), high means grow,
#   and the candidates are the positions free *after* the drop, just-dropped ones included.
# - Random growth samples free positions without listing the grid; magnitude regrowth can only
#   re-add positions it remembers, so with one update's memory it undoes the drop.
# - A missing edge's gradient is Σ_b a_i δ_j, a real derivative (checked on an edge grown at 0), but
#   ranking every missing edge needs the dense G: B · n_in · n_out multiply-adds, 1/density times the
#   sparse dW. |V| needs that dense G at every step.
# - Hessian-guided growth scores −2ΔL* = g² / (H_qq + λ) from a second-order step; constant
#   curvature gives RigL's ranking, and a small λ lets a tiny H_qq pick a weight whose Newton step
#   overshoots.
# - `grow_highest` keeps old entries and their optimizer state, adds exactly k, ties to the lowest key.
#
# ## Exercises
#
# Each answer cell holds a placeholder; replace `None` with your answer and run the check below it.
#
# **1.** RigL grew keys 12, 19 and 23 on the tiny layer. Which flat key would it grow fourth
# (k = 4)? Read it off the printed G.

# %%
answer_1 = None                      # a flat key i·n_out + j


def check_exercise_1(answer):
    if answer is None:
        print("hint: the 4th largest |G| among the positions not marked *; key = i·6 + j")
        return
    truth = np.setdiff1d(growth.grow_highest(copy.deepcopy(net), 0, S_grad, 4), top_grad)[0]
    assert answer == truth, f"not quite: key {answer} is position {divmod(int(answer), n_hid)}"
    print("correct")


check_exercise_1(answer_1)

# %% [markdown]
# **2.** With λ = the mean H_qq (0.1094), what is the Hessian-guided score s_q of position (2, 0)?
# Use the printed G and H_qq.

# %%
answer_2 = None                      # a float


def check_exercise_2(answer):
    if answer is None:
        print("hint: s = g² / (H_qq + λ) with g = G[2, 0] and H_qq = H[2, 0]")
        return
    truth = growth.hessian_growth_score(G_hand, H_hand, W, H_hand.mean())[2, 0]
    assert abs(answer - truth) < 1e-3, f"not quite: {answer}"
    print(f"correct: {truth:.4f}")


check_exercise_2(answer_2)

# %% [markdown]
# **3.** With λ = 10⁻³ × the mean H_qq, the Hessian score picks (0, 2), whose Newton step overshoots.
# Raising λ pushes it out of the three picks, in favour of (2, 0). At which λ does that happen?
# (Within 2 %.)

# %%
answer_3 = None                      # a float, the damping λ


def check_exercise_3(answer):
    if answer is None:
        print("hint: solve g₀₂² / (H₀₂ + λ) = g₂₀² / (H₂₀ + λ) for λ, with G_hand and H_hand")
        return
    picks_at = [np.sort(growth.top_k_dense(growth.hessian_growth_score(G_hand, H_hand, W, f * answer), W, k))
                for f in (0.98, 1.02)]
    assert 2 in picks_at[0] and 2 not in picks_at[1], f"not quite: λ = {answer} gives picks {picks_at}"
    print(f"correct: (0, 2) is picked at 0.98 λ, not at 1.02 λ (λ = {answer / H_hand.mean():.4f} × mean H_qq)")


check_exercise_3(answer_3)
