"""``python -m minisparse``: train a method on a data set with its paper's defaults, or run the lab.

    python -m minisparse train --method rigl --data mnist5k --density 0.05
    python -m minisparse train --method set --data mnist5k --epsilon 20 --epochs 30
    python -m minisparse train --method sparse_momentum --data teacher --density 0.1 --lr 0.05
    python -m minisparse train --method dsr --data mnist5k --density 0.05
    python -m minisparse train --method deep_r --data mnist5k --density 0.02 --epochs 10
    python -m minisparse train --method rigl --data mnist5k --density 0.1 --kwta 0.05
    python -m minisparse train --method ctre_sim --data madelon --hidden 1000 1000 1000 --epsilon 1

One progress line per epoch; the history (strict JSON) and the model (.npz, ``minisparse.serialize``)
are written atomically into ``--out`` (default ``runs/<method>-<data>-d<density>-h<hidden>-e<epochs>-s<seed>``,
which names what ran); ``--plot`` also draws the run's curves. Everything that can be checked is
checked before training: the arguments, and that the output folder can be written and holds no
earlier run (``--overwrite`` to replace one). A bad argument (any ValueError, TypeError or OSError,
which the library's input checks raise before any work) ends with one line on stderr and exit status
2 (MINISPARSE_TRACEBACK=1 shows the traceback); a run that diverges ends with exit status 1; any
other traceback is a bug.

    python -m minisparse --version
    python -m minisparse --blas-threads 2 train …  # BLAS threads (default 1, or $MINISPARSE_BLAS_THREADS)

    python -m minisparse compare --methods static set rigl   # minisparse.lab.compare: a fair comparison
    python -m minisparse figures --fast          # minisparse.lab.figures: regenerate the figures
    python -m minisparse bench                   # minisparse.lab.bench: CSR step vs dense W ⊙ M
    python -m minisparse bench-methods           # minisparse.lab.bench_methods: each method's costs
    python -m minisparse bench-kwta              # minisparse.lab.bench_kwta: time against active inputs k
"""
import argparse
import importlib
import json
import os
import sys
import warnings

import numpy as np

from . import __version__
from .network import init, serialize
from .network.checkpoint import load_checkpoint
from .network.checks import DivergenceError
from .network.kwta import use_kwinners
from .sparse_training.ctre import train_ctre
from .sparse_training.deep_r import train_deep_r
from .sparse_training.dsr import train_dsr
from .data.datasets import load_dataset
from .network.mlp import SparseMLP
from .network.optim import Adam
from .sparse_training.rigl import train_rigl
from .sparse_training.set_training import train_set
from .sparse_training.sparse_momentum import train_sparse_momentum
from .network.train import fit
from .runtime import limit_blas_threads


def build_model(method, sizes, density, epsilon, rng, dtype=np.float64):
    """Each method's initial topology: ER for SET and CTRE, ERK for RigL, DSR and DEEP R, uniform
    otherwise (static, Sparse Momentum), dense for dense."""
    if method == "dense":
        return SparseMLP.random(sizes, density=1.0, rng=rng, dtype=dtype)
    if method == "set" or method.startswith("ctre"):
        shapes = list(zip(sizes[:-1], sizes[1:]))
        eps = epsilon if epsilon is not None else init.epsilon_for_density(shapes, density)
        return SparseMLP.random(sizes, topology="erdos_renyi", epsilon=eps, rng=rng, dtype=dtype)
    topology = "erk" if method in ("rigl", "dsr", "deep_r") else "uniform"
    return SparseMLP.random(sizes, density=density, topology=topology, rng=rng, dtype=dtype)


