"""The figures command: F0's data (pure, checked), its plot, and the command line."""
import contextlib
import io
import json
import os
import tempfile

import numpy as np
import pytest

from minisparse.lab import figures
from minisparse.lab.common import parallel_map, progress, save_json


@pytest.fixture(scope="module")
def f0_and_log():
    """F0's data in fast mode, and what it printed to stderr meanwhile."""
    log = io.StringIO()
    with contextlib.redirect_stderr(log):
        data = figures.f0_data(fast=True)
    return data, log.getvalue()


@pytest.fixture(scope="module")
def f0(f0_and_log):
    return f0_and_log[0]


def _strict_loads(text):
    """json.loads that rejects the non-standard constants NaN, Infinity and -Infinity."""
    return json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(f"non-standard JSON: {c}")))


def test_f0_prints_one_progress_line_per_training_run(f0_and_log):
    data, log = f0_and_log
    lines = log.strip().splitlines()
    assert len(lines) == 2 * len(data["levels"])                      # random data and MNIST, per level
    assert lines[0].lstrip().startswith("[1/6]") and lines[-1].lstrip().startswith("[6/6]")
    assert any("90% sparse" in line for line in lines) and all(line.rstrip().endswith("s)") for line in lines)


def test_f0_json_is_strict_with_its_nans_as_null(f0, tmp_path):
    # the random-data task has no validation split: its per-epoch validation accuracy is NaN
    assert np.isnan(f0["random"][0.0]["val_acc"]).all()
    path = tmp_path / "f0.json"
    save_json(f0, str(path))
    text = path.read_text()
    assert "NaN" not in text
    back = _strict_loads(text)
    assert back["random"]["0.0"]["val_acc"] == [None] * len(f0["random"][0.0]["val_acc"])
    assert back["mnist"]["0.9"]["nnz"] == f0["mnist"][0.9]["nnz"]


def test_save_json_writes_strict_json():
    data = {"a": float("nan"), "b": [1.5, float("inf"), -float("inf")], "arr": np.array([[1.0, np.nan], [2, 3]]),
            "ints": np.arange(3), "f32": np.float32(0.5), "i64": np.int64(7), "nan64": np.float64("nan"),
            "t": (1, np.nan), np.int64(3): "key", 0.8: {"deep": [np.array([np.inf])]}, "s": "x", "n": None,
            "flag": np.bool_(True), "other": range(2)}
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "x.json")
        save_json(data, path)
        with open(path) as f:
            text = f.read()
    with pytest.raises(ValueError, match="non-standard"):                # the checker itself can fail
        _strict_loads('{"a": NaN}')
    back = _strict_loads(text)
    assert back == {"a": None, "b": [1.5, None, None], "arr": [[1.0, None], [2.0, 3.0]], "ints": [0, 1, 2],
                    "f32": 0.5, "i64": 7, "nan64": None, "t": [1, None], "3": "key", "0.8": {"deep": [[None]]},
                    "s": "x", "n": None, "flag": True, "other": "range(0, 2)"}


def test_progress_lines_and_worker_count_errors(capsys, monkeypatch):
    step = progress(2, "demo ")
    step("first"), step("second")
    err = capsys.readouterr().err.splitlines()
    assert [line.split("  (")[0] for line in err] == ["  [1/2] demo first", "  [2/2] demo second"]
    for bad in ("two", "0", "-1"):
        monkeypatch.setenv("MINISPARSE_WORKERS", bad)
        with pytest.raises(ValueError, match="MINISPARSE_WORKERS must be a positive integer"):
            parallel_map(abs, [1, 2])
    monkeypatch.setenv("MINISPARSE_WORKERS", "1")
    assert parallel_map(abs, [-1, 2]) == [1, 2]


def test_f0_sparsity_is_measured_and_constant(f0):
    for task in ("random", "mnist"):
        for level in f0["levels"]:
            run = f0[task][level]
            assert abs(run["before"] - level) < 2e-3          # rounding of nnz per layer only
            assert run["after"] == run["before"]
            assert np.all(run["sparsity"] == run["before"])   # every epoch, not just the end


def test_f0_curves_learn(f0):
    for level in f0["levels"]:
        loss = f0["random"][level]["loss"]
        assert loss[-1] < loss[0]                              # memorising the random labels
        assert f0["mnist"][level]["val_acc"][-1] > 0.2         # MNIST-5k: well above chance (0.1)


def test_f0_plot_writes_a_png(f0, tmp_path):
    path = tmp_path / "f0.png"
    figures.f0_plot(f0, str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["f0.png"]


def test_cli_lists_and_makes_figures(tmp_path, capsys, monkeypatch):
    calls = []

    def data(fast):
        calls.append(fast)
        return {"x": [1, 2]}

    def plot(d, path):
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots()
        ax.plot(d["x"])
        figures.save_figure(fig, path)
        plt.close(fig)

    monkeypatch.setitem(figures.FIGURES, "tiny", ("a tiny test figure", data, plot, "tiny.png"))
    assert figures.main(["--list"]) == 0
    assert "f0" in capsys.readouterr().out
    assert figures.main(["tiny", "--fast", "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "tiny.png" in out and "fast" in out and calls == [True]
    assert sorted(os.listdir(tmp_path / "out")) == ["tiny.json", "tiny.png"]
    assert json.loads((tmp_path / "out" / "tiny.json").read_text()) == {"x": [1, 2]}
    with pytest.raises(SystemExit):
        figures.main(["nope"])
    assert "unknown figure" in capsys.readouterr().err


def test_save_figure_leaves_nothing_on_failure(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt
    fig, _ = plt.subplots()
    monkeypatch.setattr(fig, "savefig", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        figures.save_figure(fig, str(tmp_path / "x.png"))
    plt.close(fig)
    assert list(tmp_path.iterdir()) == []


def test_fast_runs_default_to_their_own_folder(tmp_path, monkeypatch, capsys):
    """--fast never overwrites the committed full-size figures in figures/."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(figures.FIGURES, "tiny", ("a tiny test figure", lambda fast: {"x": [1]},
                                                  lambda d, path: open(path, "wb").close(), "tiny.png"))
    figures.main(["tiny", "--fast"])
    assert (tmp_path / "figures" / "fast" / "tiny.png").exists()
    assert not (tmp_path / "figures" / "tiny.png").exists()
