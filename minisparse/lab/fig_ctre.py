"""CTRE figures: one CTRE_sim update drawn (F4), the growth trace (F5), cosine vs dot product under
noise (F6), accuracy vs epochs at ε = 1 (F7) and accuracy vs density (F8).

Every method trains with the CTRE paper's shared settings — SGD lr 0.01, Nesterov momentum 0.9,
L2 1e-4, batch 100, ζ = 0.2 for every method that drops by magnitude — from the same Erdős–Rényi
start with ε (SNIP: a dense start pruned to the same number of weights; dense: all weights). RigL
keeps its own schedule (α = 0.3, ΔT = 100 steps, T_end = 75 %). Three settings:

- fast (``--fast``): 3 × 64 hidden units, a few epochs: exercises the code, the numbers mean little;
- full (default, the committed figures): 3 × 1,000 hidden units, ε = 1, 100 epochs, 3 seeds on the
  Madelon-like set (F7), 1 seed on MNIST-5k and the text-like set; F8: ε ∈ {1, 2, 4, 6}, 60 epochs,
  2 seeds;
- paper (``MINISPARSE_PAPER=1``, an overnight run): 500 epochs, 5 seeds everywhere.
Each data set is ONE fixed draw (generated and split with :data:`DATA_SEED`); the seeds vary only the
network: its initial topology and weights, the batch order and the random growth. The spread over
seeds is then the methods' own, not that of the data.
Test accuracy is reported at the last epoch and at the best-validation epoch (as the paper does).
The runs are independent and seeded one by one: ``MINISPARSE_WORKERS=2 OPENBLAS_NUM_THREADS=1``
spreads them over two processes with the same results (:func:`run_all`).
"""
import functools
import os

import numpy as np

from ..sparse_training.ctre import VARIANTS, best_validation, cosine_similarity, ctre_update, train_ctre
from ..data.datasets import load_dataset, madelon_split, make_teacher_data, stratified_split
from .common import parallel_map, save as _save, t_interval
from .fig_dst import _draw_net, train_method
from ..pruning.first_order import snip_prune
from ..growth.select import top_k_keys
from ..network.mlp import SparseMLP
from ..network.topology import entry_keys
from ..network.masked import MaskedMLP
from ..network.train import check_loss, evaluate, minibatches

DATA_SEED = 0                       # the one draw of every data set the CTRE figures train on
HP = {"lr": 0.01, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-4}
METHODS = ("dense", "SNIP", "RigL", "SET", "CTRE_seq", "CTRE_sim", "CTRE without random")
CTRE_VARIANT = {name: v for v, name in VARIANTS.items()}          # 'CTRE_sim' → 'sim', …
COLORS = {"dense": "k", "SNIP": "tab:gray", "RigL": "tab:blue", "SET": "tab:orange", "CTRE_seq": "tab:purple",
          "CTRE_sim": "tab:red", "CTRE without random": "tab:green"}
STYLES = {   # line style, marker and its offset along the curve, so that coinciding curves stay visible
    "dense": {"ls": "-", "lw": 1.6, "marker": None, "offset": 0},
    "SNIP": {"ls": (0, (5, 2)), "lw": 1.4, "marker": "v", "ms": 5, "offset": 1},
    "RigL": {"ls": "-.", "lw": 1.4, "marker": "s", "ms": 4, "offset": 2},
    "SET": {"ls": ":", "lw": 1.8, "marker": "D", "ms": 4, "offset": 3},
    "CTRE without random": {"ls": "-", "lw": 3.2, "marker": "o", "ms": 6, "alpha": 0.55, "offset": 4},
    "CTRE_seq": {"ls": (0, (2, 2)), "lw": 1.4, "marker": "x", "ms": 7, "mew": 2, "zorder": 4, "offset": 5},
    "CTRE_sim": {"ls": "-", "lw": 1.4, "marker": "^", "ms": 5, "zorder": 3, "offset": 6}}


