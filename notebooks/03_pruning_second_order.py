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
# # 03 · Pruning by order, part 2: second order, structured pruning and pipelines
#
# **What you will learn.** Article 000, section *Unstructured Pruning Methods*, continued from
# notebook 02 (zeroth and first order):
#
# - **second order**: OBD's diagonal Hessian, OBS's saliency and update, and layer-wise OBS (the
#   quadratic behind SparseGPT);
# - **structured** pruning: merging near-duplicate neurons, removing low-variance ones;
# - **pipelines**: gradual pruning on the cubic schedule, and the lottery ticket;
# - the pruning figures P1 and P2, computed here at a reduced size;
# - for both parts: article names → functions, and where to set breakpoints.
#
# **Run time:** about 40 s on a 2-core laptop, most of it in section 4 (fast mode,
# `MINISPARSE_FAST=1`: about 10 s). The outputs saved in the `.ipynb` come from a full run.
#
# As in notebook 02, a score is one array per layer aligned with `W.data`, low means unimportant, and
# `prune_lowest` removes the lowest. Each equation is worked by hand on a tiny printed example,
# asserted against the library, and shown next to the library's code.
#
# The first cell limits OpenBLAS to one thread unless `OPENBLAS_NUM_THREADS` is set: on a busy
# two-core machine, a multi-threaded OpenBLAS ran the many small LAPACK calls of OBS about 100 times
# slower (25 s against 0.2 s for the network below, in one measurement).

# %%
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")   # before NumPy loads: see the note above

import copy
import inspect
import time
from unittest import mock

import matplotlib.pyplot as plt
import numpy as np

import minisparse
from minisparse import SGD, SparseLinear, SparseMLP, evaluate, fit
from minisparse import pruning
from minisparse.lab import fig_pruning
from minisparse.pruning import pipelines, second_order, structured
from minisparse.network import losses, topology
from minisparse.data.datasets import Split, load_dataset, make_teacher_data, stratified_split

FAST = os.environ.get("MINISPARSE_FAST", "0") == "1"
np.set_printoptions(precision=4, suppress=True, linewidth=110)
print(f"FAST = {FAST}   (minisparse {minisparse.__version__}, NumPy {np.__version__}, "
      f"OPENBLAS_NUM_THREADS = {os.environ['OPENBLAS_NUM_THREADS']})")


# %% [markdown]
# Helpers: second differences for diagonal Hessians (perturbing an array **in place**), the tolerance
# used for every check, `csr`, which turns a small dense array into a CSR layer that stores *every*
# position, and `show_source`, which prints a library function.

# %%
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
# Notebook 02's trained network, rebuilt the same way: a 64-128-64-10 ReLU MLP on the teacher task,
# SGD with weight decay, keeping the epoch of lowest validation loss (so it is not badly overfit).

# %%
N_TEACHER, EPOCHS = (4000, 4) if FAST else (20000, 12)
X_all, y_all = make_teacher_data(n=N_TEACHER, rng=0)
teacher = stratified_split(X_all, y_all, rng=0)
net = SparseMLP.random([64, 128, 64, 10], density=1.0, rng=0)
best = {}


def keep_best(epoch, history):
    """fit's after_epoch hook: keep a copy of the network at its lowest validation loss so far."""
    if not best or history.rows[-1]["val_loss"] < best["val_loss"]:
        best.update(epoch=epoch, val_loss=history.rows[-1]["val_loss"], net=copy.deepcopy(net))


start = time.perf_counter()
fit(net, SGD(net, lr=0.01, momentum=0.9, weight_decay=3e-3), teacher, EPOCHS, rng=0, verbose=False,
    after_epoch=keep_best)
base = best["net"]
base_loss, base_acc = evaluate(base, teacher.X_test, teacher.y_test)
print(f"{teacher}\n{base}\nkept epoch {best['epoch']} of {EPOCHS} ({time.perf_counter() - start:.1f} s): "
      f"validation loss {best['val_loss']:.3f}, test loss {base_loss:.3f}, test accuracy {base_acc:.3f}")

# %% [markdown]
# ## 1. Second order: curvature
#
# ### 1a. OBD: the diagonal Hessian
#
# **Article 000, *Hessian-Based Pruning (OBD/OBS)*:** δL ≈ ½ δwᵀ H δw. Optimal Brain Damage (LeCun et
# al. 1990) keeps only the diagonal, so removing weight q alone costs
#
# s_q = ½ · H_qq · w_q²   (at a minimum, where g ≈ 0).
#
# A weight w_ij of layer l reaches the per-sample loss L_b only through Z_l[b, j], so
# H_qq = (1/B) Σ_b A_prev[b, i]² · h[b, j], with h = diag ∂²L_b/∂Z_l². At the output,
# ∂²L_b/∂Z² = diag(p_b) − p_b p_bᵀ. One layer down,
#
# h₁[b, j] = f′(Z₁[b, j])² · W₂[j, :] (diag p_b − p_b p_bᵀ) W₂[j, :]ᵀ + f″(Z₁[b, j]) · ∂L_b/∂A₁[b, j].
#
# The **Gauss–Newton** approximation drops the last term. For ReLU f″ = 0 and the two coincide; for
# tanh they do not. Both are checked on a tiny 3 → 4 → 3 network against second differences.

# %%
rng = np.random.default_rng(7)
W1_h, W2_h = rng.standard_normal((3, 4)), rng.standard_normal((4, 3))
b1_h = np.array([0.5, 0.3, 0.4, 0.6])
X_h, y_h = rng.standard_normal((6, 3)), np.array([0, 1, 2, 0, 1, 2])


def obd_net(activation):
    return SparseMLP([SparseLinear(csr(W1_h), b1_h.copy(), activation),
                      SparseLinear(csr(W2_h), np.zeros(3), "linear")])


