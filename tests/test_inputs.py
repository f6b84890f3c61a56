"""Bad input through the Python API gets a clear error before any work (or, where a user would expect it
to work, works): one test per input of the user study, plus SparseMLP.predict_proba and score."""
import math
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from minisparse import SGD, Adam, SparseLinear, SparseMLP, fit
from minisparse.data.datasets import Split, make_teacher_data, stratified_split
from minisparse.network import checks, losses, mlp, serialize
from minisparse.network.checks import check_X
from minisparse.network.train import evaluate
from minisparse.sparse_training import (set_update, train_ctre, train_deep_r, train_dsr, train_rigl, train_set,
                                        train_sparse_momentum)

LOOPS = {"SET": train_set, "RigL": train_rigl, "Sparse Momentum": train_sparse_momentum, "DSR": train_dsr,
         "DEEP R": train_deep_r, "CTRE": train_ctre}


@pytest.fixture(scope="module")
def data():
    X, y = make_teacher_data(n=300, n_features=6, n_classes=3, n_hidden=8, rng=0)
    return stratified_split(X, y, rng=0)


def small_model(rng=0, **kwargs):
    return SparseMLP.random([6, 12, 3], **({"density": 0.4} | kwargs), rng=rng)


def weights(model):
    return [(layer.W.copy(), layer.b.copy()) for layer in model.layers]


def unchanged(model, before):
    return all((W != layer.W).nnz == 0 and W.nnz == layer.nnz and np.array_equal(b, layer.b)
               for (W, b), layer in zip(before, model.layers))


# 1. learning rate NaN, inf, ≤ 0 or text ---------------------------------------------------------------

@pytest.mark.parametrize("opt", [SGD, Adam])
@pytest.mark.parametrize("lr", [float("nan"), float("inf"), -float("inf"), 0.0, -0.1])
def test_optimizer_refuses_non_finite_or_non_positive_lr(opt, lr):
    with pytest.raises(ValueError, match=r"lr"):
        opt(small_model(), lr=lr)


@pytest.mark.parametrize("opt", [SGD, Adam])
def test_optimizer_refuses_lr_given_as_text(opt):
    with pytest.raises(TypeError, match=r"lr must be a finite number .*got '0\.01' \(str\)"):
        opt(small_model(), lr="0.01")


def test_loops_refuse_nan_lr_before_training(data):
    model = small_model()
    before = weights(model)
    with pytest.raises(ValueError, match="lr must be a finite number"):
        train_deep_r(model, data, 1, lr=float("nan"), verbose=False)   # DEEP R re-signs weights: not yet
    assert unchanged(model, before)


# 2, 3. float16 and int32 models ---------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float16, np.int32, "int64", np.complex128, None])
def test_unsupported_model_dtype_is_refused_naming_the_supported_ones(dtype):
    with pytest.raises(TypeError, match=r"is not supported: the supported dtypes are np\.float32, np\.float64"):
        SparseMLP.random([6, 12, 3], density=0.4, dtype=dtype)
    W = sp.csr_array(np.ones((2, 3), dtype=np.int32))           # (scipy.sparse has no float16)
    with pytest.raises(TypeError, match=r"W's dtype int32 is not supported"):
        SparseLinear(W, np.zeros(3, np.int32))


def test_layers_of_different_dtypes_are_refused():
    a = SparseLinear(sp.csr_array(np.ones((2, 3))), np.zeros(3))
    b = SparseLinear(sp.csr_array(np.ones((3, 2), dtype=np.float32)), np.zeros(2, np.float32), "linear")
    with pytest.raises(TypeError, match="same dtype"):
        SparseMLP([a, b])


# 4. complex X -----------------------------------------------------------------------------------------

def test_complex_X_is_refused(data):
    model = small_model()
    Xc = data.X_train + 1j
    with pytest.raises(TypeError, match=r"X_train is complex \(complex128\).*X_train\.real"):
        fit(model, SGD(model, lr=0.1), (Xc, data.y_train), 1, verbose=False)
    with pytest.raises(TypeError, match="complex"):
        model.predict(Xc[:5])
    with pytest.raises(TypeError, match="must hold real numbers"):
        check_X(np.array([["a", "b"]]))


