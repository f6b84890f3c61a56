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
# # 10 · Fast kernels: how the products walk the entries
#
# **What you will learn.** Notebook 01 wrote a sparse layer's three products as equations and checked
# them through their one-line reference forms. Every training step in this repository runs their
# *fast* forms instead (`minisparse.network.kernels.fast`). This notebook shows what those do
# differently and why the numbers stay the same:
#
# - the sampled weight gradient taken in cache-sized chunks, and what it costs next to the dense
#   gradient, in time and in memory;
# - the order in which a product visits W's entries (row-major, column-major, panels), how the
#   library picks one from the layer's shape, and what that has to do with the cache;
# - each fast product checked against its reference form, which is its oracle, on every walk.
#
# **Run time:** about 25 s on a 2-core laptop (fast mode, `MINISPARSE_FAST=1`, with smaller
# layers: about 6 s). Timings depend on the machine; the saved outputs come from a full run.
#
# Notation as in notebook 01: W is a CSR array of shape (n_in, n_out) whose row i holds presynaptic
# neuron i's connections; stored entry k sits at (i_k, j_k); a batch has B rows.

# %%
import contextlib
import glob
import inspect
import os
import time
import tracemalloc

import matplotlib.pyplot as plt
import numpy as np

import minisparse
from minisparse import SparseLinear
from minisparse.network import init, kernels, topology
from minisparse.network.kernels import fast, reference

FAST = os.environ.get("MINISPARSE_FAST", "0") == "1"
np.set_printoptions(precision=4, suppress=True, linewidth=110)
print(f"FAST = {FAST}   (minisparse {minisparse.__version__}, NumPy {np.__version__})")


