"""What the figure modules share: fast mode, atomic PNG / strict-JSON writes, a t-interval, progress
lines on stderr, a process pool, and the MNIST-5k split the figures train on."""
import json
import math
import os
import sys
import time

import numpy as np
from scipy import stats

from ..data.datasets import Split, load_dataset
from ..network.serialize import atomic_write


def fast_mode(fast=None):
    """True when asked for, or when the environment variable MINISPARSE_FAST is set to 1."""
    return bool(fast) if fast is not None else os.environ.get("MINISPARSE_FAST", "0") == "1"


def save_figure(fig, path):
    """Write a PNG atomically."""
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110))


def json_ready(obj):
    """``obj`` with every value a strict JSON parser accepts: NumPy arrays and scalars become lists and
    Python numbers, tuples become lists, NaN and ±inf become None (``null``), dict keys that are NumPy
    scalars become Python ones; anything else unknown becomes its ``str``. Recursive."""
    if isinstance(obj, dict):
        return {(k.item() if isinstance(k, np.generic) else k): json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_ready(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_ready(obj.tolist())
    if isinstance(obj, np.generic):
        return json_ready(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is None or isinstance(obj, (str, int)):           # bool is an int
        return obj
    return str(obj)


def save_json(data, path):
    """Write a figure's numbers beside its PNG, atomically, as strict JSON (:func:`json_ready`: NaN and
    infinities as ``null``, which every JSON parser reads; bare ``NaN`` is not JSON)."""
    clean = json_ready(data)
    atomic_write(path, lambda f: json.dump(clean, f, indent=1, allow_nan=False), binary=False)


def progress(total, what=""):
    """A function that prints one line per finished step to stderr, ``  [i/total] name  (t s)``, with
    the seconds since this call: long data functions call it after every training run."""
    start, done = time.perf_counter(), [0]

    def report(name):
        done[0] += 1
        print(f"  [{done[0]}/{total}] {what}{name}  ({time.perf_counter() - start:.0f} s)", file=sys.stderr,
              flush=True)
    return report


def t_interval(values, level=0.95):
    """(mean, half-width) of the Student-t interval x̄ ± t_{(1+level)/2, n−1}·s/√n (half NaN for n = 1)."""
    v = np.asarray(values, dtype=float)
    if v.size < 2:
        return float(v.mean()), float("nan")
    return float(v.mean()), float(stats.t.ppf((1 + level) / 2, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size))


def save(fig, path, layout=True):
    """tight_layout (optional), write the PNG atomically, close the figure."""
    import matplotlib.pyplot as plt

    if layout:
        fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def _workers():
    """MINISPARSE_WORKERS as a positive integer (default 1)."""
    text = os.environ.get("MINISPARSE_WORKERS", "1")
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"MINISPARSE_WORKERS must be a positive integer, got {text!r}")
    return n


def parallel_map(fn, jobs, label=None):
    """[fn(j) for j in jobs] on MINISPARSE_WORKERS processes (default 1), printing one progress line
    per finished job to stderr (``label(job)`` names it). Every run is seeded on its own, so the
    results do not depend on the number of workers. Each worker uses the parent's BLAS thread count
    (``runtime.blas_threads``: 1 unless $MINISPARSE_BLAS_THREADS says otherwise), so that the workers
    do not fight over the cores."""
    workers, step = _workers(), progress(len(jobs))

    def report(i, job):
        step(label(job) if label else f"job {i + 1}")

    if workers <= 1 or len(jobs) <= 1:
        out = []
        for i, job in enumerate(jobs):
            out.append(fn(job))
            report(i, job)
        return out
    from concurrent.futures import ProcessPoolExecutor

    from ..runtime import limit_blas_threads
    with ProcessPoolExecutor(max_workers=workers, initializer=limit_blas_threads) as pool:
        out = []
        for i, (job, result) in enumerate(zip(jobs, pool.map(fn, jobs))):
            out.append(result)
            report(i, job)
        return out


def mnist_split(n_train, rng=0):
    """MNIST-5k, optionally with a smaller training part (validation and test parts kept)."""
    data = load_dataset("mnist5k", rng=rng)
    if n_train is None:
        return data
    return Split(data.X_train[:n_train], data.y_train[:n_train], data.X_val, data.y_val,
                 data.X_test[:500], data.y_test[:500])