def setting(fast):
    """Hidden widths, epochs, seeds, data sets and grids for the fast, full or paper run."""
    if fast:
        return {"hidden": 64, "epochs": 4, "seeds": (0,), "data": {"madelon": (0,), "mnist5k": (0,), "text": (0,)},
                "patience": 1, "epsilons": (1, 3), "f8_epochs": 3, "f8_seeds": (0,), "scales": (1, 10),
                "f6_seeds": (0,), "n_fast": 400}
    paper = os.environ.get("MINISPARSE_PAPER", "0") == "1"
    seeds = (0, 1, 2, 3, 4) if paper else (0, 1, 2)
    return {"hidden": 1000, "epochs": 500 if paper else 100, "seeds": seeds,
            "data": {"madelon": seeds, "mnist5k": seeds if paper else (0,), "text": seeds if paper else (0,)},
            "patience": 40, "epsilons": (1, 2, 3, 4, 5, 6) if paper else (1, 2, 4, 6),
            "f8_epochs": 500 if paper else 60, "f8_seeds": seeds if paper else (0, 1),
            "scales": (0.5, 1, 2, 5, 10, 20, 50), "f6_seeds": (0, 1, 2, 3, 4), "n_fast": None}


def dataset(name, seed, n_fast=None):
    """The Madelon-like set (1,800 / 200 / 600), MNIST-5k or the text-like set, split with ``seed``;
    ``n_fast`` trims every part (fast mode)."""
    return _trim(madelon_split(seed) if name == "madelon" else load_dataset(name, rng=seed), n_fast)


def _trim(data, n_fast):
    """The first n_fast training rows and n_fast/4 of validation and test (no-op for None)."""
    if not n_fast:
        return data
    m = n_fast // 4
    return type(data)(data.X_train[:n_fast], data.y_train[:n_fast], data.X_val[:m], data.y_val[:m],
                      data.X_test[:m], data.y_test[:m])


def build(method, sizes, epsilon, seed, data=None):
    """Dense; SNIP (dense start, pruned at init on one batch of 100 to the ER(ε) weight count);
    every other method: Erdős–Rényi with ε."""
    if method == "dense":
        return SparseMLP.random(sizes, topology="dense", rng=seed)
    sparse = SparseMLP.random(sizes, topology="erdos_renyi", epsilon=epsilon, rng=seed)
    if method != "SNIP":
        return sparse
    model = SparseMLP.random(sizes, topology="dense", rng=seed)
    idx = np.random.default_rng(seed).choice(len(data.y_train), 100, replace=False)
    snip_prune(model, data.X_train[idx], data.y_train[idx], sparse.density)
    return model


def run(method, data, hidden, epsilon, epochs, seed, patience=40):
    """Train one method; return per-epoch val and test accuracy, best-validation numbers, density."""
    sizes = [data.X_train.shape[1]] + [hidden] * 3 + [int(data.y_train.max()) + 1]
    model = build(method, sizes, epsilon, seed, data)
    if method.startswith("CTRE"):
        history, log = train_ctre(model, data, epochs, variant=CTRE_VARIANT[method], zeta=0.2, patience=patience,
                                  rng=seed + 1000, verbose=False, **HP)
        val, test = list(history["val_acc"]), list(history["test_acc"])
        extra = {"by_similarity": [sum(r) for r in log["by_similarity"]], "at_random": [sum(r) for r in log["at_random"]],
                 "growth": list(history["growth"])}
    elif method == "dense":
        val, test = _train_dense(model, data, epochs, seed + 1000)
        extra = {}
    else:
        val, test = [], []

        def on_epoch(epoch, model):
            val.append(evaluate(model, data.X_val, data.y_val)[1])
            test.append(evaluate(model, data.X_test, data.y_test)[1])
        hp = dict(HP, zeta=0.2, alpha=0.3, delta_t=100)
        train_method("static" if method == "SNIP" else method, model, data, epochs, hp, seed + 1000, on_epoch=on_epoch)
        extra = {}
    epoch, best_val, best_test = best_validation({"epoch": list(range(1, epochs + 1)), "val_acc": val, "test_acc": test})
    return {"val": val, "test": test, "last": test[-1], "best_epoch": epoch, "best_val": best_val,
            "best_test": best_test, "density": model.density, "nnz": model.nnz, **extra}


