"""What each dynamic sparse training method costs: per training step and per topology update.

    python -m minisparse bench-methods [--fast] [--width 4000] [--epsilon 20] [--batch 100]

One network, 784 − h − h − 10 with Erdős–Rényi layers (nnz = ε(n_in + n_out)), float32, on random
data of ``--rows`` training rows. For static, SET, RigL, Sparse Momentum, DSR, DEEP R and CTRE it
times (median of ``--repeats``) an ordinary training step and one topology update, and counts their
multiply-adds, split into sparse work (∝ nnz) and dense work (∝ n_in·n_out: dense gradients, dense
momentum, similarity). The update of RigL includes the step on whose batch it computes the dense
gradient. DEEP R rewires at every step: its step (gradient step, L1, noise, rewiring) and its update
(``deep_r_update`` alone) are timed with DEEP_R_DYING = 0.3 % of each layer's connections dying, about
what its MNIST runs rewire per step; the next step also rebuilds the copies of the new pattern that
the products walk, as after any rewiring.
"""
import argparse
import copy
import statistics
import time

import numpy as np

from ..network.cost import step_macs
from ..sparse_training.ctre import cosine_similarity, ctre_update, similarity_macs
from ..sparse_training.deep_r import deep_r_step, deep_r_update, signed_init
from ..sparse_training.dsr import default_n_prune, dsr_update
from ..network.mlp import SparseMLP
from ..network.optim import SGD
from ..sparse_training.rigl import rigl_update
from ..sparse_training.set_training import set_update
from ..sparse_training.sparse_momentum import sparse_momentum_update
from ..network.train import train_step

N_IN, N_CLASSES = 784, 10
DEEP_R_DYING = 0.003


def _median_seconds(fn, repeats, fresh):
    """Median wall time of fn(state) over ``repeats`` calls, each on ``fresh()`` (not timed)."""
    times = []
    for _ in range(repeats):
        state = fresh()
        start = time.perf_counter()
        fn(*state)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def method_costs(width=4000, epsilon=20.0, batch=100, rows=3500, repeats=5, rng=0):
    """{method: {'step': (sparse MACs, dense MACs, s), 'update': (sparse MACs, dense MACs, s)}}."""
    base = SparseMLP.random([N_IN, width, width, N_CLASSES], topology="erdos_renyi", epsilon=epsilon, rng=rng,
                            dtype=np.float32)
    data_rng = np.random.default_rng(rng)
    X = data_rng.random((rows, N_IN), dtype=np.float32)
    y = data_rng.integers(0, N_CLASSES, rows)
    Xb, yb = X[:batch], y[:batch]
    L, dims = range(len(base.layers)), sum(layer.shape[0] * layer.shape[1] for layer in base.layers)

    def fresh(dense_momentum=False):
        model = copy.deepcopy(base)
        opt = SGD(model, lr=0.01, momentum=0.9, dense_momentum=dense_momentum)
        train_step(model, opt, Xb, yb, dense=dense_momentum)             # warm state (velocity)
        return model, opt

    sparse_step = step_macs(base, batch)
    step = _median_seconds(lambda m, o: train_step(m, o, Xb, yb), repeats, fresh)
    sm_step = _median_seconds(lambda m, o: train_step(m, o, Xb, yb, dense=True), repeats,
                              lambda: fresh(dense_momentum=True))
    out = {
        "static": {"step": (sparse_step["sparse"], 0, step), "update": (0, 0, 0.0)},
        "SET": {"step": (sparse_step["sparse"], 0, step),
                "update": (0, 0, _median_seconds(lambda m, o: set_update(m, 0.3, 0, o), repeats, fresh))},
        "RigL": {"step": (sparse_step["sparse"], 0, step),
                 "update": (sparse_step["sparse"], batch * dims,
                            _median_seconds(lambda m, o: rigl_update(m, Xb, yb, 0.3, o), repeats, fresh))},
        "Sparse Momentum": {"step": (sparse_step["sparse"], step_macs(base, batch, L)["dense"], sm_step),
                            "update": (0, 0, _median_seconds(lambda m, o: sparse_momentum_update(m, o, 0.5),
                                                             repeats, lambda: fresh(dense_momentum=True)))},
    }
    # DSR: H at the N_p-th smallest |w|, so that one update prunes about its target N_p
    n_p = default_n_prune(base)
    H = float(np.partition(np.concatenate([np.abs(layer.W.data) for layer in base.layers]), n_p)[n_p])
    out["DSR"] = {"step": (sparse_step["sparse"], 0, step),
                  "update": (0, 0, _median_seconds(lambda m, o: dsr_update(m, H, n_p, 0, o), repeats, fresh))}

    def fresh_signed(dying=DEEP_R_DYING):
        """A warm model with DEEP R's signs whose ``dying`` smallest θ of each layer sit at 1e-12, so
        that the L1 term alone (η·α = 1e-7) takes them to 0 in the next step."""
        model, opt = fresh()
        signed_init(model, 0)
        for layer in model.layers:
            k = int(dying * layer.nnz)
            idx = np.argpartition(np.abs(layer.W.data), k)[:k]
            layer.W.data[idx] = np.sign(layer.W.data[idx]) * 1e-12
        return model, opt

    out["DEEP R"] = {"step": (sparse_step["sparse"], 0, _median_seconds(
                         lambda m, o: deep_r_step(m, o, Xb, yb, 1e-5, 0.0, 0, 0), repeats, fresh_signed)),
                     "update": (0, 0, _median_seconds(lambda m, o: deep_r_update(m, o, 1e-5, 0.0, 0, 0),
                                                      repeats, fresh_signed))}
    sim = similarity_macs(base, rows)
    ctre = _median_seconds(lambda m, o: ctre_update(m, 0.2, 0, o, "sim", cosine_similarity(m, X)), repeats, fresh)
    out["CTRE"] = {"step": (sparse_step["sparse"], 0, step), "update": (sim["sparse"], sim["dense"], ctre)}
    return {"width": width, "epsilon": epsilon, "batch": batch, "rows": rows, "nnz": base.nnz,
            "density": base.density, "methods": out}


