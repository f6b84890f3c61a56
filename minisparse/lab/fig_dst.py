"""Dynamic sparse training figures: one RigL update (F1), one Sparse Momentum update (F2), accuracy vs
weights kept (F3); the extras are in ``fig_dst_extras``.

Every method runs through :func:`train_method`, one epoch loop built from the library's own update
functions (``rigl_step``, ``set_update``, ``sparse_momentum_update``, ``dsr_update``, ``deep_r_step``),
so all methods share batches, epoch budget and evaluation. Hyperparameters: each paper's defaults,
except the learning rate (and the update period ΔT of the step-based RigL and DSR), whose defaults
come from far longer runs (SET: η = 0.01 over hundreds of epochs; RigL: ΔT = 100 for ≥ 10⁴ steps,
here 2,100); these are chosen by VALIDATION accuracy at 5 % weights, one seed, from the same grid for
every method (:func:`select_hparams`); the choice is in the data dicts. The grid is of the step
size at steady state, η/(1 − μ): with momentum μ = 0.9 the learning rates 0.01, 0.03, 0.1; DEEP R,
plain SGD as in its authors' code, gets 0.1, 0.3, 1 (its script: 0.5). The same selection and runs
(:func:`hparam_grid`, :func:`validation_run`, :func:`best_hparams`, :func:`run_seed`) serve
``python -m minisparse compare`` (:mod:`.compare`) on any data.
"""
import functools
import itertools
import math

import numpy as np

from ..data.datasets import make_teacher_data, stratified_split
from .common import mnist_split, parallel_map, progress, save as _save, t_interval
from ..network.checks import DivergenceError
from ..network.init import epsilon_for_density
from ..network.mlp import SparseMLP
from ..network.optim import SGD
from ..sparse_training.deep_r import deep_r_step, signed_init
from ..sparse_training.dsr import default_n_prune, dsr_update
from ..sparse_training.rigl import rigl_step, rigl_update
from ..sparse_training.schedules import (
    cosine_decay,
    is_epoch_update,
    is_update_step,
    sparse_momentum_prune_rate,
)
from ..sparse_training.set_training import set_update
from ..sparse_training.sparse_momentum import sparse_momentum_update
from ..network.topology import entry_keys
from ..network.train import evaluate, minibatches, run_epoch, train_step

METHODS = ("static", "SET", "RigL", "Sparse Momentum", "DSR", "DEEP-R")
TOPOLOGY = {"dense": "dense", "static": "erk", "SET": "erdos_renyi", "RigL": "erk",
            "Sparse Momentum": "uniform", "DSR": "erk", "DEEP-R": "erk"}
STEP_BASED = ("RigL", "DSR")      # their update period ΔT is chosen with the learning rate
DEFAULTS = {   # paper defaults (docstrings of set_training / rigl / sparse_momentum); static, dense: pipelines.train
    "dense": {"lr": 0.05, "momentum": 0.9, "nesterov": False, "weight_decay": 0.0},
    "static": {"lr": 0.05, "momentum": 0.9, "nesterov": False, "weight_decay": 0.0},
    "SET": {"lr": 0.01, "momentum": 0.9, "nesterov": False, "weight_decay": 2e-4, "zeta": 0.3},
    "RigL": {"lr": 0.1, "momentum": 0.9, "nesterov": False, "weight_decay": 1e-4, "alpha": 0.3, "delta_t": 100},
    "Sparse Momentum": {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4, "prune_rate": 0.5},
    "DSR": {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-4, "threshold": 1e-3,
            "tolerance": 0.1, "delta_t": 100, "stop_frac": 0.95},
    "DEEP-R": {"lr": 0.5, "momentum": 0.0, "nesterov": False, "weight_decay": 0.0, "l1": 1e-5}}
PAPER = {"dense": 98.69, "densities": [0.01, 0.02, 0.03, 0.04, 0.05, 0.10],   # full MNIST, SM paper Fig. 3
         "Sparse Momentum": [97.53, 98.20, 98.30, 98.42, 98.53, 98.67],
         "SET": [95.80, 97.74, 98.06, 98.10, 98.14, 98.39],
         # TimDettmers/sparse_learning, results/MNIST_sparse_summary.csv (the figure's data); its 1 % DEEP-R
         # entry, 94.0, lies below the figure's y-axis
         "DSR": [97.54, 98.14, 98.20, 98.23, 98.32, 98.44],
         "DEEP-R": [94.0, 98.21, 98.22, 98.30, 98.06, 98.19]}


