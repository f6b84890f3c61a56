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
# # 01 · A sparse MLP trained from scratch
#
# **What you will learn.** Article 001, *Sparse training from scratch*, starts with a fixed random set
# of connections, trains only those, and checks at the end that the network is as sparse as it
# began. This notebook builds that network and works through it:
#
# - how a sparse layer is stored (CSR, where a stored zero is still a connection);
# - initial topologies (uniform, Erdős–Rényi, ERK) and the sparse fan-in initialisation;
# - the forward pass and every gradient of the backward pass, by hand, including the *sampled* weight
#   gradient and the dense gradient G at positions that have no connection;
# - SGD-momentum and Adam by hand, and the article's masked layer side by side with the CSR one;
# - the article's experiment (80 % and 90 % sparsity) and figure F0, dense against static sparse;
# - where to set a breakpoint, and `minisparse.reference_kernels()`, under which a debugger steps
#   onto the equations themselves.
#
# **Run time:** about 1.5 minutes on an idle 2-core laptop (3 on a busy one), almost all of it F0
# in section f (fast mode, `MINISPARSE_FAST=1`: about 15 s). The outputs saved in the `.ipynb` come
# from a full run.
#
# The article's layer is PyTorch: a dense weight matrix multiplied by a binary mask at every forward
# pass. `minisparse` stores only the connections that exist, as a `scipy.sparse.csr_array`, and
# writes the backward pass by hand. Each equation below comes with the article section (or paper) it
# is from. It is then computed by hand on a tiny printed example, checked against the library with
# an `assert`, and shown next to the library's source. Gradients are also checked against central
# differences. How fast the products run, and in which order they visit the connections, is the
# subject of the last notebook, `10_fast_kernels`.

# %%
import copy
import inspect
import os
import tempfile
import time

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Image, display

import minisparse
from minisparse import SGD, Adam, SparseLinear, SparseMLP
from minisparse.network import activations, init, kernels, losses, topology
from minisparse.lab.figures import f0_data, f0_plot
from minisparse.network.masked import MaskedMLP
from minisparse.network.mlp import layer_nnz
from minisparse.sparse_training.static import article_experiment, sparsity

FAST = os.environ.get("MINISPARSE_FAST", "0") == "1"
np.set_printoptions(precision=4, suppress=True, linewidth=110)
print(f"FAST = {FAST}   (minisparse {minisparse.__version__}, NumPy {np.__version__})")


# %% [markdown]
# One helper: the central-difference derivative of a scalar function with respect to every element of
# an array, perturbing the array **in place** (so it works on `W.data`, `b` or an activation).
# With float64 and h = 10⁻⁶ its error is around 10⁻⁹, far below the tolerances used here.

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


def agree(a, b):
    """The tolerance used for every library-vs-hand and library-vs-numerical check below."""
    return np.allclose(a, b, rtol=1e-6, atol=1e-8)


# %% [markdown]
# ## a. The CSR layout of a sparse layer
#
# **Article §2–3.** The article's layer keeps a dense weight `W` and a fixed binary mask `M`, and uses
# `W ⊙ M`. Here `W` *is* the sparse matrix: shape `(n_in, n_out)`, and **row i holds the outgoing
# connections of presynaptic neuron i** (so column j holds the fan-in of neuron j, and the forward pass
# is `A_prev @ W` with no transpose). CSR stores three arrays:
#
# - `indptr` (n_in + 1,): row i's entries are `data[indptr[i]:indptr[i+1]]`,
# - `indices` (nnz,): the column j of each stored entry, increasing within a row (canonical format),
# - `data` (nnz,): the weights. Optimizer state (velocities, Adam moments) is aligned with `data`.
#
# A tiny 4×5 layer with 7 connections, one of which holds the value 0:

# %%
rows = [0, 0, 1, 2, 2, 3, 3]
cols = [1, 4, 0, 2, 3, 0, 4]
vals = [0.5, -1.0, 0.0, 2.0, -0.3, 0.7, 1.2]        # the connection (1, 0) has weight exactly 0
W = topology.from_positions(rows, cols, vals, shape=(4, 5))

print("topology.show(W)  (· = no connection):")
print(topology.show(W))
print("W.toarray() =\n", W.toarray(), "  ← (1, 0) looks absent here")
print("mask M =\n", topology.mask(W).astype(int))
print("indptr  =", W.indptr)
print("indices =", W.indices)
print("data    =", W.data)

# %% [markdown]
# By hand: walk `indptr` row by row and rebuild the dense weights and the mask.

# %%
n_in, n_out = W.shape
W_dense, M = np.zeros((n_in, n_out)), np.zeros((n_in, n_out), dtype=bool)
for i in range(n_in):                                   # presynaptic neuron i
    for k in range(W.indptr[i], W.indptr[i + 1]):      # its stored entries
        W_dense[i, W.indices[k]] = W.data[k]
        M[i, W.indices[k]] = True
print("fan-in per neuron (stored entries per column):", M.sum(axis=0))

assert np.array_equal(W_dense, W.toarray())
assert np.array_equal(M, topology.mask(W))
assert topology.is_canonical(W) and W.nnz == 7