def best_time(fn, repeat=3):
    """The fastest of `repeat` runs of fn(), in seconds (the machine is shared: the minimum is the
    least disturbed run), and fn's last result."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


@contextlib.contextmanager
def panel_units(n):
    """Set fast.PANEL_UNITS for a block, then restore it. `Walks.walk` reads the module constant on
    every call, so layers made inside the block walk as if the constant had that value."""
    saved, fast.PANEL_UNITS = fast.PANEL_UNITS, n
    try:
        yield
    finally:
        fast.PANEL_UNITS = saved


timings = {}            # for the chart at the end: {layer: (names of the two ways, {product: (s, s)})}

# %% [markdown]
# ## a. Three products, two forms
#
# | product | equation | shape |
# | --- | --- | --- |
# | forward | Z = A_prev W | (B, n_out) |
# | sampled | dW_k = Σ_b A_prev[b, i_k] · dZ[b, j_k] | (nnz,) |
# | input gradient | dA_prev = dZ Wᵀ | (B, n_in) |
#
# Each costs B · nnz multiply-adds, whichever way it is computed. `kernels.reference` writes each as
# one line. `kernels.fast` computes the same numbers with copies of W's pattern laid out for the
# cache. A layer calls `kernels.forward_product(layer, A_prev)` and friends, which pick one of the two
# forms (`minisparse.reference_kernels()` switches). The reference forms are the oracle: whatever the
# fast forms do, they must give these numbers.

# %%
print(inspect.getsource(reference))

# %% [markdown]
# ## b. The sampled product, chunk by chunk
#
# Read the sum for one entry as a dot product of two rows:
#
# dW_k = Σ_b A_prevᵀ[i_k, b] · dZᵀ[j_k, b] = ⟨row i_k of A_prevᵀ, row j_k of dZᵀ⟩.
#
# So transpose the two batch arrays once, making each unit's B values contiguous. Then, for a chunk
# of entries, *gather* their rows into two (chunk, B) buffers and take one dot product per row. The
# reference form gathers all nnz rows at once, two (B, nnz) arrays; the chunked form reuses two
# buffers of `fast.CHUNK_ELEMENTS` = 2¹⁷ elements (two 512 KiB buffers in float32), so they stay
# in a core's cache.
#
# By hand on a 4 × 5 layer with 7 entries (one a stored zero), three entries per chunk:

# %%
W = topology.from_positions([0, 0, 1, 2, 2, 3, 3], [1, 4, 0, 2, 3, 0, 4],
                            [0.5, -1.0, 0.0, 2.0, -0.3, 0.7, 1.2], shape=(4, 5))
print(topology.show(W))
rng = np.random.default_rng(0)
A_prev, dZ = rng.standard_normal((2, 4)), rng.standard_normal((2, 5))        # B = 2
rows, cols = topology.entry_rows(W), W.indices

At, dZt = A_prev.T.copy(), dZ.T.copy()                   # (n_in, B), (n_out, B): rows are contiguous
dW_hand = np.empty(W.nnz)
for s in range(0, W.nnz, 3):
    k = np.arange(s, min(s + 3, W.nnz))
    a, d = At[rows[k]], dZt[cols[k]]                     # gathered (chunk, B) buffers
    dW_hand[k] = (a * d).sum(axis=1)                     # one dot product per entry
    print(f"chunk of entries {k.tolist()}: positions {list(zip(rows[k].tolist(), cols[k].tolist()))}"
          f" → {dW_hand[k]}")

assert np.allclose(dW_hand, reference.sampled_product(W, A_prev, dZ))              # the oracle
assert np.allclose(dW_hand, fast.gathered_sampled_product(A_prev, dZ, rows, cols, chunk_elements=3 * 2))
assert np.allclose(dW_hand, fast.gathered_sampled_product(A_prev, dZ, rows, cols))  # default chunks

# %% [markdown]
# The library's version: the same loop, with `np.take(..., out=...)` gathering into preallocated
# buffers and `np.vecdot` taking the row-wise dot products.

# %%
print(inspect.getsource(fast.gathered_sampled_product))

# %% [markdown]
# ## c. Sampled against dense: time and memory
#
# The dense gradient G = A_prevᵀ dZ touches B · n_in · n_out pairs; the sampled product touches
# B · nnz. On a 2,000 × 2,000 layer at 1 % density and batch 128, that is 100 times less work:

# %%
n_mid, B_mid = (1000, 64) if FAST else (2000, 128)
rng = np.random.default_rng(6)
W_mid = init.random_sparse(n_mid, n_mid, n_mid * n_mid // 100, rng)
A_mid, dZ_mid = rng.standard_normal((B_mid, n_mid)), rng.standard_normal((B_mid, n_mid))
rows_mid = topology.entry_rows(W_mid)
t_sampled, g_mid = best_time(lambda: fast.gathered_sampled_product(A_mid, dZ_mid, rows_mid, W_mid.indices), 5)
t_dense, G_mid = best_time(lambda: A_mid.T @ dZ_mid, 5)
timings[f"{n_mid:,} × {n_mid:,}, 1 %, B = {B_mid}"] = (("dense G", "sampled dW"),
                                                      {"weight gradient": (t_dense, t_sampled)})
print(f"sampled dW: {t_sampled * 1e3:7.2f} ms, output {g_mid.nbytes / 1e6:6.2f} MB")
print(f"dense G   : {t_dense * 1e3:7.2f} ms, output {G_mid.nbytes / 1e6:6.2f} MB")
print(f"multiply-adds: sampled {B_mid * W_mid.nnz:.1e}, dense {B_mid * n_mid * n_mid:.1e}")
assert np.allclose(g_mid, G_mid[rows_mid, W_mid.indices])
assert np.allclose(g_mid, reference.sampled_product(W_mid, A_mid, dZ_mid))

# %% [markdown]
# The time ratio is smaller than the work ratio: the dense product is one BLAS call that streams
# through memory, while the sampled one gathers rows from scattered places. The memory ratio is the
# point. On a 100,000 × 100,000 layer with 10⁶ connections (20,000² in fast mode) the dense gradient
# would need n_in · n_out · 8 bytes; the chunked product needs the two transposed batch arrays, two
# buffers and its output.

# %%
n_big, nnz_big, B_big = (20_000, 200_000, 32) if FAST else (100_000, 1_000_000, 32)
rng = np.random.default_rng(4)
W_big = init.random_sparse(n_big, n_big, nnz_big, rng)
A_big, dZ_big = rng.standard_normal((B_big, n_big)), rng.standard_normal((B_big, n_big))
rows_big = topology.entry_rows(W_big)
tracemalloc.start()
start = time.perf_counter()
g_big = fast.gathered_sampled_product(A_big, dZ_big, rows_big, W_big.indices)
seconds = time.perf_counter() - start
peak = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
print(f"{n_big:,} × {n_big:,} layer, nnz = {nnz_big:,}, B = {B_big}: sampled product in {seconds:.2f} s, "
      f"peak extra memory {peak / 1e6:.0f} MB")
print(f"  two transposed batch arrays {2 * A_big.nbytes / 1e6:.0f} MB, output {g_big.nbytes / 1e6:.0f} MB")
print(f"the dense gradient A_prevᵀ dZ would be {n_big * n_big * 8 / 1e9:.1f} GB")
some = np.random.default_rng(5).choice(nnz_big, 5, replace=False)
i_s, j_s = rows_big[some], W_big.indices[some]
assert np.allclose(g_big[some], np.einsum("bk,bk->k", A_big[:, i_s], dZ_big[:, j_s]))   # the reference sum
assert peak < 0.05 * n_big * n_big * 8

# %% [markdown]
# ## d. Which way a product walks the entries
#
# Take the forward product as SciPy computes it on a CSR W, in W's own **row-major** order:
#
# for i = 0, 1, …: for each stored (i, j): Zᵀ[j, :] += W_ij · A_prevᵀ[i, :].
#
# Row i of A_prevᵀ is read once, in order; row j of Zᵀ is wherever the entry points, anywhere among
# n_out rows of B values. Each entry's cost then depends on the side the walk **jumps** on. If that
# side fits in cache, the jump is cheap. If it does not, nearly every entry waits on main memory.
# The other two products have the same structure: each entry (i, j) joins a row of the input side
# to a row of the output side.
#
# - **Column-major** walks a CSR copy of Wᵀ (for j in order, for each stored (i, j)). It reads the
#   output side in order and jumps on the input side. It is the right walk for expanding layers
#   (n_in < n_out, such as 784 → 100,000), whose input side is small.
# - **Panels** are for when both sides are too wide. The entries are regrouped by ranges of output
#   units (panels); the product runs one panel at a time, and its jumps stay inside one panel's
#   slice (section e).
#
# The sizes that matter are those of this machine's caches, next to the side each walk jumps on:

# %%
def cache_sizes():
    """{'L1 Data': '48K', ...} for CPU 0, read from Linux's sysfs (empty elsewhere)."""
    out = {}
    for d in sorted(glob.glob("/sys/devices/system/cpu/cpu0/cache/index*")):
        try:
            read = lambda name: open(os.path.join(d, name)).read().strip()
            out[f"L{read('level')} {read('type')}"] = read("size")
        except OSError:
            pass
    return out


