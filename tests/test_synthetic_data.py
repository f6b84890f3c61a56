"""Tests for CTRE's synthetic stand-ins in minisparse.data.datasets: Madelon-like data and bag-of-words text."""
import numpy as np
import pytest

from minisparse.data.datasets import (Split, load_dataset, madelon_split, make_madelon_like, make_text_like,
                                 stratified_split)


def ridge_accuracy(X_train, y_train, X_test, y_test, lam=10.0):
    """Test accuracy of w = argmin ‖(X − μ) w − t‖² + λ‖w‖², t = ±1 (solved in the smaller form)."""
    mu, t = X_train.mean(axis=0), 2.0 * y_train - 1.0
    A, t0 = X_train - mu, t.mean()  # (n, d), centred
    if A.shape[0] < A.shape[1]:  # dual: w = Aᵀ (A Aᵀ + λI)⁻¹ (t − t̄)
        w = A.T @ np.linalg.solve(A @ A.T + lam * np.eye(A.shape[0]), t - t0)
    else:
        w = np.linalg.solve(A.T @ A + lam * np.eye(A.shape[1]), A.T @ (t - t0))
    return np.mean(((X_test - mu) @ w + t0 > 0) == (y_test == 1))


def knn_accuracy(X_train, y_train, X_test, y_test, k=5):
    """Test accuracy of a k-nearest-neighbour majority vote under Euclidean distance (k odd)."""
    D = (X_test ** 2).sum(1)[:, None] - 2 * X_test @ X_train.T + (X_train ** 2).sum(1)  # (n_test, n_train)
    nearest = np.argsort(D, axis=1, kind="stable")[:, :k]  # (n_test, k)
    return np.mean((y_train[nearest].mean(axis=1) > 0.5) == (y_test == 1))


def abs_correlation(X, y):
    """|Pearson correlation| of each column of X with y: (n_features,)."""
    Xc, yc = X - X.mean(axis=0), y - y.mean()
    return np.abs(Xc.T @ yc) / (np.linalg.norm(Xc, axis=0) * np.linalg.norm(yc))


# --- Madelon-like ------------------------------------------------------------------------------

def test_madelon_shapes_dtypes_and_balance():
    X, y = make_madelon_like(0)
    assert X.shape == (2600, 500) and X.dtype == np.float64 and np.isfinite(X).all()
    assert y.shape == (2600,) and y.dtype == np.int64
    assert np.array_equal(np.bincount(y), [1300, 1300])  # flipping swaps equal numbers each way
    X32, y32 = make_madelon_like(0, np.float32, n=101, n_probes=10)
    assert X32.shape == (101, 30) and X32.dtype == np.float32
    assert np.array_equal(np.bincount(y32), [51, 50])


def test_madelon_same_seed_same_data_other_seed_differs():
    X1, y1 = make_madelon_like(7, n=300)
    X2, y2 = make_madelon_like(np.random.default_rng(7), n=300)
    X3, y3 = make_madelon_like(8, n=300)
    assert np.array_equal(X1, X2) and np.array_equal(y1, y2)
    assert not np.allclose(X1, X3) and not np.array_equal(y1, y3)


def test_madelon_informative_and_redundant_columns():
    X, y, informative, redundant = make_madelon_like(1, return_informative=True)
    assert informative.shape == (5,) and redundant.shape == (15,)
    useful = np.concatenate([informative, redundant])
    assert len(np.unique(useful)) == 20 and useful.min() >= 0 and useful.max() < 500
    assert np.all(np.diff(informative) > 0) and np.all(np.diff(redundant) > 0)
    # the redundant columns are exact linear combinations of the informative ones; probes are not
    coef, *_ = np.linalg.lstsq(X[:, informative], X[:, redundant], rcond=None)
    assert np.allclose(X[:, informative] @ coef, X[:, redundant])
    probes = np.setdiff1d(np.arange(500), useful)
    coef, *_ = np.linalg.lstsq(X[:, informative], X[:, probes[:15]], rcond=None)
    residual = X[:, informative] @ coef - X[:, probes[:15]]
    assert np.linalg.norm(residual) > 0.9 * np.linalg.norm(X[:, probes[:15]])