# %% [markdown]
# **An explicit zero is still a connection.** `W.toarray()` cannot tell position (1, 0) from an absent
# one, but the mask and `topology.show` can: (1, 0) is stored, gets a gradient, and will move away
# from 0 at the next step (section d shows its gradient). Growth methods add new connections at
# exactly 0, so this matters.
#
# SciPy's sparse–sparse arithmetic and `eliminate_zeros()` rebuild the pattern and silently drop
# stored zeros, so the library never uses them on weights: values are updated in place on `W.data`,
# and only `minisparse.network.topology` changes a pattern.

# %%
print("nnz of W            :", W.nnz)
print("nnz of W + W        :", (W + W).nnz, "  ← the zero-weight connection is gone")
print("nnz of W − W        :", (W - W).nnz, "  ← every connection is gone")
W_copy = W.copy()
W_copy.eliminate_zeros()
print("after eliminate_zeros:", W_copy.nnz)

W_step = W.copy()
W_step.data -= 0.1 * np.ones(W.nnz)                     # an in-place update keeps every connection
print("after W.data -= …   :", W_step.nnz)
assert (W + W).nnz == 6 and W_copy.nnz == 6 and W_step.nnz == 7

# %% [markdown]
# ## b. Initial topologies and initial weights
#
# Three ways to choose how many connections each layer gets:
#
# - **uniform** (article §3, `mask = rand > sparsity`): the same density d in every layer,
#   nnz_l = round(d · n_in · n_out);
# - **Erdős–Rényi** (SET, Mocanu et al. 2018): nnz_l = ε · (n_in + n_out), capped at n_in · n_out;
# - **ERK** (RigL, Evci et al. 2020): d_l = c · (n_in + n_out) / (n_in · n_out) with c chosen so that the
#   global density is d; a layer whose d_l would exceed 1 is made dense and c is solved again.
#
# For an MLP, ERK is Erdős–Rényi with ε = c picked for a global density. Positions are then drawn
# uniformly without replacement within each layer.

# %%
sizes = [784, 300, 100, 10]
shapes = list(zip(sizes[:-1], sizes[1:]))
d, eps = 0.1, 20

uniform_hand = [round(d * n_i * n_o) for n_i, n_o in shapes]
er_hand = [min(eps * (n_i + n_o), n_i * n_o) for n_i, n_o in shapes]

# ERK by hand: solve c, cap the layers that come out above density 1, solve again for the rest
size = np.array([n_i * n_o for n_i, n_o in shapes], dtype=float)
raw = np.array([(n_i + n_o) / (n_i * n_o) for n_i, n_o in shapes])
c = d * size.sum() / (raw * size).sum()
print(f"first pass: c = {c:.3f}, densities = {c * raw}")
dense_layer = c * raw > 1
c = (d * size.sum() - size[dense_layer].sum()) / (raw * size)[~dense_layer].sum()
erk_hand = np.where(dense_layer, 1.0, c * raw)
print(f"after capping: c = {c:.3f}, densities = {erk_hand}")

print("uniform nnz      :", uniform_hand)
print("Erdős–Rényi nnz  :", er_hand, "  (the last layer is capped: it is dense)")
print("ERK global density:", (erk_hand * size).sum() / size.sum())

# %%
assert layer_nnz(shapes, "uniform", density=d) == uniform_hand
assert layer_nnz(shapes, "erdos_renyi", epsilon=eps) == er_hand
assert np.allclose(init.erk_densities(shapes, d), erk_hand)
for topo, kw, expect in (("uniform", dict(density=d), uniform_hand),
                         ("erdos_renyi", dict(epsilon=eps), er_hand)):
    model = SparseMLP.random(sizes, topology=topo, rng=0, **kw)
    assert [layer.nnz for layer in model.layers] == expect, topo
print(SparseMLP.random(sizes, topology="erk", density=d, rng=0))

# %% [markdown]
# **Initial weights** (He et al. 2015, with the *sparse* fan-in): w ~ N(0, gain² / fan_in) with
# fan_in = nnz / n_out, the mean number of stored entries per column, and gain² = 2 for ReLU,
# 1 for a linear layer. For an input with unit variance,
#
# Var(Z_j) = Σ_{i → j} w_ij² · E[x_i²] ≈ fan_in · gain² / fan_in = gain².
#
# Scaling by the dense fan-in n_in instead would give Var(Z_j) ≈ d · gain²: a 1 %-dense layer would
# start with pre-activations 10× too small in standard deviation. (The article initialises with
# 0.01 · N(0, 1), which is smaller still; the library departs from it on purpose.)
#
# By hand: draw the positions and the weights exactly as `init.random_sparse` does, from the same seed.

# %%
n_i, n_o, d_small = (400, 200, 0.05) if FAST else (1000, 500, 0.01)
nnz = round(d_small * n_i * n_o)
rng = np.random.default_rng(1)
keys = np.sort(rng.choice(n_i * n_o, size=nnz, replace=False))            # flat positions i·n_out + j
fan_in = nnz / n_o
w = rng.standard_normal(nnz) * np.sqrt(1.0 / fan_in)                     # gain² = 1 (linear layer)
W_hand = topology.from_keys(keys, w, (n_i, n_o))
W_lib = init.random_sparse(n_i, n_o, nnz, np.random.default_rng(1), activation="linear")
assert np.array_equal(W_hand.indices, W_lib.indices) and np.array_equal(W_hand.indptr, W_lib.indptr)
assert np.array_equal(W_hand.data, W_lib.data)