def _train_dense(model, data, epochs, seed):
    """The dense baseline with dense arrays (``masked.MaskedMLP``, all-ones mask, the same SGD): a CSR
    matrix at 100 % density would cost sparse-kernel time for dense work. Returns (val, test) per epoch."""
    net, rng = MaskedMLP.from_sparse(model), np.random.default_rng(seed)

    def accuracy(X, y):
        A = X
        for W, b, (f, _) in zip(net.Ws, net.bs, net.acts):
            A = f(A @ W + b)
        return float(np.mean(A.argmax(axis=1) == y))
    val, test = [], []
    for _ in range(epochs):
        for idx in minibatches(len(data.y_train), 100, rng):
            with np.errstate(over="ignore", invalid="ignore"):
                loss, grads = net.loss_and_grads(data.X_train[idx], data.y_train[idx])
            check_loss(loss, net.Ws[-1].shape[1], HP["lr"], where=" in the dense baseline")
            net.sgd_step(grads, **HP)
        val.append(accuracy(data.X_val, data.y_val)), test.append(accuracy(data.X_test, data.y_test))
    return val, test


def _job(args):
    """run() on a named data set: (method, data name, data seed, network seed, hidden, ε, epochs,
    patience, n_fast); the data seed draws and splits the data, the network seed everything else."""
    method, name, data_seed, seed, hidden, epsilon, epochs, patience, n_fast = args
    return run(method, dataset(name, data_seed, n_fast), hidden, epsilon, epochs, seed, patience)


def run_all(jobs):
    """[_job(j) for j in jobs], spread over MINISPARSE_WORKERS processes (``common.parallel_map``)."""
    return parallel_map(_job, jobs, label=lambda j: f"{j[0]} on {j[1]} (draw {j[2]}), ε = {j[5]}, seed {j[3]}")


# ---------------------------------------------------------------- F7: accuracy vs epochs at ε = 1

@functools.lru_cache(maxsize=4)
def ctre_accuracy_data(fast=False, rng=0):
    """F7: every method at ε = 1 on each data set (one fixed draw, ``DATA_SEED + rng``), per network
    seed: test accuracy per epoch, last and at the best-validation epoch; mean and 95 % t-interval."""
    cfg = setting(fast)
    out = {"hidden": cfg["hidden"], "epochs": cfg["epochs"], "epsilon": 1, "hp": HP, "zeta": 0.2,
           "data_seed": DATA_SEED + rng,
           "paper_madelon": {"CTRE_sim": 79, "SET": 62, "dense": 55, "RigL": 50, "CTRE without random": 50},
           "data": {}}
    jobs = [(method, name, DATA_SEED + rng, s, cfg["hidden"], 1, cfg["epochs"], cfg["patience"], cfg["n_fast"])
            for name, seeds in cfg["data"].items() for method in METHODS for s in seeds]
    results = iter(run_all(jobs))
    for name, seeds in cfg["data"].items():
        rows = {}
        for method in METHODS:
            runs = [next(results) for _ in seeds]
            rows[method] = {"runs": runs, "seeds": list(seeds),
                            "last": t_interval([r["last"] for r in runs]),
                            "best": t_interval([r["best_test"] for r in runs])}
        out["data"][name] = rows
    return out


