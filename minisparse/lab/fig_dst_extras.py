"""Extra dynamic-sparse-training figures: dead hidden neurons per epoch, input-pixel out-degree maps,
and Sparse Momentum's sensitivity to prune rate and momentum, at 5 % weights, with the
hyperparameters ``fig_dst.select_hparams`` chose, through the same ``fig_dst.train_method`` loop.
"""

import numpy as np

from ..network.neurons import dead_neurons, out_degree_map
from .common import mnist_split, save as _save
from .fig_dst import METHODS, build, select_hparams, setting, train_method


def _per_epoch(fast, rng, record):
    """Train every sparse method at 5 % (one seed, chosen hparams) calling ``record(model)`` at epoch 0
    and after every epoch; returns {method: [record values]}."""
    cfg = setting(fast)
    chosen, data = {m: select_hparams(m, fast, rng) for m in METHODS}, mnist_split(cfg["n_train"], rng)
    out = {}
    for method in METHODS:
        model = build(method, cfg["sizes"], 0.05, rng)
        trace = [record(model, data)]
        train_method(method, model, data, cfg["epochs"], chosen[method][0], rng + 1000,
                     on_epoch=lambda e, mdl, trace=trace: trace.append(record(mdl, data)))
        out[method] = trace
    return out


def dst_dead_neurons_data(fast=False, rng=0):
    """Dead hidden neurons (no input, no output, or never active on the validation set) per epoch."""
    def record(model, data):
        return [r["counts"] for r in dead_neurons(model, data.X_val)]
    return {"widths": setting(fast)["sizes"][1:-1], "traces": _per_epoch(fast, rng, record)}


def dst_dead_neurons_plot(data, path):
    import matplotlib.pyplot as plt
    n = len(data["widths"])
    fig, axes = plt.subplots(1, n, figsize=(6 * n, 4), squeeze=False)
    for l, ax in enumerate(axes[0]):
        for m, trace in data["traces"].items():
            ax.plot([row[l]["dead"] for row in trace], marker="o", ms=3, label=f"{m}: dead (any kind)")
            ax.plot([row[l]["never_active"] for row in trace], ls=":", color=ax.lines[-1].get_color(), lw=1)
        ax.set(title=f"hidden layer {l + 1} ({data['widths'][l]} neurons); dotted: never active",
               xlabel="epoch (0 = init)", ylabel="dead neurons")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Dead hidden neurons during training, 5 % weights, MNIST-5k")
    _save(fig, path)


def dst_out_degree_data(fast=False, rng=0):
    """Input-pixel out-degree maps (28×28) at the start and end of training per method, 5 %."""
    traces = _per_epoch(fast, rng, lambda model, data: out_degree_map(model))
    return {"maps": {m: {"start": t[0], "end": t[-1]} for m, t in traces.items()}}


def dst_out_degree_plot(data, path):
    import matplotlib.pyplot as plt
    ms = list(data["maps"])
    fig, axes = plt.subplots(2, len(ms), figsize=(3.2 * len(ms), 6.4))
    vmax = max(np.max(v["end"]) for v in data["maps"].values())
    for c, m in enumerate(ms):
        for r, when in enumerate(("start", "end")):
            im = axes[r, c].imshow(np.asarray(data["maps"][m][when]), cmap="viridis", vmin=0, vmax=vmax)
            axes[r, c].set_title(f"{m}, {when}", fontsize=9)
            axes[r, c].set_axis_off()
    fig.colorbar(im, ax=axes, shrink=0.6, label="connections out of the pixel")
    fig.suptitle("Input-pixel out-degree, 5 % weights, MNIST-5k")
    _save(fig, path, layout=False)


def sm_sensitivity_data(fast=False, rng=0):
    """Sparse Momentum's final test accuracy at 5 % vs initial prune rate p and momentum μ (mean over seeds)."""
    cfg = setting(fast)
    hp0 = select_hparams("Sparse Momentum", fast, rng)[0]
    acc = np.zeros((len(cfg["prune_rates"]), len(cfg["momenta"]), len(cfg["sens_seeds"])))
    for i, p in enumerate(cfg["prune_rates"]):
        for j, mu in enumerate(cfg["momenta"]):
            for s, seed in enumerate(cfg["sens_seeds"]):
                model = build("Sparse Momentum", cfg["sizes"], 0.05, seed)
                hp = dict(hp0, prune_rate=p, momentum=mu)
                acc[i, j, s] = train_method("Sparse Momentum", model, mnist_split(cfg["n_train"], seed),
                                            cfg["epochs"], hp, seed + 1000)[1]["test"]
    return {"prune_rates": cfg["prune_rates"], "momenta": cfg["momenta"], "lr": hp0["lr"],
            "seeds": cfg["sens_seeds"], "acc": acc, "mean": acc.mean(axis=2)}


def sm_sensitivity_plot(data, path):
    import matplotlib.pyplot as plt
    mean = np.asarray(data["mean"]) * 100
    fig, ax = plt.subplots(figsize=(6.5, 5))
    im = ax.imshow(mean, cmap="viridis", origin="lower")
    for i in range(mean.shape[0]):
        for j in range(mean.shape[1]):
            ax.text(j, i, f"{mean[i, j]:.2f}", ha="center", va="center", color="w", fontsize=9)
    ax.set_xticks(range(len(data["momenta"])), data["momenta"])
    ax.set_yticks(range(len(data["prune_rates"])), data["prune_rates"])
    ax.set(xlabel="momentum μ", ylabel="initial prune rate p (cosine-decayed)",
           title=f"Sparse Momentum at 5 %: test accuracy (%), mean of {len(data['seeds'])} seed(s), lr {data['lr']}\n"
                 "(SGD: μ also sets the effective step η/(1 − μ))")
    fig.colorbar(im, ax=ax)
    _save(fig, path)