X_var = np.random.default_rng(2).standard_normal((2000, n_i))              # (B, n_in), unit variance
var_sparse = (X_var @ W_lib).var()
var_dense_fan_in = (X_var @ (W_lib * np.sqrt(fan_in / n_i))).var()          # rescale: sd = 1/√n_in
var_article = (X_var @ (W_lib * 0.01 * np.sqrt(fan_in))).var()             # sd = 0.01
print(f"layer {n_i}→{n_o}, density {d_small}, sparse fan-in {fan_in:.0f}")
print(f"Var(Z) with sparse fan-in scaling: {var_sparse:.3f}")
print(f"Var(Z) with dense  fan-in scaling: {var_dense_fan_in:.4f}   (≈ d = {d_small})")
print(f"Var(Z) with the article's 0.01·N(0,1): {var_article:.5f}")
assert abs(var_sparse - 1) < 0.15 and abs(var_dense_fan_in - d_small) < 0.15 * d_small

# %% [markdown]
# Through a deep ReLU network the difference compounds: with the sparse fan-in the pre-activation
# variance stays near gain² = 2 layer after layer; with the dense fan-in it is multiplied by d at every
# layer.

# %%
deep = SparseMLP.random([n_i] * 5, density=d_small, rng=3)
A_sparse = A_dense = X_var
for l, layer in enumerate(deep.layers[:-1]):
    Z_s, A_sparse = layer.forward(A_sparse)
    W_rescaled = layer.W.copy()
    W_rescaled.data *= np.sqrt(layer.nnz / layer.shape[1] / layer.shape[0])
    Z_d = A_dense @ W_rescaled
    A_dense = np.maximum(Z_d, 0)
    print(f"layer {l + 1}: Var(Z) sparse fan-in {Z_s.var():6.3f}   dense fan-in {Z_d.var():.2e}")
    assert 1.5 < Z_s.var() < 2.6

# %% [markdown]
# ## c. Forward pass
#
# **Article §3–4.** The article computes `x @ (W ⊙ M).T + b` (PyTorch stores weights as (out, in));
# with rows = presynaptic neurons there is no transpose:
#
# Z = A_prev W + b,   A = f(Z),   i.e.   Z[b, j] = b_j + Σ_{stored (i, j)} A_prev[b, i] · W_ij.
#
# By hand: start from the bias and add one stored entry at a time, which is O(B · nnz) work.

# %%
A_prev = np.array([[1.0, -0.5, 0.2, 0.8],
                   [0.3, 0.9, -1.2, 0.4],
                   [-0.7, 0.1, 0.6, -0.2]])                   # (B=3, n_in=4)
b = np.array([0.1, -0.2, 0.3, 0.05, -0.1])                    # (n_out=5,)
entry_rows = topology.entry_rows(W)

Z_hand = np.tile(b, (A_prev.shape[0], 1))                     # (B, n_out)
for k in range(W.nnz):
    i, j = entry_rows[k], W.indices[k]
    Z_hand[:, j] += A_prev[:, i] * W.data[k]
A_hand = np.maximum(Z_hand, 0)                                 # ReLU
print("Z =\n", Z_hand)
print("A = ReLU(Z) =\n", A_hand)

layer1 = SparseLinear(W.copy(), b.copy(), activation="relu")
Z_lib, A_lib = layer1.forward(A_prev)
assert agree(Z_hand, Z_lib) and agree(A_hand, A_lib)
assert agree(Z_lib, A_prev @ (W.toarray() * topology.mask(W)) + b)   # the article's W ⊙ M form

# %% [markdown]
# The code the assert checked: `SparseLinear.forward` is the equation, and its product
# `kernels.forward_product` has a one-line reference form, shown below (section g switches to it).

# %%
print(inspect.getsource(SparseLinear.forward))
print(inspect.getsource(kernels.reference.forward_product))

# %% [markdown]
# ## d. Gradients, one equation at a time
#
# A two-layer network on the same batch: the 4×5 ReLU layer above, then a 5×3 linear output layer with
# 8 connections, and softmax cross-entropy (article §5 trains with `nn.CrossEntropyLoss`). The article
# (§7) states only that a masked weight gets no gradient; the rest below is ordinary backpropagation,
# written out for a CSR layer.

# %%
W2 = topology.from_positions([0, 0, 1, 2, 2, 3, 4, 4], [0, 2, 1, 0, 2, 1, 0, 1],
                             [0.8, -0.5, 1.1, -0.7, 0.9, 0.4, 0.6, -1.0], shape=(5, 3))
b2 = np.array([0.05, -0.1, 0.2])
net = SparseMLP([SparseLinear(W.copy(), b.copy(), "relu"), SparseLinear(W2, b2, "linear")])
X, y = A_prev, np.array([2, 0, 1])                            # (B, n_in), (B,)
B = len(y)

loss, grads = net.loss_and_grads(X, y, dense=True)           # the library, once, for every check below
Z1, A1 = net.layers[0].forward(X)
Z2, _ = net.layers[1].forward(A1)
print(f"loss = {loss:.6f}")
print("W2 =")
print(topology.show(W2))
print("smallest |Z1| =", np.abs(Z1).min(), "(away from the ReLU kink, so central differences are valid)")
assert np.abs(Z1).min() > 1e-3

