"""The layer's three products when its input is sparse too: only k of the n_in inputs of each row are
active (after a k-WTA layer), so each product needs only the active rows of W.

With A_prev held as a CSR array of its T = Σ_b k_b active entries (b, i, a = A_prev[b, i]):

    forward product         Z[b, :] = Σ_{i active in b} a · W[i, :]                     B·k·(nnz/n_in) MACs
    sampled product         dW_(i,j) = Σ_{b: i active in b} a · dZ[b, j]                 B·k·(nnz/n_in) MACs
    input-gradient product  dA_prev[b, i] = Σ_j dZ[b, j]·W[i, j], at active (b, i) only    B·k·(nnz/n_in) MACs

instead of B·nnz each: the cost follows k, not n_in. The input gradient is needed only at the active
positions, because the k-WTA derivative is 0 everywhere else. What stays proportional to the width:
reading A_prev into CSR (O(B·n_in) comparisons, like the k-WTA selection itself), writing Z
(B·n_out) and, for the sampled product, its nnz outputs.

How, in SciPy without a loop over rows: gather the active rows of W (``W[units]``, one compiled row
gather) and shift each gathered entry's column j to b·n_out + j. That gives one sparse matrix P of
shape (T, B·n_out) whose row t is W's row i_t placed in sample b_t's block, and

    Z.ravel()   = Pᵀ @ a           (a scatter-add, SciPy's compiled CSC matvec)
    dA_active   = P @ dZ.ravel()   (one compiled CSR matvec)

The sampled product has two forms. When the gathered entries M = Σ_active rownnz are few (at most
SCATTER_RATIO·nnz), each gathered entry adds a·dZ[b, j] to its own dW entry (a scatter-add,
``np.bincount``): O(M + nnz). Otherwise the stacking trick turned around is faster: for every stored
entry (i, j) of W, the samples in which unit i fired (a row of A_prevᵀ, gathered per entry) with their
columns shifted to b·n_out + j, then one matvec with dZ.ravel(): O(M) plus a gather per entry, so
its time has an O(nnz) floor. Each form works in chunks of about CHUNK gathered entries, so that
its temporaries stay in cache; their plain forms are the reference products of
:mod:`~minisparse.network.kernels.reference` on the dense A_prev (``tests/test_kernels.py``).

Measured (one BLAS thread, float32, ``python -m minisparse bench-kwta``): these forms beat the
dense-input fast forms once fewer than about 5 % of the inputs are active, which is why
:func:`~minisparse.network.kernels.uses_active` switches to them only below ACTIVE_FRACTION_MAX.
"""
import weakref

import numpy as np
import scipy.sparse as sp

CHUNK = 1 << 18     # gathered entries per chunk: a few MB of temporaries
SCATTER_RATIO = 2.5  # the sampled product scatter-adds while M ≤ this · nnz (measured crossover)
ACTIVE_FRACTION_MAX = 0.05   # below this share of active inputs the active-unit forms are the faster


def _index_dtype(n):
    return np.int32 if n < 2**31 - 1 else np.int64


def active_rows(A_prev):
    """A_prev's nonzero entries as a canonical CSR array (B, n_in): per row, the units that fired."""
    return sp.csr_array(A_prev)


def cached_active_rows(layer, A_prev):
    """:func:`active_rows` of ``A_prev``, built once per array: forward and backward of one training step
    see the same A_prev, so the backward reuses the forward's CSR."""
    cached = getattr(layer, "_active_rows", None)
    if cached is not None and cached[0]() is A_prev:
        return cached[1]
    rows = active_rows(A_prev)
    layer._active_rows = (weakref.ref(A_prev), rows)
    return rows


def _row_chunks(A, W):
    """Contiguous row ranges of A whose gathered entries (Σ active row lengths of W) stay near CHUNK."""
    B = A.shape[0]
    per_row = max(1.0, A.nnz / max(B, 1) * W.nnz / max(W.shape[0], 1))
    step = max(1, int(CHUNK / per_row))
    return [(s, min(B, s + step)) for s in range(0, B, step)]


