"""A fair comparison of sparse training methods on any data set: F3's protocol as a command.

    python -m minisparse compare --methods static set rigl sparse_momentum --data mnist5k --density 0.05
    python -m minisparse compare --fast --data teacher --methods static rigl --out runs/try

The protocol is F3's (:mod:`.fig_dst`, whose functions run it). Every method trains in one loop,
``fig_dst.train_method`` (batch 100, the same epochs, each paper's defaults). Its η, and the ΔT of
RigL and DSR, is chosen on VALIDATION accuracy by one rule for all (``fig_dst.best_hparams``): each
grid point trained once (seed ``rng``, ``select_epochs``), the point of highest final validation
accuracy wins, ties → the first; the grid is of the steady-state step η/(1 − μ) (``fig_dst.lr_grid``:
×10 for plain-SGD DEEP R). Then one run per seed s (data drawn and split with s, network s, training
rng s + 1000, as F3). After every epoch (after its topology update) validation and test accuracy are
measured; a run reports the test accuracy at its epoch of best validation accuracy (ties → the
earliest), beside the final one; per method the mean ± 95 % Student-t half-width over seeds.
Multiply-adds (:mod:`minisparse.network.cost`) are counted from the net as each epoch begins, as the
library's loops count them: B·nnz per product (the dense net: nnz = every weight), plus the dense
gradient B·n_in·n_out of every layer at each step of Sparse Momentum and at RigL's update steps.
Seconds: the training's wall time, the per-epoch evaluation left out.
"""
import argparse
import contextlib
import functools
import math
import numbers
import os
import sys
import tempfile
import time

import numpy as np

from ..data.datasets import Split, load_dataset
from ..network.checks import DivergenceError
from ..network.cost import epoch_macs, step_macs
from ..network.train import evaluate
from ..sparse_training.ctre import best_validation
from ..sparse_training.rigl import rigl_steps
from ..sparse_training.schedules import is_update_step
from .common import parallel_map, save as _save, save_json, t_interval
from .fig_dst import METHODS as DST_METHODS, STEP_BASED, best_hparams, hparam_grid, run_seed, validation_run

METHODS = ("dense",) + DST_METHODS
ALIASES = {m.lower().replace(" ", "_").replace("-", "_"): m for m in METHODS}    # the CLI's spellings
BATCH = 100                                                                       # train_method's batch
FAST = {"hidden": [16, 8], "epochs": 3, "seeds": 2, "lr_grid": (0.03, 0.1), "delta_t_grid": (5,), "n_train": 600}
SUMMARY = ("test_at_best_val", "final_test", "best_val", "seconds")


def method_name(name):
    """fig_dst's name for ``name``: 'RigL', 'rigl', 'Sparse Momentum', 'sparse_momentum', 'deep_r', …"""
    key = str(name).strip().lower().replace(" ", "_").replace("-", "_")
    if key not in ALIASES:
        raise ValueError(f"unknown method {name!r}; known: {', '.join(METHODS)} "
                         f"(or {', '.join(ALIASES)})")
    return ALIASES[key]


@functools.lru_cache(maxsize=4)
def load(data_name, seed, n_train=None):
    """``load_dataset(data_name, rng=seed)``, its training part cut to ``n_train`` rows if given."""
    data = load_dataset(data_name, rng=seed)
    if n_train is None:
        return data
    return Split(data.X_train[:n_train], data.y_train[:n_train], data.X_val, data.y_val, data.X_test, data.y_test)


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be an integer ≥ 1, got {value!r}")