def ctre_accuracy_plot(data, path):
    """One panel per data set: mean test accuracy over network seeds per method (each its own colour,
    line style and marker), min–max band over seeds; the legend with the numbers sits below each panel."""
    import matplotlib.pyplot as plt
    names = list(data["data"])
    fig, axes = plt.subplots(1, len(names), figsize=(5.6 * len(names), 6.6), squeeze=False)
    for ax, name in zip(axes[0], names):
        rows_by_method = data["data"][name]
        for method, rows in rows_by_method.items():
            curves = np.array([r["test"] for r in rows["runs"]], dtype=float) * 100
            e = np.arange(1, curves.shape[1] + 1)
            (m, h), bm = rows["last"], rows["best"][0]
            style = STYLES[method]
            label = (f"{method}: {100 * m:.1f}" + (f" ± {100 * h:.1f}" if h is not None and np.isfinite(h) else "")
                     + f" (best-val {100 * bm:.1f})")
            if method == "CTRE_seq" and _same_curves(rows, rows_by_method.get("CTRE without random")):
                label += "\n   = CTRE without random: never switched"
            ax.plot(e, curves.mean(axis=0), color=COLORS[method], label=label,
                    markevery=(STYLES[method]["offset"] * max(1, e.size // 70), max(1, e.size // 10)),
                    **{k: v for k, v in style.items() if k != "offset"})
            if curves.shape[0] > 1:
                ax.fill_between(e, curves.min(axis=0), curves.max(axis=0), color=COLORS[method], alpha=0.08, lw=0)
        n = len(next(iter(rows_by_method.values()))["seeds"])
        ax.set(title=f"{name}: {data['hidden']}×3 hidden, ε = 1, {n} network seed{'s' * (n > 1)}",
               xlabel="epoch", ylabel="test accuracy (%)")
        ax.legend(fontsize=7.5, title="test accuracy (%) at the last epoch (at the best-validation epoch)",
                  title_fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=1, frameon=False)
        ax.grid(alpha=0.3)
    fig.suptitle("F7 · accuracy vs epochs in the highly sparse regime (cf. CTRE Fig. 6); one data draw per panel, "
                 "seeds vary the network only;\nline: mean over seeds, band: min–max over seeds, ± : 95 % t-interval")
    _save(fig, path)


def _same_curves(a, b):
    """True when two methods' per-seed test curves are identical (CTRE_seq before its switch)."""
    return b is not None and all(np.array_equal(x["test"], y["test"]) for x, y in zip(a["runs"], b["runs"]))


# ---------------------------------------------------------------- F5: the growth trace

def ctre_trace_data(fast=False, rng=0):
    """F5: from F7's Madelon-like runs, per update: grown by similarity and at random, validation
    accuracy per epoch and CTRE_seq's switch epoch. CTRE_sim: the first seed; CTRE_seq: the first
    seed whose run switched to random growth (the first seed if none did), so the switch can be seen."""
    runs = (ctre_accuracy_data(fast=fast) if rng == 0 else ctre_accuracy_data(fast=fast, rng=rng))["data"]["madelon"]
    out = {}
    for method in ("CTRE_sim", "CTRE_seq"):
        seeds, candidates = runs[method]["seeds"], runs[method]["runs"]
        i = next((i for i, r in enumerate(candidates) if "random" in r["growth"]), 0) if method == "CTRE_seq" else 0
        r = candidates[i]
        switch = next((e + 1 for e, g in enumerate(r["growth"]) if g == "random"), None)
        out[method] = {"seed": seeds[i], "by_similarity": r["by_similarity"], "at_random": r["at_random"],
                       "val": r["val"], "switch_epoch": switch,
                       "switched_seeds": [s for s, x in zip(seeds, candidates) if "random" in x["growth"]]}
    return out


def ctre_trace_plot(data, path):
    """Per method a column: connections grown per update, by similarity and at random (top), and the
    validation accuracy per epoch (bottom), with CTRE_seq's switch marked in both; legend below."""
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(2, 2, figsize=(13, 6.4), sharex="col", gridspec_kw={"height_ratios": [2, 1]})
    for col, method in enumerate(("CTRE_sim", "CTRE_seq")):
        d, ax, ax2 = data[method], axes[0, col], axes[1, col]
        u = np.arange(1, len(d["by_similarity"]) + 1)
        ax.bar(u, d["by_similarity"], width=1.0, color="tab:red", alpha=0.7, label="grown by similarity")
        ax.bar(u, d["at_random"], width=1.0, bottom=d["by_similarity"], color="tab:blue", alpha=0.6,
               label="grown at random")
        ax.set(ylabel="connections grown (all layers)")
        ax2.plot(np.arange(1, len(d["val"]) + 1), np.array(d["val"], dtype=float) * 100, color="k", lw=1,
                 label="validation accuracy")
        ax2.set(xlabel="epoch (an update after each)", ylabel="validation acc. (%)")
        if d["switch_epoch"]:
            for a in (ax, ax2):
                a.axvline(d["switch_epoch"], color="tab:purple", ls="--", lw=2, label="switch to random growth")
        total = sum(d["by_similarity"]) + sum(d["at_random"])
        seed = d.get("seed", 0)
        note = (f"\nswitched to random after epoch {d['switch_epoch']}" if d["switch_epoch"] else
                "\nnever switched to random" if method == "CTRE_seq" else "\nrandom growth replaces just-dropped picks")
        if method == "CTRE_seq" and "switched_seeds" in d:
            note += f" (F7 seeds that switched: {', '.join(map(str, d['switched_seeds'])) or 'none'})"
        ax.set_title(f"{method}, seed {seed}: {sum(d['at_random']) / max(total, 1):.0%} of all growth at random"
                     f"{note}", fontsize=10)
        for a in (ax, ax2):
            a.grid(alpha=0.3)
    handles = {}
    for a in axes.ravel():
        for h, l in zip(*a.get_legend_handles_labels()):
            handles.setdefault(l, h)
    fig.suptitle("F5 · where CTRE's new connections come from (Madelon-like, ε = 1, runs of F7; cf. CTRE Fig. 4)")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=len(handles), fontsize=9,
               frameon=False)
    _save(fig, path, layout=False)


# ---------------------------------------------------------------- F8: accuracy vs density

def ctre_density_data(fast=False, rng=0):
    """F8: best-validation test accuracy vs ε (so density) on the Madelon-like set (one fixed draw,
    ``DATA_SEED + rng``), sparse methods, over network seeds."""
    cfg = setting(fast)
    methods = [m for m in METHODS if m != "dense"]
    out = {"epsilons": cfg["epsilons"], "epochs": cfg["f8_epochs"], "seeds": cfg["f8_seeds"],
           "data_seed": DATA_SEED + rng, "methods": {}}
    jobs = [(method, "madelon", DATA_SEED + rng, s, cfg["hidden"], eps, cfg["f8_epochs"], cfg["patience"],
             cfg["n_fast"])
            for method in methods for eps in cfg["epsilons"] for s in cfg["f8_seeds"]]
    results = iter(run_all(jobs))
    for method in methods:
        rows = {"density": [], "best": [], "last": [], "acc": []}
        for eps in cfg["epsilons"]:
            runs = [next(results) for _ in cfg["f8_seeds"]]
            rows["density"].append(float(np.mean([r["density"] for r in runs])))
            rows["best"].append(t_interval([r["best_test"] for r in runs]))
            rows["last"].append(t_interval([r["last"] for r in runs]))
            rows["acc"].append([r["best_test"] for r in runs])
        out["methods"][method] = rows
    return out


def ctre_density_plot(data, path):
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(10, 4.8))
    methods = data["methods"]
    for method, rows in methods.items():
        acc = np.array(rows["acc"], dtype=float) * 100               # (ε, seeds)
        m = acc.mean(axis=1)
        style = STYLES[method]
        label = method
        if method == "CTRE_seq" and rows["acc"] == methods.get("CTRE without random", {}).get("acc"):
            label += "\n= CTRE without random:\nnever switched"
        ax.errorbar(np.array(rows["density"]) * 100, m, yerr=[m - acc.min(axis=1), acc.max(axis=1) - m],
                    marker=style["marker"], ms=style.get("ms", 5) + 2, mew=style.get("mew", 1), ls=style["ls"],
                    lw=style["lw"], capsize=3, color=COLORS[method], label=label, alpha=style.get("alpha", 0.85),
                    zorder=style.get("zorder", 2))
    top = ax.twiny()                             # ε on a top axis, away from the points
    top.set_xlim(ax.get_xlim())
    top.set_xticks(np.array(next(iter(data["methods"].values()))["density"]) * 100,
                   [f"ε = {eps}" for eps in data["epsilons"]], fontsize=8)
    n = len(data["seeds"])
    ax.set(xlabel="global density (%)", ylabel="test accuracy at the best-validation epoch (%)")
    ax.set_title(f"F8 · accuracy vs density, Madelon-like ({data['epochs']} epochs, one data draw, "
                 f"{n} network seed{'s' * (n > 1)},\nbars: min–max over seeds; cf. CTRE Fig. 7)", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)
    ax.grid(alpha=0.3)
    _save(fig, path)