def diag_hessian_by_hand(activation):
    """[(H_qq of layer 0, aligned with W.data), (H_qq of layer 1)]: exact, and Gauss–Newton."""
    Z1 = X_h @ W1_h + b1_h
    A1 = np.tanh(Z1) if activation == "tanh" else np.maximum(Z1, 0)
    f1 = 1 - A1 ** 2 if activation == "tanh" else (Z1 > 0).astype(float)          # f′
    f2 = -2 * A1 * (1 - A1 ** 2) if activation == "tanh" else np.zeros_like(Z1)    # f″
    P = losses.softmax(A1 @ W2_h)
    H_out = P[:, :, None] * np.eye(3) - P[:, :, None] * P[:, None, :]              # (B, 3, 3)
    dA1 = (P - np.eye(3)[y_h]) @ W2_h.T                                            # ∂L_b/∂A₁
    h2 = np.diagonal(H_out, axis1=1, axis2=2)                                      # (B, 3)
    h1_gn = f1 ** 2 * np.einsum("jc,bcd,jd->bj", W2_h, H_out, W2_h)                # (B, 4)
    out = {}
    for name, h1 in (("gauss_newton", h1_gn), ("exact", h1_gn + f2 * dA1)):
        H1 = (X_h ** 2).T @ h1 / len(y_h)                                          # (3, 4)
        H2 = (A1 ** 2).T @ h2 / len(y_h)                                           # (4, 3)
        out[name] = [H1.ravel(), H2.ravel()]          # csr() stores row by row: ravel = W.data order
    return out, Z1


for activation in ("relu", "tanh"):
    net_h = obd_net(activation)
    hand, Z1 = diag_hessian_by_hand(activation)
    numeric = [second_diff(lambda: net_h.loss(X_h, y_h), layer.W.data) for layer in net_h.layers]
    print(f"--- {activation}: smallest |Z1| = {np.abs(Z1).min():.3f}")
    for l in range(2):
        gn = second_order.hessian_diagonal(net_h, X_h, y_h, method="gauss_newton")[l]
        ex = second_order.hessian_diagonal(net_h, X_h, y_h, method="exact")[l]
        rel_ex = np.abs(ex - numeric[l]).max() / np.abs(numeric[l]).max()
        rel_gn = np.abs(gn - numeric[l]).max() / np.abs(numeric[l]).max()
        print(f"layer {l}: H_qq exact = {ex}")
        print(f"         relative error vs second differences: exact {rel_ex:.1e}, Gauss–Newton {rel_gn:.1e}")
        assert agree(ex, hand["exact"][l]) and agree(gn, hand["gauss_newton"][l])
        assert rel_ex < 1e-4
    assert agree(second_order.obd_score(net_h, X_h, y_h, method="exact")[0],
                 0.5 * hand["exact"][0] * W1_h.ravel() ** 2)

# %%
show_source(second_order.hessian_diagonal, second_order.obd_score)

# %% [markdown]
# With ReLU the two agree with each other and with second differences. With tanh, Gauss–Newton is
# off in the hidden layer, which has the f″ term it omits. The exact diagonal can also be
# **negative** away from a minimum (so is ½ H_qq w_q² then); the Gauss–Newton one, Jᵀ(diag p − ppᵀ)J,
# never is, one reason to prefer it for OBD.
#
# ### 1b. OBS: the saliency and the compensating update
#
# **Same article paragraph.** Optimal Brain Surgeon (Hassibi & Stork 1993) lets the *other* weights
# move to absorb the removal. Minimising ½ δwᵀ H δw subject to w_q + δw_q = 0 gives
#
# δw = −(w_q / [H⁻¹]_qq) · H⁻¹ e_q,   δL = w_q² / (2 [H⁻¹]_qq)   (the OBS saliency).
#
# Since [H⁻¹]_qq ≥ 1 / H_qq, this δL is never larger than OBD's ½ H_qq w_q². Take a quadratic loss
# L(w′) = ½ (w′ − w)ᵀ H (w′ − w) around its minimum w, where weights 0 and 1 are strongly correlated.

# %%
H_q = np.array([[2.0, 1.8, 0.0, 0.0],
                [1.8, 2.0, 0.0, 0.0],
                [0.0, 0.0, 1.0, 0.3],
                [0.0, 0.0, 0.3, 1.0]])
w_q = np.array([1.0, 0.9, 0.5, -0.4])
H_inv = np.linalg.inv(H_q)


def quad_loss(w_new):
    return 0.5 * (w_new - w_q) @ H_q @ (w_new - w_q)


obd_q = 0.5 * np.diag(H_q) * w_q ** 2
obs_q = w_q ** 2 / (2 * np.diag(H_inv))
print(" q   OBD ½H_qq·w²   OBS w²/(2[H⁻¹]_qq)")
for q in range(4):
    print(f" {q}   {obd_q[q]:12.4f}   {obs_q[q]:12.4f}")

q = 0
w_after = w_q - (w_q[q] / H_inv[q, q]) * H_inv[:, q]
w_plain = w_q.copy()
w_plain[q] = 0.0
print(f"remove weight {q}:  before {w_q}")
print(f"   plain removal  → {w_plain}   loss increase {quad_loss(w_plain):.4f}")
print(f"   OBS update     → {w_after}   loss increase {quad_loss(w_after):.4f}")
assert agree(second_order.obs_update(w_q, H_inv, [q]), w_after)
assert agree(second_order.obs_update_hessian(w_q, H_q, [q]), w_after)
assert np.isclose(quad_loss(w_after), obs_q[q]) and np.isclose(quad_loss(w_plain), obd_q[q])
assert np.all(obs_q <= obd_q + 1e-12) and quad_loss(w_after) < 0.2 * quad_loss(w_plain)

Q = [0, 2]                                                             # two at once: the block form
w_two = second_order.obs_update(w_q, H_inv, Q)
print(f"remove {Q} jointly → {w_two}   loss increase {quad_loss(w_two):.4f}   "
      f"(½ w_Qᵀ (H⁻¹_QQ)⁻¹ w_Q = {0.5 * w_q[Q] @ np.linalg.solve(H_inv[np.ix_(Q, Q)], w_q[Q]):.4f})")
assert np.isclose(quad_loss(w_two), 0.5 * w_q[Q] @ np.linalg.solve(H_inv[np.ix_(Q, Q)], w_q[Q]))

# %%
show_source(second_order.obs_update)