def check(methods, data_name="mnist5k", hidden=None, density=0.05, epochs=20, seeds=(0, 1, 2),
          lr_grid=(0.01, 0.03, 0.1), delta_t_grid=(25, 100), select_epochs=None, rng=0, n_train=None,
          workers=None):
    """Every argument of :func:`compare` checked before any training (ValueError naming the bad one);
    returns fig_dst's names for ``methods``, duplicates dropped, and the data drawn with ``rng``."""
    names = list(dict.fromkeys(method_name(m) for m in ([methods] if isinstance(methods, str) else methods)))
    if not names:
        raise ValueError("no methods given")
    if isinstance(density, bool) or not isinstance(density, numbers.Real) or not 0 < density <= 1:
        raise ValueError(f"density must be in (0, 1] (the share of weights kept), got {density!r}")
    _positive_int(epochs, "epochs")
    for value, name in ((select_epochs, "select_epochs"), (n_train, "n_train"), (workers, "workers")):
        if value is not None:
            _positive_int(value, name)
    if len(seeds) < 1 or len(set(seeds)) != len(seeds):
        raise ValueError(f"need at least one seed, all different, got {list(seeds)!r}")
    for s in (*seeds, rng):
        if isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 0:
            raise ValueError(f"seeds must be integers ≥ 0, got {s!r}")
    for h in hidden or ():
        _positive_int(h, "every hidden width")
    if not lr_grid or not all(isinstance(v, numbers.Real) and math.isfinite(v) and v > 0 for v in lr_grid):
        raise ValueError(f"lr_grid must hold finite learning rates > 0, got {list(lr_grid)!r}")
    if any(m in STEP_BASED for m in names):
        if not delta_t_grid:
            raise ValueError("delta_t_grid must hold at least one update period ΔT for RigL and DSR")
        for dt in delta_t_grid:
            _positive_int(dt, "every ΔT of delta_t_grid")
    try:
        data = load(data_name, rng, n_train)
    except OSError as e:
        raise ValueError(f"cannot load data {data_name!r}: {e}") from None
    return names, data


def writable_folder(path):
    """Create ``path`` if needed and check that a file can be written in it, before any training."""
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path):
            pass
    except OSError as e:
        raise ValueError(f"cannot write to the output folder {str(path)!r}: {e.strerror or e}") from None


def epoch_cost(method, model, n, hp, epoch, epochs):
    """{'sparse', 'dense'} multiply-adds of epoch ``epoch`` (of ``epochs``) of train_method on ``n`` rows,
    from ``model`` as the epoch begins: ``epoch_macs``, with every layer's dense gradient at each step of
    Sparse Momentum, and + B·Σ n_in·n_out at each RigL update step (ΔT | t, t < T_end = ⌊0.75·steps⌋)."""
    every = range(len(model.layers))
    macs = epoch_macs(model, n, BATCH, every if method == "Sparse Momentum" else ())
    if method == "RigL":
        per_epoch, (_, t_end) = math.ceil(n / BATCH), rigl_steps(n, BATCH, epochs)
        for t in range((epoch - 1) * per_epoch + 1, epoch * per_epoch + 1):
            if is_update_step(t, hp["delta_t"], t_end):
                rows = BATCH if t % per_epoch else n - (per_epoch - 1) * BATCH     # the last batch may be short
                macs["dense"] += step_macs(model, rows, every)["dense"]
    return macs


def _select_job(job):
    """One grid point: (final validation accuracy, seconds)."""
    method, hp, data_name, n_train, sizes, density, epochs, rng = job
    start = time.perf_counter()
    val = validation_run(method, hp, load(data_name, rng, n_train), sizes, density, epochs, rng)
    return val, time.perf_counter() - start


