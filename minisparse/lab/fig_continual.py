"""Continual learning on Split MNIST-5k: accuracy matrices and average accuracy after each task for
naive fine-tuning (dense, sparse, sparse with k-WTA), PackNet (dense, sparse) and the SpaceNet-style
method (with and without k-WTA), in the task- and the class-incremental scenario.

The same budget for every method: 784-300-300-10, every task 10 epochs of SGD (lr 0.02, momentum
0.9, batch 64; PackNet and SpaceNet spend 2 of them retraining after their pruning), 3 seeds (each
seed draws the data split and the network). Sparse means uniform random 10 % weights (static); k-WTA
keeps 10 % of each hidden layer with the paper's boosting. SpaceNet-style ends near 9 % of the weights.
"""
import numpy as np

from ..continual import average_accuracy, forgetting, run_finetune, run_packnet, run_spacenet, split_tasks
from ..network.kwta import use_kwinners
from ..network.mlp import SparseMLP
from .common import mnist_split, parallel_map, save as _save, t_interval

METHODS = ("fine-tune, dense", "fine-tune, sparse 10 %", "fine-tune, sparse 10 %, k-WTA 10 %", "PackNet, dense",
           "PackNet, sparse 10 %", "SpaceNet-style", "SpaceNet-style, k-WTA 10 %")
SCENARIOS = {"task": "task-incremental", "class": "class-incremental"}
KWTA = {"percent_on": 0.1, "boost_strength": 1.5, "boost_strength_factor": 0.85, "duty_cycle_period": 1000,
        "k_inference_factor": 1.5}


def setting(fast):
    if fast:
        return {"sizes": [784, 50, 50, 10], "n_train": 600, "epochs": 3, "seeds": (0,)}
    return {"sizes": [784, 300, 300, 10], "n_train": None, "epochs": 10, "seeds": (0, 1, 2)}


def build(method, sizes, seed):
    """The starting network of ``method``: dense, or uniform 10 % static weights; k-WTA where named."""
    dense = method.endswith("dense")
    model = SparseMLP.random(sizes, density=1.0 if dense else 0.1, topology="dense" if dense else "uniform", rng=seed)
    if "k-WTA" in method:
        use_kwinners(model, **KWTA)
    return model


def run(method, scenario, seed, fast=False):
    """One sequence: the accuracy matrix R (T, T) and the network's final nnz."""
    cfg = setting(fast)
    tasks = split_tasks(mnist_split(cfg["n_train"], seed))
    model = build(method, cfg["sizes"], seed)
    options = {"epochs": cfg["epochs"]}
    if method.startswith("fine-tune"):
        R = run_finetune(model, tasks, scenario, rng=seed + 1000, **options)
    elif method.startswith("PackNet"):
        R = run_packnet(model, tasks, scenario, rng=seed + 1000, **options)[0]
    else:
        R = run_spacenet(model, tasks, scenario, rng=seed + 1000, **options)[0]
    return R, model.nnz


def _job(args):
    method, scenario, seed, fast = args
    R, nnz = run(method, scenario, seed, fast)
    return {"R": R.tolist(), "nnz": nnz}


def continual_data(fast=False, rng=0):
    """Per scenario and method: every seed's R, mean R, average accuracy after each task (mean and 95 %
    t-interval), final average accuracy and forgetting (mean and interval), final nnz."""
    cfg = setting(fast)
    jobs = [(m, s, seed, fast) for s in SCENARIOS for m in METHODS for seed in cfg["seeds"]]
    results = iter(parallel_map(_job, jobs, label=lambda j: f"continual {j[1]} · {j[0]} · seed {j[2]}"))
    out = {"sizes": cfg["sizes"], "epochs": cfg["epochs"], "seeds": cfg["seeds"], "methods": METHODS, "runs": {}}
    for scenario in SCENARIOS:
        out["runs"][scenario] = {}
        for method in METHODS:
            runs = [next(results) for _ in cfg["seeds"]]
            Rs = np.array([r["R"] for r in runs])
            avg = np.array([average_accuracy(R) for R in Rs])                     # (seeds, T)
            forget = [forgetting(R) for R in Rs]
            curve = [t_interval(avg[:, i]) for i in range(avg.shape[1])]
            out["runs"][scenario][method] = {
                "R": Rs.tolist(), "R_mean": Rs.mean(axis=0).tolist(),
                "average": [c[0] for c in curve], "average_ci": [c[1] for c in curve],
                "final": curve[-1][0], "final_ci": curve[-1][1],
                "forgetting": t_interval(forget)[0], "forgetting_ci": t_interval(forget)[1],
                "forgetting_per_seed": forget, "nnz": [r["nnz"] for r in runs]}
    return out


def continual_plot(data, path):
    import matplotlib.pyplot as plt
    shown = ("fine-tune, dense", "PackNet, dense", "SpaceNet-style")
    fig, axes = plt.subplots(2, 4, figsize=(19, 8.5), gridspec_kw={"width_ratios": [1, 1, 1, 1.6]})
    for row, (scenario, title) in enumerate(SCENARIOS.items()):
        runs = data["runs"][scenario]
        for col, method in enumerate(shown):
            ax = axes[row, col]
            R = np.array(runs[method]["R_mean"]) * 100
            ax.imshow(np.ma.masked_invalid(R), vmin=0, vmax=100, cmap="viridis")
            T = R.shape[0]
            for i in range(T):
                for j in range(i + 1):
                    ax.text(j, i, f"{R[i, j]:.0f}", ha="center", va="center", fontsize=8,
                            color="w" if R[i, j] < 60 else "k")
            ax.set_xticks(range(T), [f"{2 * t}/{2 * t + 1}" for t in range(T)])
            ax.set_yticks(range(T), [f"after {t + 1}" for t in range(T)])
            ax.set(title=f"{method}\n{title}: R[i, j] (%)", xlabel="tested on task (digits)")
        ax = axes[row, 3]
        for k, method in enumerate(data["methods"]):
            r = runs[method]
            mean, ci = np.array(r["average"]) * 100, np.nan_to_num(np.array(r["average_ci"]) * 100)
            x = np.arange(1, len(mean) + 1) + 0.03 * (k - 3)
            ax.errorbar(x, mean, yerr=ci, marker="o", ms=3, capsize=2, color=f"C{k}",
                        ls="--" if "k-WTA" in method else "-",
                        label=f"{method}: {mean[-1]:.1f} %, forgetting {100 * r['forgetting']:.1f}")
        ax.set(title=f"{title}: average accuracy over the tasks seen", xlabel="tasks learned",
               ylabel="average accuracy (%)", xticks=range(1, len(mean) + 1))
        ax.legend(fontsize=7, loc="lower left")
        ax.grid(alpha=0.3)
    fig.suptitle(f"Continual learning on Split MNIST-5k · {'-'.join(map(str, data['sizes']))}, {data['epochs']} "
                 f"epochs per task, mean over {len(data['seeds'])} seed(s) (± 95 % t-interval)")
    _save(fig, path)