# %% [markdown]
# ### d1. Softmax cross-entropy
#
# L = −(1/B) Σ_b log softmax(Z)[b, y_b]   ⇒   ∂L/∂Z = (softmax(Z) − onehot(y)) / B.
#
# The output layer is linear, so this is also dZ2.

# %%
P = np.exp(Z2 - Z2.max(axis=1, keepdims=True))
P /= P.sum(axis=1, keepdims=True)
Y = np.eye(3)[y]
dZ2_hand = (P - Y) / B
loss_hand = -np.log(P[np.arange(B), y]).mean()
print("softmax(Z2) =\n", P, "\nonehot(y) =\n", Y, "\ndZ2 =\n", dZ2_hand)

dZ2_lib = losses.cross_entropy_grad(Z2, y)
Z2_probe = Z2.copy()
dZ2_num = central_diff(lambda: losses.cross_entropy(Z2_probe, y), Z2_probe)
assert np.isclose(loss_hand, loss)
assert agree(dZ2_hand, dZ2_lib) and agree(dZ2_hand, dZ2_num)

# %% [markdown]
# ### d2. The weight gradient is a sampled product
#
# dW_k = Σ_b A_prev[b, i_k] · dZ[b, j_k]   for each stored entry k at (i_k, j_k).
#
# This is the dense product A_prevᵀ dZ read only at the stored positions. The layer computes it with
# `kernels.sampled_product(layer, A_prev, dZ)`. Its reference form,
# `kernels.reference.sampled_product(W, A_prev, dZ)`, is this sum written as one line; the fast form
# that runs by default computes the same numbers chunk by chunk. Both take O(B · nnz) time, and
# neither forms the (n_in, n_out) array: on a 100,000 × 100,000 layer with 10⁶ connections the fast
# form needs well under 100 MB, where A_prevᵀ dZ would need 80 GB (notebook 10 measures it).

# %%
r2, c2 = topology.entry_rows(W2), W2.indices
dW2_hand = np.array([sum(A1[bb, r2[k]] * dZ2_hand[bb, c2[k]] for bb in range(B)) for k in range(W2.nnz)])
print("stored positions:", list(zip(r2.tolist(), c2.tolist())))
print("dW2 (aligned with W2.data) =", dW2_hand)

W2_probe = net.layers[1].W.data                                # perturbed in place, then restored
dW2_num = central_diff(lambda: net.loss(X, y), W2_probe)
assert agree(dW2_hand, grads[1].dW) and agree(dW2_hand, dW2_num)
assert agree(dW2_hand, kernels.sampled_product(net.layers[1], A1, dZ2_hand))
assert agree(dW2_hand, kernels.reference.sampled_product(W2, A1, dZ2_hand))
assert agree(dW2_hand, (A1.T @ dZ2_hand)[r2, c2])             # dense, then sampled: same numbers
print(inspect.getsource(kernels.reference.sampled_product))

# %% [markdown]
# ### d3. Bias gradient
#
# db_j = Σ_b dZ[b, j].

# %%
db2_hand = dZ2_hand.sum(axis=0)
print("db2 =", db2_hand)
db2_num = central_diff(lambda: net.loss(X, y), net.layers[1].b)
assert agree(db2_hand, grads[1].db) and agree(db2_hand, db2_num)

# %% [markdown]
# ### d4. Gradient with respect to the layer's input
#
# dA_prev = dZ Wᵀ,   i.e.   dA_prev[b, i] = Σ_{stored (i, j)} W_ij · dZ[b, j]:
# each presynaptic neuron collects the error of the neurons its row connects to.

# %%
dA1_hand = np.zeros_like(A1)
for k in range(W2.nnz):
    dA1_hand[:, r2[k]] += W2.data[k] * dZ2_hand[:, c2[k]]
print("dA1 =\n", dA1_hand)

_, _, dA1_lib, _ = net.layers[1].backward(A1, Z2, Z2, dZ2_lib)
A1_probe = A1.copy()
dA1_num = central_diff(lambda: losses.cross_entropy(net.layers[1].forward(A1_probe)[0], y), A1_probe)
assert agree(dA1_hand, dA1_lib) and agree(dA1_hand, dA1_num)
assert agree(dA1_hand, dZ2_hand @ W2.toarray().T)
print(inspect.getsource(kernels.reference.input_gradient_product))

# %% [markdown]
# ### d5. Through the activation
#
# dZ = dA ⊙ f'(Z), with ReLU'(Z) = [Z > 0]. Then the first layer's dW and db follow from d2 and d3,
# including the stored zero at (1, 0): its gradient is not zero, so it will move.

# %%
relu_prime = (Z1 > 0).astype(float)
dZ1_hand = dA1_hand * relu_prime + 0.0                        # (+ 0.0 turns −0 into 0 for printing)
print("[Z1 > 0] =\n", relu_prime, "\ndZ1 =\n", dZ1_hand)

Z1_probe = Z1.copy()
dZ1_num = central_diff(lambda: losses.cross_entropy(net.layers[1].forward(np.maximum(Z1_probe, 0))[0], y),
                       Z1_probe)
assert agree(dZ1_hand, dA1_lib * activations.relu_derivative(Z1, A1)) and agree(dZ1_hand, dZ1_num)