def run(method, model, data, epochs, lr, batch_size, rng, verbose, regrow=None, lr_scale=None, zeta=None,
        checkpoint=None, resume=None):
    """Train with the method's own loop and defaults (``lr``/``batch_size`` override when given;
    ``regrow='fan_in'`` gives SET new weights on the scale of the initial ones; ``lr_scale`` (per
    layer) and ``zeta`` are SET's); ``checkpoint``/``resume``: see ``network.checkpoint``."""
    over = {k: v for k, v in (("lr", lr), ("batch_size", batch_size)) if v is not None}
    over |= {"checkpoint": checkpoint, "resume": resume}
    set_only = {k: v for k, v in (("lr_scale", lr_scale), ("zeta", zeta)) if v is not None}
    if set_only and method != "set":
        raise UsageError(f"--lr-scale and --zeta are SET's options, not {method}'s")
    if set_only.get("lr_scale") is not None and len(set_only["lr_scale"]) != len(model.layers):
        raise UsageError(f"--lr-scale needs one multiplier per layer ({len(model.layers)}), "
                         f"got {len(set_only['lr_scale'])}")
    over |= set_only
    if method == "set" and regrow == "fan_in":
        over["init"] = "fan_in"
    if method in ("dense", "static"):            # article 001: Adam, η = 1e-3
        history = fit(model, Adam(model, lr=over.get("lr", 1e-3)), data, epochs,
                      batch_size=over.get("batch_size", 100), rng=rng, verbose=verbose,
                      checkpoint=checkpoint, resume=resume)
        return history, {}
    if method.startswith("ctre"):
        return train_ctre(model, data, epochs, variant=method.split("_")[1], rng=rng, verbose=verbose, **over)
    loops = {"set": train_set, "rigl": train_rigl, "sparse_momentum": train_sparse_momentum, "dsr": train_dsr,
             "deep_r": train_deep_r}
    return loops[method](model, data, epochs, rng=rng, verbose=verbose, **over)


def strict(obj):
    """``obj`` with arrays and NumPy scalars as lists and numbers, and NaN / ±inf as None, so that
    ``json.dump(..., allow_nan=False)`` writes strict JSON (``null``, never a bare ``NaN``)."""
    if isinstance(obj, dict):
        return {str(k): strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict(v) for v in obj]
    if hasattr(obj, "tolist"):
        return strict(obj.tolist())
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    return str(obj)


def peak_memory_mib():
    """The process's peak resident memory so far (MiB), or None where ``resource`` is missing (Windows)."""
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss      # KiB on Linux, bytes on macOS
    return peak / (2 ** 20 if sys.platform == "darwin" else 2 ** 10)


class UsageError(ValueError):
    """A bad command-line argument: reported as one line, exit status 2."""


def check_train_args(args):
    """Every argument of ``train`` in range, before any data is loaded."""
    def need(ok, message):
        if not ok:
            raise UsageError(message)
    need(args.density is None or 0 < args.density <= 1,
         f"--density must be in (0, 1] (fraction of connections kept), got {args.density}")
    need(args.kwta is None or 0 < args.kwta < 1,
         f"--kwta must be in (0, 1) (share of each hidden layer's units that fire), got {args.kwta}")
    need(args.epochs >= 1, f"--epochs must be a positive integer, got {args.epochs}")
    need(args.batch_size is None or args.batch_size >= 1, f"--batch-size must be a positive integer, got {args.batch_size}")
    need(args.lr is None or (np.isfinite(args.lr) and args.lr > 0), f"--lr must be a finite number > 0, got {args.lr}")
    need(all(h >= 1 for h in args.hidden), f"--hidden widths must be positive integers, got {args.hidden}")
    need(args.seed >= 0, f"--seed must be an integer ≥ 0, got {args.seed}")
    need(args.zeta is None or 0 < args.zeta < 1, f"--zeta must be in (0, 1) (share rewired per epoch), got {args.zeta}")
    need(args.epsilon is None or (np.isfinite(args.epsilon) and args.epsilon > 0),
         f"--epsilon must be a finite number > 0, got {args.epsilon}")
    need(args.epsilon is None or args.method == "set" or args.method.startswith("ctre"),
         f"--epsilon sets SET's and CTRE's Erdős–Rényi topology; {args.method} uses --density")
    need(args.lr_scale is None or args.method == "set", f"--lr-scale is SET's option, not {args.method}'s")
    need(args.zeta is None or args.method == "set", f"--zeta is SET's option, not {args.method}'s")
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise UsageError("--plot needs matplotlib: pip install -e \".[figures]\"") from None