# %% [markdown]
# ### 1c. OBS on a network: one Fisher block per neuron
#
# Applied to a network, `obs_score` and `obs_prune` use, for each output neuron j, a damped
# **empirical Fisher** over that neuron's incoming weights:
#
# F_j = (1/N) Σ_b g_b g_bᵀ + λI,   g_b[i] = A_prev[b, i] · ∂L_b/∂Z[b, j],
#
# where λ = damping × the mean of the Fisher diagonal over the layer. Below, the saliencies and the
# update of the output layer of the tiny ReLU network are worked out by hand.

# %%
net_h = obd_net("relu")
A1 = np.maximum(X_h @ W1_h + b1_h, 0)
dZ_b = losses.softmax(A1 @ W2_h) - np.eye(3)[y_h]                      # per-sample ∂L_b/∂Z   (B, 3)
F_diag = ((A1 ** 2).T @ dZ_b ** 2 / len(y_h)).ravel()                  # (12,) in W.data order
lam = 1e-2 * F_diag.mean()
obs_hand = np.zeros(12)
for jj in range(3):
    G = A1 * dZ_b[:, [jj]]                                             # (B, 4) per-sample gradients
    F_j = G.T @ G / len(y_h) + lam * np.eye(4)
    obs_hand[jj::3] = W2_h[:, jj] ** 2 / (2 * np.diag(np.linalg.inv(F_j)))
print("OBS saliency (output layer) =", obs_hand)
assert agree(second_order.obs_score(net_h, X_h, y_h, damping=1e-2)[1], obs_hand)

keep_out = np.ones(12, dtype=bool)
keep_out[np.argsort(obs_hand, kind="stable")[:6]] = False             # half of the layer goes
W2_obs = W2_h.copy()
for jj in range(3):
    G = A1 * dZ_b[:, [jj]]
    F_inv = np.linalg.inv(G.T @ G / len(y_h) + lam * np.eye(4))
    Q = np.flatnonzero(~keep_out[jj::3])                               # rows i of neuron jj that go
    if Q.size:
        W2_obs[:, jj] = second_order.obs_update(W2_h[:, jj], F_inv, Q)
net_obs = obd_net("relu")
keeps = second_order.obs_prune(net_obs, X_h, y_h, fraction=0.5, damping=1e-2)
print(f"output layer before:\n{topology.show(net_h.layers[1].W)}")
print(f"after OBS (removed entries gone, the others moved):\n{topology.show(net_obs.layers[1].W)}")
assert np.array_equal(keeps[1], keep_out)
assert agree(net_obs.layers[1].W.toarray(), W2_obs)

# %%
show_source(second_order.obs_prune)

# %% [markdown]
# ### 1d. Does the update pay off on the trained network?
#
# The update is optimal only for the quadratic model with H ≈ F. But the empirical Fisher is a rough
# stand-in for H away from a minimum, all layers are pruned at once from blocks of the unpruned
# network, and half or more of each layer goes. So the update is compared with the same mask
# without it, and with magnitude and OBD, one shot on the network of section 0. The calibration loss
# (1,000 training samples) is what the saliencies and the update aim at.

# %%
calib = (teacher.X_train[:500], teacher.y_train[:500]) if FAST else (teacher.X_train[:1000], teacher.y_train[:1000])
print(f"unpruned: calibration loss {base.loss(*calib):.4f}, test loss {base_loss:.4f}, accuracy {base_acc:.3f}")
calib_loss = {}
for d in (0.5, 0.3):
    print(f"one shot to density {d}:")
    for name in ("magnitude", "OBD", "OBS mask, no update", "OBS with update"):
        m = copy.deepcopy(base)
        if name == "OBS with update":
            second_order.obs_prune(m, *calib, density=d)
        else:
            s = {"magnitude": lambda: pruning.magnitude_score(m), "OBD": lambda: second_order.obd_score(m, *calib),
                 "OBS mask, no update": lambda: second_order.obs_score(m, *calib)}[name]()
            pruning.prune_lowest(m, s, density=d)
        loss_m, acc_m = evaluate(m, teacher.X_test, teacher.y_test)
        calib_loss[d, name] = m.loss(*calib)
        print(f"  {name:20s}: calibration loss {calib_loss[d, name]:.4f}, test loss {loss_m:.4f}, accuracy {acc_m:.3f}")
    assert calib_loss[d, "OBS with update"] < calib_loss[d, "OBS mask, no update"]          # (the text below)
    assert calib_loss[d, "OBS with update"] < calib_loss[d, "magnitude"]

# %% [markdown]
# Here the update pays off: at both densities OBS with the update has the lowest calibration and
# test loss of the four. The gain is small at density 0.5 (calibration loss 0.539 against 0.549 for
# the same mask without the update) and larger at 0.3 (0.731 against 0.795). It depends on the
# network: on a version of this one trained 10 epochs without weight decay (loss 0.28 on training
# samples, 1.19 on the test set), the same mask did better *without* the update at both densities.
# The saliencies and the update see only the calibration samples, which are training samples.
#
# ### 1e. Layer-wise OBS: the quadratic behind SparseGPT
#
# **Article 000, *Other Second-Order Examples*: "SparseGPT scales second-order to LLMs".** Instead of
# the loss, prune each layer so that its **output** changes least on calibration inputs X (n × n_in):
# min ‖X w_j − X w_j^old‖² / n for each output neuron j. This objective is exactly quadratic, with
#
# H = 2 XᵀX / n + λI   (λ = 0.01 × mean diagonal, so that H is invertible),
#
# shared by every neuron of the layer. What that makes exact, and what it does not:
#
# - **exact:** for a *given* mask, the joint OBS update of each neuron's survivors minimises the
#   (damped) reconstruction error, with no Taylor truncation and no stand-in for H.
# - **not exact:** the mask. `layerwise_obs_prune` picks it in one shot from the single-weight
#   saliencies w_q² / (2[H⁻¹]_qq) of the *unpruned* weights, which ignore how removals interact.
#   SparseGPT (Frantar & Alistarh 2023) instead sweeps the input columns in order, choosing the mask
#   of each block from the weights as updated so far and spreading each column's pruning error over
#   the columns not yet visited.
#
# The test: a dense 32 → 16 layer with strongly correlated inputs, pruned to 30 % density.

