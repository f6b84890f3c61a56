"""Tests for minisparse.data.datasets: bundled MNIST-5k, synthetic generators, stratified split, dispatch."""
import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from minisparse.data.datasets import (Split, load_dataset, load_mnist5k, make_random_data,
                                 make_teacher_data, stratified_split)


def softmax_regression_accuracy(X_train, y_train, X_test, y_test, steps=200, eta=0.5):
    """Test accuracy of a multinomial logistic regression fitted by full-batch gradient descent."""
    K = int(y_train.max()) + 1
    W, b = np.zeros((X_train.shape[1], K)), np.zeros(K)
    Y = np.eye(K)[y_train]  # (n, K) one-hot
    for _ in range(steps):
        Z = X_train @ W + b  # (n, K)
        P = np.exp(Z - Z.max(axis=1, keepdims=True))
        P /= P.sum(axis=1, keepdims=True)
        dZ = (P - Y) / len(y_train)  # gradient of the mean cross-entropy w.r.t. Z
        W -= eta * X_train.T @ dZ
        b -= eta * dZ.sum(axis=0)
    return np.mean(np.argmax(X_test @ W + b, axis=1) == y_test)


# --- loaders and generators ------------------------------------------------------------------

def test_mnist5k_shapes_range_and_balance():
    X, y = load_mnist5k()
    assert X.shape == (5000, 784) and X.dtype == np.float64
    assert y.shape == (5000,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    assert np.array_equal(np.bincount(y), np.full(10, 500))


def test_mnist5k_float32():
    X, _ = load_mnist5k(dtype=np.float32)
    assert X.dtype == np.float32 and 0.0 <= X.min() and X.max() <= 1.0


def test_random_data_shapes_and_reproducibility():
    X, y = make_random_data(n=300, input_dim=7, num_classes=4, rng=3, dtype=np.float32)
    assert X.shape == (300, 7) and X.dtype == np.float32
    assert y.shape == (300,) and y.dtype == np.int64 and set(np.unique(y)) <= {0, 1, 2, 3}
    X2, y2 = make_random_data(n=300, input_dim=7, num_classes=4, rng=np.random.default_rng(3),
                              dtype=np.float32)
    assert np.array_equal(X, X2) and np.array_equal(y, y2)
    X3, _ = make_random_data(n=300, input_dim=7, num_classes=4, rng=4)
    assert not np.allclose(X, X3)


def test_random_data_rejects_global_rng():
    with pytest.raises(TypeError, match="rng"):
        make_random_data(rng=None)


def test_teacher_data_is_class_balanced():
    X, y = make_teacher_data(n=4000, n_classes=10, rng=0)
    assert X.shape == (4000, 64) and y.dtype == np.int64
    counts = np.bincount(y, minlength=10)
    assert counts.min() >= 0.8 * 400 and counts.max() <= 1.2 * 400, counts


def test_teacher_data_is_learnable():
    split = load_dataset("teacher", rng=0)
    accuracy = softmax_regression_accuracy(split.X_train, split.y_train, split.X_test, split.y_test)
    assert accuracy > 0.65, f"test accuracy {accuracy:.3f}; chance is 0.1"


def test_random_data_is_not_learnable():
    """The control for the test above: the same learner on signal-free labels stays near chance."""
    split = load_dataset("random", rng=0, n=2000, input_dim=64)
    accuracy = softmax_regression_accuracy(split.X_train, split.y_train, split.X_test, split.y_test)
    assert accuracy < 0.2, f"test accuracy {accuracy:.3f} on labels that carry no signal"


def test_teacher_same_seed_same_data():
    X1, y1 = make_teacher_data(n=200, rng=5)
    X2, y2 = make_teacher_data(n=200, rng=5)
    assert np.array_equal(X1, X2) and np.array_equal(y1, y2)


# --- stratified_split --------------------------------------------------------------------------

def indexed_data(counts):
    """X whose only column is the row index (so rows can be traced), y with counts[c] rows of class c."""
    y = np.repeat(np.arange(len(counts)), counts)
    return np.arange(len(y), dtype=float)[:, None], y


def test_split_sizes_disjoint_and_covering():
    X, y = indexed_data([100] * 10)
    s = stratified_split(X, y, val_fraction=0.1, test_fraction=0.2, rng=0)
    assert (len(s.y_train), len(s.y_val), len(s.y_test)) == (700, 100, 200)
    rows = [part[:, 0].astype(int) for part in (s.X_train, s.X_val, s.X_test)]
    assert np.array_equal(np.sort(np.concatenate(rows)), np.arange(1000))
    for r, labels in zip(rows, (s.y_train, s.y_val, s.y_test)):
        assert np.array_equal(y[r], labels)  # each label still belongs to its row


def test_split_parts_are_not_sorted_by_class():
    X, y = indexed_data([50] * 4)
    s = stratified_split(X, y, rng=0)
    assert np.any(np.diff(s.y_train) < 0)


@settings(max_examples=40, deadline=None)
@given(counts=st.lists(st.integers(1, 40), min_size=1, max_size=6),
       val_fraction=st.floats(0.0, 0.45), test_fraction=st.floats(0.0, 0.45),
       seed=st.integers(0, 2**32 - 1))
def test_split_keeps_class_proportions(counts, val_fraction, test_fraction, seed):
    X, y = indexed_data(counts)
    n_train = sum(n - round(test_fraction * n) - min(round(val_fraction * n), n - round(test_fraction * n))
                  for n in counts)
    if n_train == 0:      # tiny classes cut entirely into val/test: refused, not an empty training set
        with pytest.raises(ValueError, match="no rows left for training"):
            stratified_split(X, y, val_fraction=val_fraction, test_fraction=test_fraction, rng=seed)
        return
    s = stratified_split(X, y, val_fraction=val_fraction, test_fraction=test_fraction, rng=seed)
    rows = np.concatenate([s.X_train[:, 0], s.X_val[:, 0], s.X_test[:, 0]])
    assert np.array_equal(np.sort(rows), np.arange(len(y)))
    for c, n_c in enumerate(counts):  # plain loop over classes: within one sample of the exact share
        assert abs(np.sum(s.y_val == c) - val_fraction * n_c) <= 1
        assert abs(np.sum(s.y_test == c) - test_fraction * n_c) <= 1


def test_split_same_seed_same_split_other_seed_differs():
    X, y = indexed_data([30] * 3)
    a, b = stratified_split(X, y, rng=1), stratified_split(X, y, rng=np.random.default_rng(1))
    c = stratified_split(X, y, rng=2)
    assert np.array_equal(a.X_train, b.X_train) and np.array_equal(a.X_test, b.X_test)
    assert not np.array_equal(np.sort(a.X_test[:, 0]), np.sort(c.X_test[:, 0]))


def test_split_zero_fractions():
    X, y = indexed_data([5, 5])
    s = stratified_split(X, y, val_fraction=0.0, test_fraction=0.0)
    assert (len(s.y_train), len(s.y_val), len(s.y_test)) == (10, 0, 0)


@pytest.mark.parametrize("val_fraction, test_fraction, match", [
    (-0.1, 0.2, r"val_fraction must be in \[0, 1\]"),
    (0.1, 1.0, r"test_fraction must be in \[0, 1\)"),
    (0.5, 0.5, "sum|< 1"),
    (0.6, 0.7, "< 1"),
])
def test_split_rejects_bad_fractions(val_fraction, test_fraction, match):
    X, y = indexed_data([10, 10])
    with pytest.raises(ValueError, match=match):
        stratified_split(X, y, val_fraction=val_fraction, test_fraction=test_fraction)


def test_split_rejects_bad_inputs():
    X, y = indexed_data([10, 10])
    with pytest.raises(ValueError, match="19 labels but X has 20 rows"):
        stratified_split(X, y[:-1])
    X_nan = X.copy()
    X_nan[3, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        stratified_split(X_nan, y)
    with pytest.raises(ValueError, match="negative"):
        stratified_split(X, y - 1)
    with pytest.raises(ValueError, match="2-D"):
        stratified_split(X[:, 0], y)
    with pytest.raises(ValueError, match="1-D"):
        stratified_split(X, y[:, None])
    with pytest.raises(ValueError, match="integer"):
        stratified_split(X, y + 0.5)


# --- Split and load_dataset --------------------------------------------------------------------

def test_split_repr_properties_and_frozen():
    s = load_dataset("mnist5k", rng=0)
    assert repr(s) == "Split(train=3500, val=500, test=1000, features=784, classes=10)"
    assert (s.n_features, s.n_classes) == (784, 10)
    assert np.array_equal(np.bincount(s.y_test), np.full(10, 100))
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.X_train = None


def test_load_dataset_sizes_and_fractions():
    s = load_dataset("random", rng=0, n=500, input_dim=12, num_classes=5,
                     val_fraction=0.2, test_fraction=0.2)
    assert isinstance(s, Split) and s.n_features == 12 and s.n_classes == 5
    assert len(s.y_train) + len(s.y_val) + len(s.y_test) == 500
    assert abs(len(s.y_val) - 100) <= 5 and abs(len(s.y_test) - 100) <= 5
    t = load_dataset("teacher", rng=1, dtype=np.float32, n=300, n_features=8, n_classes=3)
    assert t.X_train.dtype == np.float32 and (t.n_features, t.n_classes) == (8, 3)


def test_load_dataset_unknown_name_lists_known():
    with pytest.raises(ValueError, match="'mnist5k', 'random', 'teacher', 'mnist', 'fashion'"):
        load_dataset("cifar10")


def test_load_dataset_rejects_unknown_size():
    with pytest.raises(TypeError):
        load_dataset("teacher", n_pixels=3)
