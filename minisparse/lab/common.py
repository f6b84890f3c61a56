"""What the figure modules share: fast mode, atomic PNG / JSON writes, a t-interval, a process pool
with progress lines, and the MNIST-5k split the figures train on."""
import json
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


def save_json(data, path):
    """Write a figure's numbers beside its PNG (arrays as lists), atomically."""
    atomic_write(path, lambda f: json.dump(data, f, indent=1, default=lambda o: o.tolist()
                                           if hasattr(o, "tolist") else str(o)), binary=False)


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


def parallel_map(fn, jobs, label=None):
    """[fn(j) for j in jobs] on MINISPARSE_WORKERS processes (default 1), printing one progress line
    per finished job to stderr (``label(job)`` names it). Every run is seeded on its own, so the
    results do not depend on the number of workers; with several workers, set
    OPENBLAS_NUM_THREADS=1 so that they do not fight over the cores."""
    workers, start = int(os.environ.get("MINISPARSE_WORKERS", "1")), time.perf_counter()

    def report(i, job):
        name = label(job) if label else f"job {i + 1}"
        print(f"  [{i + 1}/{len(jobs)}] {name}  ({time.perf_counter() - start:.0f} s)", file=sys.stderr, flush=True)

    if workers <= 1 or len(jobs) <= 1:
        out = []
        for i, job in enumerate(jobs):
            out.append(fn(job))
            report(i, job)
        return out
    from concurrent.futures import ProcessPoolExecutor
    with ProcessPoolExecutor(max_workers=workers) as pool:
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
