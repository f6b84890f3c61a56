"""Regenerate the articles' figures: ``python -m minisparse figures [--list] [NAMES…] [--fast]``.

Each figure is a pure data function (tested) and a short plotting function; :data:`FIGURES` lists
them. PNGs go to ``figures/`` (``figures/fast/`` with ``--fast``, or ``--out``), each with its
numbers in a .json beside it, written atomically; each path is printed with the seconds it took.
``--fast`` (or MINISPARSE_FAST=1) shrinks the runs so the whole set takes seconds.
"""
import argparse
import os
import sys
import time

import numpy as np

from . import fig_continual, fig_ctre, fig_dst, fig_dst_extras, fig_kwta, fig_pruning
from .common import fast_mode, progress, save_figure, save_json
from ..data.datasets import Split, load_dataset, make_random_data
from ..sparse_training.static import train_static


# ---------------------------------------------------------------- F0: dense vs static sparse (article 001)

def f0_data(fast=False, rng=0):
    """Training curves of dense, 80 % and 90 % sparse MLPs trained with Adam, and their measured sparsity.

    Two tasks: the article's random data (100-256-256-10, full batch, random labels: memorisation)
    and MNIST-5k (784-256-256-10, mini-batches of 100, validation accuracy).
    """
    levels = (0.0, 0.8, 0.9)
    X, y = make_random_data(n=2048, input_dim=100, num_classes=10, rng=rng)
    random_data = Split(X, y, X[:0], y[:0], X[:0], y[:0])
    mnist = load_dataset("mnist5k", rng=rng)
    if fast:
        mnist = Split(mnist.X_train[:600], mnist.y_train[:600], mnist.X_val[:200], mnist.y_val[:200],
                      mnist.X_test[:200], mnist.y_test[:200])
    out = {"levels": levels, "random": {}, "mnist": {}}
    step = progress(2 * len(levels), "F0 ")
    for s in levels:
        for key, sizes, data, epochs, batch in (
                ("random", [100, 256, 256, 10], random_data, 20 if fast else 200, None),
                ("mnist", [784, 256, 256, 10], mnist, 3 if fast else 20, 100)):
            model, history, before, after = train_static(sizes, s, data, epochs=epochs,
                                                         batch_size=batch, rng=rng)
            out[key][s] = dict(loss=history["loss"], val_acc=history["val_acc"],
                               test_acc=history["test_acc"], before=before,
                               after=after, sparsity=1 - (history["nnz"] / _total(model)),
                               nnz=model.nnz)
            step(f"{key}, {'dense' if s == 0 else f'{s:.0%} sparse'}")
    return out


def _total(model):
    return sum(layer.shape[0] * layer.shape[1] for layer in model.layers)


def f0_plot(data, path):
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for s in data["levels"]:
        label = "dense" if s == 0 else f"static sparse, {s:.0%} sparsity"
        r, m = data["random"][s], data["mnist"][s]
        axes[0].plot(np.arange(1, len(r["loss"]) + 1), r["loss"], label=label)
        axes[1].plot(np.arange(1, len(m["val_acc"]) + 1), m["val_acc"], marker="o", ms=3,
                     label=f"{label}: test {m['test_acc'][-1]:.3f}, {m['nnz']:,} weights")
        axes[2].plot(np.arange(0, len(m["sparsity"]) + 1), np.r_[m["before"], m["sparsity"]],
                     marker="o", ms=3, label=f"{label} (measured {m['before']:.4f} → {m['after']:.4f})")
    axes[0].set(title="Article 001 random data: training loss\n(100-256-256-10, full-batch Adam)",
                xlabel="epoch", ylabel="cross-entropy")
    axes[1].set(title="MNIST-5k: validation accuracy\n(784-256-256-10, Adam, batch 100)",
                xlabel="epoch", ylabel="accuracy")
    axes[2].set(title="Measured sparsity during training (MNIST-5k)", xlabel="epoch (0 = before)",
                ylabel="1 − nnz / dense size", ylim=(-0.05, 1.0))
    from matplotlib.ticker import MaxNLocator
    for ax, where in zip(axes, ("upper right", "lower right", "center")):     # the empty corner of each panel
        ax.legend(fontsize=8, loc=where)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
        ax.grid(alpha=0.3)
    fig.suptitle("F0 · Sparse training from scratch: dense vs a fixed random mask (article 001)")
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


# ---------------------------------------------------------------- registry and command line

