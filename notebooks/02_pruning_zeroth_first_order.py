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
# # 02 · Pruning by order, part 1: zeroth and first order
#
# **What you will learn.** Article 000, section *Unstructured Pruning Methods*, sorts pruning
# criteria by how many derivatives of the loss they use. This notebook covers the first two orders:
#
# - **zeroth order**, the weights alone: magnitude (per layer or with one global threshold), random
#   pruning, and SET's two-sided rule;
# - **first order**, gradients: SNIP, GraSP, first-order Taylor, movement, and momentum-based pruning.
#
# Notebook 03 continues with second order (OBD, OBS, layer-wise OBS), structured pruning, and the
# pipelines around a criterion. It rebuilds what it needs, so either notebook can be read alone.
#
# **Run time:** about 10 s on a 2-core laptop (fast mode, `MINISPARSE_FAST=1`: about 5 s). The
# outputs saved in the `.ipynb` come from a full run.
#
# Every criterion in `minisparse` follows one convention (`minisparse/pruning/select.py`). A **score**
# is a list with one array per layer, aligned with that layer's `W.data`, and **low means
# unimportant**. `prune_lowest` removes the k lowest. Each section gives the equation and the
# article passage it comes from, works it by hand on a tiny printed example, asserts that the library
# agrees, and prints the library function the assert checks.

# %%
import copy
import inspect
import os

import matplotlib.pyplot as plt
import numpy as np

import minisparse
from minisparse import SGD, SparseLinear, SparseMLP, evaluate, fit, train_step
from minisparse import pruning
from minisparse.pruning import first_order
from minisparse.network import losses, topology
from minisparse.data.datasets import make_teacher_data, stratified_split

FAST = os.environ.get("MINISPARSE_FAST", "0") == "1"
np.set_printoptions(precision=4, suppress=True, linewidth=110)
print(f"FAST = {FAST}   (minisparse {minisparse.__version__}, NumPy {np.__version__})")


# %% [markdown]
# Helpers: the central difference of notebook 01 (it perturbs an array **in place**), the tolerance
# used for every check, `csr`, which turns a small dense array into a CSR layer that stores *every*
# position (explicit zeros included), and `show_source`, which prints a library function.

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


def agree(a, b, rtol=1e-6, atol=1e-8):
    """The tolerance used for every library-vs-hand check below."""
    return np.allclose(a, b, rtol=rtol, atol=atol)


def csr(M):
    """A CSR array that stores every position of the dense array M (zeros too).   # (n_in, n_out)"""
    rows, cols = np.indices(M.shape).reshape(2, -1)
    return topology.from_positions(rows, cols, M.ravel(), shape=M.shape)


def show_source(*functions):
    """Print the library's own code: what the asserts next to it check."""
    for fn in functions:
        print(inspect.getsource(fn))


# %% [markdown]
# ## 0. The network being pruned
#
# A learnable synthetic task: labels from a random one-hidden-layer "teacher" (64 features, 10
# classes, `make_teacher_data`). A softmax regression reaches about 75 % test accuracy on it, and a
# larger student does not get much further with 14,000 training samples, because it learns the
# training set faster than the teacher's rule. Trained plainly (10 epochs, η = 0.05), the
# 64-128-64-10 student below overfit: loss 0.28 on training samples, 1.19 on the test set, test
# accuracy 0.67. Any
# pruning result measured on such a network mixes the criterion with the overfit. So it is trained
# with weight decay λ = 3·10⁻³ and a smaller step, one line per epoch, and the epoch with the lowest
# **validation** loss is kept.

# %%
N_TEACHER, EPOCHS = (4000, 4) if FAST else (20000, 12)
X_all, y_all = make_teacher_data(n=N_TEACHER, rng=0)
teacher = stratified_split(X_all, y_all, rng=0)
print(teacher)
net = SparseMLP.random([64, 128, 64, 10], density=1.0, rng=0)
best = {}


def keep_best(epoch, history):
    """fit's after_epoch hook: keep a copy of the network at its lowest validation loss so far."""
    if not best or history.rows[-1]["val_loss"] < best["val_loss"]:
        best.update(epoch=epoch, val_loss=history.rows[-1]["val_loss"], net=copy.deepcopy(net))


fit(net, SGD(net, lr=0.01, momentum=0.9, weight_decay=3e-3), teacher, EPOCHS, rng=0, verbose=True,
    after_epoch=keep_best)
base = best["net"]
base_loss, base_acc = evaluate(base, teacher.X_test, teacher.y_test)
train_loss = base.loss(teacher.X_train, teacher.y_train)
print(f"{base}\nkept epoch {best['epoch']}: loss on training set {train_loss:.3f}, "
      f"validation {best['val_loss']:.3f}, test {base_loss:.3f}; test accuracy {base_acc:.3f}")