r1, c1 = topology.entry_rows(W), W.indices
dW1_hand = np.einsum("bk,bk->k", X[:, r1], dZ1_hand[:, c1])
dW1_num = central_diff(lambda: net.loss(X, y), net.layers[0].W.data)
db1_num = central_diff(lambda: net.loss(X, y), net.layers[0].b)
print("dW1 =", dW1_hand)
print(f"gradient of the zero-valued connection (1, 0): {dW1_hand[2]:.6f}")
assert agree(dW1_hand, grads[0].dW) and agree(dW1_hand, dW1_num)
assert agree(dZ1_hand.sum(axis=0), grads[0].db) and agree(grads[0].db, db1_num)

# %% [markdown]
# With d1–d5 done, here is `SparseLinear.backward`, the code those asserts checked: one line per
# equation (dZ, then dW, db and dA_prev), and G (section d6) only on request.

# %%
print(inspect.getsource(SparseLinear.backward))

# %% [markdown]
# ### d6. The dense gradient G, at inactive positions too
#
# G = A_prevᵀ dZ   (n_in, n_out).
#
# At a stored position G equals dW. At an *inactive* position it is the gradient a connection would
# have if it were grown there with weight 0: what gradient-based growth (RigL) ranks. It costs
# O(B · n_in · n_out) time and a dense array, so `loss_and_grads(dense=...)` computes it only on
# request. Check: grow each inactive position of layer 1 at 0 and differentiate the loss numerically.

# %%
G1_hand = X.T @ dZ1_hand
print("G1 =\n", G1_hand)
assert agree(G1_hand, grads[0].G)
assert agree(G1_hand[r1, c1], grads[0].dW)                    # active positions: G = dW

inactive = np.argwhere(~topology.mask(W))                    # (13, 2) positions (i, j)
G1_num = np.zeros(len(inactive))
for n, (i, j) in enumerate(inactive):
    grown = copy.deepcopy(net)
    grown.layers[0].W, _ = topology.add_entries(grown.layers[0].W, [i], [j], 0.0)
    k = np.flatnonzero((grown.layers[0].rows == i) & (grown.layers[0].cols == j))[0]
    G1_num[n] = central_diff(lambda: grown.loss(X, y), grown.layers[0].W.data)[k]
print("G1 at the inactive positions:", G1_hand[inactive[:, 0], inactive[:, 1]])
assert agree(G1_hand[inactive[:, 0], inactive[:, 1]], G1_num)

# %% [markdown]
# ## e. Optimizers, and the article's masked layer
#
# **SGD with momentum**, PyTorch form (the article's §7 writes the plain step w ← w − η∇L; momentum
# adds a velocity v per weight, aligned with `W.data`):
#
# v ← μ v + g,   w ← w − η v.
#
# By hand for two steps on a copy of the tiny network, against `SGD.step`.

# %%
eta, mu = 0.1, 0.9
net_hand, net_lib = copy.deepcopy(net), copy.deepcopy(net)
opt = SGD(net_lib, lr=eta, momentum=mu)
v = [(np.zeros(layer.nnz), np.zeros(layer.shape[1])) for layer in net_hand.layers]
for t in range(2):
    _, g_hand = net_hand.loss_and_grads(X, y)
    for layer, g, (v_W, v_b) in zip(net_hand.layers, g_hand, v):
        v_W[:] = mu * v_W + g.dW
        v_b[:] = mu * v_b + g.db
        layer.W.data[:] = layer.W.data - eta * v_W
        layer.b[:] = layer.b - eta * v_b
    _, g_lib = net_lib.loss_and_grads(X, y)
    opt.step(g_lib)
print("layer 1 weights after two steps:", net_hand.layers[0].W.data)
print("velocity:", v[0][0])
for lh, ll in zip(net_hand.layers, net_lib.layers):
    assert agree(lh.W.data, ll.W.data) and agree(lh.b, ll.b)
    assert np.array_equal(lh.W.indices, ll.W.indices)           # the pattern did not change
assert net_lib.layers[0].W.data[2] != 0                          # the zero-valued connection moved

# %% [markdown]
# **Adam** (Kingma & Ba 2015; article §5 trains with `optim.Adam(lr=1e-3)`):
#
# m ← β₁m + (1−β₁)g,   v ← β₂v + (1−β₂)g²,   m̂ = m/(1−β₁ᵗ),   v̂ = v/(1−β₂ᵗ),   w ← w − η m̂ / (√v̂ + ε).
#
# On the first step m̂ = g and v̂ = g², so every weight moves by almost exactly η · sign(g).

# %%
eta, beta1, beta2, eps_adam = 1e-3, 0.9, 0.999, 1e-8
net_hand, net_lib = copy.deepcopy(net), copy.deepcopy(net)
opt = Adam(net_lib, lr=eta, beta1=beta1, beta2=beta2, eps=eps_adam)
state = [dict(m_W=np.zeros(l.nnz), v_W=np.zeros(l.nnz), m_b=np.zeros(l.shape[1]), v_b=np.zeros(l.shape[1]))
         for l in net_hand.layers]