def run_name(args, density):
    """The default run folder: what ran, readably: runs/rigl-mnist5k-d0.05-h300x100-e20-s0[-kwta0.1]."""
    shape = f"eps{args.epsilon:g}" if args.epsilon is not None else f"d{density:g}"
    parts = [args.method, args.data, shape, "h" + "x".join(map(str, args.hidden)), f"e{args.epochs}", f"s{args.seed}"]
    parts += [f"lr{args.lr:g}"] if args.lr is not None else []
    parts += [f"kwta{args.kwta:g}"] if args.kwta is not None else []
    return os.path.join("runs", "-".join(parts))


RUN_FILES = ("history.json", "model.npz", "curves.png", "checkpoint.npz")
RESUME_IGNORES = ("resume", "overwrite", "verbose", "plot", "argv")     # may differ between a run and its resumption


def prepare_out(out, overwrite, resume=False):
    """Create the output folder and prove it writable now, not after training; refuse to replace an
    earlier run unless ``overwrite`` (``resume``: the folder must hold an unfinished run)."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise UsageError(f"--out {out} is a file; expected a folder for the run's files")
    if resume:
        if not os.path.exists(os.path.join(out, "checkpoint.npz")):
            raise UsageError(f"nothing to resume in {out}: no checkpoint.npz (a run leaves one until it finishes)")
        return
    earlier = [f for f in RUN_FILES if os.path.exists(os.path.join(out, f))]
    if earlier and not overwrite:
        hint = "; to continue it, pass --resume" if earlier == ["checkpoint.npz"] else ""
        raise UsageError(f"{out} already holds a run ({', '.join(earlier)}); choose another --out or pass "
                         f"--overwrite{hint}")
    try:
        os.makedirs(out, exist_ok=True)
        probe = os.path.join(out, ".minisparse-write-test")
        with open(probe, "w") as f:
            f.write("ok")
        os.remove(probe)
    except OSError as e:
        raise UsageError(f"cannot write into {out}: {e.strerror or e}") from None


def plot_run(record, path):
    """The run's curves: loss, accuracy, density per layer and the topology change per epoch."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = record["history"]
    epochs = [r["epoch"] for r in rows]
    fig, ax = plt.subplots(1, 4, figsize=(16, 3.6))
    ax[0].plot(epochs, [r["loss"] for r in rows], marker="o", ms=3)
    ax[0].set(title="training loss", xlabel="epoch")
    for key in ("train_acc", "val_acc", "test_acc"):
        ax[1].plot(epochs, [r.get(key) if r.get(key) is not None else np.nan for r in rows], marker="o", ms=3,
                   label=key.split("_")[0])
    ax[1].set(title="accuracy", xlabel="epoch")
    ax[1].legend(fontsize=8)
    dens = np.array([r["density"] for r in rows], dtype=float)
    for l in range(dens.shape[1]):
        ax[2].plot(epochs, dens[:, l], marker="o", ms=3, label=f"layer {l}")
    ax[2].set(title="density per layer", xlabel="epoch", yscale="log")
    ax[2].legend(fontsize=8)
    moved = [np.sum(r["moved"]) if r.get("moved") is not None else np.nan for r in rows]
    ax[3].plot(epochs, moved, marker="o", ms=3)
    ax[3].set(title="connections moved (topology change)", xlabel="epoch")
    fig.suptitle(f"{record['method']} on {record['data']} · {'-'.join(map(str, record['sizes']))} · "
                 f"density {record['density']:.4g}")
    fig.tight_layout()
    serialize.atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110))
    plt.close(fig)


def resume_command(args, out):
    """The shell command that continues this run: its own arguments, ``--out`` included, and --resume."""
    argv = [a for a in args.argv if a not in ("--resume", "--overwrite")]
    return "python -m minisparse " + " ".join(argv + ([] if "--out" in argv else ["--out", out])) + " --resume"