# %% [markdown]
# A gap between training and test loss remains, but a modest one. The accuracies below are about
# what pruning costs this network, not how an overfit one recovers.
#
# ## 1. Zeroth order: weights alone
#
# ### 1a. Score, then remove: per layer or with one global threshold
#
# **Article 000, *Magnitude Pruning (Zeroth-Order Method)*:** s = |w|. Remove the smallest, either
# the same fraction from every layer (layer-wise threshold) or below one threshold shared by all
# layers (global).
#
# A global threshold treats layers unequally when their weights live on different scales. In the
# tiny two-layer network below, the second layer's weights are scaled by 0.3. Under a global
# threshold that layer takes most of the removals, possibly all of them, and then nothing connects
# the hidden layer to the output.

# %%
tiny = SparseMLP.random([6, 5, 3], density=0.6, rng=1)
tiny.layers[1].W.data *= 0.3
for l, layer in enumerate(tiny.layers):
    print(f"layer {l} (· = no connection):\n{topology.show(layer.W)}")

fraction = 0.5
scores = [np.abs(layer.W.data) for layer in tiny.layers]
per_layer_hand = []
for s in scores:                                         # the k lowest of each layer (stable: ties by position)
    keep = np.ones(s.size, dtype=bool)
    keep[np.argsort(s, kind="stable")[:round(fraction * s.size)]] = False
    per_layer_hand.append(keep)
flat = np.concatenate(scores)                            # one threshold over all layers
k_total = round(fraction * flat.size)
threshold = np.sort(flat)[k_total - 1]
global_hand = np.split(flat > threshold, np.cumsum([s.size for s in scores])[:-1])
print(f"global threshold |w| ≤ {threshold:.4f} removes {k_total} of {flat.size}")
for name, keeps in (("per layer", per_layer_hand), ("global", global_hand)):
    print(f"{name:9s}: kept per layer {[int(k.sum()) for k in keeps]} of {[k.size for k in keeps]}")

m_layer, m_global = copy.deepcopy(tiny), copy.deepcopy(tiny)
keeps_layer = pruning.prune_lowest(m_layer, pruning.magnitude_score(m_layer), fraction=fraction)
keeps_global = pruning.prune_lowest(m_global, pruning.magnitude_score(m_global), fraction=fraction,
                                    scope="global")
print(f"layer 1 after per-layer pruning:\n{topology.show(m_layer.layers[1].W)}")
print(f"layer 1 after global pruning:\n{topology.show(m_global.layers[1].W)}")
assert all(np.array_equal(a, b) for a, b in zip(per_layer_hand, keeps_layer))
assert all(np.array_equal(a, b) for a, b in zip(global_hand, keeps_global))
assert [layer.nnz for layer in m_global.layers] == [int(k.sum()) for k in global_hand]

# %%
show_source(pruning.keep_masks, pruning.magnitude_score)

# %% [markdown]
# ### 1b. Magnitude against random pruning on the trained network
#
# Random pruning, s ~ U(0, 1), is the baseline that every criterion must beat. Below, magnitude
# (per layer and global) and random pruning are applied one shot to the trained network, with no
# fine-tuning.

# %%
densities = (0.5, 0.3, 0.2, 0.1, 0.05)
runs = {"magnitude, per layer": (pruning.magnitude_score, "layer"),
        "magnitude, global": (pruning.magnitude_score, "global"),
        "random": (lambda m: pruning.random_score(m, rng=0), "layer")}
acc = {name: [] for name in runs}
print(f"{'density':>8}" + "".join(f"{name:>24}" for name in runs) + "   (test loss / accuracy)")
for d in densities:
    row = []
    for name, (score, scope) in runs.items():
        m = copy.deepcopy(base)
        pruning.prune_lowest(m, score(m), density=d, scope=scope)
        loss_m, acc_m = evaluate(m, teacher.X_test, teacher.y_test)
        acc[name].append(acc_m)
        row.append(f"{loss_m:.3f} / {acc_m:.3f}")
        if name == "magnitude, global" and d == densities[-1]:
            global_density = [round(layer.density, 3) for layer in m.layers]
    print(f"{d:8.2f}" + "".join(f"{r:>24}" for r in row))
print(f"layer densities under the global threshold at density {densities[-1]}: {global_density}")
assert all(a > b for a, b in zip(acc["magnitude, per layer"], acc["random"]))

fig, ax = plt.subplots(figsize=(6, 3.2))
for name, values in acc.items():
    ax.plot(densities, values, "o-", label=name)