# 5. an ε that makes every layer dense ---------------------------------------------------------------

def test_epsilon_making_every_layer_dense_warns_and_sparse_loops_refuse_it(data):
    with pytest.warns(UserWarning, match=r"epsilon=1000000.0 makes every layer dense.*topology='dense'"):
        model = SparseMLP.random([6, 12, 3], topology="erdos_renyi", epsilon=1e6, rng=0)
    assert model.density == 1.0
    for name, loop in LOOPS.items():
        with pytest.raises(ValueError, match=f"{name} needs a sparse model.*every layer .* is dense"):
            loop(model, data, 1, verbose=False)
    with warnings.catch_warnings():                 # a sparse ε, or one dense layer among sparse ones: silent
        warnings.simplefilter("error")
        SparseMLP.random([6, 12, 3], topology="erdos_renyi", epsilon=1.0, rng=0)
        SparseMLP.random([6, 12, 3], topology="erdos_renyi", epsilon=2.5, rng=0)    # 12 → 3 capped dense


@pytest.mark.parametrize("epsilon, error", [(float("nan"), ValueError), (float("inf"), ValueError),
                                            (0, ValueError), ("5", TypeError)])
def test_bad_epsilon_is_refused(epsilon, error):
    with pytest.raises(error, match="epsilon must be a finite number > 0"):
        SparseMLP.random([6, 12, 3], topology="erdos_renyi", epsilon=epsilon, rng=0)


# 6. a density (or ε) too small for one connection per layer -----------------------------------------

def test_tiny_density_warns_naming_the_density_that_gives_every_layer_a_connection():
    with pytest.warns(UserWarning, match=r"density=1e-09 gives layers 0 \(784 → 300\), 1 \(300 → 10\) no "
                                         r"connection.*density ≥ 0\.0003333 gives every layer"):
        model = SparseMLP.random([784, 300, 10], density=1e-9, rng=0)
    assert [layer.nnz for layer in model.layers] == [1, 1]
    with pytest.warns(UserWarning, match=r"density ≥ 1\.888e-05"):
        SparseMLP.random([784, 300, 10], density=1e-9, topology="erk", rng=0)
    with warnings.catch_warnings():                  # at the named density: no warning
        warnings.simplefilter("error")
        assert min(layer.nnz for layer in SparseMLP.random([784, 300, 10], density=1 / 3000, rng=0).layers) == 1
        SparseMLP.random([784, 300, 10], density=1.888e-05, topology="erk", rng=0)


def test_tiny_epsilon_is_refused_naming_the_smallest_one():
    with pytest.raises(ValueError, match=r"epsilon=0\.0001 gives layers 0 .* no connection.*epsilon ≥ 0\.003226"):
        SparseMLP.random([784, 300, 10], topology="erdos_renyi", epsilon=1e-4, rng=0)


# 7, 8. epochs and batch size -------------------------------------------------------------------------

@pytest.mark.parametrize("name", LOOPS)
@pytest.mark.parametrize("epochs", [0, -3])
def test_loops_refuse_non_positive_epochs(data, name, epochs):
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        LOOPS[name](small_model(), data, epochs, verbose=False)


@pytest.mark.parametrize("name", LOOPS)
@pytest.mark.parametrize("batch_size, error", [(0, ValueError), (-1, ValueError), (10.0, TypeError),
                                               ("10", TypeError)])
def test_loops_refuse_a_bad_batch_size_before_any_work(data, name, batch_size, error):
    model = small_model()
    before = weights(model)
    with pytest.raises(error, match="batch_size must be a positive integer"):
        LOOPS[name](model, data, 2, batch_size=batch_size, verbose=False)
    assert unchanged(model, before)


