"""save/load: exact round trips (dtypes, explicit zeros, optimizer state), bit-identical resumed
training, atomic writes, and clear errors for files that are not minisparse models."""
import os
import pickle

import numpy as np
import pytest

import minisparse
from minisparse.network import serialize, topology
from minisparse.network.train import train_step

SIZES = [20, 16, 12, 5]
OPTIMIZERS = {   # name → (make optimizer, dense gradient needed by train_step)
    "none": (lambda m: None, False),
    "sgd": (lambda m: minisparse.SGD(m, lr=0.1, momentum=0.9), False),
    "sgd-nesterov-l2": (lambda m: minisparse.SGD(m, lr=0.1, momentum=0.9, nesterov=True,
                                                 weight_decay=1e-3), False),
    "sgd-dense-momentum": (lambda m: minisparse.SGD(m, lr=0.1, momentum=0.9, dense_momentum=True), True),
    "adam": (lambda m: minisparse.Adam(m), False),
}


def toy_data(dtype, rng=1):
    rng = np.random.default_rng(rng)
    return rng.normal(size=(32, SIZES[0])).astype(dtype), rng.integers(0, SIZES[-1], size=32)


def trained(dtype, opt_name, steps=3):
    """A model with one explicit zero weight grown in layer 1, trained ``steps`` steps."""
    model = minisparse.SparseMLP.random(SIZES, density=0.3, rng=0, dtype=dtype)
    i, j = np.argwhere(~topology.mask(model.layers[1].W))[0]
    topology.grow(model, 1, [i], [j], 0.0)
    make, dense = OPTIMIZERS[opt_name]
    opt = make(model)
    X, y = toy_data(dtype)
    for _ in range(steps if opt is not None else 0):
        train_step(model, opt, X, y, dense=dense)
    return model, opt, (i, j)


def assert_same_arrays(a, b):
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tobytes() == b.tobytes()   # bit-identical, NaN-safe


def assert_same_model(m1, m2):
    assert len(m1.layers) == len(m2.layers)
    for L1, L2 in zip(m1.layers, m2.layers):
        assert L1.shape == L2.shape and L1.activation == L2.activation
        for name in ("data", "indices", "indptr"):
            assert_same_arrays(getattr(L1.W, name), getattr(L2.W, name))
        assert_same_arrays(L1.b, L2.b)
        assert topology.is_canonical(L2.W)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("opt_name", list(OPTIMIZERS))
def test_round_trip_is_exact(tmp_path, dtype, opt_name):
    model, opt, (i, j) = trained(dtype, opt_name)
    path = serialize.save(tmp_path / "ckpt", model, opt)
    assert path == str(tmp_path / "ckpt.npz") and os.listdir(tmp_path) == ["ckpt.npz"]
    model2, opt2 = serialize.load(tmp_path / "ckpt")         # .npz appended on both sides
    assert_same_model(model, model2)
    assert model2.dtype == dtype
    W = model2.layers[1].W                                    # the grown zero is still a connection
    k = np.flatnonzero(topology.entry_keys(W) == i * W.shape[1] + j)
    assert k.size == 1
    if opt is None:
        assert opt2 is None
        return
    assert type(opt2) is type(opt) and opt2.hyper == opt.hyper and opt2.t == opt.t == 3
    s1, s2 = opt.state_arrays(), opt2.state_arrays()
    assert s1.keys() == s2.keys()
    for key in s1:
        assert_same_arrays(np.asarray(s1[key]), np.asarray(s2[key]))


def test_explicit_zero_survives_untrained(tmp_path):
    model, _, (i, j) = trained(np.float64, "none")
    nnz = model.nnz
    model2, _ = serialize.load(serialize.save(tmp_path / "m.npz", model))
    assert model2.nnz == nnz
    assert topology.mask(model2.layers[1].W)[i, j] and model2.layers[1].W[[i], [j]][0] == 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("opt_name", ["sgd", "sgd-nesterov-l2", "sgd-dense-momentum", "adam"])
