"""A multilayer perceptron whose weights are CSR matrices, with backprop written out by hand."""
import warnings
from typing import NamedTuple

import numpy as np

from . import init, losses
from .checks import check_density, check_dtype, check_number, check_positive_int, check_rng, check_X, check_y
from .layer import SparseLinear


class Grad(NamedTuple):
    """One layer's gradients: dW aligned with W.data (nnz,), db (n_out,), and G (n_in, n_out) or None."""
    dW: np.ndarray
    db: np.ndarray
    G: np.ndarray | None = None


TOPOLOGIES = ("uniform", "erdos_renyi", "erk", "dense")

EVAL_ELEMENTS = 1 << 22     # activations per evaluation batch (rows × widest layer): 16 MiB in float32,
EVAL_MIN_ROWS = 128         # but at least 128 rows. Measured per image on 784-h-h-h-10, ε = 10: at 33k units
                            # 128 rows are 1.6× faster than 1,000; at 100k and 333k units 128 rows are 1.5×
                            # faster than 12-16 (each forward of a panel layer first copies its nnz values
                            # into the panels, and the panel walk is tuned for training-size batches)


def eval_batch_size(model, batch_size=1000, elements=None, min_rows=None):
    """Rows per evaluation batch (``train.evaluate``, ``predict_proba``, ``score``): at most
    ``batch_size``, fewer for wide layers (rows × widest layer ≤ ``elements``, default EVAL_ELEMENTS,
    but at least ``min_rows``, default EVAL_MIN_ROWS), so that memory stays O(batch·width)."""
    batch_size = check_positive_int(batch_size, "batch_size", "rows per evaluation batch")
    elements = EVAL_ELEMENTS if elements is None else elements
    min_rows = EVAL_MIN_ROWS if min_rows is None else min_rows
    widest = max(layer.shape[1] for layer in model.layers)
    return max(1, min(batch_size, max(min_rows, elements // widest)))


def layer_nnz(shapes, topology, density=None, epsilon=None):
    """Stored entries per layer for an initial topology (see ``minisparse.init``).

    Every layer gets at least one connection. A density so small that some layer's nnz rounds to 0
    gives that layer one connection, with a warning that names the density the model really has and
    the density that gives every layer one by itself (a tiny layer at a moderate density, 1 → 1 at
    5 %, is a legitimate case of it). An ε whose nnz rounds to 0 in a layer is refused (ValueError),
    naming the ε that gives every layer one. An ε for which every layer is capped dense
    (ε·(n_in + n_out) ≥ n_in·n_out in each) gives a dense network: allowed (the cap is part of
    Erdős–Rényi) but warned about, and the dynamic sparse training loops refuse such a model
    (``checks.check_sparse_start``); use topology='dense' for a dense model.
    """
    if topology == "uniform":
        d = check_density(density)
        nnz = [round(d * n_in * n_out) for n_in, n_out in shapes]
        return _at_least_one(nnz, shapes, f"density={density!r}", "density",
                             1 / min(n_in * n_out for n_in, n_out in shapes), clamp=True)
    if topology == "erdos_renyi":
        if epsilon is None:
            raise ValueError("topology='erdos_renyi' needs epsilon (nnz = ε·(n_in + n_out))")
        check_number(epsilon, "epsilon", gt=0, what="Erdős–Rényi's ε: nnz = ε·(n_in + n_out) per layer")
        _at_least_one([round(epsilon * (n_in + n_out)) for n_in, n_out in shapes], shapes,
                      f"epsilon={epsilon!r}", "epsilon", 1 / min(n_in + n_out for n_in, n_out in shapes))
        nnz = [init.erdos_renyi_nnz(n_in, n_out, epsilon) for n_in, n_out in shapes]
        if all(k == n_in * n_out for k, (n_in, n_out) in zip(nnz, shapes)):
            sparse_below = min((n_in * n_out - 0.5) / (n_in + n_out) for n_in, n_out in shapes)
            warnings.warn(f"epsilon={epsilon!r} makes every layer dense (ε·(n_in + n_out) ≥ n_in·n_out in each): "
                          f"this is a dense network, which the dynamic sparse training loops refuse. Use "
                          f"topology='dense' for a dense model, or epsilon < {sparse_below:.4g} for every "
                          f"layer to be sparse", UserWarning, stacklevel=3)
        return nnz
    if topology == "erk":
        d = init.erk_densities(shapes, check_density(density))
        raw = [round(d_l * n_in * n_out) for d_l, (n_in, n_out) in zip(d, shapes)]
        # uncapped, ERK gives layer l nnz = s·(n_in + n_out) at global density s·Σ(n_in + n_out)/Σ n_in·n_out:
        # one connection in the layer of smallest n_in + n_out needs s = 1/min(n_in + n_out)
        smallest = sum(a + b for a, b in shapes) / min(a + b for a, b in shapes) / sum(a * b for a, b in shapes)
        return _at_least_one(raw, shapes, f"density={density!r}", "density", smallest, clamp=True)
    if topology == "dense":
        return [n_in * n_out for n_in, n_out in shapes]
    raise ValueError(f"unknown topology {topology!r}; expected one of {TOPOLOGIES}")


def _at_least_one(nnz, shapes, given, name, smallest, clamp=False):
    """``nnz`` with every layer at ≥ 1 connection. A layer whose nnz rounds to 0 gets 1 with a warning
    (``clamp``) or is refused (ValueError); either message names ``smallest``, the ``name`` (density
    or ε) that gives exactly one connection to the layer that needs the largest one."""
    empty = [l for l, k in enumerate(nnz) if k < 1]
    if not empty:
        return nnz
    layers = ("layer " if len(empty) == 1 else "layers ") + ", ".join(
        f"{l} ({shapes[l][0]} → {shapes[l][1]})" for l in empty)
    hint = f"{name} ≥ {smallest:.4g} gives every layer at least one connection"
    if not clamp:
        raise ValueError(f"{given} gives {layers} no connection (nnz rounds to 0): {hint}")
    nnz = [max(1, k) for k in nnz]
    actual = sum(nnz) / sum(a * b for a, b in shapes)
    warnings.warn(f"{given} gives {layers} no connection (nnz rounds to 0): each gets 1 instead, so the "
                  f"model's density is {actual:.4g}; {hint}", UserWarning, stacklevel=4)
    return nnz


def check_sizes(sizes):
    """Return ``sizes`` as a list of ints after checking it lists at least two integer widths ≥ 1."""
    try:
        widths = list(sizes)
    except TypeError:
        raise TypeError(f"sizes must be a list of layer widths, e.g. [784, 300, 10], got {sizes!r}") from None
    for i, s in enumerate(widths):
        if isinstance(s, (bool, np.bool_)) or not isinstance(s, (int, np.integer)):
            raise TypeError(f"sizes must list integer widths, but sizes[{i}] is {s!r} ({type(s).__name__}); "
                            f"e.g. [784, 300, 10]")
    if len(widths) < 2 or any(s < 1 for s in widths):
        raise ValueError(f"sizes must list at least two positive widths, got {sizes!r}")
    return [int(s) for s in widths]


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
        layers = list(layers)
        if not layers or not all(isinstance(layer, SparseLinear) for layer in layers):
            raise TypeError(f"layers must be a non-empty list of SparseLinear, got {layers!r}")
        dtypes = [layer.W.dtype for layer in layers]
        if any(dt != dtypes[0] for dt in dtypes):
            raise TypeError(f"every layer must have the same dtype, got {[str(dt) for dt in dtypes]}")
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
        ``sizes`` are integers; ``dtype`` is np.float32 or np.float64 (others are refused). Every
        layer must get at least one connection, and an ε that makes every layer dense is warned
        about (see :func:`layer_nnz`).
        """
        sizes = check_sizes(sizes)
        dtype = check_dtype(dtype)
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

    def predict_proba(self, X, batch_size=1000):
        """Class probabilities softmax(Z_L) per row, in the model's dtype; each row sums to 1.

        Computed in evaluation batches, as :func:`~minisparse.network.train.evaluate` does (at most
        ``batch_size`` rows, fewer for wide layers: :func:`eval_batch_size`), so memory stays
        O(batch · width).   # (B, n_classes)
        """
        X = check_X(X, self.n_in)
        rows = eval_batch_size(self, batch_size)
        return np.concatenate([losses.softmax(self.forward(X[s:s + rows])) for s in range(0, len(X), rows)])

    def score(self, X, y, batch_size=1000):
        """Accuracy on (X, y): the fraction of rows whose predicted class is the label. In evaluation
        batches (:func:`eval_batch_size`); the same number as ``train.evaluate(model, X, y)[1]``."""
        X = check_X(X, self.n_in)
        y = check_y(y, self.n_classes, len(X))
        rows = eval_batch_size(self, batch_size)
        correct = sum(int(np.sum(self.forward(X[s:s + rows]).argmax(axis=1) == y[s:s + rows]))
                      for s in range(0, len(X), rows))
        return correct / len(y)

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
