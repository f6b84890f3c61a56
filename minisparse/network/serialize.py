"""Save a model (and its optimizer) to one .npz file of plain arrays, atomically; load it back exactly.

File layout, version 1. Every entry is a plain NumPy array, so ``np.load(allow_pickle=False)`` reads it:

    format           'minisparse-model' (0-d unicode)     version         1         n_layers   L
    W.{l}.data       (nnz_l,)      W.{l}.indices  (nnz_l,)       W.{l}.indptr    (n_in_l + 1,)
    W.{l}.shape      (2,)          b.{l}          (n_out_l,)     activation.{l}  0-d unicode
    kwta.{l}.state   a k-WTA layer's parameters as JSON (0-d unicode)   kwta.{l}.duty  (n_out_l,) duty cycles
    optimizer        class name, e.g. 'Adam' (absent when saved without an optimizer)
    optimizer.hyper  its hyper-parameters as JSON (0-d unicode)
    opt.{name}       every array of ``optimizer.state_arrays()``: opt.v_W.0, opt.V.1, opt.t, …

Arrays are stored as they are (same dtypes, explicit zeros kept), so training resumed from a loaded
file is bit-identical to training that never stopped. Model files always end in ``.npz``: ``save`` and
``load`` both append it to a path that lacks it, so ``save('ckpt', …)`` writes ``ckpt.npz``. ``load``
refuses, with a message saying so, a folder and an existing file with another suffix (an ``.npy``
array, say) rather than looking for ``arr.npy.npz``.
"""
import contextlib
import json
import os
import tempfile
import zipfile

import numpy as np
import scipy.sparse as sp

from .kwta import KWinners
from .layer import SparseLinear
from .mlp import SparseMLP
from .optim import OPTIMIZERS
from .topology import is_canonical

FORMAT, VERSION = "minisparse-model", 1
OPTIMIZER_CLASSES = {cls.__name__: cls for cls in OPTIMIZERS.values()}   # 'SGD' → SGD, as saved


def npz_path(path):
    """``path`` as a str ending in '.npz' (appended when missing): the file ``save`` and ``load`` use."""
    path = os.fspath(path)
    return path if path.endswith(".npz") else path + ".npz"


def model_file(path):
    """The file :func:`load` reads for ``path``: ``npz_path(path)`` if it is a file. A folder, or an
    existing file whose name lacks .npz (when no ``path + '.npz'`` exists), is refused with a
    ValueError saying what it is; nothing at all, FileNotFoundError."""
    path = os.fspath(path)
    target = npz_path(path)
    expected = "expected a .npz model file written by minisparse.network.serialize.save"
    for p in (target, path):
        if os.path.isdir(p):
            raise ValueError(f"{p} is a folder; {expected}")
    if os.path.exists(target):
        return target
    if os.path.exists(path):
        suffix = os.path.splitext(path)[1]
        what = f"a {suffix} file" if suffix else "a file without the .npz suffix"
        raise ValueError(f"{path} is {what}, not a .npz model file; {expected} (load looks for "
                         f"{os.path.basename(target)} when given a path without .npz, and there is none)")
    raise FileNotFoundError(f"no model file at {target}" + ("" if target == path else f" (nor at {path})"))


def model_arrays(model, optimizer=None):
    """Every array of the file, by its key (see the module docstring)."""
    out = {"format": np.array(FORMAT), "version": np.array(VERSION),
           "n_layers": np.array(len(model.layers))}
    for l, layer in enumerate(model.layers):
        W = layer.W
        out |= {f"W.{l}.data": W.data, f"W.{l}.indices": W.indices, f"W.{l}.indptr": W.indptr,
                f"W.{l}.shape": np.array(W.shape, dtype=np.int64), f"b.{l}": layer.b,
                f"activation.{l}": np.array(layer.activation)}
        if layer.activation == KWinners.name:
            out |= {f"kwta.{l}.state": np.array(json.dumps(layer.f.state())), f"kwta.{l}.duty": layer.f.duty_cycles}
    if optimizer is not None:
        name = type(optimizer).__name__
        if OPTIMIZER_CLASSES.get(name) is not type(optimizer):
            raise ValueError(f"cannot save optimizer {name}: load() rebuilds only {list(OPTIMIZER_CLASSES)}")
        try:   # plain Python numbers only: a NumPy scalar would come back as a float of another width
            hyper = json.dumps(optimizer.hyper)
        except TypeError as e:
            raise ValueError(f"optimizer hyper-parameters must be plain Python numbers/bools: {e}") from e
        out |= {"optimizer": np.array(name), "optimizer.hyper": np.array(hyper)} | {
            f"opt.{k}": np.asarray(v) for k, v in optimizer.state_arrays().items()}
    return out


def atomic_write(path, write, binary=True):
    """Call ``write(f)`` on a temporary file beside ``path``, flush and fsync it, then rename it onto
    ``path``. On any exception (KeyboardInterrupt too) the temporary file is removed and an existing
    file at ``path`` is left untouched: no half-written file, ever. The file gets the usual mode."""
    tmp = tempfile.NamedTemporaryFile("wb" if binary else "w", delete=False,
                                      dir=os.path.dirname(os.path.abspath(path)),
                                      prefix=os.path.basename(path) + ".", suffix=".tmp")
    try:
        with tmp:
            write(tmp)
            tmp.flush()
            os.fsync(tmp.fileno())
        umask = os.umask(0o022)
        os.umask(umask)
        os.chmod(tmp.name, 0o666 & ~umask)     # as open() would; NamedTemporaryFile makes it 0o600
        os.replace(tmp.name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp.name)
        raise


