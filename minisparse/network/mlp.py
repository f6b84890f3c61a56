"""A multilayer perceptron whose weights are CSR matrices, with backprop written out by hand."""
from typing import NamedTuple

import numpy as np

from . import init, losses
from .checks import check_density, check_rng, check_X, check_y
from .layer import SparseLinear


class Grad(NamedTuple):
    """One layer's gradients: dW aligned with W.data (nnz,), db (n_out,), and G (n_in, n_out) or None."""
    dW: np.ndarray
    db: np.ndarray
    G: np.ndarray | None = None


TOPOLOGIES = ("uniform", "erdos_renyi", "erk", "dense")


def layer_nnz(shapes, topology, density=None, epsilon=None):
    """Stored entries per layer for an initial topology (see ``minisparse.init``)."""
    if topology == "uniform":
        return [init.uniform_nnz(n_in, n_out, density) for n_in, n_out in shapes]
    if topology == "erdos_renyi":
        if epsilon is None:
            raise ValueError("topology='erdos_renyi' needs epsilon (nnz = ε·(n_in + n_out))")
        return [init.erdos_renyi_nnz(n_in, n_out, epsilon) for n_in, n_out in shapes]
    if topology == "erk":
        d = init.erk_densities(shapes, check_density(density))
        return [max(1, int(round(d_l * n_in * n_out))) for d_l, (n_in, n_out) in zip(d, shapes)]
    if topology == "dense":
        return [n_in * n_out for n_in, n_out in shapes]
    raise ValueError(f"unknown topology {topology!r}; expected one of {TOPOLOGIES}")


def restrict_logits(Z, classes, y=None):
    """Z with every column outside ``classes`` set to −inf: softmax, loss and argmax see only those
    classes, and the others get no gradient.   # (B, C), a copy"""
    classes = np.asarray(classes, dtype=np.int64)
    if classes.ndim != 1 or classes.size == 0 or classes.min() < 0 or classes.max() >= Z.shape[1]:
        raise ValueError(f"classes must be a non-empty list of output units in [0, {Z.shape[1]}), got {classes}")
    if y is not None and not np.isin(y, classes).all():
        raise ValueError(f"labels {np.setdiff1d(y, classes)} are not among the classes {classes.tolist()}")
    out = np.full_like(Z, -np.inf)
    out[:, classes] = Z[:, classes]
    return out


