"""Checkpoints: a run stopped after any epoch and resumed ends bit-identical to one that never stopped,
for every training loop; and the CLI resumes after SIGINT."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from helpers import small_teacher

from minisparse import SparseMLP
from minisparse.network import checkpoint as ckpt
from minisparse.network.kwta import use_kwinners
from minisparse.sparse_training import ctre, deep_r, dsr, rigl, set_training, sparse_momentum


class Stop(Exception):
    pass


LOOPS = {
    "set": (set_training, "train_set", lambda: SparseMLP.random([20, 24, 16, 4], topology="erdos_renyi", epsilon=3, rng=0),
            dict(lr=0.05)),
    "rigl": (rigl, "train_rigl", lambda: SparseMLP.random([20, 24, 16, 4], density=0.3, topology="erk", rng=0),
             dict(delta_t=2, lr=0.05)),
    "sparse_momentum": (sparse_momentum, "train_sparse_momentum",
                        lambda: SparseMLP.random([20, 24, 16, 4], density=0.3, rng=0), dict(lr=0.05)),
    "dsr": (dsr, "train_dsr", lambda: SparseMLP.random([20, 24, 16, 4], density=0.3, topology="erk", rng=0),
            dict(period=2, lr=0.05)),
    "deep_r": (deep_r, "train_deep_r", lambda: SparseMLP.random([20, 24, 16, 4], density=0.3, topology="erk", rng=0),
               dict(lr=0.1, batch_size=20)),
    "ctre_seq": (ctre, "train_ctre", lambda: SparseMLP.random([20, 24, 16, 4], topology="erdos_renyi", epsilon=3, rng=0),
                 dict(variant="seq", patience=1)),
    "set_kwta": (set_training, "train_set",
                 lambda: use_kwinners(SparseMLP.random([20, 24, 16, 4], topology="erdos_renyi", epsilon=3, rng=0),
                                      percent_on=0.25, duty_cycle_period=200), dict(lr=0.05)),
}


@pytest.mark.parametrize("name", list(LOOPS))
def test_stopped_and_resumed_equals_uninterrupted(name, tmp_path, monkeypatch):
    module, fn, make, kwargs = LOOPS[name]
    data, epochs = small_teacher(), 5
    whole = make()
    h_whole, log_whole = getattr(module, fn)(whole, data, epochs, rng=3, verbose=False, **kwargs)

    path = str(tmp_path / "ckpt.npz")
    original = module.epoch_start

    def stop_at_epoch_4(checkpoint, epoch, first, *args, **kw):
        original(checkpoint, epoch, first, *args, **kw)
        if epoch == 4:
            raise Stop                                     # as if Ctrl-C came during epoch 4
    monkeypatch.setattr(module, "epoch_start", stop_at_epoch_4)
    with pytest.raises(Stop):
        getattr(module, fn)(make(), data, epochs, rng=3, verbose=False, checkpoint=path, **kwargs)
    monkeypatch.setattr(module, "epoch_start", original)

    r = ckpt.load_checkpoint(path)
    assert r.epoch == 3 and len(r.history) == 3
    h, log = getattr(module, fn)(r.model, data, epochs, rng=r.rng, verbose=False, checkpoint=path, resume=r, **kwargs)
    for a, b in zip(whole.layers, r.model.layers):
        assert np.array_equal(a.W.indices, b.W.indices) and np.array_equal(a.W.data, b.W.data)
        assert np.array_equal(a.b, b.b)
    strip = lambda rows: [{k: v for k, v in row.items() if k != "seconds"} for row in rows]
    assert json.dumps(strip(h.rows), default=list) == json.dumps(strip(h_whole.rows), default=list)
    assert json.dumps({k: v for k, v in log.items() if k != "seconds"}, default=list) == \
        json.dumps({k: v for k, v in log_whole.items() if k != "seconds"}, default=list)


def test_a_model_file_is_not_a_checkpoint(tmp_path):
    from minisparse.network import serialize
    path = serialize.save(tmp_path / "m", SparseMLP.random([4, 3], density=0.5, rng=0))
    with pytest.raises(ValueError, match="no optimizer state|not a checkpoint"):
        ckpt.load_checkpoint(path)


def test_fit_resumes_bit_identically(tmp_path, monkeypatch):
    from minisparse import Adam
    from minisparse.network import train
    data = small_teacher()
    whole = SparseMLP.random([20, 24, 4], density=0.4, rng=1)
    h_whole = train.fit(whole, Adam(whole), data, 4, rng=5, verbose=False)
    path = str(tmp_path / "fit.npz")
    original = ckpt.epoch_start

    def stop(checkpoint, epoch, first, *a, **k):
        original(checkpoint, epoch, first, *a, **k)
        if epoch == 3:
            raise Stop
    monkeypatch.setattr(ckpt, "epoch_start", stop)
    m = SparseMLP.random([20, 24, 4], density=0.4, rng=1)
    with pytest.raises(Stop):
        train.fit(m, Adam(m), data, 4, rng=5, verbose=False, checkpoint=path)
    monkeypatch.setattr(ckpt, "epoch_start", original)
    r = ckpt.load_checkpoint(path)
    h = train.fit(r.model, Adam(r.model), data, 4, rng=r.rng, verbose=False, resume=r)
    assert all(np.array_equal(a.W.data, b.W.data) and np.array_equal(a.b, b.b) for a, b in zip(whole.layers, r.model.layers))
    assert [row["loss"] for row in h.rows] == [row["loss"] for row in h_whole.rows]


def _train(out, extra=()):
    # about 1 s per epoch on two cores: interrupted once epoch 1 is saved, the run has 4 s left to run
    return [sys.executable, "-m", "minisparse", "train", "--method", "set", "--data", "mnist5k", "--hidden", "2000",
            "1000", "--epsilon", "60", "--epochs", "6", "--out", str(out), "--quiet", *extra]


def test_cli_interrupted_by_sigint_then_resumed_equals_an_uninterrupted_run(tmp_path):
    from minisparse.network import serialize
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                                       os.environ.get("PYTHONPATH", "")]))
    subprocess.run(_train(tmp_path / "whole"), check=True, env=env, timeout=600)
    # SIGINT as a terminal's Ctrl-C delivers it: a shell starting background jobs (CI, nohup) makes them
    # ignore SIGINT, and Python then keeps ignoring it; the child restores the default first
    proc = subprocess.Popen(_train(tmp_path / "cut"), env=env, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    ckpt_path = tmp_path / "cut" / "checkpoint.npz"
    deadline = time.time() + 300
    while time.time() < deadline:                     # interrupt as soon as a finished epoch is on disk
        if ckpt_path.exists():
            try:
                if ckpt.load_checkpoint(ckpt_path).epoch >= 1:
                    break
            except (ValueError, OSError):
                pass
        assert proc.poll() is None, "the run finished before it could be interrupted"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=300)[1]
    assert proc.returncode == 130, err
    printed = err.split("resume with: python -m minisparse ")[1].split()
    assert printed == _train(tmp_path / "cut", ["--resume"])[3:]          # the run's own arguments, then --resume
    stopped_at = ckpt.load_checkpoint(ckpt_path).epoch
    assert 1 <= stopped_at < 6 and not (tmp_path / "cut" / "model.npz").exists()
    subprocess.run(_train(tmp_path / "cut", ["--resume"]), check=True, env=env, timeout=600)
    a, _ = serialize.load(tmp_path / "whole" / "model.npz")
    b, _ = serialize.load(tmp_path / "cut" / "model.npz")
    for la, lb in zip(a.layers, b.layers):
        assert np.array_equal(la.W.indices, lb.W.indices) and np.array_equal(la.W.data, lb.W.data)
        assert np.array_equal(la.b, lb.b)
    assert not ckpt_path.exists()
    ha = json.loads((tmp_path / "whole" / "history.json").read_text())["history"]
    hb = json.loads((tmp_path / "cut" / "history.json").read_text())["history"]
    assert [r["loss"] for r in ha] == [r["loss"] for r in hb]


def test_resume_refuses_other_arguments_and_a_missing_checkpoint(tmp_path, capsys):
    from minisparse import cli
    assert cli.main(["train", "--method", "set", "--data", "teacher", "--out", str(tmp_path / "x"), "--resume"]) == 2
    assert "nothing to resume" in capsys.readouterr().err