def test_madelon_informative_columns_carry_the_signal():
    split, informative, redundant = madelon_split(2, return_informative=True)
    probes = np.setdiff1d(np.arange(500), np.concatenate([informative, redundant]))
    on_informative = knn_accuracy(split.X_train[:, informative], split.y_train,
                                  split.X_test[:, informative], split.y_test)
    on_probes = knn_accuracy(split.X_train[:, probes[:5]], split.y_train,
                             split.X_test[:, probes[:5]], split.y_test)
    assert on_informative > 0.85 and on_probes < 0.6, (on_informative, on_probes)
    # least squares on the 20 useful columns beats least squares on 20 probes, though both are weak
    useful = np.concatenate([informative, redundant])
    linear_useful = ridge_accuracy(split.X_train[:, useful], split.y_train,
                                   split.X_test[:, useful], split.y_test)
    linear_probes = ridge_accuracy(split.X_train[:, probes[:20]], split.y_train,
                                   split.X_test[:, probes[:20]], split.y_test)
    assert linear_useful > linear_probes + 0.05, (linear_useful, linear_probes)


def test_madelon_probes_are_uncorrelated_with_labels():
    X, y, informative, redundant = make_madelon_like(3, return_informative=True)
    probes = np.setdiff1d(np.arange(500), np.concatenate([informative, redundant]))
    assert abs_correlation(X[:, probes], y).max() < 5 / np.sqrt(len(y))  # |r| of pure noise ~ 1/√n


def test_madelon_probe_scale_scales_only_the_probes():
    X1, y1, informative, redundant = make_madelon_like(4, return_informative=True)
    X3, y3 = make_madelon_like(4, probe_scale=3.0)
    probes = np.setdiff1d(np.arange(500), np.concatenate([informative, redundant]))
    useful = np.concatenate([informative, redundant])
    assert np.array_equal(y1, y3) and np.array_equal(X1[:, useful], X3[:, useful])
    assert np.allclose(X3[:, probes], 3.0 * X1[:, probes])
    assert abs(X3[:, probes].std() - 3.0) < 0.05


def test_madelon_flip_y_flips_that_share_of_labels():
    """Far-apart clusters (class_sep = 10) make each row's cluster plain; flipped rows disagree with it."""
    X, y, informative, _ = make_madelon_like(5, class_sep=10.0, flip_y=0.2, return_informative=True)
    vertex = (X[:, informative] > 0) @ (2 ** np.arange(5))  # (n,) cluster number from the signs
    majority = np.array([np.bincount(y[vertex == v]).argmax() for v in range(32)])
    assert np.sum(y != majority[vertex]) == 520  # round(0.2 · 2600 / 2) from each class


def test_madelon_split_sizes_and_balance():
    split = madelon_split(0)
    assert isinstance(split, Split) and split.n_features == 500 and split.n_classes == 2
    assert [len(split.y_train), len(split.y_val), len(split.y_test)] == [1800, 200, 600]
    assert [np.bincount(part).tolist() for part in (split.y_train, split.y_val, split.y_test)] == [
        [900, 900], [100, 100], [300, 300]]
    loaded = load_dataset("madelon", rng=0)
    assert repr(loaded) == "Split(train=1800, val=200, test=600, features=500, classes=2)"
    assert np.array_equal(loaded.X_train, split.X_train) and np.array_equal(loaded.y_test, split.y_test)
    small = load_dataset("madelon", rng=1, dtype=np.float32, n_train=400, n_test=100, val_fraction=0.25,
                         n_probes=30, probe_scale=2.0)
    assert [len(small.y_train), len(small.y_val), len(small.y_test)] == [300, 100, 100]
    assert small.X_train.dtype == np.float32 and small.n_features == 50


# --- bag-of-words text -------------------------------------------------------------------------

def test_text_shapes_binary_sparse_and_balanced():
    X, y = make_text_like(0)
    assert X.shape == (3000, 3000) and X.dtype == np.float64
    assert y.shape == (3000,) and y.dtype == np.int64 and np.array_equal(np.bincount(y), [1500, 1500])
    assert np.array_equal(np.unique(X), [0.0, 1.0])
    words_per_document = X.sum(axis=1).mean()
    assert 50 < words_per_document < 110 and X.mean() < 0.05, words_per_document
    X32, _ = make_text_like(0, np.float32, n=50, n_words=40, n_indicative=4)
    assert X32.dtype == np.float32 and X32.shape == (50, 40)