w_before = net_hand.layers[0].W.data.copy()
for t in range(1, 3):
    _, g_hand = net_hand.loss_and_grads(X, y)
    for layer, g, s in zip(net_hand.layers, g_hand, state):
        for p, grad, m_, v_ in ((layer.W.data, g.dW, "m_W", "v_W"), (layer.b, g.db, "m_b", "v_b")):
            s[m_] = beta1 * s[m_] + (1 - beta1) * grad
            s[v_] = beta2 * s[v_] + (1 - beta2) * grad ** 2
            m_hat, v_hat = s[m_] / (1 - beta1 ** t), s[v_] / (1 - beta2 ** t)
            p -= eta * m_hat / (np.sqrt(v_hat) + eps_adam)
    if t == 1:
        print("first step, Δw / η =", (net_hand.layers[0].W.data - w_before) / eta)
        print("−sign(dW1)         =", -np.sign(g_hand[0].dW))
    _, g_lib = net_lib.loss_and_grads(X, y)
    opt.step(g_lib)
for lh, ll in zip(net_hand.layers, net_lib.layers):
    assert agree(lh.W.data, ll.W.data) and agree(lh.b, ll.b)
print(inspect.getsource(Adam._update))                           # the same four lines, in place on W.data

# %% [markdown]
# **The article's layer, side by side.** `MaskedMLP` is article §3's layer in NumPy: dense W and M,
# Z = A_prev (W ⊙ M) + b, and the gradient (A_prevᵀ dZ) ⊙ M, which is zero wherever M is (article §7:
# m_ij = 0 ⇒ ∂L/∂w_ij = 0). Trained with the same SGD on the same batches, it must reach the same
# weights as the CSR model, whose inactive weights simply do not exist.

# %%
rng = np.random.default_rng(7)
csr_net = SparseMLP.random([20, 16, 16, 4], density=0.3, rng=8)
masked_net = MaskedMLP.from_sparse(csr_net)
opt = SGD(csr_net, lr=0.05, momentum=0.9)
for step in range(5):
    Xb, yb = rng.standard_normal((8, 20)), rng.integers(0, 4, 8)
    loss_csr, g_csr = csr_net.loss_and_grads(Xb, yb)
    opt.step(g_csr)
    loss_masked, g_masked = masked_net.loss_and_grads(Xb, yb)
    masked_net.sgd_step(g_masked, lr=0.05, momentum=0.9)
    print(f"step {step + 1}: loss CSR {loss_csr:.10f}   masked {loss_masked:.10f}")
    assert np.isclose(loss_csr, loss_masked, rtol=1e-12)

for layer, W_m, M_m in zip(csr_net.layers, masked_net.Ws, masked_net.Ms):
    assert np.allclose(layer.W.toarray(), W_m, rtol=1e-12, atol=1e-14)
    assert np.array_equal(topology.mask(layer.W), M_m) and not W_m[~M_m].any()
print("weights identical after 5 steps; masked layer 1 spends", masked_net.Ws[0].size,
      "floats to hold", csr_net.layers[0].nnz, "weights")

# %% [markdown]
# ## f. Static sparse training from scratch
#
# **Article §5–6.** An MLP 100-256-256-10 with sparsity 0.8 in every layer, 2,048 Gaussian inputs
# with random labels, full-batch Adam (η = 10⁻³) for 20 epochs; then measure the sparsity,
#
# sparsity = 1 − Σ_l nnz_l / Σ_l n_in·n_out,
#
# which the article expects to be "~0.8". The labels are random, so a falling loss means memorisation.
# In a CSR model the answer is exact by construction: no step can add or remove a stored entry, so the
# pattern after training is the pattern at initialisation. The article also suggests 90 % sparsity.

# %%
EPOCHS = 5 if FAST else 20
model_08, history_08, before_08, after_08 = article_experiment(0.8, epochs=EPOCHS)

# %%
results = {}
for level in (0.8, 0.9):
    model, history, before, after = (model_08, history_08, before_08, after_08) if level == 0.8 else \
        article_experiment(level, epochs=EPOCHS, verbose=False)
    start = SparseMLP.random([100, 256, 256, 10], density=1 - level, rng=0)   # same seed as the experiment
    hand = 1 - sum(l.nnz for l in start.layers) / sum(l.shape[0] * l.shape[1] for l in start.layers)
    results[level] = (history["loss"][0], history["loss"][-1], before, after, hand)
    print(f"sparsity {level}: loss {history['loss'][0]:.4f} → {history['loss'][-1]:.4f}   "
          f"measured sparsity before {before:.6f}, after {after:.6f}   (by hand: {hand:.6f})")
    assert before == after == hand == sparsity(model)
    for l0, l1 in zip(start.layers, model.layers):              # the very same connections
        assert np.array_equal(l0.W.indptr, l1.W.indptr) and np.array_equal(l0.W.indices, l1.W.indices)
    assert history["loss"][-1] < history["loss"][0]

# %% [markdown]
# The same thing as a picture: layer 1 of the 80 % model (100 × 256). Left, its mask at
# initialisation; right, |w| after training, with absent positions left white. Every white pixel on
# the right is white on the left, and every stored entry is still there.

