"""The training loop end to end, static sparsity kept, and clear errors on bad input."""
import numpy as np
import pytest

from minisparse import SGD, Adam, DivergenceError, SparseMLP, fit

from minisparse.network import topology
from minisparse.data.datasets import Split, make_teacher_data, stratified_split


@pytest.fixture(scope="module")
def teacher():
    X, y = make_teacher_data(n=1500, n_features=20, n_classes=4, n_hidden=16, rng=0)
    return stratified_split(X, y, val_fraction=0.15, test_fraction=0.15, rng=0)


def test_static_sparse_training_learns_and_keeps_its_mask(teacher, capsys):
    model = SparseMLP.random([20, 64, 64, 4], density=0.2, rng=0)
    masks = [topology.mask(layer.W) for layer in model.layers]
    history = fit(model, Adam(model, lr=3e-3), teacher, epochs=8, batch_size=32, rng=0)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 8 and lines[0].startswith("epoch 1/8  loss") and "density 0.2/0.2/0.199" in lines[0]   # 51 of 256 output weights
    assert history["loss"][-1] < 0.6 * history["loss"][0]
    assert history["test_acc"][-1] > 0.6                     # chance is ~0.25
    for layer, M in zip(model.layers, masks):
        assert np.array_equal(topology.mask(layer.W), M)     # static: not one connection moved
        assert topology.is_canonical(layer.W)
    assert np.allclose(history["density"], [[layer.density for layer in model.layers]] * 8)
    assert set(history.rows[0]) >= {"epoch", "loss", "train_acc", "val_acc", "test_acc", "density",
                                    "seconds", "nnz"}


def test_verbose_false_prints_nothing_and_seeds_repeat(teacher, capsys):
    runs = []
    for _ in range(2):
        model = SparseMLP.random([20, 32, 4], density=0.3, rng=1)
        fit(model, SGD(model, lr=0.05), teacher, epochs=2, rng=7, verbose=False)
        runs.append(model.layers[0].W.data.copy())
    assert capsys.readouterr().out == ""
    assert np.array_equal(runs[0], runs[1])


def test_hooks_are_called_at_their_place(teacher):
    model = SparseMLP.random([20, 32, 4], density=0.3, rng=1)
    steps, epochs = [], []
    fit(model, SGD(model, lr=0.05), teacher, epochs=2, batch_size=200, verbose=False,
        after_step=lambda step, grads: steps.append(step),
        after_epoch=lambda epoch, history: epochs.append((epoch, len(history))))
    per_epoch = int(np.ceil(len(teacher.y_train) / 200))
    assert steps == list(range(1, 2 * per_epoch + 1)) and epochs == [(1, 1), (2, 2)]


def test_diverging_run_raises(teacher):
    model = SparseMLP.random([20, 32, 4], density=0.5, rng=1)
    with pytest.raises(DivergenceError, match="diverged"):
        fit(model, SGD(model, lr=1e6, momentum=0.99), teacher, epochs=3, verbose=False)


@pytest.mark.parametrize("bad,match", [
    ("wrong_features", "features per row, but the model expects 20"),
    ("label_range", r"labels must be in \[0, 3\]"),
    ("nan", "NaN or inf"),
    ("inf", "NaN or inf"),
    ("one_d", "must be 2-D"),
    ("label_count", "labels but X has"),
    ("float_labels", "integer class labels"),
])
def test_bad_input_gives_a_clear_error(teacher, bad, match):
    X, y = teacher.X_train.copy(), teacher.y_train.copy()
    if bad == "wrong_features":
        X = X[:, :19]
    elif bad == "label_range":
        y[0] = 4
    elif bad == "nan":
        X[3, 2] = np.nan
    elif bad == "inf":
        X[0, 0] = np.inf
    elif bad == "one_d":
        X = X[:, 0]
    elif bad == "label_count":
        y = y[:-1]
    elif bad == "float_labels":
        y = y + 0.5
    data = Split(X, y, teacher.X_val, teacher.y_val, teacher.X_test, teacher.y_test)
    model = SparseMLP.random([20, 16, 4], density=0.5, rng=0)
    with pytest.raises(ValueError, match=match):
        fit(model, SGD(model, lr=0.1), data, epochs=1, verbose=False)


def test_model_entry_points_check_their_input():
    model = SparseMLP.random([5, 4, 3], density=0.5, rng=0)
    with pytest.raises(ValueError, match="expects 5"):
        model.predict(np.ones((2, 6)))
    with pytest.raises(ValueError, match="labels must be in"):
        model.loss_and_grads(np.ones((2, 5)), np.array([0, 3]))
    with pytest.raises(ValueError, match="sizes must list"):
        SparseMLP.random([5], density=0.5)
    with pytest.raises(ValueError, match="unknown topology"):
        SparseMLP.random([5, 3], density=0.5, topology="banana")
    with pytest.raises(TypeError, match="Generator or an int seed"):
        SparseMLP.random([5, 3], density=0.5, rng=None)