def save(path, model, optimizer=None):
    """Write ``model`` (and ``optimizer``) to one .npz file, atomically (:func:`atomic_write`);
    return the path written (ends in .npz)."""
    path = npz_path(path)
    arrays = model_arrays(model, optimizer)
    atomic_write(path, lambda f: np.savez(f, allow_pickle=False, **arrays))
    return path


def read_npz(path):
    """Every array of the .npz file at ``path``, read eagerly, without pickle; ValueError if unreadable."""
    try:
        npz = np.load(path, allow_pickle=False)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as e:
        raise ValueError(f"{path} is not a .npz archive (garbage, truncated or another format)") from e
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise ValueError(f"{path} holds a single .npy array, not a .npz archive")
    with npz:
        try:
            return {key: npz[key] for key in npz.files}
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as e:
            what = ("holds a pickled object array, refused (allow_pickle=False)" if "allow_pickle" in str(e)
                    else f"is a corrupt or truncated .npz archive ({e})")
            raise ValueError(f"{path} {what}") from e


def load(path):
    """Read a file written by :func:`save`; return ``(model, optimizer or None)``.

    A missing file raises FileNotFoundError; any other problem a ValueError naming the file (a folder or
    an ``.npy`` file too, see :func:`model_file`).
    """
    path = model_file(path)
    arrays = read_npz(path)
    fmt = arrays.get("format")
    if not (isinstance(fmt, np.ndarray) and fmt.shape == () and fmt.dtype.kind == "U" and fmt[()] == FORMAT):
        raise ValueError(f"{path} is not a minisparse model file (no format tag {FORMAT!r})")

    def get(key):
        if not isinstance(arrays.get(key), np.ndarray):
            raise KeyError(key)
        return arrays[key]

    try:
        if get("version").shape != () or int(get("version")) != VERSION:
            raise ValueError(f"unsupported version {get('version')}; this minisparse reads version {VERSION}")
        if get("n_layers").shape != () or int(get("n_layers")) < 1:
            raise ValueError(f"n_layers must be a positive integer, got {get('n_layers')}")
        model = SparseMLP([load_layer(get, l) for l in range(int(get("n_layers")))]).link_activations()
        return model, (load_optimizer(get, model) if "optimizer" in arrays else None)
    except KeyError as e:
        raise ValueError(f"{path} lacks the array {e.args[0]!r} (truncated, or not written by save)") from e
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path}: {e}") from e


def load_optimizer(get, model):
    """The optimizer named in the file, on ``model``, with its hyper-parameters and state restored."""
    name = str(get("optimizer"))
    if name not in OPTIMIZER_CLASSES:
        raise ValueError(f"unknown optimizer {name!r}; known: {list(OPTIMIZER_CLASSES)}")
    optimizer = OPTIMIZER_CLASSES[name](model, **json.loads(str(get("optimizer.hyper"))))
    optimizer.load_state_arrays({k: get(f"opt.{k}") for k in optimizer.state_arrays()})
    return optimizer


def load_layer(get, l):
    """Layer l as a :class:`SparseLinear` with a canonical W, after checking that its arrays agree."""
    data, indices, indptr = (get(f"W.{l}.{k}") for k in ("data", "indices", "indptr"))
    shape, b, activation = get(f"W.{l}.shape"), get(f"b.{l}"), get(f"activation.{l}")

    def check(ok, problem):
        if not ok:
            raise ValueError(f"layer {l}: {problem}")

    check(shape.shape == (2,) and shape.dtype.kind in "iu" and np.all(shape >= 1),
          f"W.{l}.shape must be two positive integers, got {shape}")
    n_in, n_out = (int(n) for n in shape)
    check(data.ndim == indices.ndim == indptr.ndim == 1 and data.dtype.kind == "f" and
          indices.dtype.kind in "iu" and indptr.dtype.kind in "iu",
          f"W.{l}.data, .indices, .indptr must be 1-D arrays of floats, ints, ints; got {data.dtype} data")
    check(indices.size == data.size and indptr.size == n_in + 1, f"{data.size} values, {indices.size} "
          f"column indices and {indptr.size} row pointers do not fit a CSR matrix ({n_in}, {n_out})")
    check(b.shape == (n_out,) and b.dtype == data.dtype,
          f"b.{l} is {b.dtype} {b.shape}, W is {data.dtype} with {n_out} columns")
    check(activation.shape == () and activation.dtype.kind == "U", f"activation.{l} must be a 0-d string")
    W = sp.csr_array((data, indices, indptr), shape=(n_in, n_out))
    check(is_canonical(W), "W is not canonical CSR (row pointers, or unsorted/duplicate/out-of-range columns)")
    W.has_canonical_format = True
    if str(activation) == KWinners.name:
        try:
            kw = KWinners.from_state(json.loads(str(get(f"kwta.{l}.state"))), get(f"kwta.{l}.duty"))
        except (TypeError, ValueError) as e:
            raise ValueError(f"layer {l}: its k-WTA state is unreadable: {e}") from e
        return SparseLinear(W, b, kw)
    return SparseLinear(W, b, str(activation))
