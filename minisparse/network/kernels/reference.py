"""The layer's three products as plain expressions: what the fast kernels must equal.

Each is one line of SciPy or NumPy, written as the equation. They cost B·nnz multiply-adds like the
fast forms, but the sampled product gathers two (B, nnz) arrays, and SciPy walks W in its own order
whatever the layer's shape; use them on small layers (``minisparse.reference_kernels()``).
"""
import numpy as np


def forward_product(W, A_prev):
    """Z = A_prev @ W.   # (B, n_out)"""
    return A_prev @ W


def sampled_product(W, A_prev, dZ):
    """dW_k = Σ_b A_prev[b, i_k] · dZ[b, j_k] for every stored entry k = (i_k, j_k).   # (nnz,)"""
    i, j = np.repeat(np.arange(W.shape[0]), np.diff(W.indptr)), W.indices   # entry k's row and column
    return np.einsum("bk,bk->k", A_prev[:, i], dZ[:, j])


def input_gradient_product(W, dZ):
    """dA_prev = dZ @ Wᵀ.   # (B, n_in)"""
    return dZ @ W.T