# %%
start_08 = SparseMLP.random([100, 256, 256, 10], density=1 - 0.8, rng=0)   # as the experiment drew it
after_abs = np.full(model_08.layers[0].shape, np.nan)
after_abs[model_08.layers[0].rows, model_08.layers[0].cols] = np.abs(model_08.layers[0].W.data)
fig, axes = plt.subplots(1, 2, figsize=(9, 2.6))
axes[0].imshow(topology.mask(start_08.layers[0].W), cmap="Greys", aspect="auto", interpolation="nearest")
axes[0].set(title="mask at initialisation (black = connection)", xlabel="output unit j", ylabel="input unit i")
im = axes[1].imshow(after_abs, cmap="viridis", aspect="auto", interpolation="nearest")
axes[1].set(title=f"|w| after {EPOCHS} epochs (white = no connection)", xlabel="output unit j")
fig.colorbar(im, ax=axes[1])
fig.tight_layout()
plt.show()
assert np.array_equal(topology.mask(start_08.layers[0].W), ~np.isnan(after_abs))

# %% [markdown]
# **F0** compares dense, 80 % and 90 % sparse networks trained this way on two tasks: the article's
# random data (training loss; the article runs 20 epochs, the figure 200 so the curves separate) and
# the bundled MNIST-5k (validation accuracy), and plots the sparsity measured after every epoch.
# `python -m minisparse figures f0` writes the same figure into `figures/`; here it goes to a
# temporary folder and is shown inline. This is the notebook's one long cell (1–3 minutes): it prints
# a line as each of its six runs finishes.

# %%
print("f0_data: training 6 networks (dense, 80 %, 90 %) on the random data "
      f"({20 if FAST else 200} full-batch epochs each) and on MNIST-5k ({3 if FAST else 20} epochs each); "
      f"about {'10 s' if FAST else '1-3 minutes'} ...", flush=True)
start = time.perf_counter()
f0 = f0_data(fast=FAST)
print(f"f0_data: {time.perf_counter() - start:.1f} s")
print(f"{'sparsity':>8}  {'random: final loss':>18}  {'MNIST-5k: val / test acc':>24}  "
      f"{'nnz (MNIST net)':>15}  sparsity before → after")
for s in f0["levels"]:
    r, m = f0["random"][s], f0["mnist"][s]
    print(f"{s:8.1f}  {r['loss'][-1]:18.4f}  {m['val_acc'][-1]:16.3f} / {m['test_acc'][-1]:.3f}  "
          f"{m['nnz']:15,}  {m['before']:.4f} → {m['after']:.4f}")
    for run in (r, m):
        assert run["before"] == run["after"] and np.all(run["sparsity"] == run["before"])

with tempfile.TemporaryDirectory() as folder:
    path = os.path.join(folder, "f0_static_sparse.png")
    f0_plot(f0, path)
    with open(path, "rb") as f:
        png = f.read()
display(Image(data=png))

# %% [markdown]
# ## g. Where to break in
#
# `SparseLinear.forward` and `SparseLinear.backward` read as the equations of sections c and d, and
# each product in them is one call into `minisparse.network.kernels`: `forward_product` (Z = A_prev W),
# `sampled_product` (dW) and `input_gradient_product` (dA_prev = dZ Wᵀ). By default these calls run the
# fast forms, which walk W's entries in cache-friendly orders (notebook 10). Inside
# `with minisparse.reference_kernels():` every product is its one-line formula from
# `kernels.reference` instead, so a debugger that steps into a product (pdb's `s`, for instance after
# `%debug net.loss_and_grads(X, y)` in Jupyter) goes through the switch below and lands on
# `A_prev @ W`, on the sum of d2 or on `dZ @ W.T`. The environment variable
# `MINISPARSE_KERNELS=reference` does the same for a whole process. The two forms give the same
# numbers; the reference forms gather (B, nnz) arrays, so keep them for small layers.

# %%
print(inspect.getsource(kernels.sampled_product))

# %% [markdown]
# On the tiny network of section d, both ways:

# %%
outside = kernels.active()                                       # 'fast' unless MINISPARSE_KERNELS is set
print("kernels.active() outside the block:", outside)
loss_fast, grads_fast = net.loss_and_grads(X, y)                 # forward and backward, fast forms
with minisparse.reference_kernels():
    print("kernels.active() inside the block: ", kernels.active())
    loss_ref, grads_ref = net.loss_and_grads(X, y)               # every product as its formula
print("kernels.active() after the block:  ", kernels.active())
print(f"loss: fast {loss_fast:.12f}, reference {loss_ref:.12f}")
assert np.allclose(loss_fast, loss_ref) and kernels.active() == outside
for g_fast, g_ref in zip(grads_fast, grads_ref):
    assert np.allclose(g_fast.dW, g_ref.dW) and np.allclose(g_fast.db, g_ref.db)