def test_fit_checks_epochs_and_batch_size(data):
    model = small_model()
    for epochs in (0, -1):
        with pytest.raises(ValueError, match="epochs must be a positive integer"):
            fit(model, SGD(model, lr=0.1), data, epochs, verbose=False)
    with pytest.raises(TypeError, match="epochs must be a positive integer.*2.5"):
        fit(model, SGD(model, lr=0.1), data, 2.5, verbose=False)
    for batch_size, error in [(0, ValueError), (2.0, TypeError)]:
        with pytest.raises(error, match="batch_size must be a positive integer"):
            fit(model, SGD(model, lr=0.1), data, 1, batch_size=batch_size, verbose=False)


# 9. X as a scipy.sparse matrix -------------------------------------------------------------------------

@pytest.mark.parametrize("kind", [sp.csr_matrix, sp.csr_array, sp.coo_matrix])
def test_scipy_sparse_X_trains_like_the_dense_array(data, kind):
    runs = []
    for X in (data.X_train, kind(data.X_train)):
        model = small_model()
        history = fit(model, SGD(model, lr=0.1), (X, data.y_train), 2, verbose=False)
        runs.append((history["loss"], model.layers[0].W.data.copy(), model.predict(kind(data.X_test))))
    assert all(np.array_equal(a, b) for a, b in zip(*runs))


def test_huge_scipy_sparse_X_is_refused(monkeypatch):
    monkeypatch.setattr(checks, "SPARSE_X_LIMIT", 100)
    with pytest.raises(ValueError, match=r"X is a scipy\.sparse matrix of shape \(20, 6\).*dense"):
        check_X(sp.random(20, 6, density=0.1, format="csr", random_state=0))


# 10. an optimizer built for another model -------------------------------------------------------------

def test_optimizer_of_another_model_is_refused(data):
    model, other = small_model(), small_model(rng=1)
    before = weights(model)
    with pytest.raises(ValueError, match="optimizer was built for another model"):
        fit(model, Adam(other), data, 1, verbose=False)
    with pytest.raises(ValueError, match="optimizer was built for another model"):
        set_update(model, 0.3, 0, SGD(other, lr=0.1))
    assert unchanged(model, before)
    with pytest.raises(TypeError, match="optimizer must be a minisparse optimizer"):
        fit(model, "adam", data, 1, verbose=False)


# 11. data as a tuple -----------------------------------------------------------------------------------

def test_data_as_a_tuple_is_accepted(data):
    runs = []
    for d in [(data.X_train, data.y_train), Split(data.X_train, data.y_train, data.X_val[:0], data.y_val[:0],
                                                   data.X_test[:0], data.y_test[:0])]:
        model = small_model()
        runs.append(fit(model, SGD(model, lr=0.1), d, 2, verbose=False)["loss"])
    assert np.array_equal(*runs)
    model = small_model()
    history = fit(model, SGD(model, lr=0.1), tuple(getattr(data, k) for k in ("X_train", "y_train", "X_val",
                                                                              "y_val", "X_test", "y_test")),
                  1, verbose=False)
    assert np.isfinite(history["val_acc"][0]) and np.isfinite(history["test_acc"][0])
    history, _ = train_set(small_model(), (data.X_train, data.y_train), 2, verbose=False)
    assert len(history) == 2


def test_data_of_another_kind_is_refused_saying_what_it_must_be(data):
    model = small_model()
    with pytest.raises(ValueError, match=r"\(X, y\) or \(X_train, y_train, X_val, y_val, X_test, y_test\)"):
        fit(model, SGD(model, lr=0.1), (data.X_train, data.y_train, data.X_val), 1, verbose=False)
    with pytest.raises(TypeError, match=r"data must be a minisparse\.data\.datasets\.Split .*stratified_split"):
        fit(model, SGD(model, lr=0.1), {"X": data.X_train}, 1, verbose=False)


# 12. a float layer size --------------------------------------------------------------------------------

