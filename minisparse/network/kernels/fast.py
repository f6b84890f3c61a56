"""The fast forms of the layer's products: how they walk W's entries, and the copies that makes.

Each stored entry (i, j) makes every product touch row i of the input activations and row j of the
output's (B values each), and a sparse product touches them in whatever order it walks the entries.
The side it jumps around on must fit in cache, or every entry costs a trip to main memory. So a
layer's :class:`Walks` picks the walk from the layer's shape (:attr:`Walks.walk`):

- *row-major* (W's own order): the inputs in order, jumps on the output side. For layers whose output
  side is narrow (contracting layers, e.g. 100,000 → 10) or whose both sides are small.
- *column-major* (a CSR copy of Wᵀ): the outputs in order, jumps on the input side. For expanding
  layers (n_in < n_out, e.g. 784 → 100,000). At 784 → 100,000 (ε = 20, batch 128) that takes the
  forward product from 123 to 52 ms and the sampled product from 183 to 106 ms.
- *panels*: when both sides are wider than ``PANEL_UNITS``, neither order keeps the jumps in cache.
  The entries are then regrouped into panels of consecutive output units (for the forward and the
  sampled product) or input units (for the input gradient), and a product runs panel by panel: it
  reads the other side in order and jumps only within the panel's slice. At 300,000 → 300,000
  (ε = 20, batch 128, float32) the three products take 2.3 s instead of 4.2 s.

The sampled product never forms the (n_in, n_out) product A_prevᵀ dZ: it gathers, a chunk of entries
at a time, their rows of A_prevᵀ and dZᵀ into two reused buffers and takes one dot product per entry
(:func:`gathered_sampled_product`): time O(B·nnz), extra memory O(B·chunk).

The copies in other orders are built once per pattern (:class:`Panels`); their values are refreshed
from ``W.data`` at each use, since the optimizer updates ``W.data`` in place. The cost is memory: 24–28
bytes per stored entry for each side's copy. Every function here equals its counterpart in
:mod:`.reference` (``tests/test_kernels.py``, every walk, float32 and float64).
"""
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from ..topology import entry_rows

CHUNK_ELEMENTS = 1 << 17   # gathered elements per chunk of the sampled product: two 512 KiB float32 buffers,
                           # a core's 1 MiB L2 on the measuring machine (measured: 1 << 15 is 10-20 % slower
                           # from Python overhead, 1 << 19 30 % slower from cache misses)
PANEL_UNITS = 32768        # widest panel: a (128, 32768) float32 slice of activations is 16 MiB, which stays
                           # in the shared last-level cache. Measured at 300,000 → 300,000, batch 128: panels
                           # of 16k / 33k / 66k units take the three products to 2.6 / 2.3 / 2.4 s (4.2 s
                           # without panels)