# %%
rng = np.random.default_rng(8)
n_cal = 256 if FAST else 1024
X_cal = rng.standard_normal((n_cal, 8)) @ rng.standard_normal((8, 32)) + 0.3 * rng.standard_normal((n_cal, 32))
W_lay = rng.standard_normal((32, 16)) / np.sqrt(32)
layer_net = SparseMLP([SparseLinear(csr(W_lay), np.zeros(16), "linear")])
density = 0.3
k_remove = round((1 - density) * W_lay.size)

H_l = 2 * X_cal.T @ X_cal / n_cal
H_l += 0.01 * np.diag(H_l).mean() * np.eye(32)
H_l_inv = np.linalg.inv(H_l)
sal = (W_lay ** 2 / (2 * np.diag(H_l_inv)[:, None])).ravel()          # (512,) in W.data order
keep_hand = np.ones(W_lay.size, dtype=bool)
keep_hand[np.argsort(sal, kind="stable")[:k_remove]] = False
W_obs_hand = W_lay.copy()
for jj in range(16):
    Q = np.flatnonzero(~keep_hand.reshape(32, 16)[:, jj])
    if Q.size:
        W_obs_hand[:, jj] = second_order.obs_update(W_lay[:, jj], H_l_inv, Q)


def recon_error(W_new):
    return np.sum((X_cal @ W_new - X_cal @ W_lay) ** 2) / n_cal


W_mag = W_lay * (np.abs(W_lay) > np.sort(np.abs(W_lay).ravel())[k_remove - 1])
W_mask_only = W_lay * keep_hand.reshape(32, 16)
obs_net = copy.deepcopy(layer_net)
keep_lib = second_order.layerwise_obs_prune(obs_net, X_cal, density=density)
W_obs_lib = obs_net.layers[0].W.toarray()
print(f"output reconstruction error ‖XW − XW_old‖²/n at density {density} (‖XW_old‖²/n = "
      f"{np.sum((X_cal @ W_lay) ** 2) / n_cal:.2f}):")
for name, W_new in (("magnitude", W_mag), ("OBS mask, no update", W_mask_only),
                    ("layer-wise OBS (mask + update)", W_obs_lib)):
    print(f"  {name:31s} {recon_error(W_new):8.4f}")
assert np.array_equal(keep_lib[0], keep_hand) and agree(W_obs_lib, W_obs_hand)
assert recon_error(W_obs_lib) < 0.5 * recon_error(W_mag)

# %% [markdown]
# The one-shot mask is where the approximation lies. Reaching the same density in steps, each
# re-scoring the weights as updated by the previous one (the same call, repeated), lowers the error:

# %%
stepwise = {}
for steps in (1, 2, 4, 8):
    m = copy.deepcopy(layer_net)
    for s in range(1, steps + 1):
        second_order.layerwise_obs_prune(m, X_cal, density=density ** (s / steps))
    stepwise[steps] = recon_error(m.layers[0].W.toarray())
    print(f"  {steps} step(s) to density {m.layers[0].density:.3f}: reconstruction error {stepwise[steps]:.4f}")
assert np.isclose(stepwise[1], recon_error(W_obs_lib)) and stepwise[8] < stepwise[1]

# %%
show_source(second_order.layerwise_obs_prune)

# %% [markdown]
# ### 1e. OBS at scale: K-FAC and WoodFisher
#
# The article: "approximations like KFAC or WoodFisher help". Both replace the curvature OBS inverts
# (`minisparse.pruning.second_order_approx`), per output neuron j over its incoming stored weights S_j:
#
# - **K-FAC** (Martens & Grosse 2015): the layer's Fisher ≈ A ⊗ G with A = E[a aᵀ] (inputs) and
#   G = E[δ δᵀ] (pre-activation gradients), each damped; neuron j's block is G_jj·A[S_j, S_j], whose
#   inverse is (1/G_jj)·A[S_j, S_j]⁻¹: one small inverse of A per neuron instead of a per-sample sum.
# - **WoodFisher** (Singh & Alistarh 2020): the empirical Fisher λI + (1/N) Σ_n g_n g_nᵀ inverted by N
#   Sherman–Morrison updates, F⁻¹ ← F⁻¹ − F⁻¹ g gᵀ F⁻¹ / (N + gᵀ F⁻¹ g), never forming F.
#
# By hand on a 6 → 3 layer: K-FAC's block inverse against the dense inverse of the Kronecker block,
# and WoodFisher's recursion against the dense inverse of the Fisher it approximates.

# %%
from minisparse.pruning import second_order_approx as approx

small = SparseMLP.random([6, 3, 2], density=0.7, rng=4)
Xs, ys = np.random.default_rng(4).standard_normal((50, 6)), np.random.default_rng(5).integers(0, 2, 50)
A, G = approx.kfac_factors(small, 0, Xs, ys, damping=1e-2)
S = np.flatnonzero(small.layers[0].W.toarray()[:, 0] != 0)                       # neuron 0's inputs
block = G[0, 0] * A[np.ix_(S, S)]
assert agree(approx.kfac_block_inverse(A, G, 0, S), np.linalg.inv(block))
grads = np.random.default_rng(6).standard_normal((40, 5))
lam = 1e-2
F = lam * np.eye(5) + grads.T @ grads / 40
assert agree(approx.woodfisher_inverse(grads, lam), np.linalg.inv(F), rtol=1e-9, atol=1e-12)
print("K-FAC block inverse = inv(G_jj·A[S, S]); WoodFisher's 40 rank-1 updates = inv(λI + GᵀG/N)")
show_source(approx.woodfisher_inverse)

# %% [markdown]
# How close do they come to OBS with the exact Hessian? `approximation_errors` compares saliencies
# (relative error, rank correlation) and the compensating update on one layer of a small trained
# network, with what each costs:

# %%
toy = SparseMLP.random([20, 16, 8, 4], density=0.5, rng=0)
Xt, yt = make_teacher_data(n=600, n_features=20, n_classes=4, n_hidden=24, rng=0)
fit(toy, SGD(toy, lr=0.05, momentum=0.9), stratified_split(Xt, yt, rng=0), 5 if FAST else 20, verbose=False)
for l in range(3):
    errors = approx.approximation_errors(toy, Xt[:400], yt[:400], l)
    for name, e in errors.items():
        print(f"layer {l} {name:10s}: " + ", ".join(f"{k} {v:.3g}" for k, v in e.items() if np.isscalar(v)))