class SparseMLP:
    """Z_l = A_{l−1} @ W_l + b_l, A_l = f(Z_l); the last layer is linear and the loss applies softmax.

    Build one with :meth:`SparseMLP.random`, or pass a list of :class:`SparseLinear` layers.
    """

    def __init__(self, layers):
        for a, b in zip(layers, layers[1:]):
            if a.shape[1] != b.shape[0]:
                raise ValueError(f"layer shapes do not chain: {a.shape} then {b.shape}")
        self.layers = list(layers)

    @classmethod
    def random(cls, sizes, density=None, topology="uniform", epsilon=None, activation="relu",
               rng=0, dtype=np.float64):
        """An MLP with layer widths ``sizes`` (e.g. [784, 300, 100, 10]) and a random sparse start.

        ``topology``: 'uniform' (density d per layer), 'erdos_renyi' (nnz = ε(n_in+n_out), SET),
        'erk' (global density d, RigL) or 'dense'. Weights ~ N(0, gain²/sparse fan-in), biases 0.
        """
        if len(sizes) < 2 or any(int(s) < 1 for s in sizes):
            raise ValueError(f"sizes must list at least two positive widths, got {sizes!r}")
        rng = check_rng(rng)
        shapes = list(zip(sizes[:-1], sizes[1:]))
        if topology == "uniform" and density is None:
            raise ValueError("topology='uniform' needs a density in (0, 1]")
        nnz = layer_nnz(shapes, topology, density, epsilon)
        layers = []
        for l, ((n_in, n_out), k) in enumerate(zip(shapes, nnz)):
            f = "linear" if l == len(shapes) - 1 else activation
            W = init.random_sparse(n_in, n_out, k, rng, activation=f, dtype=dtype)
            layers.append(SparseLinear(W, np.zeros(n_out, dtype=dtype), f))
        return cls(layers)

    n_in = property(lambda self: self.layers[0].shape[0])
    n_classes = property(lambda self: self.layers[-1].shape[1])
    nnz = property(lambda self: sum(layer.nnz for layer in self.layers))
    dtype = property(lambda self: self.layers[0].W.dtype)

    @property
    def density(self):
        """Global density Σ nnz_l / Σ n_in·n_out."""
        return self.nnz / sum(layer.shape[0] * layer.shape[1] for layer in self.layers)

    def forward(self, X, keep=False, training=False):
        """Logits Z_L (B, n_classes); with ``keep`` also the list of (A_prev, Z, A) per layer.
        ``training``: a training pass (k-WTA layers use k, not k_inference, and update duty cycles)."""
        A = check_X(X, self.n_in).astype(self.dtype, copy=False)
        cache = []
        for layer in self.layers:
            Z, A_next = layer.forward(A, training)
            cache.append((A, Z, A_next))
            A = A_next
        return (A, cache) if keep else A

    def loss(self, X, y):
        """Mean softmax cross-entropy on (X, y)."""
        Z = self.forward(X)
        return losses.cross_entropy(Z, check_y(y, self.n_classes, Z.shape[0]))

    def predict(self, X):
        """Predicted class per row.   # (B,)"""
        return self.forward(X).argmax(axis=1)

    def loss_and_grads(self, X, y, dense=False, classes=None):
        """Loss and per-layer :class:`Grad`, by backprop written out layer by layer.

        ``dense``: False, True (every layer) or a collection of layer indices whose dense gradient
        G = A_prevᵀ dZ over all positions is also returned (O(B·n_in·n_out); growth methods only).
        ``classes``: the softmax runs over these output units only (a task's head in task-incremental
        continual learning; the other logits get no gradient); every label must be one of them.
        """
        Z_out, cache = self.forward(X, keep=True, training=True)
        y = check_y(y, self.n_classes, Z_out.shape[0])
        if classes is not None:
            Z_out = restrict_logits(Z_out, classes, y)
        loss = losses.cross_entropy(Z_out, y)
        want_dense = set(range(len(self.layers))) if dense is True else set(dense or ())
        dA = losses.cross_entropy_grad(Z_out, y)                   # (B, n_classes)
        grads = [None] * len(self.layers)
        for l in reversed(range(len(self.layers))):
            A_prev, Z, A = cache[l]
            dW, db, dA, G = self.layers[l].backward(A_prev, Z, A, dA, need_dA_prev=l > 0,
                                                    dense=l in want_dense)
            grads[l] = Grad(dW, db, G)
        return loss, grads

    def link_activations(self):
        """Tell each layer how sparse its input is: k/n_in after a k-WTA layer, None otherwise."""
        for prev, layer in zip(self.layers, self.layers[1:]):
            layer.input_fraction = prev.f.k / prev.shape[1] if prev.activation == "kwta" else None
        self.layers[0].input_fraction = None
        return self

    def end_epoch(self):
        """Once per epoch, from every training loop: k-WTA layers decay their boost strength."""
        for layer in self.layers:
            if hasattr(layer.f, "end_epoch"):
                layer.f.end_epoch()

    def __repr__(self):
        widths = [self.n_in] + [layer.shape[1] for layer in self.layers]
        dens = ", ".join(f"{layer.density:.3g}" for layer in self.layers)
        return (f"SparseMLP({'-'.join(map(str, widths))}, nnz={self.nnz:,}, density per layer=[{dens}], "
                f"activation={self.layers[0].activation!r}, dtype={self.dtype})")