ax.axhline(base_acc, color="k", ls="--", lw=1, label=f"unpruned {base_acc:.3f}")
ax.axhline(0.1, color="grey", ls=":", lw=1, label="chance")
ax.set(xscale="log", xlabel="density kept (log scale)", ylabel="test accuracy", title="one shot, no fine-tuning")
ax.set_xticks(densities, [f"{d:g}" for d in densities])
ax.minorticks_off()
ax.grid(alpha=0.3)
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# Magnitude beats random everywhere. The global threshold does better at low density because the
# layers need not give up the same share: at density 0.05 it leaves the 128 × 64 middle layer 2 % of
# its weights and the 64 × 10 output layer 26 % (printed above).
#
# ### 1c. SET's two-sided rule
#
# **Article 000, *Dynamic Sparse Training*, SET's "Magnitude-Based Pruning" step:** remove ζN_l
# weights with the smallest magnitudes. SET's reference code (Mocanu et al. 2018) applies this to each
# sign separately. It removes ζ of the **positive** weights closest to 0 *and* ζ of the **negative**
# weights closest to 0.
#
# By hand on 1,000 weights drawn from N(0, 1) at ζ = 0.3, about 70 % should survive. A widely copied
# buggy variant keeps only weights below a cut taken from the negative side: ζ of the negatives, the
# most negative ones, about 15 % in all, and no positive weight.

# %%
w_set = np.random.default_rng(0).standard_normal(1000)
zeta = 0.3
neg, pos = np.sort(w_set[w_set < 0]), np.sort(w_set[w_set > 0])     # both ascending
k_neg, k_pos = round(zeta * neg.size), round(zeta * pos.size)
neg_cut = neg[neg.size - k_neg]          # the k_neg negatives closest to 0 are neg[n − k_neg:]
pos_cut = pos[k_pos - 1]                 # the k_pos positives closest to 0 are pos[:k_pos]
keep_hand = (w_set < neg_cut) | (w_set > pos_cut)
keep_buggy = w_set < neg[k_neg]          # "keep only the most negative": k_neg weights survive

keep_lib = pruning.set_keep_mask(w_set, zeta)
print(f"{neg.size} negative, {pos.size} positive weights")
print(f"two-sided rule keeps {keep_hand.mean():.1%}  (w < {neg_cut:.3f} or w > {pos_cut:.3f})")
print(f"buggy variant keeps  {keep_buggy.mean():.1%}, of which positive: {(w_set[keep_buggy] > 0).sum()}")
assert np.array_equal(keep_hand, keep_lib)
assert abs(keep_lib.mean() - 0.7) < 0.01 and abs(keep_buggy.mean() - 0.15) < 0.03

# %%
show_source(pruning.set_keep_mask)

# %% [markdown]
# ## 2. First order: gradients
#
# ### 2a. SNIP
#
# **Article 000, *Gradient-Based Pruning (e.g., SNIP)*:** importance |∂L/∂w · w| on one batch at
# initialisation. Remove the lowest in one shot, then train the sparse network from scratch. The
# paper divides by Σ_k |g_k w_k|, which does not change the ranking.
#
# Take a single 4 × 3 softmax layer with 7 connections and a batch of 3. Its gradient, from notebook
# 01, is g_k = Σ_b X[b, i_k] · (softmax(Z) − onehot(y))[b, j_k] / B.

# %%
W_s = topology.from_positions([0, 0, 1, 2, 2, 3, 3], [0, 2, 1, 0, 2, 1, 2],
                              [0.5, -0.3, 0.8, -0.6, 0.2, 0.4, -0.9], shape=(4, 3))
b_s = np.zeros(3)
one = SparseMLP([SparseLinear(W_s, b_s, "linear")])
X_s = np.array([[1.0, -0.5, 0.2, 0.8], [0.3, 0.9, -1.2, 0.4], [-0.7, 0.1, 0.6, -0.2]])
y_s = np.array([2, 0, 1])
B = len(y_s)
rows_s, cols_s = topology.entry_rows(W_s), W_s.indices
print(f"W (· = no connection):\n{topology.show(W_s)}")

P = losses.softmax(X_s @ W_s.toarray() + b_s)
dZ = (P - np.eye(3)[y_s]) / B
g = np.array([X_s[:, rows_s[k]] @ dZ[:, cols_s[k]] for k in range(W_s.nnz)])
snip_hand = np.abs(g * W_s.data)
print(" (i, j)      w        g      |g·w|")
for k in range(W_s.nnz):
    print(f" ({rows_s[k]}, {cols_s[k]})  {W_s.data[k]:6.2f}  {g[k]:8.4f}  {snip_hand[k]:8.4f}")

g_num = central_diff(lambda: one.loss(X_s, y_s), one.layers[0].W.data)
assert agree(g, g_num) and agree(snip_hand, first_order.snip_score(one, X_s, y_s)[0])
snipped = copy.deepcopy(one)
keep = first_order.snip_prune(snipped, X_s, y_s, density=3 / 12)      # keep 3 of the 12 positions
print(f"SNIP keeps 3 of 12 positions:\n{topology.show(snipped.layers[0].W)}")
assert set(np.flatnonzero(keep[0])) == set(np.argsort(snip_hand)[-3:])

# %%
show_source(first_order.snip_score)