def set_update_scaling(widths, epsilon=20.0, repeats=3, rng=0):
    """SET's update time at fixed ε as the width grows: [(width, nnz, Σ n_in·n_out, seconds, rebuild
    seconds)]. Its cost should follow nnz (a partition and sampled positions), not the dense size,
    which grows as h². The rebuild is what the next step pays for the new pattern: the layers'
    copies of it in the order their products walk (``SparseLinear.prepare``)."""
    out = []
    for w in widths:
        base = SparseMLP.random([N_IN, w, w, N_CLASSES], topology="erdos_renyi", epsilon=epsilon, rng=rng,
                                dtype=np.float32)

        def fresh():
            model = copy.deepcopy(base)
            return model, SGD(model, lr=0.01, momentum=0.9)

        def updated():
            model, opt = fresh()
            set_update(model, 0.3, 0, opt)
            return model, opt
        sec = _median_seconds(lambda m, o: set_update(m, 0.3, 0, o), repeats, fresh)
        rebuild = _median_seconds(lambda m, o: [layer.prepare() for layer in m.layers], repeats, updated)
        out.append((w, base.nnz, sum(layer.shape[0] * layer.shape[1] for layer in base.layers), sec, rebuild))
    return out


def print_costs(result):
    """The per-method table."""
    print(f"784-{result['width']}-{result['width']}-10, ε = {result['epsilon']:g} (nnz {result['nnz']:,}, density "
          f"{result['density']:.3%}), batch {result['batch']}, {result['rows']:,} rows, float32")
    head = ("method", "step sparse MACs", "step dense MACs", "step ms", "update sparse MACs", "update dense MACs",
            "update ms")
    rows = [[m, f"{s[0]:,}", f"{s[1]:,}", f"{1e3 * s[2]:.2f}", f"{u[0]:,}", f"{u[1]:,}", f"{1e3 * u[2]:.2f}"]
            for m, c in result["methods"].items() for s, u in [(c["step"], c["update"])]]
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
    for r in [head] + rows:
        print("  ".join(cell.rjust(w) for cell, w in zip(r, widths)), flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m minisparse bench-methods", description=__doc__.splitlines()[0])
    p.add_argument("--fast", action="store_true", help="a small network (for tests)")
    p.add_argument("--width", type=int)
    p.add_argument("--epsilon", type=float, default=20.0)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--rows", type=int)
    p.add_argument("--repeats", type=int)
    p.add_argument("--update-widths", type=int, nargs="*", help="also time SET's update at these widths (fixed ε)")
    args = p.parse_args(argv)
    width = args.width or (200 if args.fast else 4000)
    rows = args.rows or (300 if args.fast else 3500)
    result = method_costs(width, args.epsilon, args.batch, rows, args.repeats or (1 if args.fast else 5))
    print_costs(result)
    if args.update_widths:
        rows = set_update_scaling(args.update_widths, args.epsilon, args.repeats or 3)
        print(f"\nSET update at fixed ε = {args.epsilon:g}: time follows nnz, not the dense size")
        print(f"{'width':>8} {'nnz':>12} {'dense size':>16} {'ms':>9} {'ns per nnz':>11} {'rebuild ms':>11}")
        for w, nnz, dense, sec, rebuild in rows:
            print(f"{w:>8,} {nnz:>12,} {dense:>16,} {1e3 * sec:>9.2f} {1e9 * sec / nnz:>11.1f} "
                  f"{1e3 * rebuild:>11.2f}", flush=True)
        result["set_update_scaling"] = rows
    return result


if __name__ == "__main__":
    from ..runtime import retain_freed_memory
    retain_freed_memory()                   # a process-wide allocator setting: entry points only
    main()