@pytest.mark.parametrize("sizes, error, match", [
    ([784, 300.0, 10], TypeError, r"sizes\[1\] is 300\.0 \(float\)"),
    ([6, True, 3], TypeError, r"sizes\[1\] is True"),
    ([6, 0, 3], ValueError, "sizes must list at least two positive widths"),
    (784, TypeError, "sizes must be a list of layer widths"),
])
def test_non_integer_layer_sizes_are_refused(sizes, error, match):
    with pytest.raises(error, match=match):
        SparseMLP.random(sizes, density=0.1)


def test_numpy_integer_layer_sizes_are_fine():
    assert SparseMLP.random(np.array([6, 12, 3]), density=0.4).n_classes == 3


# 13. serialize.load given a folder or a .npy file ------------------------------------------------------

def test_load_refuses_a_folder_and_a_file_of_another_kind(tmp_path):
    expected = "expected a .npz model file written by minisparse.network.serialize.save"
    with pytest.raises(ValueError, match=rf"is a folder; {expected}"):
        serialize.load(tmp_path)
    (tmp_path / "run.npz").mkdir()
    with pytest.raises(ValueError, match=rf"run\.npz is a folder; {expected}"):
        serialize.load(tmp_path / "run")
    np.save(tmp_path / "arr.npy", np.arange(3))
    with pytest.raises(ValueError, match=rf"arr\.npy is a \.npy file, not a \.npz model file; {expected}"):
        serialize.load(tmp_path / "arr.npy")
    with pytest.raises(FileNotFoundError, match="no model file at"):
        serialize.load(tmp_path / "nothing")
    model = small_model()
    path = serialize.save(tmp_path / "ckpt", model)                      # ckpt.npz, found from "ckpt"
    assert path.endswith("ckpt.npz") and serialize.load(tmp_path / "ckpt")[0].nnz == model.nnz


# 14. every loop's hyper-parameters, checked before any work ------------------------------------------

@pytest.mark.parametrize("name, kwargs, error, match", [
    ("SET", dict(zeta=1.5), ValueError, r"zeta must be in \[0, 1\], got 1\.5"),
    ("SET", dict(zeta="lots"), TypeError, "zeta must be a number"),
    ("SET", dict(rule="nearest"), ValueError, "rule must be one of"),
    ("SET", dict(init=0.1), ValueError, "init must be a callable"),
    ("SET", dict(lr=float("inf")), ValueError, "lr must be a finite number"),
    ("RigL", dict(alpha=1.5), ValueError, r"alpha must be in \[0, 1\]"),
    ("RigL", dict(delta_t=0), ValueError, "delta_t must be a positive integer"),
    ("RigL", dict(delta_t=2.5), TypeError, "delta_t must be a positive integer"),
    ("RigL", dict(t_end_frac=1.2), ValueError, r"t_end_frac must be in \[0, 1\]"),
    ("Sparse Momentum", dict(prune_rate=0.001), ValueError, r"prune_rate must be a finite number ≥ 0\.005"),
    ("Sparse Momentum", dict(prune_rate=1.5), ValueError, "prune_rate"),
    ("DSR", dict(threshold=-1e-3), ValueError, "threshold must be a finite number > 0"),
    ("DSR", dict(threshold=float("nan")), ValueError, "threshold"),
    ("DSR", dict(n_prune=0), ValueError, "n_prune must be a positive integer"),
    ("DSR", dict(period=0), ValueError, "period must be a positive integer"),
    ("DSR", dict(tolerance=1.5), ValueError, r"tolerance must be in \[0, 1\]"),
    ("DSR", dict(stop_frac=-0.1), ValueError, "stop_frac"),
    ("DEEP R", dict(l1=-1e-5), ValueError, "l1 must be a finite number ≥ 0"),
    ("DEEP R", dict(l1=float("inf")), ValueError, "l1"),
    ("DEEP R", dict(temperature=-1.0), ValueError, "temperature must be a finite number ≥ 0"),
    ("DEEP R", dict(lr_decay=0.0), ValueError, "lr_decay must be a finite number > 0 and ≤ 1"),
    ("DEEP R", dict(momentum=1.0), ValueError, "momentum"),
    ("CTRE", dict(zeta=1.5), ValueError, r"zeta must be in \[0, 1\]"),
    ("CTRE", dict(variant="fast"), ValueError, "variant must be one of"),
    ("CTRE", dict(patience=-1), ValueError, "patience must be a non-negative integer"),
])
def test_loop_hyper_parameters_are_checked_before_any_work(data, name, kwargs, error, match):
    model = small_model()
    before = weights(model)
    with pytest.raises(error, match=match):
        LOOPS[name](model, data, 3, verbose=False, **kwargs)
    assert unchanged(model, before)          # not one step taken, not one weight re-signed