def test_resumed_training_is_bit_identical(tmp_path, dtype, opt_name):
    model, opt, _ = trained(dtype, opt_name, steps=3)
    model2, opt2 = serialize.load(serialize.save(tmp_path / "ckpt.npz", model, opt))
    dense = OPTIMIZERS[opt_name][1]
    for step in range(3):
        X, y = toy_data(dtype, rng=10 + step)
        train_step(model, opt, X, y, dense=dense)
        train_step(model2, opt2, X, y, dense=dense)
    assert_same_model(model, model2)
    assert opt2.t == opt.t == 6
    before = model.layers[0].W.data.copy()   # and the loaded weights did move
    train_step(model2, opt2, *toy_data(dtype), dense=dense)
    assert not np.array_equal(before, model2.layers[0].W.data)


@pytest.mark.parametrize("exc", [OSError("disk full"), KeyboardInterrupt()])
@pytest.mark.parametrize("existing", [False, True])
def test_failed_save_leaves_no_trace(tmp_path, monkeypatch, exc, existing):
    model, opt, _ = trained(np.float64, "adam")
    target = tmp_path / "ckpt.npz"
    if existing:
        serialize.save(target, model)
        old = target.read_bytes()
    real_savez = np.savez

    def savez_then_fail(file, *args, **kwargs):
        real_savez(file, *args, **kwargs)   # the temporary file is complete...
        file.write(b"half")                 # ...and dirtied, then the process is interrupted
        raise exc

    monkeypatch.setattr(np, "savez", savez_then_fail)
    with pytest.raises(type(exc)):
        serialize.save(target, model, opt)
    assert sorted(os.listdir(tmp_path)) == (["ckpt.npz"] if existing else [])
    if existing:
        assert target.read_bytes() == old
        assert_same_model(serialize.load(target)[0], model)


def test_saved_file_has_normal_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        path = serialize.save(tmp_path / "m", trained(np.float64, "none")[0])
    finally:
        os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o644


def test_file_needs_no_pickle(tmp_path):
    model, opt, _ = trained(np.float32, "sgd-dense-momentum")
    with np.load(serialize.save(tmp_path / "m", model, opt), allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    assert all(a.dtype != object for a in arrays.values())
    assert str(arrays["format"]) == "minisparse-model" and int(arrays["version"]) == 1
    assert {"W.2.data", "W.2.indices", "W.2.indptr", "W.2.shape", "b.2", "activation.2",
            "optimizer", "optimizer.hyper", "opt.t", "opt.V.0", "opt.v_b.2"} <= arrays.keys()


def rewrite(path, **changes):
    """Re-save the arrays of ``path`` with some replaced (None deletes the key)."""
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays |= changes
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})


@pytest.fixture
def saved(tmp_path):
    model, opt, _ = trained(np.float64, "adam")
    return serialize.save(tmp_path / "good.npz", model, opt)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        serialize.load(tmp_path / "nothing.npz")


@pytest.mark.parametrize("content, match", [
    (b"", "not a .npz archive"),
    (os.urandom(1000), "not a .npz archive"),
    (pickle.dumps({"W": [1, 2]}), "not a .npz archive"),
])
def test_garbage_files(tmp_path, content, match):
    (tmp_path / "bad.npz").write_bytes(content)
    with pytest.raises(ValueError, match=match) as info:
        serialize.load(tmp_path / "bad.npz")
    assert "bad.npz" in str(info.value)


@pytest.mark.parametrize("cut", [0.5, 0.9])
def test_truncated_file(saved, cut):
    data = open(saved, "rb").read()
    open(saved, "wb").write(data[:int(len(data) * cut)])
    with pytest.raises(ValueError, match=r"good\.npz is not a \.npz archive"):
        serialize.load(saved)


def test_corrupt_member(saved):
    data = bytearray(open(saved, "rb").read())
    k = data.index(b"W.0.data.npy") + 200                  # inside that member's stored bytes
    data[k:k + 8] = bytes(255 - x for x in data[k:k + 8])
    open(saved, "wb").write(bytes(data))
    with pytest.raises(ValueError, match=r"good\.npz is a corrupt or truncated \.npz archive"):
        serialize.load(saved)