# %% [markdown]
# WoodFisher inverts the same empirical Fisher as `obs_score` (only without forming it), so its
# saliencies are those of the Fisher OBS above; what separates it from the exact Hessian is the Fisher
# itself. K-FAC also drops the correlation between a weight's input and its neuron's output gradient:
# its saliencies are further off, while its ranking of the weights stays close. On layers this small
# the exact blocks cost no more than the approximations; they pay off when a neuron has thousands of
# inputs.

# %% [markdown]
# ## 2. Structured pruning: whole neurons
#
# ### 2a. Merging near-duplicate neurons
#
# **Article 000, *Other Zeroth-Order Examples*: "neuron similarity pruning merges similar-output
# neurons (Srinivas and Babu, 2015)".** Write neuron j's incoming weights with its bias appended as
# w̃_j = (W_l[:, j], b_j), and its outgoing row as a_j = W_{l+1}[j, :]. If neuron j′ is folded into
# neuron j (W_{l+1}[j] += W_{l+1}[j′], then j′ is deleted), the next layer's input changes in
# proportion to the saliency
#
# s(j, j′) = ‖a_j′‖² · ‖w̃_j − w̃_j′‖².
#
# The merge picks the lowest s. In the tiny 3 → 4 → 2 network below, neuron 3 is a copy of neuron 1
# plus noise of size 10⁻³.

# %%
rng = np.random.default_rng(2)
W1 = rng.standard_normal((3, 4))
b1 = rng.standard_normal(4) * 0.1
W1[:, 3] = W1[:, 1] + 1e-3 * rng.standard_normal(3)
b1[3] = b1[1] + 1e-3
W2 = rng.standard_normal((4, 2))
b2 = np.zeros(2)
twin_net = SparseMLP([SparseLinear(csr(W1), b1, "relu"), SparseLinear(csr(W2), b2, "linear")])
X_twin = rng.standard_normal((6, 3))
print("incoming columns with bias, w̃ =\n", np.vstack([W1, b1]))

W_tilde = np.vstack([W1, b1])                                        # (n_in + 1, n)
D = ((W_tilde[:, :, None] - W_tilde[:, None, :]) ** 2).sum(axis=0)   # D[j, j′]
a_sq = (W2 ** 2).sum(axis=1)                                         # ‖a_j′‖²
S = np.where(np.eye(4, dtype=bool), np.inf, D * a_sq[None, :])       # S[j, j′]: j absorbs j′
j, j_prime = np.unravel_index(np.argmin(S), S.shape)
print("saliency S[j, j′] =\n", S)
print(f"lowest: neuron {j_prime} merges into neuron {j}, s = {S[j, j_prime]:.2e}")

W2_hand = W2.copy()
W2_hand[j] += W2_hand[j_prime]
keep_cols = np.arange(4) != j_prime
Z_before = twin_net.forward(X_twin)
Z_hand = np.maximum(X_twin @ W1[:, keep_cols] + b1[keep_cols], 0) @ W2_hand[keep_cols] + b2

twin_lib, sal_lib = structured.similarity_merge_score(twin_net, 0)
merged = copy.deepcopy(twin_net)
removed, twins = structured.merge_similar_neurons(merged, 0, 1)
deleted = copy.deepcopy(twin_net)
structured.remove_neurons(deleted, 0, np.array([j_prime]))          # delete without merging, for contrast
print(f"library: removed {removed}, absorbed by {twins}; widths now {[l.shape for l in merged.layers]}")
print(f"max |ΔZ_out| after the merge: {np.abs(merged.forward(X_twin) - Z_before).max():.2e}")
print(f"max |ΔZ_out| deleting neuron {j_prime} without merging: "
      f"{np.abs(deleted.forward(X_twin) - Z_before).max():.2e}")
assert agree(sal_lib, S[twin_lib, np.arange(4)]) and twin_lib[j_prime] == j
assert removed.tolist() == [j_prime] and twins.tolist() == [j]
assert agree(merged.forward(X_twin), Z_hand)
assert np.abs(merged.forward(X_twin) - Z_before).max() < 1e-2

# %%
show_source(structured.similarity_merge_score)

# %% [markdown]
# ### 2b. Activity (variance) pruning, the mean folded into the next bias
#
# **Same article paragraph: "activity/correlation-based methods eliminate low-variance activations
# (Sietsma and Dow)".** A hidden neuron whose output a_j barely varies over the data acts like a
# constant. Remove the neurons with the lowest Var_X(a_j), and hand their mean to the next layer:
#
# b_{l+1} ← b_{l+1} + ā_j · W_{l+1}[j, :].
#
# Below, neuron 2 of a 3 → 4 → 2 network gets tiny incoming weights and a bias of 1, so it outputs
# about 1 for every input.

# %%
W1_act = rng.standard_normal((3, 4))
W1_act[:, 2] *= 0.01
b1_act = np.array([0.1, 0.0, 1.0, -0.1])
act_net = SparseMLP([SparseLinear(csr(W1_act), b1_act, "relu"),
                     SparseLinear(csr(rng.standard_normal((4, 2))), np.zeros(2), "linear")])
X_act = rng.standard_normal((50, 3))

A1 = np.maximum(X_act @ W1_act + b1_act, 0)                          # (50, 4)
var, mean = A1.var(axis=0), A1.mean(axis=0)
j_low = int(np.argmin(var))
W2_act = act_net.layers[1].W.toarray()
b2_hand = act_net.layers[1].b + mean[j_low] * W2_act[j_low]
Z_hand = np.delete(A1, j_low, axis=1) @ np.delete(W2_act, j_low, axis=0) + b2_hand
print("Var(a_j) =", var, "   mean(a_j) =", mean)
print(f"remove neuron {j_low}; next bias {act_net.layers[1].b} → {b2_hand}")

