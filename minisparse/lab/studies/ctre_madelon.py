"""Why F7's Madelon-like panel differs from the CTRE paper: where do the input connections end up?

For each sparse method at ε = 1 (3 × 1,000 hidden units, the F7 settings), train ``--epochs`` epochs
and report test accuracy next to the share of first-layer connections that start at one of the 20
useful features (5 informative + 15 combinations; uniform placement gives 4 %). ``--standardize``
rescales every feature to zero mean and unit variance on the training rows first, so that the
useful features no longer stand out by their scale (in the generator their std is ≈ 2.2, the
probes' 1).

    OPENBLAS_NUM_THREADS=1 python minisparse/lab/studies/ctre_madelon.py --epochs 100 --seeds 0 1 2 [--standardize]
    OPENBLAS_NUM_THREADS=1 python minisparse/lab/studies/ctre_madelon.py --epochs 500 --methods SET CTRE_sim
"""
import argparse
import json

import numpy as np

from minisparse.sparse_training.ctre import train_ctre
from minisparse.data.datasets import Split, madelon_split
from minisparse.lab.fig_ctre import CTRE_VARIANT, HP, _train_dense, build
from minisparse.lab.fig_dst import train_method
from minisparse.network.serialize import atomic_write
from minisparse.network.topology import entry_rows
from minisparse.network.train import evaluate

METHODS = ("dense", "SNIP", "RigL", "SET", "CTRE_sim", "CTRE without random")


def standardize(data):
    mu, sd = data.X_train.mean(axis=0), data.X_train.std(axis=0)
    z = lambda X: (X - mu) / sd
    return Split(z(data.X_train), data.y_train, z(data.X_val), data.y_val, z(data.X_test), data.y_test)


def one(method, seed, epochs, scale_free):
    data, informative, redundant = madelon_split(seed, return_informative=True)
    if scale_free:
        data = standardize(data)
    useful = np.union1d(informative, redundant)
    model = build(method, [500, 1000, 1000, 1000, 2], 1, seed, data)
    if method == "dense":                                  # dense arrays; no first-layer pattern to measure
        return {"test": _train_dense(model, data, epochs, seed + 1000)[1][-1], "useful_share": 20 / 500}
    if method.startswith("CTRE"):
        train_ctre(model, data, epochs, variant=CTRE_VARIANT[method], zeta=0.2, rng=seed + 1000, verbose=False, **HP)
    else:
        train_method("static" if method == "SNIP" else method, model, data, epochs,
                     dict(HP, zeta=0.2, alpha=0.3, delta_t=100), seed + 1000)
    share = float(np.isin(entry_rows(model.layers[0].W), useful).mean())
    return {"test": evaluate(model, data.X_test, data.y_test)[1], "useful_share": share}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--standardize", action="store_true")
    p.add_argument("--methods", nargs="+", default=list(METHODS[1:]), choices=METHODS)
    p.add_argument("--out")
    args = p.parse_args(argv)
    rows = {}
    for method in args.methods:
        rows[method] = [one(method, s, args.epochs, args.standardize) for s in args.seeds]
        t = [r["test"] for r in rows[method]]
        u = [r["useful_share"] for r in rows[method]]
        print(f"{method:22s} test {100 * np.mean(t):5.1f} {np.round(t, 3)}   useful share of layer-1 inputs "
              f"{100 * np.mean(u):5.1f} % {np.round(u, 3)}", flush=True)
    if args.out:
        atomic_write(args.out, lambda f: json.dump(vars(args) | {"rows": rows}, f, indent=1), binary=False)


if __name__ == "__main__":
    main()