print("caches:", cache_sizes() or "unknown on this system")
print(f"fast.CHUNK_ELEMENTS = {fast.CHUNK_ELEMENTS:,}: two float32 buffers of "
      f"{fast.CHUNK_ELEMENTS * 4 / 2**10:.0f} KiB (section b)")
print(f"fast.PANEL_UNITS    = {fast.PANEL_UNITS:,}: a panel's slice at B = 128, float32, is "
      f"{fast.PANEL_UNITS * 128 * 4 / 2**20:.0f} MiB")
for n_in, n_out in ((784, 100_000), (100_000, 10), (300_000, 300_000)):
    walk = fast.Walks(topology.from_keys(np.array([], dtype=np.int64), np.array([]), (n_in, n_out))).walk
    q = -(-n_out // fast.PANEL_UNITS)                                  # panels of ≤ PANEL_UNITS units
    jumped = {"row-major": n_out, "column-major": n_in, "panels": -(-n_out // q)}[walk]
    print(f"{n_in:>7,} → {n_out:<7,} walk {walk:<12} jumps over {jumped:>7,} units × 128 × 4 B"
          f" = {jumped * 512 / 2**20:6.1f} MiB")

# %% [markdown]
# `Walks.walk` makes the choice from the shape alone. The fast forward product then follows it:
# W's own order, the Wᵀ copy (one "panel" holding all of Wᵀ), or panel by panel.

# %%
print(inspect.getsource(fast.Walks.walk.fget))
print(inspect.getsource(fast.forward_product))

# %% [markdown]
# **Column-major by hand.** Zᵀ = Wᵀ A_prevᵀ: build the CSR of Wᵀ, walk it row by row (output unit j
# in order) and transpose back. The layer builds the same copy once per pattern,
# `layer.walks.panels("in")`, and refreshes its values from `W.data` at every use (the optimizer
# changes `W.data` in place).

# %%
W_x = init.random_sparse(3, 8, 9, np.random.default_rng(1))             # expanding: 3 → 8
layer_x = SparseLinear(W_x, np.zeros(8), "linear")
print("walk:", layer_x.walk)
print("W =")
print(topology.show(W_x))
Wt = W_x.T.tocsr()                                                         # (8, 3): row j = fan-in of unit j
(block,) = layer_x.walks.panels("in").blocks
print("the layer's copy, Wᵀ =")
print(topology.show(block))
A_x = np.random.default_rng(2).standard_normal((2, 3))
Z_hand = (Wt @ A_x.T).T
assert np.array_equal(block.toarray(), W_x.toarray().T)
assert np.allclose(Z_hand, reference.forward_product(W_x, A_x))
assert np.allclose(Z_hand, kernels.forward_product(layer_x, A_x))

# %% [markdown]
# What the column-major walk buys on an expanding layer, 784 → 100,000 with ε = 20 (nnz =
# 20 · (n_in + n_out)), batch 128, float32. Row-major is the reference form `A_prev @ W`, which is
# what the layer would run with the walk forced to row-major. (Fast mode: 784 → 20,000, where the
# output side still fits in cache and the two walks are close.)

# %%
n_in, n_out = (784, 20_000) if FAST else (784, 100_000)
rng = np.random.default_rng(3)
W_e = init.random_sparse(n_in, n_out, 20 * (n_in + n_out), rng).astype(np.float32)
A_e = rng.standard_normal((128, n_in)).astype(np.float32)
dZ_e = rng.standard_normal((128, n_out)).astype(np.float32)
layer_e = SparseLinear(W_e, np.zeros(n_out, np.float32), "relu").prepare()     # builds the Wᵀ copy
t_row, Z_row = best_time(lambda: reference.forward_product(W_e, A_e))
t_col, Z_col = best_time(lambda: fast.forward_product(layer_e.walks, A_e))
t_srow, g_row = best_time(lambda: fast.gathered_sampled_product(A_e, dZ_e, layer_e.rows, W_e.indices))
t_scol, g_col = best_time(lambda: fast.sampled_product(layer_e.walks, A_e, dZ_e))
timings[f"{n_in} → {n_out:,} (expanding)"] = (("row-major", "column-major"),
                                               {"forward": (t_row, t_col), "sampled": (t_srow, t_scol)})
print(f"{n_in} → {n_out:,}, nnz = {W_e.nnz:,}, walk = {layer_e.walk}")
print(f"forward: row-major {t_row * 1e3:6.1f} ms, column-major {t_col * 1e3:6.1f} ms")
print(f"sampled: row-major {t_srow * 1e3:6.1f} ms, column-major {t_scol * 1e3:6.1f} ms")
assert layer_e.walk == "column-major"
assert np.allclose(Z_col, Z_row, rtol=1e-4, atol=1e-4) and np.allclose(g_col, g_row, rtol=1e-4, atol=1e-4)

# %% [markdown]
# ## e. Panels
#
# When both sides are wider than `fast.PANEL_UNITS` (32,768 units), neither order keeps its jumps in
# cache. `fast.build_panels` then cuts the output units into q equal ranges, [e_p, e_{p+1}), and
# regroups W's entries by range:
#
# Z[:, e_p:e_{p+1}] = A_prev · W[:, e_p:e_{p+1}],   p = 0, …, q − 1.
#
# Each panel is a block of W's columns, stored as its own CSR. A product walks one block after the
# other and jumps only within that block's slice of the output. The input gradient uses panels of
# *input* units (blocks of W's rows) in the same way. Within a panel the entries keep their row-major
# order, so each output value adds the same terms in the same order as the row-major walk. The
# results are identical, not merely close.
#
# To see panels on a printable layer, build them on a 12 × 12 layer with panels of 4 units:

# %%
W_p = init.random_sparse(12, 12, 30, np.random.default_rng(7))
print(topology.show(W_p))
panels = fast.build_panels(W_p, topology.entry_rows(W_p), "out", 4)
print("panel edges (output units):", panels.edges)
for lo, hi, block in zip(panels.edges, panels.edges[1:], panels.blocks):
    assert np.array_equal(block.toarray(), W_p.toarray()[:, lo:hi])      # panel p is W[:, lo:hi]
print("panel 1 = W[:, 4:8]:")
print(topology.show(panels.blocks[1]))
print("W.data positions of panel 0's entries:", panels.order[panels.starts[0]:panels.starts[1]])

# %% [markdown]
# The three walks as pictures of the same layer. Each stored entry is numbered in the order the walk
# visits it; the panel walk's edges are drawn in red.

# %%
rows_p = topology.entry_rows(W_p)
walk_orders = {
    "row-major (W's own order)": np.arange(W_p.nnz),
    "column-major (the Wᵀ copy)": fast.build_panels(W_p, rows_p, "in", 12).order,
    "panels of 4 output units": panels.order,
}
fig, axes = plt.subplots(1, 3, figsize=(11, 3.6))
for ax, (title, order) in zip(axes, walk_orders.items()):
    rank = np.empty(W_p.nnz, dtype=int)
    rank[order] = np.arange(W_p.nnz)                       # visit number of each stored entry
    grid = np.full(W_p.shape, np.nan)
    grid[rows_p, W_p.indices] = rank
    ax.imshow(grid, cmap="viridis", interpolation="nearest")
    for (i, j), r in zip(zip(rows_p, W_p.indices), rank):
        ax.text(j, i, str(r), ha="center", va="center", fontsize=6, color="white" if r < 20 else "black")
    if "panels" in title:
        for e in panels.edges[1:-1]:
            ax.axvline(e - 0.5, color="red", lw=2)
    ax.set(title=title, xlabel="output unit j", ylabel="input unit i", xticks=range(0, 12, 2),
           yticks=range(0, 12, 2))
fig.tight_layout()
plt.show()

# %% [markdown]
# A product over panels: for each panel, the block's transpose times the transposed input, written
# into that panel's slice of the output. `Panels.refresh` first copies the current `W.data` into the
# blocks. By hand on the 12 × 12 layer, against `fast.panel_product`:

# %%
print(inspect.getsource(fast.panel_product))
A_p = np.random.default_rng(8).standard_normal((5, 12))
Zt_hand = np.vstack([W_p.toarray()[:, lo:hi].T @ A_p.T for lo, hi in zip(panels.edges, panels.edges[1:])])
assert np.allclose(Zt_hand.T, reference.forward_product(W_p, A_p))
assert np.allclose(fast.panel_product(panels, W_p.data, A_p.T), Zt_hand)

# %% [markdown]
# A layer uses panels only when both sides exceed `fast.PANEL_UNITS`. Lowering the constant to 4
# makes the 12 × 12 layer take the panel walk. Its forward and backward then give the row-major
# results bit for bit:

# %%
dA_p = np.random.default_rng(9).standard_normal((5, 12))
outputs = {}
for units in (fast.PANEL_UNITS, 4):
    with panel_units(units):
        layer_p = SparseLinear(W_p.copy(), np.zeros(12), "relu")
        Z_p, A_out = layer_p.forward(A_p)
        outputs[layer_p.walk] = (Z_p, *layer_p.backward(A_p, Z_p, A_out, dA_p)[:3])
print("walks compared:", list(outputs), "   PANEL_UNITS restored:", fast.PANEL_UNITS)
assert all(np.array_equal(a, b) for a, b in zip(outputs["row-major"], outputs["panels"]))

# %% [markdown]
# At full size: a 100,000 × 100,000 layer with ε = 20 (4 million entries), batch 128, float32
# (40,000² in fast mode). Its (128, 100,000) float32 activations take 51 MB, more than this
# machine's last-level cache. The row-major walk is forced by raising `PANEL_UNITS` above the width.
# Building the panels is timed separately: it is paid once per pattern, and again after every
# topology update.

# %%
n_sq = 40_000 if FAST else 100_000
rng = np.random.default_rng(10)
W_sq = init.random_sparse(n_sq, n_sq, 20 * 2 * n_sq, rng).astype(np.float32)
A_sq = rng.standard_normal((128, n_sq)).astype(np.float32)
dZ_sq = rng.standard_normal((128, n_sq)).astype(np.float32)
results, t_walks = {}, {}
for units in (10**9, fast.PANEL_UNITS):
    with panel_units(units):
        layer_sq = SparseLinear(W_sq, np.zeros(n_sq, np.float32), "relu")
        start = time.perf_counter()
        layer_sq.prepare()
        t_prepare = time.perf_counter() - start
        t = {}
        t["forward"], Z_sq = best_time(lambda: kernels.forward_product(layer_sq, A_sq), 2)
        t["sampled"], g_sq = best_time(lambda: kernels.sampled_product(layer_sq, A_sq, dZ_sq), 2)
        t["input gradient"], dA_sq = best_time(lambda: kernels.input_gradient_product(layer_sq, dZ_sq), 2)
        results[layer_sq.walk] = (Z_sq, g_sq, dA_sq)
        t_walks[layer_sq.walk] = t
        print(f"{layer_sq.walk:>9}: " + ", ".join(f"{name} {s * 1e3:5.0f} ms" for name, s in t.items())
              + f"   (built copies in {t_prepare:.2f} s, {layer_sq.walks.nbytes / 1e6:.0f} MB)")
assert all(np.array_equal(a, b) for a, b in zip(results["row-major"], results["panels"]))
timings[f"{n_sq:,} × {n_sq:,} (both sides wide)"] = (
    ("row-major", "panels"), {name: (t_walks["row-major"][name], t_walks["panels"][name]) for name in t})

# %% [markdown]
# The last-level cache is shared by every core, so these numbers move with whatever else the machine
# is running; the saved outputs come from a busy machine. On a quiet one, the module docstring of
# `kernels.fast` reports the three products at 300,000 × 300,000 taking 2.3 s with panels against
# 4.2 s without.
#
# ## f. Every fast form against its oracle
#
# The claim behind all of the above: whatever the walk and dtype, each fast product equals its
# reference form. Checked here on a contracting, an expanding and (with `PANEL_UNITS` lowered) a
# panel layer, in float64 and float32, with a stored zero in each. The tolerance is the dtype's
# rounding, since the two forms may add in a different order.

# %%
checks = 0
for (n_in, n_out), units in (((40, 9), None), ((9, 40), None), ((30, 30), 8)):
    for dtype in (np.float64, np.float32):
        with panel_units(units or fast.PANEL_UNITS):
            rng = np.random.default_rng(n_in)
            W_o = init.random_sparse(n_in, n_out, (n_in * n_out) // 4, rng).astype(dtype)
            W_o.data[3] = 0                                               # a stored zero
            layer_o = SparseLinear(W_o, np.zeros(n_out, dtype), "relu")
            A_o, dZ_o = rng.standard_normal((7, n_in)).astype(dtype), rng.standard_normal((7, n_out)).astype(dtype)
            tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
            pairs = ((fast.forward_product(layer_o.walks, A_o), reference.forward_product(W_o, A_o)),
                     (fast.sampled_product(layer_o.walks, A_o, dZ_o), reference.sampled_product(W_o, A_o, dZ_o)),
                     (fast.input_gradient_product(layer_o.walks, dZ_o), reference.input_gradient_product(W_o, dZ_o)))
            for got, expect in pairs:
                assert got.dtype == expect.dtype and got.shape == expect.shape
                assert np.allclose(got, expect, **tol)
                checks += 1
            print(f"{n_in:>2} → {n_out:<2} {np.dtype(dtype).name:<8} walk {layer_o.walk:<12} "
                  "forward, sampled, input gradient = reference")
print(f"{checks} products checked")

# %% [markdown]
# All the timings of this notebook in one chart. In each pair, blue is what the layer runs and orange
# is the alternative it avoids.

# %%
fig, axes = plt.subplots(1, len(timings), figsize=(12, 3.0))
for ax, (layer_name, ((other, chosen), bars)) in zip(axes, timings.items()):
    y = np.arange(len(bars))
    ax.barh(y - 0.2, [ms[0] * 1e3 for ms in bars.values()], height=0.4, color="tab:orange", label=other)
    ax.barh(y + 0.2, [ms[1] * 1e3 for ms in bars.values()], height=0.4, color="tab:blue", label=chosen)
    ax.set_yticks(y, list(bars))
    ax.invert_yaxis()
    ax.set(title=layer_name, xlabel="ms (best of a few runs)")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=2, frameon=False)
    ax.grid(axis="x", alpha=0.3)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Where to break in
#
# | to see | break in |
# | --- | --- |
# | the switch between the two forms | `minisparse.network.kernels.forward_product`, `minisparse.network.kernels.sampled_product`, `minisparse.network.kernels.input_gradient_product` |
# | the oracle, one line per product | `minisparse.network.kernels.reference.forward_product` (and `sampled_product`, `input_gradient_product`) |
# | the sampled product chunk by chunk | `minisparse.network.kernels.fast.gathered_sampled_product` |
# | which walk a layer takes | `minisparse.network.kernels.fast.Walks.walk` |
# | building the Wᵀ copy or the panels | `minisparse.network.kernels.fast.Walks.panels`, `minisparse.network.kernels.fast.build_panels` |
# | a product panel by panel, values refreshed from `W.data` | `minisparse.network.kernels.fast.panel_product`, `minisparse.network.kernels.fast.Panels.refresh` |
# | the three fast products | `minisparse.network.kernels.fast.forward_product`, `minisparse.network.kernels.fast.sampled_product`, `minisparse.network.kernels.fast.input_gradient_product` |
#
# ## Summary
#
# - Every product costs B · nnz multiply-adds; the fast forms change only the order and layout in
#   which the entries are visited, and each is checked against its one-line reference form.
# - The sampled product gathers a chunk of entries' rows into two reused buffers: O(B · nnz) time and
#   a few buffers of memory, where the dense gradient needs n_in · n_out floats.
# - Each entry joins a row of the input side to a row of the output side; a walk reads one side in
#   order and jumps on the other, which must fit in cache.
# - `Walks.walk` picks row-major for contracting or small layers, column-major (a Wᵀ copy) for
#   expanding ones, and panels when both sides exceed `PANEL_UNITS`.
# - Panels are blocks of W; they add the same terms in the same order, so the results are
#   bit-identical to the row-major walk. The copies cost memory and a rebuild after each topology
#   change.
#
# ## Exercises
#
# Each answer cell holds `answer = None` until you fill it in; the check prints "correct" or a hint.
#
# **1.** Which walk does a layer take for each of these shapes: 784 → 100,000; 100,000 → 10;
# 300,000 → 300,000; 1,000 → 1,000? Answer a list of four strings.

# %%
EXERCISE_1_SHAPES = [(784, 100_000), (100_000, 10), (300_000, 300_000), (1_000, 1_000)]


def check_exercise_1(answer):
    if answer is None:
        print("not answered yet. Hint: read Walks.walk in section d")
        return
    empty = np.array([], dtype=np.int64)
    expect = [fast.Walks(topology.from_keys(empty, np.array([]), shape)).walk for shape in EXERCISE_1_SHAPES]
    print("correct" if list(answer) == expect else f"not quite: compare with Walks.walk for each shape")


answer = None          # e.g. ["row-major", ...]
check_exercise_1(answer)

# %% [markdown]
# **2.** `build_panels` makes equal panels. Which edges does it give for a layer with 10 output units
# and panels of at most 4 units? (Not [0, 4, 8, 10].)

# %%
def check_exercise_2(answer):
    if answer is None:
        print("not answered yet. Hint: how many panels are needed, and np.linspace(0, 10, q + 1) rounded")
        return
    W_10 = init.random_sparse(6, 10, 20, np.random.default_rng(0))
    expect = fast.build_panels(W_10, topology.entry_rows(W_10), "out", 4).edges
    print("correct" if np.array_equal(answer, expect) else "not quite: read the first lines of build_panels")


answer = None
check_exercise_2(answer)

# %% [markdown]
# **3.** With the default `CHUNK_ELEMENTS`, how many chunks does `gathered_sampled_product` take for
# a layer with 1,000,000 stored entries and a batch of 128?

# %%
def check_exercise_3(answer):
    if answer is None:
        print("not answered yet. Hint: entries per chunk = CHUNK_ELEMENTS // B (section b's source)")
        return
    per_chunk = max(1, fast.CHUNK_ELEMENTS // 128)
    expect = -(-1_000_000 // per_chunk)
    print("correct" if answer == expect else f"not quite: each chunk holds {per_chunk:,} entries")


answer = None
check_exercise_3(answer)