Z_before = act_net.forward(X_act)
no_fold = copy.deepcopy(act_net)
structured.remove_neurons(no_fold, 0, np.array([j_low]))
removed = structured.prune_low_variance(act_net, X_act, 0, 1)
print(f"max |ΔZ_out| with the mean folded in: {np.abs(act_net.forward(X_act) - Z_before).max():.2e}")
print(f"max |ΔZ_out| without folding:         {np.abs(no_fold.forward(X_act) - Z_before).max():.2e}")
assert removed.tolist() == [j_low] and agree(act_net.layers[1].b, b2_hand)
assert agree(act_net.forward(X_act), Z_hand)
assert agree(structured.activation_variance(no_fold, X_act)[0], np.delete(var, j_low))

# %%
show_source(structured.prune_low_variance)

# %% [markdown]
# ## 3. Pipelines
#
# ### 3a. Gradual pruning on the cubic schedule
#
# **Zhu & Gupta 2017, Eq. 1** (the "gradual" way of running step 2 of the article's magnitude recipe):
#
# s_t = s_f + (s_i − s_f) · (1 − (t − t₀) / (t_end − t₀))³,   density d_t = 1 − s_t.
#
# Sparsity rises fast at first and slowly near the end. `gradual_magnitude_pruning` prunes by
# magnitude to d_t every ΔT steps between t₀ and t_end.

# %%
steps = np.arange(0, 1001)
t0, t_end, d_final = 100, 700, 0.1
progress = np.clip((steps - t0) / (t_end - t0), 0, 1)
d_hand = 1 - ((1 - d_final) + (0 - (1 - d_final)) * (1 - progress) ** 3)
d_lib = pipelines.cubic_density(steps, d_final, t0, t_end)
assert agree(d_lib, d_hand)
events = np.arange(t0, t_end + 1, 50)
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(steps, d_lib, label="cubic_density(t)")
ax.plot(events, pipelines.cubic_density(events, d_final, t0, t_end), "o", ms=4, label="pruning every ΔT = 50")
ax.set(xlabel="training step t", ylabel="density d_t", title="Zhu & Gupta cubic schedule, final density 0.1")
ax.grid(alpha=0.3)
ax.legend()
plt.show()
print("density at t0, midway, t_end:", pipelines.cubic_density(np.array([t0, 400, t_end]), d_final, t0, t_end))

# %% [markdown]
# ### 3b. Iterative magnitude pruning with rewinding (the lottery ticket) vs a random static mask
#
# **Article 000, magnitude pruning, step 4: "Reset the remaining weights to their initial values and
# repeat".** Each round trains, removes p = 1 − d^(1/rounds) of the remaining weights by magnitude,
# and rewinds the survivors to their initial values. One round is done by hand first, to check the
# rewind.

# %%
mnist = load_dataset("mnist5k", rng=0)
if FAST:
    mnist = Split(mnist.X_train[:600], mnist.y_train[:600], mnist.X_val[:0], mnist.y_val[:0],
                  mnist.X_test[:500], mnist.y_test[:500])
sizes, d_ticket, rounds, ep = ([784, 32, 10], 0.1, 2, 2) if FAST else ([784, 100, 10], 0.05, 3, 5)

init_net = SparseMLP.random(sizes, density=1.0, rng=0)
one_round = copy.deepcopy(init_net)
pipelines.train(one_round, mnist, ep, rng=0)
keeps = pruning.prune_lowest(one_round, pruning.magnitude_score(one_round), fraction=0.5)
pipelines.rewind(one_round, init_net)
for layer, start_layer, keep in zip(one_round.layers, init_net.layers, keeps):
    assert np.array_equal(layer.W.data, start_layer.W.data[keep])    # survivors back at their start
print("one round by hand: half the weights removed, survivors rewound to initialisation")

start = time.perf_counter()
ticket, trace, _ = pipelines.lottery_ticket(copy.deepcopy(init_net), mnist, d_ticket, rounds, ep, rng=0)
for r, (d, acc) in enumerate(trace):
    label = f"round {r + 1}: trained at" if r < rounds else "the ticket: trained at"
    print(f"  {label} density {d:.4f}, test accuracy {acc:.3f}")
random_mask = SparseMLP.random(sizes, density=d_ticket, rng=0)
pipelines.train(random_mask, mnist, ep, rng=0)
acc_random = pipelines.accuracy_on_test(random_mask, mnist)
print(f"density {d_ticket}: IMP ticket {trace[-1][1]:.3f}   random static mask {acc_random:.3f}   "
      f"(same {ep} epochs for the final training; {time.perf_counter() - start:.1f} s)")
print("densities per layer: ticket", [round(l.density, 4) for l in ticket.layers],
      " random", [round(l.density, 4) for l in random_mask.layers])
assert all(abs(a.density - b.density) < 1e-3 for a, b in zip(ticket.layers, random_mask.layers))

# %% [markdown]
# ## 4. The pruning figures P1 and P2, at a reduced size
#
# **P1** (`fig_pruning.pruning_data`) trains one MLP on MNIST-5k and prunes it with every criterion
# of notebooks 02 and 03, one shot at several sparsities, then again after a short fine-tuning.
# **P2** (`fig_pruning.scratch_vs_prune_data`) reaches the same final sparsity by six routes (dense
# → prune → fine-tune, gradual, IMP, static sparse from scratch, SNIP or GraSP at initialisation) and
# counts the multiply-adds each spends.
#
# At full size the two took about 5½ minutes on one thread, almost 4 of them in P1's OBS (a
# 784 × 784 Fisher block per first-layer neuron). So this notebook runs **the same code at a reduced
# size**: both functions read their sizes from `fig_pruning.setting`, which the cells below replace
# during the call (`mock.patch.object`), printing what differs. Everything in this section is
# computed here, at that size. The full-size figures are not shown; this command makes them in
# `figures/`:
#
# ```bash
# python -m minisparse figures pruning prune_vs_scratch
# ```

# %%
FULL = fig_pruning.setting(fast=False)
REDUCED = fig_pruning.setting(fast=True) if FAST else {
    **FULL, "sizes": [784, 64, 32, 10], "epochs": 5, "finetune": 1, "calib": 300,
    "sparsities": (0.5, 0.8, 0.9, 0.95), "imp_rounds": 3}
print("what differs from the full-size figures:")
for key in FULL:
    if REDUCED[key] != FULL[key]:
        print(f"  {key:14s} full {FULL[key]!s:38s} here {REDUCED[key]}")

