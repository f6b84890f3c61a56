"""``python -m minisparse train``: every method runs, saves its history and model, refuses bad input."""
import json
import subprocess
import sys

import numpy as np
import pytest

from minisparse import cli

from minisparse.network import serialize


@pytest.mark.parametrize("method", ["dense", "static", "set", "rigl", "sparse_momentum", "dsr", "deep_r",
                                    "ctre_sim", "ctre_seq", "ctre_cosine"])
def test_every_method_trains_and_saves(method, tmp_path, capsys):
    out = tmp_path / method
    code = cli.main(["train", "--method", method, "--data", "teacher", "--density", "0.2",
                     "--hidden", "32", "--epochs", "2", "--out", str(out)])
    lines = capsys.readouterr().out.strip().splitlines()
    assert sum(line.startswith("epoch ") for line in lines) == 2 and "test accuracy" in lines[-1]
    saved = json.loads((out / "history.json").read_text())
    assert saved["method"] == method and len(saved["history"]) == 2
    model, _ = serialize.load(out / "model.npz")
    assert model.density == pytest.approx(saved["density"])
    if method == "dense":
        assert model.density == 1.0
    else:
        assert model.density == pytest.approx(0.2, rel=0.05)
    assert code == 0


def test_set_takes_an_epsilon(tmp_path):
    cli.main(["train", "--method", "set", "--data", "teacher", "--epsilon", "3", "--hidden", "16",
              "--epochs", "1", "--out", str(tmp_path), "--quiet"])
    widths = json.loads((tmp_path / "history.json").read_text())["sizes"]
    expected = sum(min(round(3 * (a + b)), a * b) for a, b in zip(widths[:-1], widths[1:]))
    model, _ = serialize.load(tmp_path / "model.npz")
    assert model.nnz == expected                 # nnz = ε(n_in + n_out) per layer, capped at dense


def test_ctre_on_the_madelon_like_set(tmp_path):
    record = cli.main(["train", "--method", "ctre_sim", "--data", "madelon", "--epsilon", "1", "--hidden", "40",
                       "40", "--epochs", "2", "--out", str(tmp_path), "--quiet"])
    saved = json.loads((tmp_path / "history.json").read_text())
    assert saved["sizes"] == [500, 40, 40, 2] and len(saved["topology_log"]["random_share"]) == 1
    assert record == 0


def test_float32_run_records_its_dtype_and_peak_memory(tmp_path):
    cli.main(["train", "--method", "set", "--data", "teacher", "--epsilon", "2", "--hidden", "16",
              "--epochs", "1", "--dtype", "float32", "--out", str(tmp_path), "--quiet"])
    saved = json.loads((tmp_path / "history.json").read_text())
    model, _ = serialize.load(tmp_path / "model.npz")
    assert saved["dtype"] == "float32" and model.dtype == np.float32 and saved["nnz"] == model.nnz
    assert saved["peak_memory_mib"] is None or saved["peak_memory_mib"] > 10


def test_bad_density_and_method_are_refused():
    with pytest.raises(SystemExit, match=r"\(0, 1\]"):
        cli.main(["train", "--method", "rigl", "--data", "teacher", "--density", "1.5"])
    with pytest.raises(SystemExit):
        cli.main(["train", "--method", "banana"])


def test_module_entry_point(tmp_path):
    result = subprocess.run([sys.executable, "-m", "minisparse", "train", "--method", "static", "--data",
                             "teacher", "--hidden", "8", "--epochs", "1", "--out", str(tmp_path), "--quiet"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and (tmp_path / "model.npz").exists()
    assert np.isfinite(json.loads((tmp_path / "history.json").read_text())["history"][0]["loss"])


def test_set_takes_a_per_layer_lr_scale_and_zeta(tmp_path):
    cli.main(["train", "--method", "set", "--data", "teacher", "--epsilon", "2", "--hidden", "16", "16",
              "--epochs", "2", "--lr-scale", "1", "1", "0.1", "--zeta", "0.1", "--out", str(tmp_path), "--quiet"])
    saved = json.loads((tmp_path / "history.json").read_text())
    assert saved["lr_scale"] == [1, 1, 0.1] and saved["zeta"] == 0.1
    nnz = saved["topology_log"]["nnz"][0]
    dropped = saved["topology_log"]["dropped"][0]
    assert all(0.1 * n - 2 <= d <= 0.1 * n + 1 for d, n in zip(dropped, nnz))   # ζ = 0.1, not the default 0.3


def test_set_only_options_are_refused_elsewhere_and_counted():
    with pytest.raises(SystemExit, match="SET's options"):
        cli.main(["train", "--method", "rigl", "--data", "teacher", "--zeta", "0.1", "--epochs", "1"])
    with pytest.raises(SystemExit, match="one multiplier per layer"):
        cli.main(["train", "--method", "set", "--data", "teacher", "--hidden", "8", "--lr-scale", "1",
                  "--epochs", "1"])


def test_the_lab_commands_run_through_the_same_entry_point(capsys):
    """``python -m minisparse figures|bench|bench-methods`` hand their arguments to the lab's own parsers."""
    assert cli.main(["figures", "--list"]) == 0
    listed = capsys.readouterr().out
    assert "f0_static_sparse.png" in listed and "pruning_by_order.png" in listed
    for command in ("bench", "bench-methods", "bench-kwta"):
        with pytest.raises(SystemExit) as stop:
            cli.main([command, "--help"])
        assert stop.value.code == 0
        assert f"python -m minisparse {command}" in capsys.readouterr().out
    # a lab command that returns its numbers still exits 0 (sys.exit(dict) would print it and exit 1)
    assert cli.main(["bench-kwta", "--fast"]) == 0
    assert "dense-input fast path" in capsys.readouterr().out


def test_kwta_option_trains_saves_and_reloads(tmp_path):
    record = cli.main(["train", "--method", "set", "--data", "teacher", "--hidden", "40", "--epochs", "2",
                       "--kwta", "0.1", "--out", str(tmp_path), "--quiet"])
    assert record == 0
    saved = json.loads((tmp_path / "history.json").read_text())
    model, _ = serialize.load(tmp_path / "model.npz")
    assert saved["kwta"] == 0.1 and model.layers[0].activation == "kwta" and model.layers[0].f.k == 4
    assert model.layers[0].f.boost_strength == pytest.approx(1.5 * 0.85 ** 2)
    with pytest.raises(SystemExit, match="--kwta must be in"):
        cli.main(["train", "--method", "set", "--data", "teacher", "--kwta", "1.5"])
