"""Datasets: the bundled MNIST-5k, two synthetic generators, and a stratified train/val/test split.

Every loader returns ``X`` of shape ``(n, n_features)`` in ``dtype`` and ``y`` int64 of shape ``(n,)``;
``load_dataset`` wraps them into a ``Split``.
"""
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .checks import check_fraction, check_rng, check_X, check_y
from .download import load_mnist

MNIST5K_PATH = Path(__file__).parent / "data" / "mnist_5k.npz"


def load_mnist5k(dtype=np.float64):
    """X = images / 255 for the 5,000 bundled MNIST digits (500 per class; see data/README.md).

    Returns
    -------
    X : ndarray, shape (5000, 784), values in [0, 1], in ``dtype``
    y : ndarray of int64, shape (5000,), digits 0–9
    """
    with np.load(MNIST5K_PATH, allow_pickle=False) as archive:
        images, labels = archive["images"], archive["labels"]  # (5000, 28, 28) uint8, (5000,) uint8
    X = images.reshape(len(images), -1).astype(dtype) / np.asarray(255, dtype=dtype)  # (5000, 784)
    return X, labels.astype(np.int64)


def make_random_data(n=2048, input_dim=100, num_classes=10, rng=0, dtype=np.float64):
    """X ~ N(0, 1), y ~ U{0, …, num_classes − 1}   ("sparse training from scratch" benchmark data).

    The labels are drawn independently of X, so they carry **no signal**: no model can beat chance
    (1 / num_classes) on held-out data. Use it to time training steps or to check that a network
    can memorise its training set, not to compare accuracies.

    Returns
    -------
    X : ndarray, shape (n, input_dim), in ``dtype``
    y : ndarray of int64, shape (n,)
    """
    rng = check_rng(rng)
    X = rng.standard_normal((n, input_dim)).astype(dtype)  # (n, input_dim)
    y = rng.integers(0, num_classes, size=n, dtype=np.int64)  # (n,)
    return X, y


def make_teacher_data(n=4000, n_features=64, n_classes=10, n_hidden=64, rng=0, dtype=np.float64):
    """y = argmax(tanh(X W1) W2 + c),  X ~ N(0, 1)   (labels from a random one-hidden-layer teacher).

    A learnable synthetic task: the teacher is drawn first (W1 ~ N(0, 1/n_features), so the
    pre-activations are ~N(0, 1); W2 ~ N(0, 1/n_hidden)), then the inputs. The offsets ``c``
    balance the classes on this sample (see ``_balance_offsets``). A softmax regression reaches
    about 75 % test accuracy with the defaults; chance is 1 / n_classes.

    Returns
    -------
    X : ndarray, shape (n, n_features), in ``dtype``
    y : ndarray of int64, shape (n,), roughly n / n_classes of each class
    """
    rng = check_rng(rng)
    W1 = rng.standard_normal((n_features, n_hidden)) / np.sqrt(n_features)
    W2 = rng.standard_normal((n_hidden, n_classes)) / np.sqrt(n_hidden)
    X = rng.standard_normal((n, n_features))  # (n, n_features)
    Z = np.tanh(X @ W1) @ W2  # (n, n_classes) teacher logits
    y = np.argmax(Z + _balance_offsets(Z), axis=1)  # (n,)
    return X.astype(dtype), y.astype(np.int64)


def _balance_offsets(Z, n_iter=50, step=0.1):
    """c ← c − step · log(K · share_k), from c = −mean(Z): push each class's argmax share to 1/K.

    Centring alone can leave one class with three times the share of another; these damped
    corrections bring every share within a few percent of 1/K. Z: (n, K) logits; returns c: (K,).
    """
    n, K = Z.shape
    c = -Z.mean(axis=0)  # (K,)
    for _ in range(n_iter):
        share = np.bincount(np.argmax(Z + c, axis=1), minlength=K) / n  # (K,)
        c -= step * np.log(K * np.maximum(share, 0.5 / n))
    return c