def test_float32_training_end_to_end(teacher):
    model = SparseMLP.random([20, 32, 4], density=0.3, rng=2, dtype=np.float32)
    history = fit(model, SGD(model, lr=0.05, nesterov=True), teacher, epochs=3, verbose=False)
    assert history["loss"][-1] < history["loss"][0]
    assert all(layer.W.dtype == np.float32 and layer.b.dtype == np.float32 for layer in model.layers)
    assert model.forward(teacher.X_test).dtype == np.float32


def test_exploding_but_finite_loss_raises(teacher):
    model = SparseMLP.random([20, 32, 4], density=0.5, rng=1)
    model.layers[-1].W.data *= 1e4           # logits of order 1e4: finite, but far past any sane loss
    with pytest.raises(DivergenceError, match="uniform guess"):
        fit(model, SGD(model, lr=1e-9), teacher, epochs=1, verbose=False)


def test_every_loop_logs_density_dead_neurons_and_the_split_multiply_adds(teacher):
    """The diagnostics issue 4 asks of every method, in every History row."""
    from minisparse.sparse_training.rigl import train_rigl
    from minisparse.sparse_training.set_training import train_set
    from minisparse.sparse_training.sparse_momentum import train_sparse_momentum
    from minisparse.sparse_training.dsr import train_dsr
    from minisparse.sparse_training.deep_r import train_deep_r
    runs = {
        "static": fit(m := SparseMLP.random([20, 24, 16, 4], density=0.3, rng=0), SGD(m, lr=0.05),
                      teacher, 2, verbose=False),
        "set": train_set(SparseMLP.random([20, 24, 16, 4], topology="erdos_renyi", epsilon=3, rng=0),
                         teacher, 2, verbose=False)[0],
        "rigl": train_rigl(SparseMLP.random([20, 24, 16, 4], density=0.3, topology="erk", rng=0),
                           teacher, 2, delta_t=5, verbose=False)[0],
        "sparse_momentum": train_sparse_momentum(SparseMLP.random([20, 24, 16, 4], density=0.3, rng=0),
                                                 teacher, 2, verbose=False)[0],
        "dsr": train_dsr(SparseMLP.random([20, 24, 16, 4], density=0.3, rng=0), teacher, 2, period=3,
                         verbose=False)[0],
        "deep_r": train_deep_r(SparseMLP.random([20, 24, 16, 4], density=0.3, topology="erk", rng=0),
                               teacher, 2, lr=0.1, verbose=False)[0],
    }
    for name, history in runs.items():
        row = history.rows[-1]
        assert len(row["density"]) == 3 and len(row["dead"]) == 2, name
        assert row["macs_sparse"] > 0, name
        assert (row["macs_dense"] > 0) == (name in ("rigl", "sparse_momentum")), name
        if name != "static":
            assert 0 < row["ever_active"] <= 1, name


def test_long_epochs_report_progress_on_stderr(teacher, capsys, monkeypatch):
    from minisparse.network import train
    model = SparseMLP.random([20, 32, 4], density=0.3, rng=1)
    X, y = teacher.X_train[:320], teacher.y_train[:320]
    loss, step = train.run_epoch(model, SGD(model, lr=0.05), X, y, 64, np.random.default_rng(0), report_every=0.0)
    err = capsys.readouterr().err.rstrip().splitlines()
    assert [line.split()[1] for line in err] == ["1/5", "2/5", "3/5", "4/5"]   # every step but the last
    assert all(line.startswith("  step ") and line.endswith(" s") for line in err) and step == 5
    monkeypatch.setattr(train, "HEARTBEAT", 0.0)
    fit(model, SGD(model, lr=0.05), teacher, epochs=1, rng=0)          # verbose: the heartbeat is on
    assert capsys.readouterr().err.count("  step ") > 0
    fit(model, SGD(model, lr=0.05), teacher, epochs=1, rng=0, verbose=False)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("elements, min_rows, expected_batches", [(1 << 22, 128, 1), (64 * 20, 4, 7), (10, 50, 3)])
def test_evaluate_batches_by_width_and_matches_one_full_batch(monkeypatch, elements, min_rows, expected_batches):
    """Rows per batch = min(batch_size, max(EVAL_MIN_ROWS, EVAL_ELEMENTS // widest layer)); the mean
    loss and accuracy do not depend on the batching (here 130 rows, widest layer 64 units)."""
    from minisparse.network import losses, train
    monkeypatch.setattr(train, "EVAL_ELEMENTS", elements)
    monkeypatch.setattr(train, "EVAL_MIN_ROWS", min_rows)
    rng = np.random.default_rng(2)
    model = SparseMLP.random([20, 64, 32, 4], density=0.3, rng=1)
    X, y = rng.standard_normal((130, 20)), rng.integers(0, 4, 130)
    calls = []
    forward = model.forward
    monkeypatch.setattr(model, "forward", lambda Xb, **kw: calls.append(len(Xb)) or forward(Xb, **kw))
    loss, acc = train.evaluate(model, X, y, batch_size=1000)
    assert len(calls) == expected_batches and sum(calls) == 130
    Z = forward(X)
    assert np.isclose(loss, losses.cross_entropy(Z, y)) and acc == np.mean(Z.argmax(1) == y)