start = time.perf_counter()
with mock.patch.object(fig_pruning, "setting", lambda fast: REDUCED):
    p1 = fig_pruning.pruning_data()                    # one progress line per method and sparsity
print(f"P1, reduced: {time.perf_counter() - start:.1f} s; unpruned test accuracy {p1['dense']:.3f}")
print(f"{'method':32s} {'order':7s} " + " ".join(f"{s:>11.0%}" for s in p1["sparsities"]))
for name, r in p1["methods"].items():
    print(f"{name:32s} {r['order']:7s} " + " ".join(f"{a:.3f}/{b:.3f}" for a, b in zip(r["one_shot"], r["finetuned"])))
print(f"(each cell: test accuracy one shot / after {p1['finetune_epochs']} fine-tuning epoch)")

# %%
x = np.arange(len(p1["sparsities"]))
fig, axes = plt.subplots(1, 3, figsize=(12, 3.8), sharey=True)
for ax, order in zip(axes, ("zeroth", "first", "second")):
    names = [name for name, r in p1["methods"].items() if r["order"] == order]
    for i, name in enumerate(names):
        ax.plot(x, p1["methods"][name]["one_shot"], "o-", color=f"C{i}", label=name)
        ax.plot(x, p1["methods"][name]["finetuned"], "s--", color=f"C{i}", alpha=0.6)
    ax.axhline(p1["dense"], color="k", ls=":", lw=1)
    ax.set_xticks(x, [f"{s:.0%}" for s in p1["sparsities"]])
    ax.set(title=f"{order} order", xlabel="sparsity", ylim=(0, 1))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
axes[0].set_ylabel("test accuracy")
fig.suptitle(f"P1 at a reduced size ({'-'.join(map(str, REDUCED['sizes']))}): solid one shot, "
             f"dashed after fine-tuning, dotted unpruned", fontsize=10)
fig.tight_layout()
plt.show()

# %% [markdown]
# At this size and with one seed, a few points are noise, but some patterns are large:
#
# - One shot, every per-layer criterion falls off by 90 % sparsity. The global magnitude threshold
#   falls least (0.83 at 95 %), because it can leave the small layers more of their weights.
# - Up to 90 %, the second-order criteria hold up better one shot than per-layer magnitude, and one
#   fine-tuning epoch recovers most of what every criterion but random lost at 50–80 %.
# - GraSP is at 0.19 one shot already at 50 %. P1 applies it to a *trained* network. Near a minimum
#   g ≈ 0, so removing weight q leaves a gradient of about −θ_q H e_q. That gradient is large for
#   weights the loss depends on, and GraSP removes those first. GraSP is a criterion for
#   initialisation, where P2 uses it.

# %%
start = time.perf_counter()
with mock.patch.object(fig_pruning, "setting", lambda fast: REDUCED):
    p2 = fig_pruning.scratch_vs_prune_data()
print(f"P2, reduced: {time.perf_counter() - start:.1f} s")
for run in p2["runs"]:
    for name, (acc, macs) in run["results"].items():
        print(f"sparsity {run['sparsity']:.0%}  {name:28s} accuracy {acc:.3f}   {macs / 1e9:6.2f} GMAC")
fig, axes = plt.subplots(1, len(p2["runs"]), figsize=(4 * len(p2["runs"]), 3.2), squeeze=False, sharey=True)
for ax, run in zip(axes[0], p2["runs"]):
    for i, (name, (acc, macs)) in enumerate(run["results"].items()):
        ax.scatter(macs / 1e9, acc, s=40, color=f"C{i}", label=name)
    ax.set(xscale="log", title=f"P2, reduced: sparsity {run['sparsity']:.0%}",
           xlabel="training multiply-adds (10⁹, log)")
    ax.minorticks_off()
    ax.grid(alpha=0.3)