def setting(fast):
    """Sizes, data, epochs, seeds and grids for the full run or the quick one. Hyperparameters are
    chosen at ``epochs`` (20); F3 then trains ``f3_epochs`` (60) over ``f3_seeds``: at 20 epochs the
    dynamic methods have had too few updates to separate from a static mask (README, F3)."""
    if fast:
        return {"sizes": [784, 32, 16, 10], "n_train": 600, "epochs": 3, "seeds": (0,),
                "f3_epochs": 3, "f3_seeds": (0,),
                "densities": (0.05, 0.1), "lr_grid": (0.03, 0.1), "delta_t_grid": (5,),
                "prune_rates": (0.3, 0.5), "momenta": (0.7, 0.9), "sens_seeds": (0,)}
    return {"sizes": [784, 300, 100, 10], "n_train": None, "epochs": 20, "seeds": (0, 1, 2, 3, 4),
            "f3_epochs": 60, "f3_seeds": (0, 1, 2),
            "densities": (0.01, 0.02, 0.03, 0.04, 0.05, 0.10), "lr_grid": (0.01, 0.03, 0.1),
            "delta_t_grid": (25, 100), "prune_rates": (0.2, 0.3, 0.5, 0.7), "momenta": (0.5, 0.7, 0.9, 0.95),
            "sens_seeds": (0, 1)}


def build(method, sizes, density, seed):
    """The method's initial topology: dense, ERK (static, RigL), Erdős–Rényi with ε solved for d (SET),
    uniform (Sparse Momentum). Static uses ERK, not article 001's uniform: uniform 1 % leaves the
    10-class output layer 10 weights (RigL's static baseline is ERK too)."""
    if method == "dense":
        return SparseMLP.random(sizes, topology="dense", rng=seed)
    if method == "SET":
        eps = epsilon_for_density(list(itertools.pairwise(sizes)), density)
        return SparseMLP.random(sizes, topology="erdos_renyi", epsilon=eps, rng=seed)
    return SparseMLP.random(sizes, density=density, topology=TOPOLOGY[method], rng=seed)


def train_method(method, model, data, epochs, hp, rng, schedule_epochs=None, on_epoch=None):
    """Train ``model`` in place for ``epochs`` epochs (batch 100) with the method's topology updates;
    schedules (RigL's T_end, SM's p, DSR's stop) span ``schedule_epochs`` (default ``epochs``). Returns
    (optimizer, {'val': acc, 'test': acc}). ``on_epoch(epoch, model)`` runs after each epoch's update."""
    rng, E = np.random.default_rng(rng), schedule_epochs or epochs
    X, y = data.X_train, data.y_train
    opt = SGD(model, lr=hp["lr"], momentum=hp["momentum"], nesterov=hp["nesterov"],
              weight_decay=hp["weight_decay"], dense_momentum=method == "Sparse Momentum")
    steps = E * math.ceil(len(y) / 100)
    t_end, step = int(0.75 * steps), 0
    if method == "DSR":
        H, n_prune, t_end = hp["threshold"], default_n_prune(model), int(hp["stop_frac"] * steps)
    if method == "DEEP-R":
        signed_init(model, sign_seed := int(rng.integers(2**31)))
    for epoch in range(1, epochs + 1):
        if method in ("RigL", "DSR", "DEEP-R"):
            for idx in minibatches(len(y), 100, rng):
                step += 1
                if method == "RigL":
                    rigl_step(model, opt, X[idx], y[idx], step, hp["delta_t"], t_end, hp["alpha"])
                elif method == "DEEP-R":
                    deep_r_step(model, opt, X[idx], y[idx], hp["l1"], None, rng, sign_seed)
                else:
                    train_step(model, opt, X[idx], y[idx])
                    if is_update_step(step, hp["delta_t"], t_end):
                        H = dsr_update(model, H, n_prune, rng, opt, hp["tolerance"]).next_threshold
        else:
            _, step = run_epoch(model, opt, X, y, 100, rng, dense=method == "Sparse Momentum", step0=step)
        model.end_epoch()                            # k-WTA layers decay their boost strength
        if is_epoch_update(epoch, E) and epoch < epochs:
            if method == "SET":
                set_update(model, hp["zeta"], rng, opt)
            elif method == "Sparse Momentum":
                sparse_momentum_update(model, opt, sparse_momentum_prune_rate(epoch, E, hp["prune_rate"]))
        if on_epoch is not None:
            on_epoch(epoch, model)
    return opt, {k: evaluate(model, getattr(data, f"X_{k}"), getattr(data, f"y_{k}"))[1] for k in ("val", "test")}