def train_command(args):
    check_train_args(args)
    density = args.density if args.density is not None else 0.05
    out = args.out or run_name(args, density)
    prepare_out(out, args.overwrite, args.resume)
    settings = {k: v for k, v in vars(args).items() if k not in RESUME_IGNORES + ("out",)}
    checkpoint, resume = os.path.join(out, "checkpoint.npz"), None
    if args.resume:
        resume = load_checkpoint(checkpoint)
        saved = json.loads((open(os.path.join(out, "run.json")).read()))
        changed = {k: (saved.get(k), v) for k, v in settings.items() if saved.get(k) != v}
        if changed:
            raise UsageError(f"--resume must repeat the run's arguments; these differ (saved, given): {changed}")
    else:
        serialize.atomic_write(os.path.join(out, "run.json"), lambda f: json.dump(settings, f, indent=1), binary=False)
    dtype = np.dtype(args.dtype)
    data = load_dataset(args.data, rng=args.seed, dtype=dtype)
    sizes = [data.n_features, *args.hidden, data.n_classes]
    if resume is None:
        model = build_model(args.method, sizes, density, args.epsilon, args.seed, dtype)
        if args.kwta is not None:               # the paper's boosting: β = 1.5, ×0.85 per epoch
            use_kwinners(model, percent_on=args.kwta)
    else:
        model = resume.model
    if args.verbose:
        print(f"{args.method} on {args.data} {data!r}\n{model!r}" +
              (f"\nresuming after epoch {resume.epoch}" if resume else ""), flush=True)
    try:
        history, log = run(args.method, model, data, args.epochs, args.lr, args.batch_size,
                           args.seed if resume is None else resume.rng, args.verbose, args.regrow, args.lr_scale,
                           args.zeta, checkpoint=checkpoint, resume=resume)
    except KeyboardInterrupt:
        done = load_checkpoint(checkpoint).epoch if os.path.exists(checkpoint) else 0
        print(f"\ninterrupted; {'epochs 1–' + str(done) + ' are saved in ' + checkpoint if done else 'no epoch finished'}."
              f"\nresume with: {resume_command(args, out)}", file=sys.stderr, flush=True)
        raise SystemExit(130) from None
    record = {"method": args.method, "data": args.data, "sizes": sizes, "seed": args.seed, "dtype": args.dtype,
              "kwta": args.kwta,
              "regrow": args.regrow, "lr": args.lr, "lr_scale": args.lr_scale, "zeta": args.zeta,
              "density": model.density, "nnz": model.nnz, "peak_memory_mib": peak_memory_mib(),
              "history": history.rows, "topology_log": log}
    serialize.atomic_write(os.path.join(out, "history.json"),
                           lambda f: json.dump(strict(record), f, indent=1, allow_nan=False), binary=False)
    path = serialize.save(os.path.join(out, "model.npz"), model)
    if os.path.exists(checkpoint):
        os.remove(checkpoint)                   # the run finished: history.json and model.npz hold it
    if args.plot:
        plot_run(strict(record), os.path.join(out, "curves.png"))
    if args.verbose:
        last, peak = history.rows[-1], peak_memory_mib()
        print(f"test accuracy {last.get('test_acc', float('nan')):.4f}; "
              f"{'' if peak is None else f'peak memory {peak:,.0f} MiB; '}wrote {out}/history.json "
              f"and {path}", flush=True)
    return record


LAB = {"figures": ("minisparse.lab.figures", "regenerate the articles' figures (see figures --help)"),
       "bench": ("minisparse.lab.bench", "time and memory of a step: CSR against dense W ⊙ M"),
       "bench-methods": ("minisparse.lab.bench_methods", "each method's cost per step and per update"),
       "bench-kwta": ("minisparse.lab.bench_kwta", "the products' time as the active inputs per row (k) shrink"),
       "compare": ("minisparse.lab.compare", "several methods under one fair protocol (lr chosen on validation, seeds)")}


