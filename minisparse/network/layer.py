"""A sparse fully-connected layer: Z = A_prev @ W + b, A = f(Z), with W a CSR array (n_in, n_out).

Forward and backward are written as their equations, each product one named call into
:mod:`minisparse.network.kernels`:

    forward     Z = A_prev @ W + b                 kernels.forward_product
                A = f(Z)
    backward    dZ = dA ⊙ f′(Z)
                dW_k = Σ_b A_prev[b, i_k] dZ[b, j_k]   kernels.sampled_product   (only W's stored entries)
                db = Σ_b dZ
                dA_prev = dZ Wᵀ                      kernels.input_gradient_product

The weight gradient is *sampled*: only the stored entries of W get one, so a step costs O(B·nnz).
The dense gradient G = A_prevᵀ dZ over every position (inactive ones too) costs O(B·n_in·n_out) time
and an (n_in, n_out) array; it is computed only when a growth method asks for it (``dense=True``).

By default the products run their fast forms, which walk W's entries in a cache-friendly order
(:mod:`~minisparse.network.kernels.fast`); inside ``with minisparse.reference_kernels():`` they run
the one-line formulas of :mod:`~minisparse.network.kernels.reference`, and a debugger steps straight
onto them.
"""
import scipy.sparse as sp

from . import activations, kernels
from .checks import check_dtype
from .kernels.fast import Walks
from .kwta import KWinners


class SparseLinear:
    """Z = A_prev @ W + b, A = f(Z) with W a ``scipy.sparse.csr_array`` of shape (n_in, n_out).

    Parameters
    ----------
    W : csr_array (n_in, n_out)   rows are presynaptic neurons; explicit zeros are connections.
        float32 or float64 (other dtypes are refused: float16 overflows, integers truncate).
    b : ndarray (n_out,)
    activation : {'relu', 'tanh', 'sigmoid', 'linear'} or a :class:`~minisparse.network.kwta.KWinners`

    ``input_fraction``: the share of this layer's inputs active per row, when the layer before is
    k-WTA (k/n_in; None otherwise, set by ``SparseMLP.link_activations``). The products then work
    from the active units only (:mod:`~minisparse.network.kernels.active_units`).
    """

    def __init__(self, W, b, activation="relu"):
        if not isinstance(W, sp.csr_array):
            raise TypeError(f"W must be a scipy.sparse.csr_array, got {type(W).__name__}")
        check_dtype(W.dtype, "W's dtype")                      # float32 or float64 only
        if b.shape != (W.shape[1],):
            raise ValueError(f"b must have shape ({W.shape[1]},) to match W {W.shape}, got {b.shape}")
        if b.dtype != W.dtype:
            raise TypeError(f"b has dtype {b.dtype} but W has {W.dtype}: use one dtype per model")
        self.W, self.b = W, b
        self.input_fraction, self.input_kernels = None, "auto"
        self.set_activation(activation)

    def set_activation(self, activation):
        """f and f′ from a name, or a stateful :class:`KWinners` (k-WTA) over this layer's units."""
        if isinstance(activation, KWinners):
            if activation.n != self.b.shape[0]:
                raise ValueError(f"KWinners over {activation.n} units for a layer of {self.b.shape[0]}")
            self.f, self.f_prime, self.activation = activation, activation.derivative, activation.name
        else:
            self.f, self.f_prime = activations.get(activation)
            self.activation = activation

    def forward(self, A_prev, training=False):
        """Z = A_prev @ W + b, A = f(Z) (k-WTA: ``training`` updates its duty cycles).   # (B, n_out), (B, n_out)"""
        Z = kernels.forward_product(self, A_prev)                  # A_prev @ W, a fresh (B, n_out) array
        Z += self.b                                                 # in place: no second (B, n_out)
        return Z, self.f(Z, training) if self.activation == KWinners.name else self.f(Z)

    def backward(self, A_prev, Z, A, dA, need_dA_prev=True, dense=False):
        """Given dA = ∂L/∂A return (dW on W's pattern (nnz,), db (n_out,), dA_prev (B, n_in) or None,
        G (n_in, n_out) dense or None).
        """
        dZ = dA * self.f_prime(Z, A)                                            # (B, n_out)
        dW = kernels.sampled_product(self, A_prev, dZ)                          # (nnz,) Σ_b A_prev[b,i] dZ[b,j]
        db = dZ.sum(axis=0)                                                     # (n_out,)
        dA_prev = kernels.input_gradient_product(self, dZ, A_prev) if need_dA_prev else None   # (B, n_in) dZ Wᵀ
        G = A_prev.T @ dZ if dense else None                                    # (n_in, n_out), on request
        return dW, db, dA_prev, G

    # -- the pattern, and the copies of it that the fast products walk -----------------------------

    @property
    def W(self):
        return self._W

    @W.setter
    def W(self, W):
        self._W, self.walks = W, Walks(W)            # a new pattern: new copies, built on first use

    @property
    def rows(self):
        """Row index i_k of each stored entry, aligned with W.data.   # (nnz,)"""
        return self.walks.rows

    @property
    def cols(self):
        """Column index j_k of each stored entry, aligned with W.data.   # (nnz,)"""
        return self._W.indices

    @property
    def walk(self):
        """How the fast products visit W's entries: 'row-major', 'column-major' or 'panels'."""
        return self.walks.walk

    def prepare(self):
        """Build now the copies of the pattern that the layer's walk uses (else the next product builds
        them): after a topology update this is the part of the update's cost that the step pays."""
        self.walks.prepare()
        return self

    @property
    def nbytes(self):
        """Bytes the layer holds: W (values, indices, indptr), b, and the copies built for its products
        (entry rows, panels), which are built on first use."""
        return sum(a.nbytes for a in (self._W.data, self._W.indices, self._W.indptr, self.b)) + self.walks.nbytes

    shape = property(lambda self: self._W.shape)
    nnz = property(lambda self: self._W.nnz)
    density = property(lambda self: self._W.nnz / (self._W.shape[0] * self._W.shape[1]))

    def __repr__(self):
        n_in, n_out = self.shape
        act = repr(self.f) if self.activation == KWinners.name else repr(self.activation)
        return (f"SparseLinear({n_in} → {n_out}, nnz={self.nnz:,}, density={self.density:.4g}, "
                f"activation={act}, dtype={self._W.dtype})")