def hparam_grid(method, lrs, delta_ts):
    """The grid points tried for ``method``: its DEFAULTS with η from ``lr_grid(method, lrs)`` and, for
    RigL and DSR, ΔT from ``delta_ts`` (η-major order)."""
    step_based = method in STEP_BASED
    return [dict(DEFAULTS[method], lr=lr, **({"delta_t": dt} if step_based else {}))
            for lr in lr_grid(method, lrs) for dt in (delta_ts if step_based else (None,))]


def run_seed(method, hp, data, sizes, density, epochs, seed, on_epoch=None):
    """One run of the protocol: ``build(method, sizes, density, seed)`` trained by :func:`train_method`
    with rng seed + 1000; ``on_epoch(0, model)`` also runs before the first epoch. Returns (model,
    {'val': acc, 'test': acc}) after the last epoch."""
    model = build(method, sizes, density, seed)
    if on_epoch is not None:
        on_epoch(0, model)
    return model, train_method(method, model, data, epochs, hp, seed + 1000, on_epoch=on_epoch)[1]


def validation_run(method, hp, data, sizes, density, epochs, rng):
    """One selection run (:func:`run_seed`, dense at density 1): its final validation accuracy, 0 if
    it diverged (a too-large lr is a grid point that lost)."""
    try:
        return run_seed(method, hp, data, sizes, 1.0 if method == "dense" else density, epochs, rng)[1]["val"]
    except DivergenceError:
        return 0.0


def best_hparams(table):
    """The selection rule, one for every method: argmax over [(hp, val acc)], ties → the first."""
    return max(table, key=lambda r: r[1])[0]


@functools.lru_cache(maxsize=32)
def select_hparams(method, fast=False, rng=0):
    """The method's defaults with lr (and the ΔT of RigL and DSR) replaced by the grid point of best
    final validation accuracy at 5 % weights (dense: 100 %), seed ``rng``. The lr grid is of
    η/(1 − μ) (:func:`lr_grid`). Returns (hp, [(hp, val acc)]). ``compare.compare`` applies the same
    rule (:func:`hparam_grid`, :func:`validation_run`, :func:`best_hparams`) to any data."""
    cfg = setting(fast)
    data = mnist_split(cfg["n_train"], rng)
    grid = hparam_grid(method, cfg["lr_grid"], cfg["delta_t_grid"])
    table, step = [], progress(len(grid), f"choosing {method}'s hyperparameters: ")
    for hp in grid:
        table.append((hp, validation_run(method, hp, data, cfg["sizes"], 0.05, cfg["epochs"], rng)))
        step(f"lr {hp['lr']:g}" + (f", ΔT {hp['delta_t']}" if method in STEP_BASED else "") + f": val {table[-1][1]:.4f}")
    return best_hparams(table), table


def lr_grid(method, grid):
    """The learning rates tried for ``method``: ``grid`` (set for momentum 0.9) scaled so that the
    steady-state step η/(1 − μ) is the same for every method: ×(1 − μ)/(1 − 0.9), i.e. ×10 for plain
    SGD (DEEP R)."""
    scale = (1 - DEFAULTS[method]["momentum"]) / (1 - 0.9)
    return tuple(round(g * scale, 12) for g in grid)


# ---------------------------------------------------------------- F1: one RigL update, drawn

