"""The figures command: F0's data (pure, checked), its plot, and the command line."""
import json
import os

import numpy as np
import pytest

from minisparse.lab import figures


@pytest.fixture(scope="module")
def f0():
    return figures.f0_data(fast=True)


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