axes[0][0].set_ylabel("test accuracy")
fig.legend(*axes[0][0].get_legend_handles_labels(), fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
fig.tight_layout()
plt.show()

# %% [markdown]
# At 90 %, IMP is the most accurate and the most expensive (three rounds of training). SNIP and
# GraSP at initialisation come close for under a tenth of the cost; a static random mask is cheapest
# and worst. At 98 %, every route but SNIP and GraSP keeps 2 % of *each* layer, which leaves the
# 32 → 10 output layer 6 of its 320 connections at this size; SNIP and GraSP use one global
# threshold and keep 0.81–0.83.
#
# ## 5. Article name → function
#
# | order | article name | score or step | `minisparse` |
# | --- | --- | --- | --- |
# | 0 | magnitude pruning (layer-wise / global threshold) | \|w\| | `pruning.magnitude_score`, `pruning.prune_lowest(scope="layer" / "global")` |
# | 0 | SET's removal step | ζ of positives and ζ of negatives closest to 0 | `pruning.set_keep_mask` |
# | 0 | random pruning (baseline) | U(0, 1) | `pruning.random_score` |
# | 0 | neuron similarity merge (Srinivas & Babu) | ‖a_j′‖²‖w̃_j − w̃_j′‖² | `structured.similarity_merge_score`, `structured.merge_similar_neurons` |
# | 0 | activity / low-variance neurons (Sietsma & Dow) | Var_X(a_j), mean into next bias | `structured.activation_variance`, `structured.prune_low_variance` |
# | 0 | IMP / lottery ticket | train, prune, rewind | `pipelines.lottery_ticket`, `pipelines.rewind` |
# | 0 | gradual magnitude (cubic schedule) | d_t | `pipelines.cubic_density`, `pipelines.gradual_magnitude_pruning` |
# | 0 | dense → prune → fine-tune | | `pipelines.prune_and_finetune` |
# | 1 | SNIP | \|g ⊙ w\| at init | `first_order.snip_score`, `first_order.snip_prune`, `pipelines.prune_at_init_then_train` |
# | 1 | GraSP | θ ⊙ Hg (paper: remove highest −θ ⊙ Hg) | `first_order.grasp_score`, `first_order.grasp_prune`, `first_order.hessian_vector_product`, `pipelines.prune_at_init_then_train` |
# | 1 | first-order Taylor (article: Molchanov 2017; per parameter: Molchanov 2019) | Σ_t \|g_t ⊙ w\| | `first_order.taylor_score`, `first_order.TaylorScore` |
# | 1 | movement pruning | −Σ_t g_t ⊙ w_t | `first_order.MovementScore` |
# | 1 | momentum-based pruning (no optimizer state is read) | \|w\| < threshold / I_l for `patience` epochs | `first_order.MomentumPruner` |
# | 2 | OBD | ½ H_qq w² | `second_order.hessian_diagonal`, `second_order.obd_score` |
# | 2 | OBS | w_q² / (2[H⁻¹]_qq), δw = −(w_q/[H⁻¹]_qq) H⁻¹e_q | `second_order.obs_score`, `second_order.obs_update`, `second_order.obs_prune` |
# | 2 | SparseGPT's quadratic (layer-wise OBS; one-shot mask, no column sweep) | H = 2XᵀX/n + λI | `second_order.layerwise_obs_prune` |
# | 2 | OBS with K-FAC curvature | (1/G_jj)·A[S_j, S_j]⁻¹ | `second_order_approx.kfac_factors`, `second_order_approx.kfac_prune` |
# | 2 | OBS with WoodFisher's inverse | Sherman–Morrison over N samples | `second_order_approx.woodfisher_inverse`, `second_order_approx.woodfisher_prune` |
# | 0 | coreset pruning (Mussay et al.) | sensitivity, sampling, reweighting | `neuron_scores.coreset_sensitivity`, `neuron_scores.coreset_prune` |
# | 1 | gating (Mozer & Smolensky) | −Σ_b A·∂L/∂A | `neuron_scores.gating_relevance`, `neuron_scores.prune_neurons_by_score` |
# | 1 | sensitivity analysis (Engelbrecht & Cloete) | mean RMS ∂softmax/∂A | `neuron_scores.sensitivity_scores`, `neuron_scores.input_sensitivity` |
# | 0 | EGP, entropy-guided (article: second order; reads no curvature) | softmax of ΣE/E_l, E = H·mean\|w\| | `entropy_guided.layer_entropies`, `entropy_guided.egp_prune` |
#
# ## 6. Where to break in
#
# | to see | break in |
# | --- | --- |
# | which entries go (counts, ties, global threshold) | `pruning.keep_masks`, `pruning.keep_all_but_lowest` (called by `pruning.prune_lowest`) |
# | the pattern actually shrinking (optimizer state follows) | `topology.prune` |
# | SET's two thresholds | `pruning.set_keep_mask` |
# | merging twins / folding the mean | `structured.merge_similar_neurons`, `structured.prune_low_variance` |
# | the Hessian-vector product by central differences | `first_order.hessian_vector_product` |
# | movement and Taylor accumulation per step | `first_order.TaylorScore.update`, `first_order.MovementScore.update` |
# | momentum thresholds and candidates | `first_order.MomentumPruner.layer_thresholds`, `first_order.MomentumPruner.candidates` |
# | the diagonal Hessian backward pass (h per layer) | `second_order.gauss_newton_curvature`, `second_order._h_exact_chunk` |
# | OBS per-neuron blocks and the joint update | `second_order._block_scores`, `second_order._block_prune` |
# | the IMP loop and the rewind | `pipelines.lottery_ticket`, `pipelines.rewind` |
#
# For example, to step through the exact diagonal Hessian of the tanh network of section 1a, run:
#
# ```python
# import pdb
# pdb.runcall(second_order.hessian_diagonal, obd_net("tanh"), X_h, y_h, method="exact")
# ```
#
# ## Summary
#
# - OBD ranks by ½ H_qq w²; its Gauss–Newton diagonal is exact for ReLU and never negative.
# - OBS lets the survivors absorb a removal; its update is exact only where the loss is its quadratic.
# - Layer-wise OBS makes the quadratic exact, so the update for a given mask is optimal; the one-shot
#   mask is not, and re-scoring in steps lowers the error.
# - Structured pruning merges a near-twin neuron into its partner, or folds a nearly constant
#   neuron's mean into the next bias.
# - Pipelines decide *when* to prune: the cubic schedule, and IMP with rewinding, whose ticket beats
#   a random static mask of the same density here.
#
# ## Exercises
#
# **1.** On the quadratic of section 1b, remove weights 1 and 3 **jointly** with the OBS update. By
# how much does the loss rise? Answer a float.

# %%
def check_exercise_1(answer):
    if answer is None:
        print("not answered yet. Hint: ½ w_Qᵀ (H⁻¹[Q, Q])⁻¹ w_Q with Q = [1, 3]")
        return
    truth = quad_loss(second_order.obs_update(w_q, H_inv, [1, 3]))
    print("correct" if np.isclose(answer, truth, rtol=1e-4) else "not quite: use the block of H⁻¹, not of H")


answer = None
check_exercise_1(answer)


# %% [markdown]
# **2.** On the cubic schedule of section 3a (t₀ = 100, t_end = 700, final density 0.1), at which
# step t does the density first fall below 0.5? Solve d_t < 0.5 by hand. Answer an integer.

# %%
def check_exercise_2(answer):
    if answer is None:
        print("not answered yet. Hint: (1 − p)³ < 1 − 0.5 / 0.9 with p = (t − t₀)/(t_end − t₀)")
        return
    truth = int(np.argmax(pipelines.cubic_density(steps, d_final, t0, t_end) < 0.5))
    print("correct" if answer == truth else "not quite: the first whole step past the crossing")


answer = None
check_exercise_2(answer)


# %% [markdown]
# **3.** Prune the 32 → 16 layer of section 1e to density **0.5** with layer-wise OBS, by hand (the
# saliencies from H_l_inv, the lowest removed, `obs_update` per neuron). What reconstruction error
# ‖XW − XW_old‖²/n is left? Answer a float.

# %%
def check_exercise_3(answer):
    if answer is None:
        print("not answered yet. Hint: as in section 1e with k_remove = round(0.5 · 512)")
        return
    m = copy.deepcopy(layer_net)
    second_order.layerwise_obs_prune(m, X_cal, density=0.5)
    truth = recon_error(m.layers[0].W.toarray())
    print("correct" if np.isclose(answer, truth, rtol=1e-6) else "not quite: remove 256, update every neuron")


answer = None
check_exercise_3(answer)
