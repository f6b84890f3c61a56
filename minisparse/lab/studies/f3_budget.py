"""Does F3's ordering change with a longer training budget?

F3 trains every method for 20 epochs on MNIST-5k (3,500 training images). This study reruns the
sparse methods at 1 %, 3 % and 10 % weights for ``--epochs`` epochs (default 60) with the same
hyperparameters F3 chose by validation (read from figures/f3_dst_accuracy.json), 3 seeds, and
records the final training accuracy next to test accuracy, so one can tell whether a gap is one of
optimisation (the method cannot fit the training set) or of generalisation (it fits, and still
tests lower).

    OPENBLAS_NUM_THREADS=1 python minisparse/lab/studies/f3_budget.py --epochs 60 --out minisparse/lab/studies/f3_budget.json
    OPENBLAS_NUM_THREADS=1 python minisparse/lab/studies/f3_budget.py --methods DSR DEEP-R --no-dense \
        --out minisparse/lab/studies/f3_budget_dsr_deep_r.json

Each row also holds the final density of every layer (DSR moves weights between layers).
"""
import argparse
import json
import time

from minisparse.lab.common import mnist_split, t_interval
from minisparse.lab.fig_dst import METHODS, build, train_method
from minisparse.network.serialize import atomic_write
from minisparse.network.train import evaluate


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--densities", type=float, nargs="+", default=[0.01, 0.03, 0.10])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    p.add_argument("--no-dense", action="store_true", help="skip the dense baseline")
    p.add_argument("--out", default="minisparse/lab/studies/f3_budget.json")
    args = p.parse_args(argv)
    with open("figures/f3_dst_accuracy.json") as f:
        chosen = json.load(f)["chosen"]
    out = {"epochs": args.epochs, "seeds": args.seeds, "densities": args.densities, "chosen": chosen,
           "rows": []}
    t0 = time.perf_counter()
    for method in ([] if args.no_dense else ["dense"]) + args.methods:
        for d in ((1.0,) if method == "dense" else args.densities):
            train_acc, test_acc, layers = [], [], []
            for seed in args.seeds:
                data = mnist_split(None, seed)
                model = build(method, [784, 300, 100, 10], d, seed)
                _, acc = train_method(method, model, data, args.epochs, chosen[method], seed + 1000)
                train_acc.append(evaluate(model, data.X_train, data.y_train)[1])
                test_acc.append(acc["test"])
                layers.append([layer.nnz / (layer.shape[0] * layer.shape[1]) for layer in model.layers])
            (tm, th), (trm, _) = t_interval(test_acc), t_interval(train_acc)
            out["rows"].append({"method": method, "density": d, "train": train_acc, "test": test_acc,
                                "layer_density": layers})
            print(f"{method:>16} d={d:<5} train {100 * trm:5.1f}  test {100 * tm:5.1f} ± {100 * th:.1f}"
                  f"   [{time.perf_counter() - t0:6.0f} s]", flush=True)
    atomic_write(args.out, lambda f: f.write(json.dumps(out, indent=1).encode()))


if __name__ == "__main__":
    main()