@dataclass(frozen=True, eq=False, repr=False)
class Split:
    """Train, validation and test arrays: X_* of shape (n_*, n_features), y_* int64 of shape (n_*,)."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray

    @property
    def n_features(self):
        """Number of input features (columns of X)."""
        return self.X_train.shape[1]

    @property
    def n_classes(self):
        """1 + the largest label in any of the three parts."""
        return 1 + max(int(y.max()) for y in (self.y_train, self.y_val, self.y_test) if y.size)

    def __repr__(self):
        return (f"Split(train={len(self.y_train)}, val={len(self.y_val)}, test={len(self.y_test)}, "
                f"features={self.n_features}, classes={self.n_classes})")


def stratified_split(X, y, val_fraction=0.1, test_fraction=0.2, rng=0):
    """n_test,c = round(test_fraction · n_c), n_val,c = round(val_fraction · n_c) for every class c.

    Each class's rows are shuffled with ``rng`` and cut into test, validation and training parts,
    so every part keeps the class proportions (within one sample per class). Each part is then
    shuffled, so its rows are not grouped by class.

    Parameters
    ----------
    X : array_like, shape (n, n_features), finite
    y : array_like of int, shape (n,), labels 0 … n_classes − 1
    val_fraction, test_fraction : float, each in [0, 1), with sum < 1
    rng : np.random.Generator or int seed

    Returns
    -------
    Split
    """
    val_fraction, test_fraction = _check_fractions(val_fraction, test_fraction)
    X = check_X(X)
    y = check_y(y, _n_classes(y), n_samples=X.shape[0])
    rng = check_rng(rng)
    parts = ([], [], [])  # row indices of train, val, test
    for c in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == c))
        n_test = int(round(test_fraction * len(rows)))
        n_val = min(int(round(val_fraction * len(rows))), len(rows) - n_test)
        for part, chunk in zip(parts, np.split(rows, [len(rows) - n_val - n_test, len(rows) - n_test])):
            part.append(chunk)
    train, val, test = (rng.permutation(np.concatenate(p)) for p in parts)
    if train.size == 0:
        raise ValueError(f"no rows left for training with val_fraction={val_fraction} and "
                         f"test_fraction={test_fraction} on {len(y)} rows")
    return Split(X[train], y[train], X[val], y[val], X[test], y[test])


def _check_fractions(val_fraction, test_fraction):
    """Return both fractions as floats after checking each is in [0, 1) and their sum is < 1."""
    fractions = {"val_fraction": val_fraction, "test_fraction": test_fraction}
    for name, value in fractions.items():
        if check_fraction(value, name) == 1.0:
            raise ValueError(f"{name} must be in [0, 1) (a fraction of the rows), got {value!r}")
    if float(val_fraction) + float(test_fraction) >= 1.0:
        raise ValueError(f"val_fraction + test_fraction must be < 1 to leave rows for training, "
                         f"got {val_fraction!r} + {test_fraction!r}")
    return float(val_fraction), float(test_fraction)


def _n_classes(y):
    """1 + max(y) for a 1-D numeric label vector; 1 otherwise, letting ``check_y`` name the problem."""
    y = np.asarray(y)
    if y.ndim != 1 or y.size == 0 or not np.issubdtype(y.dtype, np.number) or not np.isfinite(y).all():
        return 1
    if y.min() < 0:
        raise ValueError(f"y contains negative labels (min {y.min()}); class labels must be 0, 1, 2, …")
    return int(y.max()) + 1


def _split_mnist(kind, rng, dtype, val_fraction, **download_args):
    """The official train/test split of MNIST or Fashion-MNIST, validation rows carved from train."""
    X_train, y_train, X_test, y_test = load_mnist(kind, dtype=dtype, **download_args)
    part = stratified_split(X_train, y_train, val_fraction=val_fraction, test_fraction=0.0, rng=rng)
    return Split(part.X_train, part.y_train, part.X_val, part.y_val, X_test, y_test)


DATASETS = {
    "mnist5k": lambda rng, dtype, **sizes: load_mnist5k(dtype, **sizes),
    "random": lambda rng, dtype, **sizes: make_random_data(rng=rng, dtype=dtype, **sizes),
    "teacher": lambda rng, dtype, **sizes: make_teacher_data(rng=rng, dtype=dtype, **sizes),
}
OFFICIAL_SPLITS = ("mnist", "fashion")  # loaded with their own train/test split


def load_dataset(name, rng=0, dtype=np.float64, *, val_fraction=0.1, test_fraction=0.2, **sizes):
    """Load dataset ``name`` and split it into train / validation / test (stratified by class).

    Parameters
    ----------
    name : {'mnist5k', 'random', 'teacher', 'mnist', 'fashion'}
    rng : np.random.Generator or int seed, used to generate the data and then to split it
    dtype : float dtype of X
    val_fraction, test_fraction : float
        Parts of the rows held out. 'mnist' and 'fashion' keep their official 10,000-image test set
        (``test_fraction`` is ignored) and carve the validation rows from the 60,000 training images.
    **sizes
        Passed to the generator (e.g. ``n=``, ``n_features=`` for 'teacher'), or to
        ``download.load_mnist`` for 'mnist' and 'fashion' (e.g. ``cache_dir=``).

    Returns
    -------
    Split
    """
    rng = check_rng(rng)
    if name in OFFICIAL_SPLITS:
        return _split_mnist(name, rng, dtype, val_fraction, **sizes)
    if name not in DATASETS:
        known = ", ".join(repr(k) for k in [*DATASETS, *OFFICIAL_SPLITS])
        raise ValueError(f"unknown dataset {name!r}; known datasets: {known}")
    X, y = DATASETS[name](rng, dtype, **sizes)
    return stratified_split(X, y, val_fraction=val_fraction, test_fraction=test_fraction, rng=rng)