FIGURES = {
    "f0": ("dense vs static sparse training curves (article 001)", f0_data, f0_plot,
           "f0_static_sparse.png"),
    "pruning": ("accuracy vs sparsity for every pruning criterion, by order",
                fig_pruning.pruning_data, fig_pruning.pruning_plot, "pruning_by_order.png"),
    "prune_vs_scratch": ("dense → prune → fine-tune vs sparse from scratch, with multiply-adds",
                         fig_pruning.scratch_vs_prune_data, fig_pruning.scratch_vs_prune_plot,
                         "prune_vs_scratch.png"),
    "rigl_update": ("F1: one real RigL update on a tiny net, with the drop schedule",
                    fig_dst.rigl_update_data, fig_dst.rigl_update_plot, "f1_rigl_update.png"),
    "sparse_momentum_update": ("F2: one real Sparse Momentum update on LeNet-300-100",
                               fig_dst.sparse_momentum_update_data, fig_dst.sparse_momentum_update_plot,
                               "f2_sparse_momentum_update.png"),
    "dst_accuracy": ("F3: accuracy vs weights kept, dense/static/SET/RigL/Sparse Momentum/DSR/DEEP R",
                     fig_dst.dst_accuracy_data, fig_dst.dst_accuracy_plot, "f3_dst_accuracy.png"),
    "dst_dead_neurons": ("dead hidden neurons per epoch, per method",
                         fig_dst_extras.dst_dead_neurons_data, fig_dst_extras.dst_dead_neurons_plot, "dst_dead_neurons.png"),
    "dst_out_degree": ("input-pixel out-degree maps at start and end, per method",
                       fig_dst_extras.dst_out_degree_data, fig_dst_extras.dst_out_degree_plot, "dst_out_degree.png"),
    "sm_sensitivity": ("Sparse Momentum accuracy vs prune rate and momentum",
                       fig_dst_extras.sm_sensitivity_data, fig_dst_extras.sm_sensitivity_plot, "sm_sensitivity.png"),
    "ctre_update": ("F4: one real CTRE_sim update on a 5-8-3 net, with Sim¹ and Sim²",
                    fig_ctre.ctre_update_data, fig_ctre.ctre_update_plot, "f4_ctre_update.png"),
    "ctre_trace": ("F5: connections grown by similarity vs at random per epoch, CTRE_seq's switch",
                   fig_ctre.ctre_trace_data, fig_ctre.ctre_trace_plot, "f5_ctre_trace.png"),
    "cosine_vs_dot": ("F6: share of growth on informative features under noise, cosine vs dot product",
                      fig_ctre.cosine_vs_dot_data, fig_ctre.cosine_vs_dot_plot, "f6_cosine_vs_dot.png"),
    "ctre_accuracy": ("F7: accuracy vs epochs at ε = 1: dense, SNIP, RigL, SET, the CTRE variants",
                      fig_ctre.ctre_accuracy_data, fig_ctre.ctre_accuracy_plot, "f7_ctre_accuracy.png"),
    "ctre_density": ("F8: accuracy vs density (ε = 1…6) on the Madelon-like set",
                     fig_ctre.ctre_density_data, fig_ctre.ctre_density_plot, "f8_ctre_density.png"),
    "kwta": ("k-WTA on sparse weights: accuracy and cost grid, noise robustness, silent units and boosting",
             fig_kwta.kwta_data, fig_kwta.kwta_plot, "kwta_sparse_activations.png"),
    "continual": ("continual learning on Split MNIST-5k: accuracy matrices, average accuracy, forgetting",
                  fig_continual.continual_data, fig_continual.continual_plot, "continual_split_mnist.png"),
}


def make(name, out_dir="figures", fast=False):
    """Compute and draw one figure, with its numbers in a .json beside it; return the PNG's path."""
    _, data_fn, plot_fn, filename = FIGURES[name]
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, filename)
    data = data_fn(fast=fast)
    plot_fn(data, path)
    save_json(data, path[:-len(".png")] + ".json")
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m minisparse figures", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="figures to make (default: all)")
    parser.add_argument("--list", action="store_true", help="list the figures and exit")
    parser.add_argument("--fast", action="store_true", help="small, quick runs (also MINISPARSE_FAST=1)")
    parser.add_argument("--out", help="output folder (default: ./figures, or ./figures/fast with --fast, "
                                      "so quick runs never overwrite the full-size figures)")
    args = parser.parse_args(argv)
    if args.list:
        w_name, w_file = (max(len(key) for key in FIGURES), max(len(f[3]) for f in FIGURES.values()))
        for name, (title, *_, filename) in FIGURES.items():
            print(f"{name:{w_name}s}  {filename:{w_file}s}  {title}")
        return 0
    unknown = [n for n in args.names if n not in FIGURES]
    if unknown:
        parser.error(f"unknown figure(s) {unknown}; known: {sorted(FIGURES)}")
    fast = fast_mode(args.fast or None)
    out = args.out or os.path.join("figures", "fast" if fast else "")
    for name in args.names or list(FIGURES):
        start = time.perf_counter()
        path = make(name, out, fast)
        print(f"{path}  ({time.perf_counter() - start:.1f} s{', fast' if fast else ''})", flush=True)
    return 0


if __name__ == "__main__":
    from ..runtime import retain_freed_memory
    retain_freed_memory()                   # a process-wide allocator setting: entry points only
    sys.exit(main())