# %% [markdown]
# To step through one training step in a debugger (`breakpoint()`, or your IDE on this `.py` twin),
# set a breakpoint in:
#
# | to see | break in |
# | --- | --- |
# | the forward pass Z = A_prev W + b, A = f(Z) | `minisparse.network.layer.SparseLinear.forward` |
# | dZ = dA ⊙ f'(Z), dW, db, dA_prev = dZ Wᵀ, and G on request | `minisparse.network.layer.SparseLinear.backward` |
# | the three products, fast or reference | `minisparse.network.kernels.forward_product`, `minisparse.network.kernels.sampled_product`, `minisparse.network.kernels.input_gradient_product` |
# | each product as its equation (d2, d4) | `minisparse.network.kernels.reference.sampled_product`, `minisparse.network.kernels.reference.input_gradient_product` |
# | ∂L/∂Z = (softmax − onehot)/B | `minisparse.network.losses.cross_entropy_grad` |
# | backprop across layers, `dense=` | `minisparse.network.mlp.SparseMLP.loss_and_grads` |
# | v ← μv + g; w ← w − ηv on `W.data` | `minisparse.network.optim.SGD.step` (then `SGD._update`) |
# | Adam's moments and bias correction | `minisparse.network.optim.Adam._update` |
# | initial topology and fan-in scaling | `minisparse.network.mlp.SparseMLP.random`, `minisparse.network.init.random_sparse` |
# | one mini-batch step / one epoch | `minisparse.network.train.train_step`, `minisparse.network.train.run_epoch` |
# | the article's experiment | `minisparse.sparse_training.static.train_static` |
#
# For example, to stop inside the backward pass of the output layer of the tiny network above, with
# every product in its one-line form:
#
# ```python
# import pdb
# with minisparse.reference_kernels():
#     pdb.runcall(net.layers[1].backward, A1, Z2, Z2, dZ2_lib)
# ```
#
# The fast forms and the order in which they walk the entries have their own table in notebook 10.

# %% [markdown]
# ## Summary
#
# - A CSR layer stores only its connections; row i of W holds presynaptic neuron i's outgoing
#   weights, and a stored zero is a connection (`topology.show` prints it as `0.00`, an absent one as `·`).
# - With the sparse fan-in, He initialisation keeps Var(Z) near gain² at any density.
# - Forward and backward are four equations: Z = A_prev W + b, dZ = dA ⊙ f′(Z), the sampled
#   dW_k = Σ_b A_prev[b, i_k] dZ[b, j_k], and dA_prev = dZ Wᵀ. Each costs B · nnz multiply-adds.
# - The dense G = A_prevᵀ dZ is the gradient a connection would get if it were grown at 0; it costs
#   the dense price, so it is computed only on request.
# - Static sparse training keeps the pattern exactly: the sparsity after training is the sparsity at
#   initialisation, and the masked layer of the article reaches the same weights.
# - `minisparse.reference_kernels()` turns every product into its one-line formula for a debugger.
#
# ## Exercises
#
# Each exercise has an answer cell (`answer = None` until you fill it in) and a check that prints
# "correct" or a hint.
#
# **1.** Layer 2 of the tiny network has no connection at (3, 2). If one were grown there at weight 0,
# which gradient would it get on the batch of section d? Compute it from `A1` and `dZ2_hand`.

# %%
def check_exercise_1(answer):
    if answer is None:
        print("not answered yet. Hint: section d6, G = A_prevᵀ dZ, read at one position")
        return
    assert not topology.mask(W2)[3, 2], "(3, 2) is inactive in W2"
    expect = net.loss_and_grads(X, y, dense=True)[1][1].G[3, 2]          # the library's dense gradient
    print("correct" if np.isclose(answer, expect) else f"not quite: {answer!r} (see section d6)")


answer = None          # e.g. sum(A1[bb, 3] * dZ2_hand[bb, 2] for bb in range(B))
check_exercise_1(answer)

# %% [markdown]
# **2.** The article also suggests 90 % sparsity. For the 100-256-256-10 network with a uniform
# density of 0.1, how many connections does each of the three layers store, and what is the measured
# sparsity? Answer `(nnz_per_layer, sparsity)`, e.g. `([2560, ..., ...], 0.9...)`.

# %%
def check_exercise_2(answer):
    if answer is None:
        print("not answered yet. Hint: section b, nnz_l = round(d · n_in · n_out); "
              "sparsity = 1 − Σ nnz / Σ n_in·n_out")
        return
    nnz_answer, sparsity_answer = answer
    model = SparseMLP.random([100, 256, 256, 10], density=1 - 0.9, rng=0)
    expect = [layer.nnz for layer in model.layers]
    ok = list(nnz_answer) == expect and np.isclose(sparsity_answer, sparsity(model), rtol=0, atol=1e-9)
    print("correct" if ok else f"not quite: the library stores {expect} connections (check your rounding)")


answer = None
check_exercise_2(answer)

# %% [markdown]
# **3.** Write dA_prev = dZ Wᵀ (section d4) as a loop over W's stored entries, without `toarray`.
# The check runs it on a random 6 × 7 layer that holds one stored zero, against the reference form.

# %%
def check_exercise_3(my_input_gradient):
    W_ex = init.random_sparse(6, 7, 15, np.random.default_rng(11))
    W_ex.data[0] = 0.0                                                    # a stored zero
    dZ_ex = np.random.default_rng(12).standard_normal((4, 7))
    got = my_input_gradient(W_ex, dZ_ex)
    if got is None:
        print("not answered yet. Hint: for each stored k, dA[:, i_k] += W.data[k] · dZ[:, j_k]")
        return
    expect = kernels.reference.input_gradient_product(W_ex, dZ_ex)
    print("correct" if np.shape(got) == expect.shape and agree(got, expect) else "not quite: compare with d4")


def my_input_gradient(W, dZ):
    return None        # your loop here: (B, n_in)


check_exercise_3(my_input_gradient)