# %% [markdown]
# ### 2b. GraSP: θ ⊙ Hg, and why the sign matters
#
# **Article 000, same paragraph: "variants like GraSP (preserving gradient flow: δ_w H g_w)".**
# GraSP (Wang et al. 2020) asks how removing a weight changes the gradient norm. Removing weight q
# means δ = −θ_q e_q, and to first order
#
# Δ‖g‖² ≈ 2 δᵀ H g = −2 θ_q (Hg)_q.
#
# The paper's score is S(−θ) = −θ ⊙ Hg, so Δ‖g‖² ≈ 2 S_q. GraSP **removes the highest S**: the
# weights whose removal reduces the gradient norm least, or even raises it. Under the library's
# low-is-removed convention, `grasp_score` returns θ ⊙ Hg = −S. It is not |θ ⊙ Hg|: the absolute
# value would discard exactly the information GraSP is built on.
#
# The library computes **Hg** by central differences of the hand-written gradient. To check it by
# hand on the layer above, write the loss on logits divided by a temperature T, L_T = CE(Z/T, y)
# (T = 1 is the ordinary loss). Its gradient and exact Hessian with respect to the stored weights are
#
# g[k] = (1/(BT)) Σ_b X[b, i_k] · (p_b − onehot(y_b))[j_k],
# H[k, l] = (1/(BT²)) Σ_b X[b, i_k] X[b, i_l] · (δ_{j_k j_l} p_{b, j_k} − p_{b, j_k} p_{b, j_l}),
#
# with p_b = softmax(Z_b / T).

# %%
def grad_and_hessian(T):
    """g (7,) and H (7, 7) of CE((X_s W + b)/T, y_s) with respect to the stored weights, by hand."""
    P_T = losses.softmax((X_s @ W_s.toarray() + b_s) / T)
    dZ_T = (P_T - np.eye(3)[y_s]) / (B * T)
    g_T = np.array([X_s[:, rows_s[k]] @ dZ_T[:, cols_s[k]] for k in range(W_s.nnz)])
    H_T = np.zeros((W_s.nnz, W_s.nnz))
    for bb in range(B):
        curvature = np.diag(P_T[bb]) - np.outer(P_T[bb], P_T[bb])          # ∂²L_b/∂(Z/T)²   (3, 3)
        x = X_s[bb]
        H_T += np.outer(x[rows_s], x[rows_s]) * curvature[np.ix_(cols_s, cols_s)] / (B * T ** 2)
    return g_T, H_T


g1, H_exact = grad_and_hessian(1.0)
assert agree(g1, g)                                                     # T = 1: SNIP's gradient
Hg_exact = H_exact @ g
print("H (7 × 7, exact, T = 1) =\n", H_exact)

Hg_lib = first_order.hessian_vector_product(one, X_s, y_s, [g])[0]
H_by_columns = np.column_stack([first_order.hessian_vector_product(one, X_s, y_s, [e])[0]
                                for e in np.eye(W_s.nnz)])             # H e_k, column by column
grasp_hand = W_s.data * Hg_exact
print("Hg exact        =", Hg_exact)
print("Hg central diff =", Hg_lib)
print(f"max |Hg error| = {np.abs(Hg_lib - Hg_exact).max():.1e}")
assert agree(Hg_lib, Hg_exact, rtol=1e-5, atol=1e-9) and agree(H_by_columns, H_exact, rtol=1e-5, atol=1e-9)
assert agree(first_order.grasp_score(one, X_s, y_s, temperature=1.0)[0], grasp_hand, rtol=1e-5, atol=1e-9)

# %% [markdown]
# Now check the sign. For each weight, set it to 0, recompute ‖g‖² over all 7 positions, and compare
# the change with the prediction −2θ_q(Hg)_q. The weight with the **lowest** θ ⊙ Hg is the one whose
# removal raises the gradient norm most, and it is the first one GraSP removes.

# %%
g_sq = g @ g
actual = np.zeros(W_s.nnz)
for q in range(W_s.nnz):
    probe = copy.deepcopy(one)
    probe.layers[0].W.data[q] = 0.0                                      # still stored, value 0
    g_q = probe.loss_and_grads(X_s, y_s)[1][0].dW
    actual[q] = g_q @ g_q - g_sq
predicted = -2 * grasp_hand
order = np.argsort(grasp_hand, kind="stable")
print(" (i, j)    θ⊙Hg     predicted Δ‖g‖²   actual Δ‖g‖²")
for q in order:
    print(f" ({rows_s[q]}, {cols_s[q]})  {grasp_hand[q]:8.5f}   {predicted[q]:12.5f}   {actual[q]:12.5f}")
print("GraSP removal order:", [(int(rows_s[q]), int(cols_s[q])) for q in order])
print("|θ⊙Hg| would remove:", [(int(rows_s[q]), int(cols_s[q])) for q in np.argsort(np.abs(grasp_hand))])
assert np.argmax(actual) == order[0]
assert np.corrcoef(predicted, actual)[0, 1] > 0.9

