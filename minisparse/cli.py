"""``python -m minisparse``: train a method on a data set with its paper's defaults, or run the lab.

    python -m minisparse train --method rigl --data mnist5k --density 0.05
    python -m minisparse train --method set --data mnist5k --epsilon 20 --epochs 30
    python -m minisparse train --method sparse_momentum --data teacher --density 0.1 --lr 0.05
    python -m minisparse train --method dsr --data mnist5k --density 0.05
    python -m minisparse train --method deep_r --data mnist5k --density 0.02 --epochs 10
    python -m minisparse train --method rigl --data mnist5k --density 0.1 --kwta 0.05
    python -m minisparse train --method ctre_sim --data madelon --hidden 1000 1000 1000 --epsilon 1

One progress line per epoch; the history (JSON) and the model (.npz, ``minisparse.serialize``) are
written atomically into ``--out`` (default ``runs/<method>-<data>-<density>``).

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

import numpy as np

from .network import init, serialize
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


def run(method, model, data, epochs, lr, batch_size, rng, verbose, regrow=None, lr_scale=None, zeta=None):
    """Train with the method's own loop and defaults (``lr``/``batch_size`` override when given;
    ``regrow='fan_in'`` gives SET new weights on the scale of the initial ones; ``lr_scale`` (per
    layer) and ``zeta`` are SET's)."""
    over = {k: v for k, v in (("lr", lr), ("batch_size", batch_size)) if v is not None}
    set_only = {k: v for k, v in (("lr_scale", lr_scale), ("zeta", zeta)) if v is not None}
    if set_only and method != "set":
        raise SystemExit(f"--lr-scale and --zeta are SET's options, not {method}'s")
    if set_only.get("lr_scale") is not None and len(set_only["lr_scale"]) != len(model.layers):
        raise SystemExit(f"--lr-scale needs one multiplier per layer ({len(model.layers)}), "
                         f"got {len(set_only['lr_scale'])}")
    over |= set_only
    if method == "set" and regrow == "fan_in":
        over["init"] = "fan_in"
    if method in ("dense", "static"):            # article 001: Adam, η = 1e-3
        history = fit(model, Adam(model, lr=over.get("lr", 1e-3)), data, epochs,
                      batch_size=over.get("batch_size", 100), rng=rng, verbose=verbose)
        return history, {}
    if method.startswith("ctre"):
        return train_ctre(model, data, epochs, variant=method.split("_")[1], rng=rng, verbose=verbose, **over)
    loops = {"set": train_set, "rigl": train_rigl, "sparse_momentum": train_sparse_momentum, "dsr": train_dsr,
             "deep_r": train_deep_r}
    return loops[method](model, data, epochs, rng=rng, verbose=verbose, **over)


def to_json(obj):
    """Arrays and NumPy scalars as plain lists and numbers."""
    return obj.tolist() if hasattr(obj, "tolist") else str(obj)


def peak_memory_mib():
    """The process's peak resident memory so far (MiB), or None where ``resource`` is missing (Windows)."""
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss      # KiB on Linux, bytes on macOS
    return peak / (2 ** 20 if sys.platform == "darwin" else 2 ** 10)


def train_command(args):
    if args.density is not None and not 0 < args.density <= 1:
        raise SystemExit(f"--density must be in (0, 1] (fraction of connections kept), got {args.density}")
    density = args.density if args.density is not None else 0.05
    if args.kwta is not None and not 0 < args.kwta < 1:
        raise SystemExit(f"--kwta must be in (0, 1) (share of each hidden layer's units that fire), got {args.kwta}")
    dtype = np.dtype(args.dtype)
    data = load_dataset(args.data, rng=args.seed, dtype=dtype)
    sizes = [data.n_features, *args.hidden, data.n_classes]
    model = build_model(args.method, sizes, density, args.epsilon, args.seed, dtype)
    if args.kwta is not None:                   # the paper's boosting: β = 1.5, ×0.85 per epoch
        use_kwinners(model, percent_on=args.kwta)
    if args.verbose:
        print(f"{args.method} on {args.data} {data!r}\n{model!r}", flush=True)
    history, log = run(args.method, model, data, args.epochs, args.lr, args.batch_size, args.seed,
                       args.verbose, args.regrow, args.lr_scale, args.zeta)
    out = args.out or os.path.join("runs", f"{args.method}-{args.data}-{model.density:.4g}")
    os.makedirs(out, exist_ok=True)
    record = {"method": args.method, "data": args.data, "sizes": sizes, "seed": args.seed, "dtype": args.dtype,
              "kwta": args.kwta,
              "regrow": args.regrow, "lr": args.lr, "lr_scale": args.lr_scale, "zeta": args.zeta,
              "density": model.density, "nnz": model.nnz, "peak_memory_mib": peak_memory_mib(),
              "history": history.rows, "topology_log": log}
    serialize.atomic_write(os.path.join(out, "history.json"),
                           lambda f: json.dump(record, f, indent=1, default=to_json), binary=False)
    path = serialize.save(os.path.join(out, "model.npz"), model)
    if args.verbose:
        last, peak = history.rows[-1], peak_memory_mib()
        print(f"test accuracy {last.get('test_acc', float('nan')):.4f}; "
              f"{'' if peak is None else f'peak memory {peak:,.0f} MiB; '}wrote {out}/history.json "
              f"and {path}", flush=True)
    return record


LAB = {"figures": ("minisparse.lab.figures", "regenerate the articles' figures (see figures --help)"),
       "bench": ("minisparse.lab.bench", "time and memory of a step: CSR against dense W ⊙ M"),
       "bench-methods": ("minisparse.lab.bench_methods", "each method's cost per step and per update"),
       "bench-kwta": ("minisparse.lab.bench_kwta", "the products' time as the active inputs per row (k) shrink")}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in LAB:                 # the lab's commands parse their own arguments
        result = importlib.import_module(LAB[argv[0]][0]).main(argv[1:])
        return result if isinstance(result, int) else 0     # a lab command returns its data: success
    parser = argparse.ArgumentParser(prog="python -m minisparse", description=__doc__.splitlines()[0])
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
    t.add_argument("--out", help="output folder (default runs/<method>-<data>-<density>)")
    t.add_argument("--quiet", dest="verbose", action="store_false", help="no progress lines")
    args = parser.parse_args(argv)
    train_command(args)
    return 0


if __name__ == "__main__":
    from .runtime import retain_freed_memory
    retain_freed_memory()                   # a process-wide allocator setting: entry points only
    sys.exit(main())
