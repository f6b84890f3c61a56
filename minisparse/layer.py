"""A sparse fully-connected layer: Z = A_prev @ W + b, A = f(Z), W a CSR array (n_in, n_out).

The backward pass is written by hand beside the forward pass. Its weight gradient is a *sampled*
product: only the stored entries of W get a gradient, g_k = Σ_b A_prev[b, i_k] · dZ[b, j_k], computed
in chunks of entries so that time is O(B·nnz) and extra memory O(B·chunk). The dense gradient
G = A_prevᵀ dZ over every position (inactive ones too) costs O(B·n_in·n_out) time and an
(n_in, n_out) array; it is computed only when a growth method asks for it.

Each stored entry (i, j) makes every product touch row i of the input activations and row j of the
output's (B values each). Walking the entries in W's row-major order reads the input rows in order
and jumps around the output rows; that is cheap while the output side is small enough to stay in
cache. An *expanding* layer (n_in < n_out, e.g. 784 → 100,000) is the opposite case, so it also keeps
its entries in column-major order (a CSR copy of Wᵀ, rebuilt once per pattern, its values copied
from W.data each step): then the wide side is walked in order and the jumps land on the narrow one.
At 784 → 100,000 (ε = 20, batch 128) that takes the forward product from 123 to 52 ms and the
sampled product from 183 to 106 ms. Square layers have no narrow side; they use row-major order.
"""
import numpy as np
import scipy.sparse as sp

from . import activations
from .topology import entry_rows

CHUNK_ELEMENTS = 1 << 17   # gathered elements per chunk of the sampled product: two 512 KiB float32 buffers
                           # that stay in the 4 MiB L2 with the rows they index (measured: 1 << 15 is
                           # 10-20 % slower from Python overhead, 1 << 19 30 % slower from cache misses)


def sampled_product(A_prev, dZ, rows, cols, chunk_elements=CHUNK_ELEMENTS):
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


class SparseLinear:
    """Z = A_prev @ W + b, A = f(Z) with W a ``scipy.sparse.csr_array`` of shape (n_in, n_out).

    Parameters
    ----------
    W : csr_array (n_in, n_out)   rows are presynaptic neurons; explicit zeros are connections.
    b : ndarray (n_out,)
    activation : {'relu', 'tanh', 'sigmoid', 'linear'}
    """

    def __init__(self, W, b, activation="relu"):
        if not isinstance(W, sp.csr_array):
            raise TypeError(f"W must be a scipy.sparse.csr_array, got {type(W).__name__}")
        if b.shape != (W.shape[1],):
            raise ValueError(f"b must have shape ({W.shape[1]},) to match W {W.shape}, got {b.shape}")
        if b.dtype != W.dtype:
            raise TypeError(f"b has dtype {b.dtype} but W has {W.dtype}: use one dtype per model")
        self.f, self.f_prime = activations.get(activation)
        self.activation = activation
        self.W, self.b = W, b

    @property
    def W(self):
        return self._W

    @W.setter
    def W(self, W):
        self._W, self._rows, self._by_column = W, None, None   # a new pattern: rebuild the caches

    @property
    def rows(self):
        """Row index of each stored entry, computed once per pattern.   # (nnz,)"""
        if self._rows is None:
            self._rows = entry_rows(self._W)
        return self._rows

    @property
    def cols(self):
        return self._W.indices

    @property
    def expanding(self):
        """n_in < n_out: the products walk the entries in column-major order (module docstring)."""
        return self._W.shape[0] < self._W.shape[1]

    def column_major(self):
        """(order, Wt, cols_by_column): W's entries sorted by column then row (W.data[order]), Wᵀ as a
        CSR (n_out, n_in) holding them, and their column indices. Built once per pattern; Wt's values
        are copied from W.data whenever a product uses them (the optimizer updates W.data in place)."""
        if self._by_column is None:
            n_in, n_out = self._W.shape
            order = np.lexsort((self.rows, self.cols))                   # by column j, then row i
            cols = self.cols[order]
            indptr = np.zeros(n_out + 1, dtype=self._W.indptr.dtype)
            np.cumsum(np.bincount(cols, minlength=n_out), out=indptr[1:])
            Wt = sp.csr_array((self._W.data[order], self.rows[order], indptr), shape=(n_out, n_in))
            self._by_column = order, Wt, cols
        return self._by_column

    shape = property(lambda self: self._W.shape)
    nnz = property(lambda self: self._W.nnz)
    density = property(lambda self: self._W.nnz / (self._W.shape[0] * self._W.shape[1]))

    def forward(self, A_prev):
        """Z = A_prev @ W + b, A = f(Z).   # (B, n_out), (B, n_out)"""
        if self.expanding:                                         # Zᵀ = Wᵀ A_prevᵀ, row by output unit
            order, Wt, _ = self.column_major()
            np.take(self._W.data, order, out=Wt.data)               # this step's weights
            Z = (Wt @ A_prev.T).T
        else:
            Z = A_prev @ self._W                                   # a fresh (B, n_out) array
        Z += self.b                                                 # in place: no second (B, n_out)
        return Z, self.f(Z)

    def backward(self, A_prev, Z, A, dA, need_dA_prev=True, dense=False):
        """Given dA = ∂L/∂A return (dW on W's pattern (nnz,), db (n_out,), dA_prev (B, n_in) or None,
        G (n_in, n_out) dense or None).

        dZ = dA ⊙ f'(Z);  dW_k = Σ_b A_prev[b, i_k] dZ[b, j_k];  db = Σ_b dZ;  dA_prev = dZ Wᵀ.
        """
        dZ = dA * self.f_prime(Z, A)                               # (B, n_out)
        if self.expanding:                                         # column-major: walk the wide output side
            order, Wt, cols = self.column_major()
            dW = np.empty(self.nnz, dtype=np.result_type(A_prev, dZ))
            dW[order] = sampled_product(A_prev, dZ, Wt.indices, cols)
            if need_dA_prev:                                       # dA_prevᵀ = (Wᵀ)ᵀ dZᵀ, scattered
                np.take(self._W.data, order, out=Wt.data)           # into the narrow input side
                dA_prev = (Wt.T @ dZ.T).T
            else:
                dA_prev = None
        else:
            dW = sampled_product(A_prev, dZ, self.rows, self.cols)  # (nnz,)
            dA_prev = (self._W @ dZ.T).T if need_dA_prev else None  # (B, n_in)
        db = dZ.sum(axis=0)                                         # (n_out,)
        G = A_prev.T @ dZ if dense else None                        # (n_in, n_out), dense on request
        return dW, db, dA_prev, G

    def __repr__(self):
        n_in, n_out = self.shape
        return (f"SparseLinear({n_in} → {n_out}, nnz={self.nnz:,}, density={self.density:.4g}, "
                f"activation={self.activation!r}, dtype={self._W.dtype})")