def split_blas_threads(argv):
    """(``--blas-threads`` value or None, the other arguments): the option may come first."""
    if argv[:1] == ["--blas-threads"]:
        if len(argv) < 2:
            raise UsageError("--blas-threads needs a number")
        return argv[1], argv[2:]
    if argv and argv[0].startswith("--blas-threads="):
        return argv[0].split("=", 1)[1], argv[1:]
    return None, argv


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        threads, argv = split_blas_threads(argv)
        limit_blas_threads(threads)
        with warnings.catch_warnings():          # a warning is one line too, without the source line
            warnings.showwarning = _one_line_warning
            return _main(argv)
    except DivergenceError as e:
        print(f"python -m minisparse: {e}", file=sys.stderr)
        return 1
    except (ValueError, TypeError, OSError) as e:   # the library's input checks raise these before any work
        if os.environ.get("MINISPARSE_TRACEBACK"):
            raise
        print(f"python -m minisparse: error: {e}", file=sys.stderr)
        return 2


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    print(f"python -m minisparse: warning: {message}", file=sys.stderr, flush=True)


def _main(argv):
    if argv and argv[0] in LAB:                 # the lab's commands parse their own arguments
        result = importlib.import_module(LAB[argv[0]][0]).main(argv[1:])
        return result if isinstance(result, int) else 0     # a lab command returns its data: success
    parser = argparse.ArgumentParser(prog="python -m minisparse", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"minisparse {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (_, text) in LAB.items():
        sub.add_parser(name, help=text, add_help=False)
    t = sub.add_parser("train", help="train one method on one data set")
    t.add_argument("--method", required=True, choices=["dense", "static", "set", "rigl", "sparse_momentum",
                                                          "dsr", "deep_r", "ctre_sim", "ctre_seq", "ctre_cosine"])
    t.add_argument("--data", default="mnist5k", choices=["mnist5k", "teacher", "random", "mnist", "fashion",
                                                               "madelon", "text"])
    t.add_argument("--density", type=float, help="global density d (default 0.05; ignored by dense)")
    t.add_argument("--epsilon", type=float, help="SET's / CTRE's ε instead of a density")
    t.add_argument("--hidden", type=int, nargs="+", default=[300, 100], help="hidden widths (LeNet-300-100)")
    t.add_argument("--epochs", type=int, default=20)
    t.add_argument("--lr", type=float, help="learning rate (default: the method's paper's)")
    t.add_argument("--batch-size", type=int)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--regrow", choices=["reference", "fan_in"], default="reference",
                   help="SET's new weights: N(0, 0.1²) as in the reference code, or N(0, gain²/fan-in)")
    t.add_argument("--lr-scale", type=float, nargs="+", metavar="S",
                   help="SET: one learning-rate multiplier per layer (e.g. 1 1 1 0.01 for a very wide output layer)")
    t.add_argument("--zeta", type=float, help="SET: fraction of each layer rewired per epoch (default 0.3)")
    t.add_argument("--kwta", type=float, metavar="PERCENT_ON",
                   help="k-winners-take-all in every hidden layer, k = round(PERCENT_ON·width), with boosting")
    t.add_argument("--dtype", choices=["float64", "float32"], default="float64",
                   help="float32 halves memory and speeds up the kernels (large networks)")
    t.add_argument("--out", help="output folder (default runs/<method>-<data>-d<density>-h<hidden>-e<epochs>-s<seed>)")
    t.add_argument("--overwrite", action="store_true", help="replace an earlier run in the output folder")
    t.add_argument("--resume", action="store_true",
                   help="continue an interrupted run from its checkpoint (the same arguments, --out included)")
    t.add_argument("--plot", action="store_true", help="also draw the run's curves into curves.png (matplotlib)")
    t.add_argument("--quiet", dest="verbose", action="store_false", help="no progress lines")
    args = parser.parse_args(argv)
    args.argv = argv                            # to print the command that resumes this run
    train_command(args)
    return 0


if __name__ == "__main__":
    from .runtime import retain_freed_memory
    retain_freed_memory()                   # a process-wide allocator setting: entry points only
    sys.exit(main())