# ---------------------------------------------------------------- F6: cosine vs dot product under noise

def _grow_share(scale, normalize, seed, cfg):
    """One ε = 1 net at initialisation on Madelon-like data whose 480 noise probes have std ``scale``:
    Sim over the training split (cosine, or the raw dot product), one update growing by similarity only;
    the share of the layer-1 connections grown whose input is one of the 20 useful features.

    At the start, so that only the criterion differs: training on the scaled data at the paper's
    lr 0.01 diverges from std 10 up (the probes dominate every pre-activation)."""
    data, informative, redundant = madelon_split(seed, probe_scale=scale, return_informative=True)
    data = _trim(data, cfg["n_fast"])
    useful = np.union1d(informative, redundant)
    model = SparseMLP.random([500] + [cfg["hidden"]] * 3 + [2], topology="erdos_renyi", epsilon=1, rng=seed)
    sims = cosine_similarity(model, data.X_train, normalize=normalize)
    grown = ctre_update(model, 0.2, seed, None, "cosine", sims)[0].by_similarity
    return float(np.isin(grown // model.layers[0].shape[1], useful).mean())


def cosine_vs_dot_data(fast=False, rng=0):
    """F6: share of grown input connections that land on the 20 useful features of the Madelon-like set
    (chance: 20/500 = 4 %) as the noise probes' scale grows, growth by cosine vs by dot product."""
    cfg = setting(fast)
    out = {"scales": cfg["scales"], "seeds": cfg["f6_seeds"], "chance": 20 / 500, "hidden": cfg["hidden"]}
    for key, normalize in (("cosine", True), ("dot", False)):
        out[key] = [[_grow_share(s, normalize, seed, cfg) for seed in cfg["f6_seeds"]] for s in cfg["scales"]]
    return out


def cosine_vs_dot_plot(data, path):
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.4))
    for key, color, label in (("cosine", "tab:red", "cosine similarity (CTRE)"), ("dot", "tab:gray", "dot product")):
        v = np.array(data[key]) * 100
        ax.errorbar(data["scales"], v.mean(axis=1), yerr=[v.mean(1) - v.min(1), v.max(1) - v.mean(1)], marker="o",
                    capsize=3, color=color, label=label)
    ax.axhline(data["chance"] * 100, color="k", ls=":", label="uniform random growth (20 / 500)")
    ax.set_xscale("log")
    ax.set_xticks(data["scales"], [f"{v:g}" for v in data["scales"]])
    ax.xaxis.set_minor_formatter(plt.NullFormatter())
    ax.set(xlabel="std of the 480 noise features (the 20 useful ones have std ≈ 2)",
           ylabel="grown input connections on useful features (%)")
    ax.set_title(f"F6 · why cosine: where the first update grows as noise gets larger\n"
                 f"(Madelon-like, 3 × {data.get('hidden', 1000)} hidden, ε = 1, at init, "
                 f"{len(data['seeds'])} seeds; bars: min–max)", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    _save(fig, path)


# ---------------------------------------------------------------- F4: one CTRE_sim update, drawn

def ctre_update_data(fast=False, rng=0):
    """F4: a 5-8-3 net (ε = 1) trained 10 epochs by CTRE_sim on a 3-class teacher task, then ONE real
    update with its Sim¹, Sim² and picks. The first seed from ``rng`` whose update replaces at least one
    just-dropped pick is used, so the figure shows both kinds of growth."""
    for seed in range(rng, rng + 50):
        X, y = make_teacher_data(n=600, n_features=5, n_classes=3, n_hidden=8, rng=seed)
        data = stratified_split(X, y, rng=seed)
        model = SparseMLP.random([5, 8, 3], topology="erdos_renyi", epsilon=1, rng=seed)
        train_ctre(model, data, 10, variant="sim", lr=0.05, rng=seed, verbose=False)
        sims = cosine_similarity(model, data.X_train)
        before = [entry_keys(layer.W) for layer in model.layers]
        W = [layer.W.toarray() for layer in model.layers]
        updates = ctre_update(model, 0.2, np.random.default_rng(seed), None, "sim", sims)
        layers = []
        for l, (u, S) in enumerate(zip(updates, sims)):
            kept = np.setdiff1d(before[l], u.dropped)
            shape = model.layers[l].shape
            free = np.setdiff1d(np.arange(shape[0] * shape[1]), kept)
            picks = top_k_keys(free, S.ravel()[free], u.dropped.size)
            layers.append({"before": before[l], "W": W[l], "sim": S, "dropped": u.dropped, "picks": picks,
                           "by_similarity": u.by_similarity, "at_random": u.at_random,
                           "grown": np.union1d(u.by_similarity, u.at_random), "after": entry_keys(model.layers[l].W)})
        if any(L["at_random"].size for L in layers):
            return {"sizes": [5, 8, 3], "seed": seed, "zeta": 0.2, "layers": layers}
    raise RuntimeError("no seed gave an update with a just-dropped similarity pick")


def ctre_update_plot(data, path):
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle
    sizes, layers = data["sizes"], data["layers"]
    fig = plt.figure(figsize=(14, 5.6))
    grid = fig.add_gridspec(2, 3, width_ratios=[1.1, 0.8, 1.5], height_ratios=[1, 0.22])
    for l, L in enumerate(layers):
        ax = fig.add_subplot(grid[0, l])
        n_in, n_out = L["sim"].shape
        S = np.ma.masked_array(L["sim"], mask=np.isin(np.arange(L["sim"].size), np.setdiff1d(L["before"], L["dropped"]))
                               .reshape(n_in, n_out))
        im = ax.imshow(S, cmap="viridis", vmin=0, vmax=1)
        ax.set_facecolor("0.85")
        for k in L["picks"]:
            i, j = divmod(int(k), n_out)
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec="tab:red", lw=2.5))
            if k in L["dropped"]:
                ax.plot(j, i, "x", color="white", ms=12, mew=3)
        for k in L["dropped"]:
            i, j = divmod(int(k), n_out)
            ax.plot(j, i, "o", mfc="none", mec="white", ms=8)
        for k in L["at_random"]:
            i, j = divmod(int(k), n_out)
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec="tab:blue", lw=2.5, ls="--"))
        ax.set(title=f"Sim$^{l + 1}$ ({n_in}×{n_out}): grey = kept", xlabel=f"neuron q of layer {l + 1}",
               ylabel=f"neuron p of layer {l}" if l else "input feature p")
        fig.colorbar(im, ax=ax, fraction=0.046, label="|cosine similarity|")
    ax = fig.add_subplot(grid[1, :2])            # the heatmaps' legend, right under them
    ax.set_axis_off()
    ax.legend([Rectangle((0, 0), 1, 1, fill=False, ec="tab:red", lw=2.5),
               Line2D([], [], marker="o", ls="", mfc="none", mec="k"),
               Line2D([], [], marker="x", ls="", color="k", mew=3),
               Rectangle((0, 0), 1, 1, fill=False, ec="tab:blue", lw=2.5, ls="--")],
              ["top-k Sim among inactive", "just dropped (smallest |w|)", "a top-k pick just dropped:\nreplaced at random",
               "grown at random"], loc="center", fontsize=8, ncol=2)
    ax = fig.add_subplot(grid[:, 2])
    _draw_net(ax, sizes, layers, top_down=True, styles=lambda L: [
        (np.setdiff1d(L["before"], L["dropped"]), {"color": "0.6", "lw": 1}),
        (np.setdiff1d(L["dropped"], L["grown"]), {"color": "tab:red", "lw": 1.5, "ls": "--"}),
        (L["by_similarity"], {"color": "tab:green", "lw": 2.5}),
        (L["at_random"], {"color": "tab:blue", "lw": 2.5, "ls": "-."})])
    ax.legend([Line2D([], [], color=c, ls=s, lw=2) for c, s in
               (("0.6", "-"), ("tab:red", "--"), ("tab:green", "-"), ("tab:blue", "-."))],
              ["kept", "dropped", "grown by similarity", "grown at random"], fontsize=8,
              loc="lower center", bbox_to_anchor=(0.5, -0.15), ncol=2)
    k = [len(L["dropped"]) for L in layers]
    ax.set_title(f"the 5-8-3 net after the update (ζ = {data['zeta']}: k = {k})", fontsize=10)
    fig.suptitle(f"F4 · one real CTRE_sim update (teacher task, seed {data['seed']}, after 10 epochs; cf. CTRE Fig. 3)")
    _save(fig, path)