def test_text_same_seed_same_data_other_seed_differs():
    X1, y1 = make_text_like(3, n=200, n_words=300)
    X2, y2 = make_text_like(np.random.default_rng(3), n=200, n_words=300)
    X3, y3 = make_text_like(4, n=200, n_words=300)
    assert np.array_equal(X1, X2) and np.array_equal(y1, y2)
    assert not np.array_equal(X1, X3) and not np.array_equal(y1, y3)


def test_text_word_frequencies_follow_zipf():
    """Past the words found in nearly every document, P(present) ≈ rate ∝ 1/rank: slope −1 on log–log."""
    X, _ = make_text_like(0, n=2000)
    frequency = X.mean(axis=0)  # (n_words,)
    assert frequency[0] > 0.99 and frequency[:10].mean() > frequency[10:100].mean() > frequency[100:].mean()
    ranks = np.arange(1, 3001)
    bands = np.split(np.arange(50, 2050), 20)  # average over bands of 100 words to smooth the noise
    log_rank, log_frequency = np.log([ranks[b].mean() for b in bands]), np.log([frequency[b].mean() for b in bands])
    slope = np.polyfit(log_rank, log_frequency, 1)[0]
    assert -1.2 < slope < -0.8, slope
    steeper = make_text_like(0, n=2000, zipf_exponent=1.5)[0].mean(axis=0)
    assert steeper[500:].mean() < 0.5 * frequency[500:].mean()


def test_text_is_learnable_by_a_linear_model_but_not_perfectly():
    split = stratified_split(*make_text_like(1, n=1500), rng=1)
    accuracy = ridge_accuracy(split.X_train, split.y_train, split.X_test, split.y_test, lam=100.0)
    assert 0.7 < accuracy < 0.95, accuracy
    control = stratified_split(*make_text_like(1, n=1500, strength=0.0), rng=1)
    accuracy = ridge_accuracy(control.X_train, control.y_train, control.X_test, control.y_test, lam=100.0)
    assert accuracy < 0.6, f"{accuracy} without class-indicative words; chance is 0.5"


def test_load_dataset_text():
    split = load_dataset("text", rng=0, dtype=np.float32, n=500, n_words=200, n_indicative=20)
    assert [len(split.y_train), len(split.y_val), len(split.y_test)] == [350, 50, 100]
    assert split.X_train.dtype == np.float32 and (split.n_features, split.n_classes) == (200, 2)


def test_load_dataset_unknown_name_lists_the_new_datasets():
    with pytest.raises(ValueError, match="'madelon', 'text'"):
        load_dataset("madelon2")


# --- bad arguments -----------------------------------------------------------------------------

@pytest.mark.parametrize("make, kwargs, match", [
    (make_madelon_like, dict(n_informative=0), "n_informative"),
    (make_madelon_like, dict(n=-5), "n must"),
    (make_madelon_like, dict(n_probes=-1), "n_probes"),
    (make_madelon_like, dict(n_informative=3), "n_clusters_per_class"),  # 32 clusters, 8 vertices
    (make_madelon_like, dict(flip_y=1.5), "flip_y"),
    (make_madelon_like, dict(probe_scale=-1.0), "probe_scale"),
    (make_madelon_like, dict(class_sep=np.nan), "class_sep"),
    (madelon_split, dict(n=100), "n_train and n_test"),
    (madelon_split, dict(n_test=0), "n_test"),
    (madelon_split, dict(val_fraction=1.0), "val_fraction"),
    (make_text_like, dict(n=-1), "n must"),
    (make_text_like, dict(n_words=0), "n_words"),
    (make_text_like, dict(n_words=10, n_indicative=11), "n_indicative"),
    (make_text_like, dict(strength=-0.5), "strength"),
])
def test_bad_arguments_raise_value_error(make, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make(0, **kwargs)


def test_non_integer_counts_and_global_rng_are_refused():
    with pytest.raises(TypeError, match="n_informative"):
        make_madelon_like(0, n_informative=2.5)
    with pytest.raises(TypeError, match="rng"):
        make_text_like(None)