def test_foreign_npz(tmp_path):
    np.savez(tmp_path / "foreign.npz", a=np.random.default_rng(0).normal(size=(3, 4)), b=np.arange(5))
    with pytest.raises(ValueError, match=r"foreign\.npz is not a minisparse model file"):
        serialize.load(tmp_path / "foreign.npz")


def test_pickled_object_array(tmp_path):
    np.savez(tmp_path / "obj.npz", format=np.array("minisparse-model"), W=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match=r"obj\.npz holds a pickled object array"):
        serialize.load(tmp_path / "obj.npz")


def test_single_npy_array(tmp_path):
    np.save(tmp_path / "one.npy", np.arange(3))
    os.rename(tmp_path / "one.npy", tmp_path / "one.npz")
    with pytest.raises(ValueError, match="single .npy array"):
        serialize.load(tmp_path / "one.npz")


@pytest.mark.parametrize("changes, match", [
    ({"version": np.array(2)}, "unsupported version 2"),
    ({"n_layers": np.array(0)}, "n_layers must be a positive integer"),
    ({"W.1.indices": None}, "lacks the array 'W.1.indices'"),
    ({"opt.m_W.2": None}, "lacks the array 'opt.m_W.2'"),
    ({"optimizer.hyper": None}, "lacks the array 'optimizer.hyper'"),
    ({"optimizer": np.array("Lion")}, "unknown optimizer 'Lion'"),
    ({"activation.0": np.array("swish")}, "unknown activation 'swish'"),
    ({"W.0.indptr": np.zeros(3, dtype=np.int32)}, "row pointers do not fit"),
    ({"W.0.data": np.zeros(3)}, "do not fit a CSR matrix"),
    ({"W.0.data": np.zeros(96, dtype=np.int64)}, "1-D arrays of floats"),
    ({"b.0": np.zeros(16, dtype=np.float32)}, "b.0 is float32"),
    ({"W.1.shape": np.array([15, 12])}, "do not fit a CSR matrix"),
    ({"W.2.shape": np.array([12, 6])}, "b.2 is float64 .5,."),
])
def test_inconsistent_files(saved, changes, match):
    rewrite(saved, **changes)
    with pytest.raises(ValueError, match=match) as info:
        serialize.load(saved)
    assert "good.npz" in str(info.value)


def test_non_canonical_csr(saved):
    with np.load(saved) as npz:
        indices, indptr = npz["W.0.indices"].copy(), npz["W.0.indptr"]
    row = np.flatnonzero(np.diff(indptr) >= 2)[0]          # swap two columns within a row
    a = indptr[row]
    indices[[a, a + 1]] = indices[[a + 1, a]]
    rewrite(saved, **{"W.0.indices": indices})
    with pytest.raises(ValueError, match=r"good\.npz: layer 0: W is not canonical"):
        serialize.load(saved)
    rewrite(saved, **{"W.0.indices": np.full_like(indices, 99)})
    with pytest.raises(ValueError, match="out-of-range"):
        serialize.load(saved)


def test_layers_must_chain(saved):
    W = topology.from_keys([0, 5], [1.0, 2.0], (10, 12))     # a valid layer 10 → 12 after 20 → 16
    rewrite(saved, **{"W.1.data": W.data, "W.1.indices": W.indices, "W.1.indptr": W.indptr,
                      "W.1.shape": np.array(W.shape)})
    with pytest.raises(ValueError, match=r"good\.npz: layer shapes do not chain"):
        serialize.load(saved)


def test_unsaveable_optimizer_refused(tmp_path):
    model = minisparse.SparseMLP.random(SIZES, density=0.3, rng=0)
    opt = minisparse.SGD(model, lr=np.float32(0.1))
    with pytest.raises(ValueError, match="plain Python numbers"):
        serialize.save(tmp_path / "m", model, opt)
    assert os.listdir(tmp_path) == []