def _seed_job(job):
    """One seed of one method: per-epoch val and test accuracy, the best-validation epoch's test
    accuracy, the final one, multiply-adds and seconds (NaN accuracies if the run diverged)."""
    method, hp, data_name, n_train, sizes, density, epochs, seed = job
    data = load(data_name, seed, n_train)
    n, val, test, macs, hook = len(data.y_train), [], [], [], [0.0]

    def on_epoch(epoch, model):
        start = time.perf_counter()
        if epoch:
            val.append(evaluate(model, data.X_val, data.y_val)[1])
            test.append(evaluate(model, data.X_test, data.y_test)[1])
        if epoch < epochs:
            macs.append(epoch_cost(method, model, n, hp, epoch + 1, epochs))
        hook[0] += time.perf_counter() - start

    start, model, nan = time.perf_counter(), None, float("nan")
    with contextlib.suppress(DivergenceError):
        model, _ = run_seed(method, hp, data, sizes, density, epochs, seed, on_epoch)
    out = {"seed": seed, "diverged": model is None, "val": val, "test": test,
           "seconds": time.perf_counter() - start - hook[0],
           "macs": {k: sum(m[k] for m in macs) for k in ("sparse", "dense")},
           "macs_per_epoch": {k: float(np.mean([m[k] for m in macs])) for k in ("sparse", "dense")}}
    if model is None:
        return out | {"best_epoch": None, "best_val": nan, "test_at_best_val": nan, "final_test": nan, "density": nan}
    epoch, best_val, best_test = best_validation({"epoch": list(range(1, epochs + 1)), "val_acc": val, "test_acc": test})
    return out | {"best_epoch": epoch, "best_val": best_val, "test_at_best_val": best_test, "final_test": test[-1],
                  "density": model.density}


@contextlib.contextmanager
def _workers(n):
    """MINISPARSE_WORKERS = n for the block (unchanged if n is None)."""
    old = os.environ.get("MINISPARSE_WORKERS")
    if n is not None:
        os.environ["MINISPARSE_WORKERS"] = str(n)
    try:
        yield
    finally:
        if n is not None and old is None:
            del os.environ["MINISPARSE_WORKERS"]
        elif n is not None:
            os.environ["MINISPARSE_WORKERS"] = old


def _hp_text(method, hp):
    return f"lr {hp['lr']:g}" + (f", ΔT {hp['delta_t']}" if method in STEP_BASED else "")


def compare(methods, data_name="mnist5k", hidden=None, density=0.05, epochs=20, seeds=(0, 1, 2),
            lr_grid=(0.01, 0.03, 0.1), delta_t_grid=(25, 100), select_epochs=None, rng=0, n_train=None,
            workers=None):
    """Choose each method's η (and ΔT) on validation accuracy, then train it once per seed (module
    docstring: the protocol). ``hidden``: the hidden widths (default [300, 100]); the net is [n_features,
    *hidden, n_classes]. ``workers`` sets MINISPARSE_WORKERS for the call. Returns a dict for save_json:
    per method the chosen 'hp', the 'selection' table, the 'runs' and, over seeds, {'mean', 'ci'} of
    'test_at_best_val', 'final_test', 'best_val', 'seconds', and the mean 'macs_per_epoch'."""
    names, probe = check(methods, data_name, hidden, density, epochs, seeds, lr_grid, delta_t_grid,
                         select_epochs, rng, n_train, workers)
    hidden = [300, 100] if hidden is None else list(hidden)
    sizes, select_epochs = [probe.n_features, *hidden, probe.n_classes], select_epochs or epochs
    grids = {m: hparam_grid(m, lr_grid, delta_t_grid) for m in names}
    with _workers(workers):
        jobs = [(m, hp, data_name, n_train, sizes, density, select_epochs, rng) for m in names for hp in grids[m]]
        found = iter(parallel_map(_select_job, jobs, label=lambda j: f"choosing {j[0]}'s {_hp_text(j[0], j[1])}"))
        tables = {m: [(hp, *next(found)) for hp in grids[m]] for m in names}
        chosen = {m: best_hparams([(hp, val) for hp, val, _ in tables[m]]) for m in names}
        jobs = [(m, chosen[m], data_name, n_train, sizes, 1.0 if m == "dense" else density, epochs, s)
                for m in names for s in seeds]
        runs = iter(parallel_map(_seed_job, jobs, label=lambda j: f"{j[0]} ({_hp_text(j[0], j[1])}) seed {j[7]}"))
    out = {"protocol": __doc__.split("\n\n", 2)[2].strip(), "data": data_name, "sizes": sizes, "density": density,
           "epochs": epochs, "select_epochs": select_epochs, "seeds": list(seeds), "rng": rng, "n_train": len(probe.y_train),
           "lr_grid": list(lr_grid), "delta_t_grid": list(delta_t_grid), "methods": {}}
    for m in names:
        rs = [next(runs) for _ in seeds]
        row = {"hp": chosen[m], "lr": chosen[m]["lr"], "delta_t": chosen[m]["delta_t"] if m in STEP_BASED else None,
               "selection": [{"lr": hp["lr"], "delta_t": hp["delta_t"] if m in STEP_BASED else None, "val": val,
                              "seconds": sec} for hp, val, sec in tables[m]],
               "runs": rs, "diverged": sum(r["diverged"] for r in rs),
               "macs_per_epoch": {k: float(np.mean([r["macs_per_epoch"][k] for r in rs])) for k in ("sparse", "dense")}}
        for key in SUMMARY:
            values = [r[key] for r in rs if math.isfinite(r[key])]
            mean, ci = t_interval(values) if values else (float("nan"), float("nan"))
            row[key] = {"mean": mean, "ci": ci}
        out["methods"][m] = row
    return out