# %% [markdown]
# **Temperature.** GraSP's reference code divides the logits by T = 200 before it takes g and Hg.
# Every softmax is then nearly uniform, so g and H hardly depend on how confident the random
# network's outputs happen to be. `grasp_score` does the same by default (`temperature=200`). Its
# values shrink roughly like 1/T³ (g like 1/T, H like 1/T²), which does not matter because only the
# ranking is used. The ranking itself can change.

# %%
g200, H200 = grad_and_hessian(200.0)
grasp_200 = W_s.data * (H200 @ g200)
lib_200 = first_order.grasp_score(one, X_s, y_s)[0]                    # default temperature = 200
print("T³ · θ ⊙ H_T g_T, T = 200:", grasp_200 * 200.0 ** 3)
print(f"relative error of the library: {np.abs(lib_200 - grasp_200).max() / np.abs(grasp_200).max():.1e}")
print("removal order, T = 1:  ", [(int(rows_s[q]), int(cols_s[q])) for q in np.argsort(grasp_hand, kind="stable")])
print("removal order, T = 200:", [(int(rows_s[q]), int(cols_s[q])) for q in np.argsort(grasp_200, kind="stable")])
assert np.abs(lib_200 - grasp_200).max() < 1e-5 * np.abs(grasp_200).max()

# %%
show_source(first_order.grasp_score)

# %% [markdown]
# ### 2c. First-order Taylor, accumulated over batches
#
# **Article 000, *Other First-Order Examples*: "first-order Taylor expansion (Molchanov et al.,
# 2017)".** Setting w to 0 changes the loss by about −g·w, so |g · w| estimates the size of that
# change. The citation needs care. Molchanov et al. 2017 apply the Taylor criterion to **feature
# maps**: the product of an activation with its gradient, averaged over each map, ranks whole
# convolutional filters. The per-parameter form is in Molchanov et al. 2019 (*Importance Estimation
# for Neural Network Pruning*, CVPR), which scores each parameter by (g_m w_m)² and sums over a
# group to rank a filter. The per-weight quantity itself is older: it is the derivative of the loss
# with respect to a multiplicative gate on the weight, the relevance of Mozer & Smolensky's
# skeletonization (1989), and it is SNIP's |g ⊙ w| (section 2a).
#
# `taylor_score` scores single weights and accumulates over batches:
#
# s = Σ_t |g_t ⊙ w|.
#
# On one batch it ranks like SNIP and like (g w)². Over several batches the absolute value is taken
# **before** the sum, so gradients that cancel across batches still count.

# %%
X_t = np.random.default_rng(3).standard_normal((12, 4))
y_t = np.random.default_rng(4).integers(0, 3, 12)
taylor_hand = np.zeros(W_s.nnz)
for start in range(0, 12, 4):                                          # three batches of four
    taylor_hand += np.abs(one.loss_and_grads(X_t[start:start + 4], y_t[start:start + 4])[1][0].dW
                          * W_s.data)
whole_batch = 3 * first_order.snip_score(one, X_t, y_t)[0]            # = |Σ_t g_t ⊙ w| (equal batches)
print("Taylor Σ_t |g_t ⊙ w| =", taylor_hand)
print("|Σ_t g_t ⊙ w|        =", whole_batch)
assert agree(first_order.taylor_score(one, X_t, y_t, batch_size=4)[0], taylor_hand)
assert np.all(taylor_hand >= whole_batch - 1e-12)

# %% [markdown]
# The library's code, with the same attribution in its docstring:

# %%
show_source(first_order.taylor_score, first_order.TaylorScore.update)

# %% [markdown]
# ### 2d. Movement pruning
#
# **Article 000, *Movement Pruning*:** S = −α Σ_t (∂L/∂W)_t ⊙ W_t, accumulated during fine-tuning.
# Remove the **lowest** S. When g and w have the same sign, an SGD step shrinks |w| and S falls, so a
# weight on its way to 0 loses score even if it is still large. `MovementScore` drops α and uses the
# weight *before* each step.
#
# In the 3 → 2 softmax layer below, the label depends on feature 0 only. Feature 2 is independent
# noise, but its weights start large (±2). Five SGD steps push them toward 0 while they stay the
# largest in the layer.

# %%
rng = np.random.default_rng(5)
X_m = rng.standard_normal((64, 3))
y_m = (X_m[:, 0] > 0).astype(np.int64)
W_m0 = np.array([[-0.6, 0.6], [0.3, -0.3], [2.0, -2.0]])
mover = SparseMLP([SparseLinear(csr(W_m0), np.zeros(2), "linear")])
tracker = first_order.MovementScore(mover)
opt = SGD(mover, lr=0.5, momentum=0.0)
S_hand = np.zeros(6)
for step in range(5):
    w_before = mover.layers[0].W.data.copy()
    _, grads = train_step(mover, opt, X_m, y_m)
    S_hand -= grads[0].dW * w_before
    tracker.update(grads)