def rigl_update_data(fast=False, rng=0):
    """F1: an 8-6-4 ERK net (density 0.5) trained by RigL on a teacher task, then ONE real rigl_update
    at the next update step t, f = cosine_decay(t, α, T_end). Dense (n_in, n_out) arrays: tiny net."""
    X, y = make_teacher_data(n=1000, n_features=8, n_classes=4, n_hidden=16, rng=rng)
    data = stratified_split(X, y, rng=rng)
    model = SparseMLP.random([8, 6, 4], density=0.5, topology="erk", rng=rng)
    hp = dict(DEFAULTS["RigL"], delta_t=50)                          # ΔT scaled to a 400-step run
    schedule_epochs, pre = 50, 12
    train_method("RigL", model, data, pre, hp, rng, schedule_epochs=schedule_epochs)
    spe = math.ceil(len(data.y_train) / 100)
    total, t_end = schedule_epochs * spe, int(0.75 * schedule_epochs * spe)
    t = (pre * spe // hp["delta_t"] + 1) * hp["delta_t"]
    f = cosine_decay(t, hp["alpha"], t_end)
    idx = np.random.default_rng(rng).choice(len(data.y_train), 100, replace=False)
    _, grads = model.loss_and_grads(data.X_train[idx], data.y_train[idx], dense=True)
    before = [{"keys": entry_keys(layer.W), "W": layer.W.toarray(), "G": g.G} for layer, g in zip(model.layers, grads)]
    update = rigl_update(model, data.X_train[idx], data.y_train[idx], f)
    return {"sizes": [8, 6, 4], "t": t, "t_end": t_end, "total_steps": total, "delta_t": hp["delta_t"], "alpha": hp["alpha"],
                "drop_fraction": f, "updates": [s for s in range(1, total + 1) if is_update_step(s, hp["delta_t"], t_end)],
                "layers": [{"before": b["keys"], "W": b["W"], "G": b["G"], "dropped": d, "grown": g, "after": entry_keys(layer.W)}
                        for b, d, g, layer in zip(before, update.dropped, update.grown, model.layers)]}


def _rigl_styles(L):
    """RigL's edge classes: kept, dropped, grown, dropped and re-grown."""
    return [(np.setdiff1d(L["before"], L["dropped"]), {"color": "0.6", "lw": 1}),
            (np.setdiff1d(L["dropped"], L["grown"]), {"color": "tab:red", "lw": 2, "ls": "--"}),
            (np.setdiff1d(L["grown"], L["dropped"]), {"color": "tab:green", "lw": 2.5}),
            (np.intersect1d(L["grown"], L["dropped"]), {"color": "tab:purple", "lw": 2.5, "ls": ":"})]


def _draw_net(ax, sizes, layers, styles=_rigl_styles, top_down=False):
    """Neurons as circles, layer by layer; each layer's edges (flat keys i·n_out + j) drawn in the
    classes ``styles(layer)`` returns as [(keys, line style)]. ``top_down``: neuron 0 on top."""
    ys = [np.linspace(*((1, 0) if top_down else (0, 1)), n) if n > 1 else np.array([0.5]) for n in sizes]
    for l, L in enumerate(layers):
        n_out = sizes[l + 1]
        for keys, kw in styles(L):
            for k in keys:
                ax.plot([l, l + 1], [ys[l][k // n_out], ys[l + 1][k % n_out]], zorder=1, **kw)
    for l, y in enumerate(ys):
        ax.scatter(np.full(y.size, l), y, s=220, c="white", edgecolors="k", zorder=2)
    ax.set_axis_off()


def rigl_update_plot(data, path):
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.8), gridspec_kw={"width_ratios": [1.3, 1]})
    _draw_net(ax, data["sizes"], data["layers"])
    k = [len(L["dropped"]) for L in data["layers"]]
    ax.legend([Line2D([], [], color=c, ls=s, lw=2) for c, s in
               (("0.6", "-"), ("tab:red", "--"), ("tab:green", "-"), ("tab:purple", ":"))],
              ["kept", "dropped: smallest |w|", "grown: largest |G| among inactive (w = 0)",
               "dropped and re-grown"], loc="lower center", bbox_to_anchor=(0.5, -0.12), ncol=2, fontsize=8)
    ax.set_title(f"one real RigL update at step t = {data['t']} on a trained 8-6-4 net\n"
                 f"f(t) = {data['drop_fraction']:.3f}, k per layer = {k}", fontsize=10)
    t = np.arange(data["total_steps"] + 1)
    ax2.plot(t, [cosine_decay(s, data["alpha"], data["t_end"]) for s in t], color="k")
    u = np.array(data["updates"])
    ax2.scatter(u, [cosine_decay(s, data["alpha"], data["t_end"]) for s in u], c="tab:blue", s=25,
                label=f"update steps (every ΔT = {data['delta_t']})", zorder=3)
    ax2.scatter([data["t"]], [data["drop_fraction"]], s=120, facecolors="none", edgecolors="tab:red",
                lw=2, label="the update drawn", zorder=4)
    ax2.axvline(data["t_end"], color="0.5", ls=":", label="T_end = 75 % of training")
    ax2.set(title="drop fraction f(t) = α/2·(1 + cos(πt/T_end)), α = 0.3", xlabel="training step",
            ylabel="fraction of each layer's nnz dropped")
    ax2.legend(fontsize=8)
    ax2.grid(alpha=0.3)
    fig.suptitle("F1 · RigL: drop by magnitude, grow by gradient (cf. RigL Fig. 1)")
    _save(fig, path)


# ---------------------------------------------------------------- F2: one Sparse Momentum update

def sparse_momentum_update_data(fast=False, rng=0):
    """F2: LeNet-300-100 (fast: 784-32-16-10) at 5 %, uniform, trained 3 epochs with Sparse Momentum
    (updates after epochs 1, 2 on a 20-epoch schedule), then the epoch-3 update, recorded per layer."""
    cfg = setting(fast)
    data = mnist_split(cfg["n_train"], rng)
    model = build("Sparse Momentum", cfg["sizes"], 0.05, rng)
    opt, _ = train_method("Sparse Momentum", model, data, 3, DEFAULTS["Sparse Momentum"], rng, schedule_epochs=20)
    p = sparse_momentum_prune_rate(3, 20, DEFAULTS["Sparse Momentum"]["prune_rate"])
    update = sparse_momentum_update(model, opt, p)
    return {"sizes": cfg["sizes"], "prune_rate": p, "epoch": 3, "shares": [u.share for u in update],
                "before": [u.before for u in update], "after_prune": [u.after_prune for u in update],
                "after_regrowth": [u.after_regrowth for u in update]}


def sparse_momentum_update_plot(data, path):
    import matplotlib.pyplot as plt
    L = len(data["shares"])
    names = [f"layer {l + 1}\n{a}×{b}" for l, (a, b) in enumerate(zip(data["sizes"][:-1], data["sizes"][1:]))]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    ax.bar(range(L), np.array(data["shares"]) * 100, color="tab:orange")
    for l, s in enumerate(data["shares"]):
        ax.text(l, s * 100, f"{s:.0%}", ha="center", va="bottom")
    ax.set_xticks(range(L), names)
    ax.set_ylim(0, max(data["shares"]) * 100 * 1.12)            # room for the labels above the bars
    ax.set(title="(1) momentum share s_l = mean|V_l| over active / Σ", ylabel="% of all regrowth")
    w = 0.27
    for i, (key, label) in enumerate((("before", "before"), ("after_prune", f"after pruning p = {data['prune_rate']:.3f}"),
                                      ("after_regrowth", "after regrowth by the shares"))):
        bars = ax2.bar(np.arange(L) + (i - 1) * w, data[key], w, label=f"{label} (Σ = {sum(data[key]):,})")
        ax2.bar_label(bars, fontsize=7)
    for l, (a, b) in enumerate(zip(data["sizes"][:-1], data["sizes"][1:])):
        if data["after_regrowth"][l] == a * b:
            ax2.text(l, a * b * 1.25, "capped: layer full,\noverflow passed on", ha="center", fontsize=8)
    ax2.set_xticks(range(L), names)
    ax2.set_yscale("log")
    ax2.set_ylim(top=max(data["before"]) * 6)
    ax2.set(title="(2)–(4) active weights per layer", ylabel="active weights (log)")
    ax2.legend(fontsize=8)
    fig.suptitle(f"F2 · one real Sparse Momentum update after epoch {data['epoch']} "
                 f"({'-'.join(map(str, data['sizes']))}, 5 % weights, MNIST-5k; cf. Dettmers & Zettlemoyer Fig. 1)")
    _save(fig, path)


# ---------------------------------------------------------------- F3: accuracy vs weights kept

def _f3_job(args):
    """One F3 run: (method, hp, density, seed, fast) → (test accuracy, final density)."""
    method, hp, d, seed, fast = args
    cfg = setting(fast)
    model, acc = run_seed(method, hp, mnist_split(cfg["n_train"], seed), cfg["sizes"], d, cfg["f3_epochs"], seed)
    return acc["test"], model.density


def dst_accuracy_data(fast=False, rng=0):
    """F3: test accuracy per method, density and seed (same budget for all), mean and 95 % t-interval."""
    cfg = setting(fast)
    chosen = {m: select_hparams(m, fast, rng) for m in ("dense",) + METHODS}
    out = {"densities": cfg["densities"], "seeds": cfg["f3_seeds"], "epochs": cfg["f3_epochs"],
           "selection_epochs": cfg["epochs"], "paper": PAPER,
           "defaults": DEFAULTS, "chosen": {m: hp for m, (hp, _) in chosen.items()},
           "selection": {m: [[hp["lr"], hp.get("delta_t") if m in STEP_BASED else None, v] for hp, v in t]
                         for m, (_, t) in chosen.items()},
           "methods": {}}
    grid = [(m, d) for m in ("dense",) + METHODS for d in ((1.0,) if m == "dense" else cfg["densities"])]
    jobs = [(m, chosen[m][0], d, s, fast) for m, d in grid for s in cfg["f3_seeds"]]
    results = iter(parallel_map(_f3_job, jobs, label=lambda j: f"F3 {j[0]} d={j[2]} seed {j[3]}"))
    for method, d in grid:
        rows = out["methods"].setdefault(method, {"acc": [], "density": [], "mean": [], "ci": []})
        accs, dens = zip(*[next(results) for _ in cfg["f3_seeds"]])
        m, h = t_interval(accs)
        rows["acc"].append(list(accs)), rows["density"].append(float(np.mean(dens)))
        rows["mean"].append(m), rows["ci"].append(h)
    return out


def dst_accuracy_plot(data, path):
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(11.5, 5.5))
    dense = data["methods"]["dense"]
    dm, dh = dense["mean"][0] * 100, np.nan_to_num(dense["ci"][0] * 100)
    ax.axhline(dm, color="k", label=f"dense {dm:.2f} ± {dh:.2f} % (MNIST-5k)")
    ax.axhspan(dm - dh, dm + dh, color="k", alpha=0.08)
    ax.axhline(PAPER["dense"], color="k", ls=":", lw=1, label="dense, paper (full MNIST)")
    x = np.array(data["densities"]) * 100
    for i, m in enumerate(METHODS):
        r = data["methods"][m]
        ax.errorbar(x + 0.06 * (i - 2.5), np.array(r["mean"]) * 100, yerr=np.nan_to_num(np.array(r["ci"]) * 100),
                    marker="o", capsize=3, color=f"C{i}", label=f"{m} (lr {data['chosen'][m]['lr']})")
        if m in PAPER:
            ax.plot(np.array(PAPER["densities"]) * 100, PAPER[m], ls=":", marker="x", color=f"C{i}",
                    label=f"{m}, paper (full MNIST)")
    ax.set(xlabel="weights kept (%)", ylabel="test accuracy (%)", xticks=np.array(PAPER["densities"]) * 100,
           title=f"F3 · LeNet-300-100 on MNIST-5k, {data['epochs']} epochs each, mean ± 95 % t-CI over "
                 f"{len(data['seeds'])} seed(s)\n(cf. Sparse Momentum Fig. 3; dotted: the paper's full-MNIST points; "
                 f"methods shifted ±0.15 sideways)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)
    _save(fig, path)
