"""What one CTRE update costs, next to an epoch of truly sparse training and a dense-gradient step.

The CTRE paper's network: Madelon-like data (1,800 training rows, 500 features), 3 × 1,000 hidden
units, ε = 1 (density 0.26 %). Measured, in multiply-adds (counted) and seconds (median of
``--repeats``): one similarity pass over the training split (what CTRE adds per epoch), one epoch of
truly sparse SGD (18 steps of batch 100), one training step, and one step that also computes the
dense gradient of every layer (what RigL does at an update step). Run it on a quiet machine:

    OPENBLAS_NUM_THREADS=1 python minisparse/lab/studies/ctre_cost.py
"""
import argparse
import statistics
import time

import numpy as np

from minisparse import SGD, SparseMLP
from minisparse.network.cost import epoch_macs, step_macs
from minisparse.sparse_training.ctre import cosine_similarity, similarity_macs
from minisparse.data.datasets import madelon_split
from minisparse.network.train import run_epoch, train_step


def timed(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hidden", type=int, default=1000)
    p.add_argument("--epsilon", type=float, default=1.0)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    data = madelon_split(0)
    X, y = data.X_train, data.y_train
    model = SparseMLP.random([500] + [args.hidden] * 3 + [2], topology="erdos_renyi", epsilon=args.epsilon, rng=0)
    opt = SGD(model, lr=0.01, momentum=0.9, nesterov=True, weight_decay=1e-4)
    rng = np.random.default_rng(0)
    L = range(len(model.layers))
    rows = [
        ("one similarity pass (N = 1,800)", similarity_macs(model, len(y)),
         timed(lambda: cosine_similarity(model, X), args.repeats)),
        ("one epoch of sparse SGD (18 steps)", epoch_macs(model, len(y), 100),
         timed(lambda: run_epoch(model, opt, X, y, 100, rng), args.repeats)),
        ("one sparse step (batch 100)", step_macs(model, 100),
         timed(lambda: train_step(model, opt, X[:100], y[:100]), args.repeats * 10)),
        ("one step with dense gradients (RigL update)", step_macs(model, 100, L),
         timed(lambda: model.loss_and_grads(X[:100], y[:100], dense=True), args.repeats * 10)),
    ]
    print(f"{model!r}\n")
    print(f"{'':46s} {'sparse MACs':>14s} {'dense MACs':>14s} {'seconds':>9s}")
    for name, macs, sec in rows:
        print(f"{name:46s} {macs['sparse']:14,d} {macs['dense']:14,d} {sec:9.4f}")
    sim, epoch = rows[0], rows[1]
    total = lambda m: m["sparse"] + m["dense"]
    print(f"\nsimilarity / sparse epoch: {total(sim[1]) / total(epoch[1]):.0f}× the multiply-adds, "
          f"{sim[2] / epoch[2]:.1f}× the seconds")
    print(f"similarity / dense-gradient step: {total(sim[1]) / total(rows[3][1]):.1f}× the multiply-adds, "
          f"{sim[2] / rows[3][2]:.1f}× the seconds")


if __name__ == "__main__":
    main()