w_now = mover.layers[0].W.data
print(" (i, j)   w₀     w₅     movement S")
for k in range(6):
    print(f" ({k // 2}, {k % 2})  {W_m0.ravel()[k]:5.2f}  {w_now[k]:5.2f}  {S_hand[k]:9.4f}")
print("magnitude would remove first:", divmod(int(np.argmin(np.abs(w_now))), 2),
      "   movement removes first:", divmod(int(np.argmin(S_hand)), 2))
assert agree(tracker.scores()[0], S_hand)
assert np.argmax(np.abs(w_now)) // 2 == 2 and np.argmin(S_hand) // 2 == 2

# %%
show_source(first_order.MovementScore.update)

# %% [markdown]
# ### 2e. Momentum-based pruning
#
# **Article 000, *Momentum-Based Pruning*:** track weight magnitudes over the last epochs (e.g. 15)
# "using momentum from SGD", and prune a weight once it has stayed below a threshold for 10–15
# consecutive epochs. Layer importance is written I(W_l) = W_l / W_avg.
#
# **What is "momentum" here?** Not the optimizer's velocity: `MomentumPruner` never reads it, and the
# article's rule needs only |w| epoch by epoch. The name follows WeightMom (Johnson et al. 2022),
# whose description the article's matches (magnitudes of the previous iterations, a per-layer
# importance, 15× compression on CIFAR-10). There, "momentum" refers to a weight's history over the
# previous iterations: a weight goes only when its magnitude has *stayed* low. The SGD of the article
# is just what moves the weights between records. What this buys over a plain magnitude threshold is
# persistence. A weight that passes through 0 on its way to the other sign is small for an epoch or
# two and then recovers; a one-epoch threshold would remove it, the patience rule does not.
#
# `MomentumPruner` reads I_l as mean|W_l| / (mean over layers of mean|W_l′|), with the per-layer
# threshold τ_l = threshold / I_l, so an important layer gets a lower threshold. Multiplying by I_l
# instead would make importance cancel out (see the class docstring). Below: window K = 5,
# patience 3, six epochs on the teacher task, SGD with momentum 0.9. Each epoch's |w| and τ_l are
# recorded by hand as well, and the candidates are worked out from them.

# %%
mom_net = SparseMLP.random([64, 32, 10], density=0.5, rng=6)
pruner = first_order.MomentumPruner(mom_net, threshold=0.05, window=5, patience=3)
history_w, history_tau, history_sign = [], [], []


def record(epoch, history):
    means = np.array([np.abs(layer.W.data).mean() for layer in mom_net.layers])
    history_tau.append(0.05 / (means / means.mean()))
    history_w.append([np.abs(layer.W.data).copy() for layer in mom_net.layers])
    history_sign.append(np.sign(mom_net.layers[0].W.data))
    pruner.update()


fit(mom_net, SGD(mom_net, lr=0.05, momentum=0.9), teacher, 6, rng=0, verbose=False, after_epoch=record)
print("τ_l per epoch (layers 0, 1):\n", np.array(history_tau))
below = [np.array([history_w[e][l] < history_tau[e][l] for e in range(6)])    # (epochs, nnz_l)
         for l in range(2)]
cand_hand = [b[-3:].all(axis=0) for b in below]                       # below τ_l in each of the last 3
cand_lib = pruner.candidates()
assert all(np.array_equal(a, b) for a, b in zip(cand_hand, cand_lib))

flipped = (np.array(history_sign) != history_sign[0]).any(axis=0)     # layer 0: changed sign
recovered = below[0][:-1].any(axis=0) & ~below[0][-1]                 # below τ once, above it now
print(f"layer 0 of {mom_net.layers[0].nnz} weights: below τ_0 in the last epoch {below[0][-1].sum()}, "
      f"in each of the last 3 (candidates) {cand_hand[0].sum()}")
print(f"  below τ_0 in an earlier epoch and above it now: {recovered.sum()}, "
      f"of which {int((recovered & flipped).sum())} changed sign")
acc_before = evaluate(mom_net, teacher.X_test, teacher.y_test)[1]
pruner.step_prune()
acc_after = evaluate(mom_net, teacher.X_test, teacher.y_test)[1]
print(f"after step_prune: nnz per layer {[l.nnz for l in mom_net.layers]}, "
      f"test accuracy {acc_before:.3f} → {acc_after:.3f}")
assert [l.nnz for l in mom_net.layers] == [int((~c).sum()) for c in cand_hand]

traj = np.array([h[0] for h in history_w])                            # (epochs, nnz_0): |w| of layer 0
epochs = np.arange(1, 7)
fig, ax = plt.subplots(figsize=(6, 3.2))
for k in np.flatnonzero(cand_hand[0])[:4]:
    ax.plot(epochs, traj[:, k], "-", color="C3", lw=1, label="pruned: below τ_0 in epochs 4–6" if k ==
            np.flatnonzero(cand_hand[0])[0] else None)