def gathered_sampled_product(A_prev, dZ, rows, cols, chunk_elements=CHUNK_ELEMENTS):
    """g_k = Σ_b A_prev[b, rows[k]] · dZ[b, cols[k]] for every stored entry k.   # (nnz,)

    The sampled dense–dense product (SDDMM) restricted to W's pattern; the (n_in, n_out) product
    A_prevᵀ dZ is never formed. Entries are taken in chunks: gather their rows of A_prevᵀ and dZᵀ into
    two reused (chunk, B) buffers, then one row-wise dot product per entry. ``rows`` and ``cols`` must
    be in range (they come from a valid CSR pattern): the gathers use ``mode="clip"``, which skips
    NumPy's bounds-checked buffered copy.
    """
    At = np.ascontiguousarray(A_prev.T)            # (n_in, B): a view when A_prev is already F-ordered
    dZt = np.ascontiguousarray(dZ.T)               # (n_out, B)
    dtype = np.result_type(A_prev, dZ)
    g = np.empty(rows.size, dtype=dtype)
    step = max(1, chunk_elements // max(1, A_prev.shape[0]))
    a = np.empty((min(step, rows.size), A_prev.shape[0]), dtype=At.dtype)   # (chunk, B) gather buffers
    d = np.empty((min(step, rows.size), A_prev.shape[0]), dtype=dZt.dtype)
    for s in range(0, rows.size, step):
        e = min(s + step, rows.size)
        np.take(At, rows[s:e], axis=0, out=a[:e - s], mode="clip")
        np.take(dZt, cols[s:e], axis=0, out=d[:e - s], mode="clip")
        np.vecdot(a[:e - s], d[:e - s], out=g[s:e])            # Σ_b over each gathered pair
    return g


class Panels(NamedTuple):
    """W's entries regrouped by ranges of units on one side, each range ("panel") a CSR of its own.

    side 'out': panel p holds the entries whose output unit j is in [edges[p], edges[p+1]), as a CSR
    of shape (n_in, width) in (i, j) order. side 'in': the entries whose input unit i is in the range,
    as a CSR of the block's transpose, shape (n_out, width), in (j, i) order. ``order`` lists W's
    entries panel by panel (panel p holds W.data[order[starts[p]:starts[p+1]]]), and ``rows`` and
    ``cols`` give each entry's (i, j) in that order.
    """
    order: np.ndarray     # (nnz,)
    rows: np.ndarray      # (nnz,) input unit i of each entry, in the panels' order
    cols: np.ndarray      # (nnz,) output unit j
    edges: np.ndarray     # (q + 1,) the panels' first units, then the side's width
    starts: np.ndarray    # (q + 1,) the panels' first entries in ``order``, then nnz
    blocks: list          # q CSR arrays

    def refresh(self, values):
        """Copy the current W.data (``values``) into the blocks; return them."""
        for s, e, block in zip(self.starts, self.starts[1:], self.blocks):
            np.take(values, self.order[s:e], out=block.data)
        return self.blocks


def build_panels(W, rows, side, width):
    """:class:`Panels` of at most ``width`` units on ``side`` ('out' or 'in') for a canonical CSR W;
    ``rows`` is the row of each stored entry. O(nnz + q·n) for q panels: a radix sort of the entries'
    panel numbers for 'out'; for 'in' each panel is a contiguous range of W's entries, turned into
    column order by SciPy's CSR → CSC conversion (a counting sort)."""
    n_in, n_out = W.shape
    n = n_out if side == "out" else n_in
    edges = np.linspace(0, n, -(-n // width) + 1).round().astype(np.intp)   # equal panels
    blocks = []
    if side == "out":                               # W's (i, j) order, stably grouped by j's panel
        panel = np.searchsorted(edges, W.indices, side="right") - 1
        if len(edges) <= 1 << 16:                   # small panel numbers: NumPy's stable sort is a radix sort
            panel = panel.astype(np.uint16)
        order = np.argsort(panel, kind="stable")
        starts = np.concatenate([[0], np.cumsum(np.bincount(panel, minlength=len(edges) - 1))])
        rows, cols = rows[order], W.indices[order]
        for lo, hi, s, e in zip(edges, edges[1:], starts, starts[1:]):
            indptr = np.zeros(n_in + 1, dtype=W.indptr.dtype)
            np.cumsum(np.bincount(rows[s:e], minlength=n_in), out=indptr[1:])
            local = (cols[s:e] - lo).astype(W.indices.dtype)
            blocks.append(sp.csr_array((W.data[order[s:e]], local, indptr), shape=(n_in, hi - lo)))
    else:                                           # rows lo..hi-1 of W, regrouped by column j
        starts = W.indptr[edges].astype(np.intp)
        orders, panel_rows = [], []
        for lo, hi, s, e in zip(edges, edges[1:], starts, starts[1:]):
            positions = sp.csr_array((np.arange(s, e), W.indices[s:e], W.indptr[lo:hi + 1] - s),
                                     shape=(hi - lo, n_out))
            by_column = positions.tocsc()          # (j, i) order, i increasing within each j
            orders.append(by_column.data)
            panel_rows.append(lo + by_column.indices)
            blocks.append(sp.csr_array((W.data[by_column.data], by_column.indices, by_column.indptr),
                                       shape=(n_out, hi - lo)))
        order, rows = np.concatenate(orders), np.concatenate(panel_rows)
        cols = W.indices[order]
    return Panels(order, rows, cols, edges, starts, blocks)


def panel_product(panels, values, Xt):
    """Stack over the panels of block.T @ Xt, the block's slice of the result.   # (edges[-1], B)

    Each block.T is a CSC: SciPy walks Xt's rows in order and scatters into the panel's slice only."""
    blocks = panels.refresh(values)
    if len(blocks) == 1:
        return blocks[0].T @ Xt
    out = np.empty((panels.edges[-1], Xt.shape[1]), dtype=np.result_type(blocks[0].dtype, Xt))
    for lo, hi, block in zip(panels.edges, panels.edges[1:], blocks):
        out[lo:hi] = block.T @ Xt
    return out


class Walks:
    """How the fast products walk one pattern of W, and the copies of it they walk: built on first use,
    kept until the layer's pattern changes (the layer then makes a new :class:`Walks`).

    ``W`` is read, never changed; its values may change in place (the copies refresh from ``W.data``).
    """

    def __init__(self, W):
        self.W, self._rows, self._panels = W, None, {}

    @property
    def rows(self):
        """Row index of each stored entry, computed once per pattern.   # (nnz,)"""
        if self._rows is None:
            self._rows = entry_rows(self.W)
        return self._rows

    @property
    def walk(self):
        """'panels' when both sides are wider than ``PANEL_UNITS``, else 'column-major' for expanding
        layers (n_in < n_out), else 'row-major' (module docstring)."""
        n_in, n_out = self.W.shape
        if min(n_in, n_out) > PANEL_UNITS:
            return "panels"
        return "column-major" if n_in < n_out else "row-major"

    def panels(self, side):
        """The entries regrouped by output ('out') or input ('in') units, built once per pattern: in
        panels of at most ``PANEL_UNITS`` units, or for a column-major walk one panel holding Wᵀ."""
        if side not in self._panels:
            width = self.W.shape[0] if self.walk == "column-major" else PANEL_UNITS
            self._panels[side] = build_panels(self.W, self.rows, side, width)
        return self._panels[side]

    def prepare(self):
        """Build now the copies this walk uses (else the next product builds them)."""
        if self.walk != "row-major":
            self.panels("in")
        if self.walk == "panels":
            self.panels("out")
        self.rows
        return self

    @property
    def nbytes(self):
        """Bytes of the copies built so far (entry rows, panels); W itself not included."""
        arrays = [] if self._rows is None else [self._rows]
        for P in self._panels.values():
            arrays += [P.order, P.rows, P.cols] + [a for block in P.blocks
                                                   for a in (block.data, block.indices, block.indptr)]
        return sum(a.nbytes for a in arrays)

    def __repr__(self):
        return f"Walks({self.walk}, built={sorted(self._panels)}, {self.nbytes:,} bytes)"


def forward_product(walks, A_prev):
    """Z = A_prev @ W, walked as ``walks.walk`` says.   # (B, n_out), a fresh array"""
    walk, W = walks.walk, walks.W
    if walk == "row-major":
        return A_prev @ W
    if walk == "column-major":                                     # Zᵀ = Wᵀ A_prevᵀ, row by output unit
        (Wt,) = walks.panels("in").refresh(W.data)
        return (Wt @ A_prev.T).T
    return panel_product(walks.panels("out"), W.data, A_prev.T).T  # Zᵀ one output panel at a time


def sampled_product(walks, A_prev, dZ):
    """dW_k = Σ_b A_prev[b, i_k] · dZ[b, j_k], aligned with W.data.   # (nnz,)"""
    if walks.walk == "row-major":
        return gathered_sampled_product(A_prev, dZ, walks.rows, walks.W.indices)
    P = walks.panels("in" if walks.walk == "column-major" else "out")
    dW = np.empty(walks.W.nnz, dtype=np.result_type(A_prev, dZ))   # the panels' order, then back to W's
    dW[P.order] = gathered_sampled_product(A_prev, dZ, P.rows, P.cols)
    return dW


def input_gradient_product(walks, dZ):
    """dA_prev = dZ @ Wᵀ.   # (B, n_in)"""
    if walks.walk == "row-major":
        return (walks.W @ dZ.T).T
    # dA_prevᵀ = W dZᵀ one input panel at a time (column-major: one panel, the narrow side)
    return panel_product(walks.panels("in"), walks.W.data, dZ.T).T