def _num(v):
    return float("nan") if v is None else float(v)


def table(data):
    """The comparison as text lines: method, chosen lr (ΔT), test accuracy at the best-validation epoch
    and final (mean ± 95 % CI, %), multiply-adds per epoch (sparse / dense) and training seconds."""
    head = ("method", "lr (ΔT)", "test @ best val %", "final test %", "MACs/epoch sparse", "dense", "seconds")
    rows = []
    for m, r in data["methods"].items():
        acc = [f"{100 * _num(r[k]['mean']):.2f} ± {100 * _num(r[k]['ci']):.2f}" for k in ("test_at_best_val", "final_test")]
        rows.append([m, f"{r['lr']:g}" + (f" ({r['delta_t']})" if r["delta_t"] is not None else ""), *acc,
                     f"{r['macs_per_epoch']['sparse'] / 1e6:,.1f} M", f"{r['macs_per_epoch']['dense'] / 1e6:,.1f} M",
                     f"{_num(r['seconds']['mean']):.1f}" + (f"  ({r['diverged']} diverged)" if r["diverged"] else "")])
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
    return ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
            for r in [head] + rows]


def compare_plot(data, path):
    """Left: each method's test accuracy (best-validation epoch and final), mean ± 95 % t-interval.
    Right: that accuracy against the multiply-adds of a training epoch (sparse + dense)."""
    import matplotlib.pyplot as plt
    names = list(data["methods"])
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12.5, 4.8))
    x = np.arange(len(names))
    for dx, key, marker, label in ((-0.1, "test_at_best_val", "o", "at the best-validation epoch"),
                                   (0.1, "final_test", "s", "after the last epoch")):
        mean = np.array([_num(data["methods"][m][key]["mean"]) for m in names]) * 100
        ci = np.array([_num(data["methods"][m][key]["ci"]) for m in names]) * 100
        ax.errorbar(x + dx, mean, yerr=np.nan_to_num(ci), fmt=marker, capsize=4, label=label)
    ax.set_xticks(x, [f"{m}\nlr {r['lr']:g}" + (f", ΔT {r['delta_t']}" if r["delta_t"] is not None else "")
                      for m, r in data["methods"].items()], fontsize=8)
    ax.set(ylabel="test accuracy (%)", title="test accuracy, mean ± 95 % t-interval")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    for i, (m, r) in enumerate(data["methods"].items()):
        macs = (r["macs_per_epoch"]["sparse"] + r["macs_per_epoch"]["dense"]) * 1.04 ** (i - (len(names) - 1) / 2)
        best = r["test_at_best_val"]
        ax2.errorbar([macs], [_num(best["mean"]) * 100], yerr=[np.nan_to_num(_num(best["ci"]) * 100)],
                     fmt="o", capsize=4, color=f"C{i}", label=m)
    ax2.set_xscale("log")
    ax2.set(xlabel="multiply-adds per training epoch (sparse + dense; nudged ±4 % apart)",
            ylabel="test accuracy at best-validation epoch (%)", title="accuracy against training work")
    ax2.legend(fontsize=8)
    ax2.grid(alpha=0.3)
    fig.suptitle(f"{data['data']}, {'-'.join(map(str, data['sizes']))}, {data['density']:.0%} weights, "
                 f"{data['epochs']} epochs, {len(data['seeds'])} seed(s); lr (ΔT) chosen on validation accuracy")
    _save(fig, path)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m minisparse compare", description=__doc__.splitlines()[0])
    p.add_argument("--methods", nargs="+", default=list(METHODS), metavar="METHOD",
                   help=f"methods to compare (default: all): {', '.join(ALIASES)}")
    p.add_argument("--data", default="mnist5k", help="any name load_dataset accepts (default mnist5k)")
    p.add_argument("--hidden", type=int, nargs="+", help="hidden widths (default 300 100)")
    p.add_argument("--density", type=float, default=0.05, help="share of weights kept, in (0, 1] (default 0.05)")
    p.add_argument("--epochs", type=int, help="epochs of every run (default 20)")
    p.add_argument("--seeds", type=int, help="number of seeds 0 … N−1 (default 3)")
    p.add_argument("--select-epochs", type=int, help="epochs of the selection runs (default: --epochs)")
    p.add_argument("--lr-grid", type=float, nargs="+", help="η/(1 − μ)·(1 − 0.9) grid (default 0.01 0.03 0.1)")
    p.add_argument("--delta-t-grid", type=int, nargs="+", help="ΔT grid of RigL and DSR (default 25 100)")
    p.add_argument("--workers", type=int, help="processes (default: MINISPARSE_WORKERS, else 1)")
    p.add_argument("--out", help="output folder (default runs/compare-<data>-<density>)")
    p.add_argument("--fast", action="store_true", help="tiny sizes (for tests)")
    args = p.parse_args(argv)
    fast = FAST if args.fast else {}

    def pick(value, key, default):
        return value if value is not None else fast.get(key, default)
    n_seeds = pick(args.seeds, "seeds", 3)
    kw = {"data_name": args.data, "hidden": pick(args.hidden, "hidden", [300, 100]), "density": args.density,
          "epochs": pick(args.epochs, "epochs", 20), "seeds": tuple(range(max(n_seeds, 0))),
          "lr_grid": tuple(pick(args.lr_grid, "lr_grid", (0.01, 0.03, 0.1))),
          "delta_t_grid": tuple(pick(args.delta_t_grid, "delta_t_grid", (25, 100))),
          "select_epochs": args.select_epochs, "n_train": fast.get("n_train"), "workers": args.workers}
    out = args.out or os.path.join("runs", f"compare-{args.data}-{args.density:g}")
    try:
        if n_seeds < 1:
            raise ValueError(f"--seeds must be ≥ 1 (the number of seeds), got {n_seeds}")
        kw["methods"], _ = check(args.methods, **kw)
        writable_folder(out)
    except ValueError as e:
        p.error(str(e))
    data = compare(**kw)
    save_json(data, os.path.join(out, "compare.json"))
    compare_plot(data, os.path.join(out, "compare.png"))
    print("\n".join(table(data)), flush=True)
    print(f"wrote {os.path.join(out, 'compare.json')} and compare.png", file=sys.stderr, flush=True)
    return data


if __name__ == "__main__":
    from ..runtime import retain_freed_memory
    retain_freed_memory()                   # a process-wide allocator setting: entry points only
    main()