for k in np.flatnonzero(recovered & flipped)[:4]:
    ax.plot(epochs, traj[:, k], "-", color="C0", lw=1, label="kept: dipped, changed sign" if k ==
            np.flatnonzero(recovered & flipped)[0] else None)
ax.plot(epochs, [t[0] for t in history_tau], "k--", lw=2, label="τ_0")
ax.set(xlabel="epoch", ylabel="|w|", title="layer 0: the patience rule at work")
ax.grid(alpha=0.3)
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# The library's code: `update` stores |w| and τ_l, nothing from the optimizer, and `candidates` is
# the "below τ_l for `patience` epochs" test.

# %%
show_source(first_order.MomentumPruner.layer_thresholds, first_order.MomentumPruner.update,
            first_order.MomentumPruner.candidates)

# %% [markdown]
# ## 3. The article's other examples: coresets, EGP, gating, sensitivity
#
# The article names more methods under "Other examples" for each order. Four of them, each on the
# trained network `base` and checked by hand (`minisparse.pruning.neuron_scores`,
# `minisparse.pruning.entropy_guided`).
#
# **Zeroth order: coreset pruning** (Mussay et al. 2020). A unit's sensitivity comes from the
# weights alone: its share of what the next layer can receive, s_j = max_k |W_{l+1}[j, k]|·‖w̃_j‖ /
# Σ_q |W_{l+1}[q, k]|·‖w̃_q‖ (w̃_j: the unit's incoming weights and bias). The kept units are
# sampled m times with p_j = s_j / Σ s, and each kept unit's outgoing weights are multiplied by
# count_j / (m·p_j), so that the next layer's input is unchanged in expectation.

# %%
from minisparse.pruning import entropy_guided, neuron_scores

l = 1
W_in, W_out = base.layers[l].W.toarray(), base.layers[l + 1].W.toarray()
w_tilde = np.sqrt((W_in ** 2).sum(axis=0) + base.layers[l].b ** 2)                 # ‖w̃_j‖, (n_l,)
share = np.abs(W_out) * w_tilde[:, None]
s_hand = (share / share.sum(axis=0, keepdims=True)).max(axis=1)
assert agree(neuron_scores.coreset_sensitivity(base, l), s_hand)
p = s_hand / s_hand.sum()
print(f"layer {l}: sensitivities of the first units {s_hand[:5]}; sampling probabilities sum to {p.sum():.3f}")
# unbiased: E[count_j] = m·p_j, so E[count_j / (m·p_j)] = 1 for every unit, whatever m
m = 40
counts = np.random.default_rng(0).multinomial(m, p, size=20000)
print("mean reweighting factor over 20,000 draws (should be 1):", (counts / (m * p)).mean(axis=0)[:5])
show_source(neuron_scores.coreset_sensitivity)

# %% [markdown]
# **EGP, entropy-guided pruning** (Liao et al. 2023; the article lists it under second order, but it
# reads activations and weights only). Each hidden layer's entropy is the mean binary entropy of its
# ReLUs' ON probabilities (over the units neither always on nor always off); the layers with the most
# predictable units, weighted by their mean |w|, get the largest share of the weights to remove, through
# a softmax of ΣE/E_l. By hand for one step that removes half of the hidden layers' weights:

# %%
H = entropy_guided.layer_entropies(base, teacher.X_train[:1024], batch_size=128)
E = H * np.array([np.abs(layer.W.data).mean() for layer in base.layers[:-1]])
a = E.sum() / E
shares = np.exp(a - a.max()) / np.exp(a - a.max()).sum()
nnz_hidden = np.array([layer.nnz for layer in base.layers[:-1]])
k_hand = np.minimum(0.5 * nnz_hidden.sum() * shares, nnz_hidden)
print(f"layer entropies {H}, E_l = H_l·mean|w| {E}, shares {shares}")
if np.all(k_hand < nnz_hidden):                      # no layer runs out: the plain softmax
    assert agree(entropy_guided.egp_counts(H, E / H, nnz_hidden, 0.5), k_hand)
print("weights removed per hidden layer:", entropy_guided.egp_counts(H, E / H, nnz_hidden, 0.5).astype(int))

# %% [markdown]
# **First order: gating** (Mozer & Smolensky 1988). Put a gate α_j on unit j's output, A_j → α_j·A_j;
# its relevance is −∂L/∂α_j at α = 1 = −Σ_b A[b, j]·∂L/∂A[b, j], a first-order estimate of what removing
# the unit costs. **Sensitivity analysis** (Engelbrecht & Cloete 1996): how much the outputs move with
# the unit's value, S_j = mean_b RMS_k ∂softmax_k/∂A[b, j]. The gate relevance against the central
# difference in α_j for three units of layer 0, and against the loss change of removing each:

