"""``python -m minisparse compare``: the fast mode end to end, the best-validation-epoch rule, the
selection rule (F3's), multiply-add counts, strict JSON, refusals before training, reproducibility."""
import json
import math

import numpy as np
import pytest

from minisparse.lab import compare, fig_dst
from minisparse.network.cost import epoch_macs

FAST = dict(data_name="teacher", hidden=[16, 8], density=0.2, epochs=3, seeds=(0, 1), lr_grid=(0.03, 0.1),
            delta_t_grid=(5,), n_train=300)


def strict(path):
    """The file parsed by a strict JSON reader (bare NaN / Infinity refused)."""
    def refuse(token):
        raise ValueError(f"not strict JSON: {token}")
    return json.loads(path.read_text(), parse_constant=refuse)


@pytest.fixture(scope="module")
def fast_run(tmp_path_factory):
    """``compare --fast`` on the teacher data for static, SET and RigL; (JSON, printed table, folder)."""
    out = tmp_path_factory.mktemp("compare")
    import contextlib
    import io
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        compare.main(["--fast", "--data", "teacher", "--methods", "static", "set", "RigL", "--density", "0.2",
                      "--out", str(out)])
    return strict(out / "compare.json"), buf.getvalue(), out


def test_fast_mode_runs_end_to_end(fast_run):
    data, printed, out = fast_run
    assert list(data["methods"]) == ["static", "SET", "RigL"]
    assert data["sizes"] == [64, *compare.FAST["hidden"], 10] and data["epochs"] == compare.FAST["epochs"]
    assert (out / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = printed.strip().splitlines()
    assert lines[0].split()[:2] == ["method", "lr"] and len(lines) == 4
    assert all(any(line.startswith(m) for line in lines) for m in data["methods"])
    for m, r in data["methods"].items():
        assert len(r["runs"]) == compare.FAST["seeds"] and r["diverged"] == 0
        for run in r["runs"]:
            assert len(run["val"]) == len(run["test"]) == data["epochs"]
            assert run["final_test"] == run["test"][-1] and 0 <= run["test_at_best_val"] <= 1
            assert run["density"] == pytest.approx(0.2, abs=0.02) and run["seconds"] > 0
        mean = np.mean([run["test_at_best_val"] for run in r["runs"]])
        assert r["test_at_best_val"]["mean"] == pytest.approx(mean)
        assert r["macs_per_epoch"]["sparse"] > 0
        assert (r["macs_per_epoch"]["dense"] > 0) == (m == "RigL")       # RigL's update steps: dense gradients


def test_reported_test_accuracy_is_at_the_first_best_validation_epoch(fast_run):
    for r in fast_run[0]["methods"].values():
        for run in r["runs"]:
            i = int(np.argmax(run["val"]))                               # argmax: the first of ties
            assert run["best_epoch"] == i + 1 and run["test_at_best_val"] == run["test"][i]


def test_best_validation_rule_on_a_scripted_run(monkeypatch):
    """Validation 0.5 0.7 0.6 0.7 0.65: epochs 2 and 4 tie, the earlier wins; its test accuracy (0.55) is
    reported, not the best test (0.9) nor the final (0.8)."""
    val, test = [0.5, 0.7, 0.6, 0.7, 0.65], [0.40, 0.55, 0.9, 0.3, 0.8]
    script = iter(x for pair in zip(val, test) for x in pair)            # evaluate: val, then test, per epoch
    monkeypatch.setattr(compare, "evaluate", lambda model, X, y: (0.0, next(script)))

    def fake_train(method, model, data, epochs, hp, rng, schedule_epochs=None, on_epoch=None):
        for epoch in range(1, epochs + 1):
            on_epoch(epoch, model)
        return None, {"val": val[-1], "test": test[-1]}
    monkeypatch.setattr(fig_dst, "train_method", fake_train)
    hp = fig_dst.DEFAULTS["static"]
    run = compare._seed_job(("static", hp, "teacher", 300, [64, 8, 10], 0.2, 5, 0))
    assert (run["best_epoch"], run["best_val"], run["test_at_best_val"], run["final_test"]) == (2, 0.7, 0.55, 0.8)


def test_chosen_lr_is_in_the_grid_and_the_argmax_of_the_selection(fast_run):
    data = fast_run[0]
    for m, r in data["methods"].items():
        grid = fig_dst.lr_grid(m, data["lr_grid"])
        assert [row["lr"] for row in r["selection"]] == [lr for lr in grid for _ in
                                                         (data["delta_t_grid"] if m in fig_dst.STEP_BASED else [0])]
        best = max(r["selection"], key=lambda row: row["val"])           # the first of ties
        assert r["lr"] in grid and r["lr"] == r["hp"]["lr"] == best["lr"] and r["delta_t"] == best["delta_t"]


def test_selection_is_f3s(monkeypatch):
    """On F3's fast setting compare's selection table is fig_dst.select_hparams's, value for value."""
    cfg = fig_dst.setting(True)
    got = compare.compare(["SET", "RigL"], "mnist5k", hidden=cfg["sizes"][1:-1], density=0.05, epochs=cfg["epochs"],
                          seeds=(0,), lr_grid=cfg["lr_grid"], delta_t_grid=cfg["delta_t_grid"], n_train=cfg["n_train"])
    for m in ("SET", "RigL"):
        hp, table = fig_dst.select_hparams(m, fast=True)
        assert [row["val"] for row in got["methods"][m]["selection"]] == [v for _, v in table]
        assert got["methods"][m]["hp"] == hp


def test_macs_count_dense_gradients_as_the_loops_do(monkeypatch):
    """Static: epochs × epoch_macs, no dense work. Sparse Momentum: a dense gradient at every step. RigL:
    one B·Σ n_in·n_out per update step that rigl_step really took."""
    updates, real = [], fig_dst.rigl_step

    def counting(model, opt, X, y, step, delta_t, t_end, alpha):
        loss, update = real(model, opt, X, y, step, delta_t, t_end, alpha)
        updates.append((update is not None, len(y)))
        return loss, update
    monkeypatch.setattr(fig_dst, "rigl_step", counting)
    sizes, n, epochs = [64, 16, 8, 10], 250, 3                           # 3 batches an epoch, the last of 50
    dense = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    runs = {m: compare._seed_job((m, dict(fig_dst.DEFAULTS[m], lr=0.03, delta_t=1), "teacher", n, sizes, 0.2, epochs, 0))
            for m in ("static", "Sparse Momentum", "RigL")}
    start = fig_dst.build("static", sizes, 0.2, 0)
    assert runs["static"]["macs"] == {"sparse": epochs * epoch_macs(start, n, 100)["sparse"], "dense": 0}
    assert runs["Sparse Momentum"]["macs"]["dense"] == epochs * n * dense
    assert sum(u for u, _ in updates) >= 2 and (True, 50) in updates        # one on a short last batch
    assert runs["RigL"]["macs"]["dense"] == sum(rows * dense for u, rows in updates if u)


def test_bad_arguments_are_refused_before_any_training(monkeypatch, capsys, tmp_path):
    def no_training(*args, **kwargs):
        raise AssertionError("trained")
    monkeypatch.setattr(fig_dst, "train_method", no_training)
    (tmp_path / "a_file").write_text("")
    base = ["--fast", "--data", "teacher", "--out", str(tmp_path / "out")]
    for extra, message in ((["--methods", "static", "rigel"], "unknown method 'rigel'; known: dense, static, SET"),
                           (["--density", "0"], "density must be in (0, 1]"),
                           (["--density", "1.5"], "density must be in (0, 1]"),
                           (["--epochs", "0"], "epochs must be an integer ≥ 1"),
                           (["--seeds", "0"], "--seeds must be ≥ 1"),
                           (["--hidden", "16", "0"], "hidden width"),
                           (["--workers", "0"], "workers must be"),
                           (["--data", "nope"], "unknown dataset 'nope'"),
                           (["--out", str(tmp_path / "a_file" / "sub")], "cannot write to the output folder")):
        with pytest.raises(SystemExit) as exit_:
            compare.main(base + extra)
        assert exit_.value.code == 2
        assert message in capsys.readouterr().err
    with pytest.raises(ValueError, match="at least one seed"):
        compare.compare(["static"], seeds=())
    with pytest.raises(ValueError, match="lr_grid"):
        compare.compare(["static"], "teacher", lr_grid=(0.1, math.nan))


def test_method_spellings():
    assert [compare.method_name(m) for m in ("dense", "static", "set", "rigl", "sparse_momentum", "dsr", "deep_r")] == \
        list(compare.METHODS)
    assert [compare.method_name(m) for m in compare.METHODS] == list(compare.METHODS)


def test_seeds_give_identical_results_whatever_the_workers(monkeypatch):
    monkeypatch.delenv("MINISPARSE_WORKERS", raising=False)

    def without_seconds(obj):
        if isinstance(obj, dict):
            return {k: without_seconds(v) for k, v in obj.items() if k != "seconds"}
        return [without_seconds(v) for v in obj] if isinstance(obj, list) else obj
    one = compare.compare(["static", "Sparse Momentum"], workers=1, **FAST)
    two = compare.compare(["static", "Sparse Momentum"], workers=2, **FAST)
    assert json.dumps(without_seconds(one), sort_keys=True) == json.dumps(without_seconds(two), sort_keys=True)
    assert "MINISPARSE_WORKERS" not in __import__("os").environ        # set for the call only