def stacked_rows(W, A):
    """P (T, B·n_out): row t, the t-th active (b, i) of A, holds W's row i with each column j moved to
    b·n_out + j."""
    B, n_out = A.shape[0], W.shape[1]
    G = W[A.indices]                                                   # (T, n_out), the active rows of W
    idt = _index_dtype(B * n_out)
    block = np.repeat(np.arange(B, dtype=idt) * n_out, np.diff(A.indptr))            # b_t·n_out, (T,)
    cols = G.indices.astype(idt) + np.repeat(block, np.diff(G.indptr))
    return sp.csr_array((G.data, cols, G.indptr), shape=(A.nnz, B * n_out))


def forward_product(W, A):
    """Z = A_prev @ W from the active units of A (CSR): Σ_{i active} a·W[i, :].   # (B, n_out)"""
    B, n_out = A.shape[0], W.shape[1]
    Z = np.empty((B, n_out), dtype=np.result_type(W.dtype, A.dtype))
    for s, e in _row_chunks(A, W):
        part = A[s:e]
        Z[s:e] = (stacked_rows(W, part).T @ part.data).reshape(e - s, n_out)
    return Z


def input_gradient_product(W, A, dZ):
    """dA_prev = dZ @ Wᵀ at the active (b, i) of A only, zero elsewhere.   # (B, n_in)"""
    out = np.zeros(A.shape, dtype=dZ.dtype)
    for s, e in _row_chunks(A, W):
        part = A[s:e]
        values = stacked_rows(W, part) @ dZ[s:e].ravel()
        out[s + np.repeat(np.arange(e - s), np.diff(part.indptr)), part.indices] = values
    return out


def sampled_product(W, A, dZ, entry_rows):
    """dW_k = Σ_{b: i_k active in b} A[b, i_k]·dZ[b, j_k] at W's stored entries.   # (nnz,)

    ``entry_rows``: the row i_k of each stored entry (aligned with W.data)."""
    gathered = int(np.diff(W.indptr)[A.indices].sum())
    if gathered <= SCATTER_RATIO * W.nnz:
        return _sampled_scatter(W, A, dZ)
    return _sampled_per_entry(W, A, dZ, entry_rows)


def _sampled_scatter(W, A, dZ):
    """Each active (b, i) and each stored entry e = (i, j) of row i: dW_e += a·dZ[b, j].   # (nnz,)"""
    B, n_out = dZ.shape
    ids = sp.csr_array((np.arange(W.nnz, dtype=np.int64), W.indices, W.indptr), shape=W.shape)
    G = ids[A.indices]                                                 # (T, n_out): entry ids of the active rows
    per_t = np.diff(G.indptr)
    at = G.indices.astype(np.int64) + np.repeat(np.repeat(np.arange(B, dtype=np.int64) * n_out,
                                                          np.diff(A.indptr)), per_t)      # b·n_out + j
    contributions = dZ.ravel()[at] * np.repeat(A.data, per_t)
    return np.bincount(G.data, weights=contributions, minlength=W.nnz).astype(dZ.dtype, copy=False)


def _sampled_per_entry(W, A, dZ, entry_rows):
    """Per stored entry (i, j): its row's samples, shifted to b·n_out + j, dotted with dZ.ravel().   # (nnz,)"""
    B, n_out = dZ.shape
    fired = A.T.tocsr()                                                # (n_in, B): per unit, where it fired
    per_entry = np.diff(fired.indptr)[entry_rows]                      # samples behind each entry, (nnz,)
    total = int(per_entry.sum())
    ends = np.searchsorted(np.cumsum(per_entry), np.arange(CHUNK, total + CHUNK, CHUNK), side="right")
    bounds = np.unique(np.concatenate([[0], np.minimum(ends, W.nnz), [W.nnz]]))
    dW, flat, idt = np.empty(W.nnz, dtype=dZ.dtype), dZ.ravel(), _index_dtype(B * n_out)
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        Y = fired[entry_rows[lo:hi]]                                   # (hi − lo, B): each entry's samples
        cols = Y.indices.astype(idt) * n_out + np.repeat(W.indices[lo:hi].astype(idt), np.diff(Y.indptr))
        dW[lo:hi] = sp.csr_array((Y.data, cols, Y.indptr), shape=(hi - lo, B * n_out)) @ flat
    return dW