# %%
Xc, yc = teacher.X_train[:256], teacher.y_train[:256]
rho = neuron_scores.gating_relevance(base, Xc, yc, 0)
for j in range(3):
    gated = copy.deepcopy(base)
    alpha = np.ones(1)

    def loss_with_gate():
        g = copy.deepcopy(gated)
        g.layers[1].W = topology.from_positions(g.layers[1].rows, g.layers[1].cols,
                                                g.layers[1].W.data * np.where(g.layers[1].rows == j, alpha[0], 1.0),
                                                g.layers[1].shape)
        return g.loss(Xc, yc)
    numeric = -central_diff(loss_with_gate, alpha)[0]
    removed = copy.deepcopy(base)
    removed.layers[1].W.data[removed.layers[1].rows == j] = 0.0
    print(f"unit {j}: relevance {rho[j]:+.5f}, −∂L/∂α by central difference {numeric:+.5f}, "
          f"loss change when removed {removed.loss(Xc, yc) - base.loss(Xc, yc):+.5f}")
    assert agree(rho[j], numeric, rtol=1e-5, atol=1e-8)
S = neuron_scores.sensitivity_scores(base, Xc, 0)
print(f"sensitivity of layer 0's first units: {S[:5]}")
show_source(neuron_scores.gating_relevance)

# %% [markdown]
# A gate on unit j scales its outgoing weights (the rows j of the next layer), which is how the cell
# above perturbs it. The relevance is a first-order estimate: the loss is not linear in α_j between 1
# and 0, so the true cost of removing a unit can differ from it, in size and even in sign. How these scores do at 90 % on MNIST against magnitude and OBS is in the figure
# `pruning_by_order` and the README's table by order.
#
# ## Summary
#
# - A pruning criterion is a score per stored weight (low = unimportant); `prune_lowest` removes the
#   k lowest per layer or under one global threshold, and the two can differ a lot when layers live
#   on different scales.
# - Zeroth order: magnitude beats random one shot; SET drops ζ of each sign, about 70 % kept at
#   ζ = 0.3, not the 15 % of the one-sided variant.
# - First order: SNIP's |g ⊙ w| is the first-order estimate of the loss change; GraSP's θ ⊙ Hg must
#   keep its sign; Taylor sums |g_t ⊙ w| batch by batch; movement favours weights moving away from 0.
# - "Momentum-based" pruning reads no optimizer state: it prunes weights whose magnitude stayed below
#   a layer-scaled threshold for several epochs, which spares weights that only pass through 0.
# - Notebook 03 continues with second order, structured pruning, the pipelines, and ends with the
#   table from article names to functions and where to set breakpoints, for both parts.
#
# ## Exercises
#
# **1.** Prune a copy of the tiny network of section 1a with **one global threshold** and
# `fraction=0.3`. How many weights does layer 1 keep? Answer an integer.

# %%
def check_exercise_1(answer):
    if answer is None:
        print("not answered yet. Hint: sort all 27 |w| together and cut at round(0.3 · 27)")
        return
    m = copy.deepcopy(tiny)
    pruning.prune_lowest(m, pruning.magnitude_score(m), fraction=0.3, scope="global")
    print("correct" if answer == m.layers[1].nnz else "not quite: layer 1's weights are scaled by 0.3")


answer = None
check_exercise_1(answer)


# %% [markdown]
# **2.** Apply SET's rule with ζ = 0.5 to w = [−0.9, −0.5, −0.2, 0.1, 0.3, 0.8, 1.2]. Which indices
# are kept? Answer a list of indices, e.g. `[0, 6]`. (Mind how 0.5 · 3 is rounded.)

# %%
def check_exercise_2(answer):
    if answer is None:
        print("not answered yet. Hint: round(ζ·n) per sign, half to even as Python rounds")
        return
    truth = np.flatnonzero(pruning.set_keep_mask(np.array([-0.9, -0.5, -0.2, 0.1, 0.3, 0.8, 1.2]), 0.5))
    print("correct" if sorted(answer) == truth.tolist() else "not quite: drop round(0.5·n) of each sign")


answer = None
check_exercise_2(answer)


# %% [markdown]
# **3.** Compute the Taylor score of section 2c with **two** batches of six, Σ_t |g_t ⊙ w| over
# (X_t[:6], y_t[:6]) and (X_t[6:], y_t[6:]), by hand (with `one.loss_and_grads`). Which connection
# (i, j) scores lowest? Answer a tuple, e.g. `(0, 2)`.

# %%
def check_exercise_3(answer):
    if answer is None:
        print("not answered yet. Hint: add |dW · w| of the two batches, then take the argmin")
        return
    k = int(np.argmin(first_order.taylor_score(one, X_t, y_t, batch_size=6)[0]))
    truth = (int(rows_s[k]), int(cols_s[k]))
    print("correct" if tuple(answer) == truth else "not quite: take |·| per batch before summing")


answer = None
check_exercise_3(answer)
