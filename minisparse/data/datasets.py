"""Datasets: the bundled MNIST-5k, synthetic generators, and a stratified train/val/test split.

Every loader returns ``X`` of shape ``(n, n_features)`` in ``dtype`` and ``y`` int64 of shape ``(n,)``;
``load_dataset`` wraps them into a ``Split``.
"""
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..network.checks import check_fraction, check_rng, check_X, check_y
from .download import load_mnist

MNIST5K_PATH = Path(__file__).parent / "mnist_5k.npz"


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


# --- CTRE's data: Madelon-like and bag-of-words stand-ins --------------------------------------

def make_madelon_like(rng=0, dtype=np.float64, *, n=2600, n_informative=5, n_redundant=15, n_probes=480,
                      n_clusters_per_class=16, class_sep=2.0, flip_y=0.01, probe_scale=1.0,
                      return_informative=False):
    """x_inf ~ N(v_k, I), v_k ∈ {±class_sep}^d;  x_red = x_inf B;  x_probe ~ N(0, probe_scale²)  (Madelon)

    Guyon's recipe for the Madelon set of the NIPS 2003 feature selection challenge (I. Guyon,
    "Design of experiments for the NIPS 2003 variable selection benchmark", 2003). Each class owns
    ``n_clusters_per_class`` Gaussian clusters (unit variance) centred on distinct random vertices of
    a d-dimensional hypercube of side 2 · class_sep (d = ``n_informative``; the defaults use all 32
    vertices of a 5-cube, 16 per class), so the label is an XOR-like function of the informative
    coordinates that no single feature or linear model captures. Then come ``n_redundant`` random
    linear combinations of them (B ~ N(0, 1/d)) and ``n_probes`` noise features independent of the
    label. Guyon also shifted, rescaled and rounded the features; that is left out.

    With class_sep = 2, on ``madelon_split``, 5-NN on the 5 informative columns reaches ~93 % test
    accuracy (near the best challenge entries on the real Madelon), 5-NN on all 500 columns ~80 %
    and a linear model 60–70 %.
    The classes hold ⌈n/2⌉ and ⌊n/2⌋ rows before ``flip_y`` · n/2 rows of each class swap labels (so
    the counts stay balanced). Rows and columns are shuffled with ``rng``.

    Parameters
    ----------
    rng : np.random.Generator or int seed
    dtype : float dtype of X
    n : int ≥ 2, number of rows (2,600 = Madelon's 2,000 training + 600 validation rows)
    n_informative, n_redundant, n_probes : int, feature counts (5 + 15 + 480 = 500 in Madelon)
    n_clusters_per_class : int ≥ 1, with 2 · n_clusters_per_class ≤ 2^n_informative
    class_sep : float ≥ 0, half the side of the hypercube
    flip_y : float in [0, 1], fraction of labels flipped
    probe_scale : float ≥ 0, standard deviation of the probe features
    return_informative : bool, also return where the useful columns ended up

    Returns
    -------
    X : ndarray, shape (n, n_informative + n_redundant + n_probes), in ``dtype``
    y : ndarray of int64, shape (n,), labels 0 and 1
    informative : ndarray of int64, shape (n_informative,), sorted columns of x_inf (if asked for)
    redundant : ndarray of int64, shape (n_redundant,), sorted columns of x_red (if asked for)
    """
    rng = check_rng(rng)
    n, d = _check_count(n, "n", 2), _check_count(n_informative, "n_informative", 1)
    k = _check_count(n_clusters_per_class, "n_clusters_per_class", 1)
    n_redundant, n_probes = _check_count(n_redundant, "n_redundant"), _check_count(n_probes, "n_probes")
    if 2 * k > 2 ** d:
        raise ValueError(f"2 · n_clusters_per_class = {2 * k} clusters need distinct vertices, but a "
                         f"{d}-dimensional hypercube has only {2 ** d}; raise n_informative")
    class_sep, probe_scale = _check_scale(class_sep, "class_sep"), _check_scale(probe_scale, "probe_scale")
    flip_y = check_fraction(flip_y, "flip_y")
    b = min(d, 62)  # the first b coordinates of a vertex are the bits of a distinct int64 code
    codes = rng.choice(2 ** b, size=2 * k, replace=False)  # (2k,)
    bits = np.hstack([(codes[:, None] >> np.arange(b)) & 1, rng.integers(0, 2, (2 * k, d - b))])  # (2k, d)
    V = class_sep * (2.0 * bits - 1.0)  # (2k, d) cluster centres; clusters 0 … k−1 are class 0
    y = np.repeat(np.array([0, 1], dtype=np.int64), [n - n // 2, n // 2])  # (n,)
    slot = np.concatenate([np.arange(n - n // 2), np.arange(n // 2)])  # row number within its class
    X_inf = V[y * k + slot % k] + rng.standard_normal((n, d))  # (n, d), clusters filled in turn
    B = rng.standard_normal((d, n_redundant)) / np.sqrt(d)  # (d, n_redundant)
    X_probe = probe_scale * rng.standard_normal((n, n_probes))  # (n, n_probes)
    y = _flip_labels(y, flip_y, rng)
    rows, cols = rng.permutation(n), rng.permutation(d + n_redundant + n_probes)
    X = np.hstack([X_inf, X_inf @ B, X_probe])[rows][:, cols].astype(dtype)  # column j was cols[j]
    if not return_informative:
        return X, y[rows]
    return X, y[rows], np.flatnonzero(cols < d), np.flatnonzero((cols >= d) & (cols < d + n_redundant))


def madelon_split(rng=0, dtype=np.float64, *, n_train=2000, n_test=600, val_fraction=0.1, **generator_args):
    """Madelon's sizes: n_train + n_test rows from ``make_madelon_like``, cut by class into three parts.

    The original has 2,000 training and 600 validation rows (its test labels were never released);
    here the 600 play the test set and ``val_fraction`` of the 2,000 training rows (200 by default)
    are held out for validation, leaving 1,800 to train on. With an even n_train + n_test the
    classes are exactly balanced and so is every part.

    Parameters
    ----------
    rng : np.random.Generator or int seed, used to generate the data and then to split it
    dtype : float dtype of X
    n_train, n_test : int, rows in train + validation and in test
    val_fraction : float in [0, 1), share of the n_train rows used for validation
    **generator_args
        Passed to ``make_madelon_like`` (all but ``n``). With ``return_informative=True`` the
        result is ``(split, informative, redundant)``.

    Returns
    -------
    Split (X_train (≈1800, 500), X_val (≈200, 500), X_test (600, 500) with the defaults)
    """
    if "n" in generator_args:
        raise ValueError("madelon_split takes n_train and n_test rather than n")
    n_train, n_test = _check_count(n_train, "n_train", 2), _check_count(n_test, "n_test", 2)
    val_fraction, _ = _check_fractions(val_fraction, 0.0)
    rng = check_rng(rng)
    n = n_train + n_test
    X, y, *columns = make_madelon_like(rng, dtype, n=n, **generator_args)
    split = stratified_split(X, y, val_fraction=val_fraction * n_train / n, test_fraction=n_test / n,
                             rng=rng)
    return (split, *columns) if columns else split


def make_text_like(rng=0, dtype=np.float64, *, n=3000, n_words=3000, doc_length=120, zipf_exponent=1.0,
                   n_indicative=300, strength=1.0):
    """x_ij = [c_ij > 0],  c_ij ~ Poisson(L · q_j · e^(±strength/2)),  q_j ∝ 1/(j+1)^s  (bag of words)

    A two-class stand-in for the text sets CTRE is evaluated on: binary word presence, mostly zeros.
    Word j (columns are in order of base frequency) occurs in a document of L = ``doc_length`` tokens
    about L · q_j times, with Zipf's law q_j ∝ 1/(j+1)^s, s = ``zipf_exponent``; x_ij records only
    whether it occurs at all, P(x_ij = 1) = 1 − exp(−rate). ``n_indicative`` words drawn at random
    are class-indicative: half have their rate multiplied by e^(strength/2) in class 1 and divided by
    it in class 0, the other half the reverse. Given the class the words are independent, so the
    Bayes-optimal rule is linear in x. The defaults give about 80 distinct words per document (2.7 %
    of the vocabulary) and, on ``load_dataset('text')``, a ridge least-squares classifier ~86 % test
    accuracy (chance 50 %); ``strength`` tunes the difficulty (0.7 → ~76 %, 1.5 → ~96 %).
    The classes hold ⌈n/2⌉ and ⌊n/2⌋ rows, in shuffled order.

    Parameters
    ----------
    rng : np.random.Generator or int seed
    dtype : float dtype of X
    n : int ≥ 2, number of documents;  n_words : int ≥ 1, vocabulary size
    doc_length : float ≥ 0, expected tokens per document (before the class shifts)
    zipf_exponent : float ≥ 0, s in Zipf's law
    n_indicative : int in [0, n_words], words whose frequency depends on the class
    strength : float ≥ 0, log of the ratio of an indicative word's rate between the classes

    Returns
    -------
    X : ndarray, shape (n, n_words), values 0 and 1, in ``dtype``
    y : ndarray of int64, shape (n,), labels 0 and 1
    """
    rng = check_rng(rng)
    n, n_words = _check_count(n, "n", 2), _check_count(n_words, "n_words", 1)
    n_indicative = _check_count(n_indicative, "n_indicative")
    if n_indicative > n_words:
        raise ValueError(f"n_indicative must be ≤ n_words = {n_words}, got {n_indicative}")
    doc_length, strength = _check_scale(doc_length, "doc_length"), _check_scale(strength, "strength")
    zipf_exponent = _check_scale(zipf_exponent, "zipf_exponent")
    q = 1.0 / np.arange(1, n_words + 1) ** zipf_exponent  # (n_words,)
    shift = np.zeros(n_words)
    words = rng.choice(n_words, size=n_indicative, replace=False)
    shift[words] = np.where(np.arange(n_indicative) < n_indicative // 2, 0.5, -0.5) * strength
    rate = doc_length * q / q.sum() * np.exp(np.outer([-1.0, 1.0], shift))  # (2, n_words), class × word
    P = -np.expm1(-rate)  # (2, n_words), P(word present) = 1 − e^(−rate)
    y = rng.permutation(np.repeat(np.array([0, 1], dtype=np.int64), [n - n // 2, n // 2]))  # (n,)
    X = rng.random((n, n_words)) < P[y]  # (n, n_words) bool
    return X.astype(dtype), y


def _flip_labels(y, flip_y, rng):
    """Swap 0 ↔ 1 on round(flip_y · n / 2) random rows of each class, so the class counts do not change."""
    m = min(int(round(flip_y * len(y) / 2)), *np.bincount(y, minlength=2))
    flip = np.concatenate([rng.choice(np.flatnonzero(y == c), size=m, replace=False) for c in (0, 1)])
    y = y.copy()
    y[flip] = 1 - y[flip]
    return y


def _check_count(value, name, minimum=0):
    """Return ``value`` as an int after checking it is an integer ≥ ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer ≥ {minimum}, got {value!r}")
    return int(value)


def _check_scale(value, name):
    """Return ``value`` as a float after checking it is finite and ≥ 0."""
    v = float(value)
    if not (np.isfinite(v) and v >= 0.0):
        raise ValueError(f"{name} must be a finite number ≥ 0, got {value!r}")
    return v


DATASETS = {
    "mnist5k": lambda rng, dtype, **sizes: load_mnist5k(dtype, **sizes),
    "random": lambda rng, dtype, **sizes: make_random_data(rng=rng, dtype=dtype, **sizes),
    "teacher": lambda rng, dtype, **sizes: make_teacher_data(rng=rng, dtype=dtype, **sizes),
    "madelon": lambda rng, dtype, **sizes: make_madelon_like(rng, dtype, **sizes),
    "text": lambda rng, dtype, **sizes: make_text_like(rng, dtype, **sizes),
}
OFFICIAL_SPLITS = ("mnist", "fashion")  # loaded with their own train/test split
FIXED_SPLITS = {"madelon": madelon_split}  # generated and cut to the original's sizes
CTRE_DATASETS = ("madelon", "text")  # synthetic stand-ins for the data CTRE is evaluated on


def load_dataset(name, rng=0, dtype=np.float64, *, val_fraction=0.1, test_fraction=0.2, **sizes):
    """Load dataset ``name`` and split it into train / validation / test (stratified by class).

    Parameters
    ----------
    name : {'mnist5k', 'random', 'teacher', 'mnist', 'fashion', 'madelon', 'text'}
        'madelon' and 'text' are synthetic stand-ins for CTRE's data (``make_madelon_like``,
        ``make_text_like``).
    rng : np.random.Generator or int seed, used to generate the data and then to split it
    dtype : float dtype of X
    val_fraction, test_fraction : float
        Parts of the rows held out. 'mnist' and 'fashion' keep their official 10,000-image test set
        (``test_fraction`` is ignored) and carve the validation rows from the 60,000 training images.
        'madelon' keeps Madelon's sizes, 2,000 rows for training and validation and 600 for test
        (``test_fraction`` is ignored; see ``madelon_split``).
    **sizes
        Passed to the generator (e.g. ``n=``, ``n_features=`` for 'teacher', ``n_words=`` for
        'text'), to ``madelon_split`` for 'madelon' (e.g. ``n_train=``, ``probe_scale=``), or to
        ``download.load_mnist`` for 'mnist' and 'fashion' (e.g. ``cache_dir=``).

    Returns
    -------
    Split
    """
    rng = check_rng(rng)
    if name in OFFICIAL_SPLITS:
        return _split_mnist(name, rng, dtype, val_fraction, **sizes)
    if name in FIXED_SPLITS:
        return FIXED_SPLITS[name](rng, dtype, val_fraction=val_fraction, **sizes)
    if name not in DATASETS:
        known = ", ".join(repr(k) for k in [*DATASETS, *OFFICIAL_SPLITS] if k not in CTRE_DATASETS)
        ctre = ", ".join(repr(k) for k in CTRE_DATASETS)
        raise ValueError(f"unknown dataset {name!r}; known datasets: {known}; "
                         f"stand-ins for CTRE's data: {ctre}")
    X, y = DATASETS[name](rng, dtype, **sizes)
    return stratified_split(X, y, val_fraction=val_fraction, test_fraction=test_fraction, rng=rng)