# 15. a step-scheduled run too short for its schedule ---------------------------------------------------

@pytest.fixture(scope="module")
def data_3500():
    X, y = make_teacher_data(n=3500, n_features=6, n_classes=3, n_hidden=8, rng=0)
    return Split(X, y, X[:0], y[:0], X[:0], y[:0])                      # 35 batches of 100


def test_rigl_warns_when_the_run_makes_no_update(data_3500):
    with pytest.warns(UserWarning, match=r"train_rigl will make no topology update: updates come every "
                                         r"delta_t=100 steps before T_end = 78 .* use delta_t ≤ 77 or epochs ≥ 4"):
        _, log = train_rigl(small_model(), data_3500, 3, delta_t=100, verbose=False)
    assert len(log.get("step", [])) == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, log = train_rigl(small_model(), data_3500, 3, delta_t=77, verbose=False)
    assert len(log["step"]) == 1


def test_dsr_warns_when_the_run_makes_no_update(data_3500):
    with pytest.warns(UserWarning, match=r"train_dsr will make no topology update: updates come every "
                                         r"period=100 steps before T_end = 66 .* use period ≤ 65 or epochs ≥ 4"):
        train_dsr(small_model(density=0.3), data_3500, 2, period=100, verbose=False)


# SparseMLP.predict_proba and score -----------------------------------------------------------------------

def test_predict_proba_is_the_softmax_of_the_logits_in_evaluation_batches(data, monkeypatch):
    model = small_model()
    fit(model, SGD(model, lr=0.1), data, 2, verbose=False)
    P = model.predict_proba(data.X_test)
    assert P.shape == (len(data.X_test), 3) and P.dtype == model.dtype
    assert np.allclose(P.sum(axis=1), 1.0) and np.all(P >= 0)
    assert np.allclose(P, losses.softmax(model.forward(data.X_test)))
    assert np.array_equal(P.argmax(axis=1), model.predict(data.X_test))
    calls, forward = [], model.forward
    monkeypatch.setattr(model, "forward", lambda Xb, **kw: calls.append(len(Xb)) or forward(Xb, **kw))
    monkeypatch.setattr(mlp, "EVAL_MIN_ROWS", 7)
    monkeypatch.setattr(mlp, "EVAL_ELEMENTS", 7 * 12)                    # widest layer: 12 units
    assert np.array_equal(model.predict_proba(data.X_test), P)
    assert calls == [7] * (len(data.X_test) // 7) + [len(data.X_test) % 7] * bool(len(data.X_test) % 7)
    with pytest.raises(ValueError, match="expects 6"):
        model.predict_proba(np.ones((2, 5)))


def test_score_is_the_accuracy(data):
    model = small_model()
    fit(model, SGD(model, lr=0.1), data, 3, verbose=False)
    acc = model.score(data.X_test, data.y_test)
    assert acc == np.mean(model.predict(data.X_test) == data.y_test) == evaluate(model, data.X_test, data.y_test)[1]
    assert model.score(sp.csr_matrix(data.X_test), list(data.y_test)) == acc
    with pytest.raises(ValueError, match="labels must be in"):
        model.score(data.X_test, data.y_test + 3)
    with pytest.raises(ValueError, match="labels but X has"):
        model.score(data.X_test, data.y_test[:-1])
    assert math.isclose(model.score(data.X_test[:1], model.predict(data.X_test[:1])), 1.0)
