"""``python -m minisparse train``: every method runs, saves its history and model, refuses bad input."""
import json
import re
import subprocess
import sys

import numpy as np
import pytest

import minisparse

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


def refused(capsys, argv, match):
    """The CLI refuses ``argv`` with one line on stderr matching ``match`` and exit status 2."""
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("python -m minisparse: error: "), err
    assert re.search(match, err[0]), err[0]


def test_bad_density_and_method_are_refused(capsys):
    refused(capsys, ["train", "--method", "rigl", "--data", "teacher", "--density", "1.5"], r"\(0, 1\]")
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


def test_set_only_options_are_refused_elsewhere_and_counted(capsys, tmp_path):
    refused(capsys, ["train", "--method", "rigl", "--data", "teacher", "--zeta", "0.1", "--epochs", "1"],
            "SET's option")
    refused(capsys, ["train", "--method", "set", "--data", "teacher", "--hidden", "8", "--lr-scale", "1",
                     "--epochs", "1", "--out", str(tmp_path)], "one multiplier per layer")


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
    assert cli.main(["train", "--method", "set", "--data", "teacher", "--kwta", "1.5"]) == 2


@pytest.mark.parametrize("argv, match", [
    (["--epochs", "0"], "--epochs must be a positive integer"),
    (["--epochs", "-3"], "--epochs must be a positive integer"),
    (["--batch-size", "0"], "--batch-size must be a positive integer"),
    (["--lr", "nan"], "--lr must be a finite number"),
    (["--lr", "inf"], "--lr must be a finite number"),
    (["--hidden", "0"], "--hidden widths"),
    (["--epsilon", "3"], "--epsilon sets SET's"),
    (["--zeta", "1.5"], "--zeta"),
    (["--seed", "-1"], "--seed"),
])
def test_every_bad_argument_is_one_line_before_any_work(capsys, monkeypatch, argv, match):
    monkeypatch.setattr(cli, "load_dataset", lambda *a, **k: pytest.fail("loaded data before checking"))
    refused(capsys, ["train", "--method", "rigl", "--data", "teacher", *argv], match)


def test_output_folder_is_checked_before_training_and_never_silently_replaced(capsys, tmp_path, monkeypatch):
    common = ["train", "--method", "static", "--data", "teacher", "--hidden", "8", "--epochs", "1", "--quiet"]
    a_file = tmp_path / "file"
    a_file.write_text("x")
    monkeypatch.setattr(cli, "run", lambda *a, **k: pytest.fail("trained before checking the output folder"))
    refused(capsys, common + ["--out", str(a_file)], "is a file")
    refused(capsys, common + ["--out", "/proc/minisparse/run"], "cannot write into")
    monkeypatch.undo()
    assert cli.main(common + ["--out", str(tmp_path / "run")]) == 0
    first = (tmp_path / "run" / "history.json").read_text()
    refused(capsys, common + ["--out", str(tmp_path / "run")], "already holds a run")
    assert (tmp_path / "run" / "history.json").read_text() == first
    assert cli.main(common + ["--out", str(tmp_path / "run"), "--overwrite", "--seed", "1"]) == 0
    assert json.loads((tmp_path / "run" / "history.json").read_text())["seed"] == 1


def test_default_run_folder_names_what_ran(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cli.main(["train", "--method", "rigl", "--data", "teacher", "--hidden", "8", "4", "--epochs", "1",
              "--density", "0.2", "--seed", "3", "--quiet"])
    assert (tmp_path / "runs" / "rigl-teacher-d0.2-h8x4-e1-s3" / "model.npz").exists()


def test_history_is_strict_json_and_plot_draws_the_curves(tmp_path):
    assert cli.main(["train", "--method", "set", "--data", "teacher", "--hidden", "8", "--epochs", "2",
                     "--out", str(tmp_path), "--quiet", "--plot"]) == 0
    def no_nan(token):
        raise AssertionError(f"bare {token} in history.json")
    record = json.loads((tmp_path / "history.json").read_text(), parse_constant=no_nan)
    assert len(record["history"]) == 2
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert cli.strict({"a": float("nan"), "b": [np.float32(1.5), np.inf]}) == {"a": None, "b": [1.5, None]}


def test_version_and_blas_threads(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out.strip() == f"minisparse {minisparse.__version__}"
    assert cli.main(["--blas-threads", "0", "--version"]) == 2
    assert "BLAS threads must be a positive integer" in capsys.readouterr().err
