"""Extra dynamic-sparse-training figures: dead hidden neurons per epoch, input-pixel out-degree maps,
and Sparse Momentum's sensitivity to prune rate and momentum, at 5 % weights, with the
hyperparameters ``fig_dst.select_hparams`` chose, through the same ``fig_dst.train_method`` loop.
"""

import numpy as np

from ..network.neurons import dead_neurons, out_degree_map
from .common import mnist_split, progress, save as _save
from .fig_dst import METHODS, build, select_hparams, setting, train_method


def _per_epoch(fast, rng, record):
    """Train every sparse method at 5 % (one seed, chosen hparams) calling ``record(model)`` at epoch 0
    and after every epoch; returns {method: [record values]}."""
    cfg = setting(fast)
    chosen, data = {m: select_hparams(m, fast, rng) for m in METHODS}, mnist_split(cfg["n_train"], rng)
    out, step = {}, progress(len(METHODS))
    for method in METHODS:
        model = build(method, cfg["sizes"], 0.05, rng)
        trace = [record(model, data)]
        train_method(method, model, data, cfg["epochs"], chosen[method][0], rng + 1000,
                     on_epoch=lambda e, mdl, trace=trace: trace.append(record(mdl, data)))
        out[method] = trace
        step(f"{method} at 5 %, {cfg['epochs']} epochs")
    return out


def dst_dead_neurons_data(fast=False, rng=0):
    """Dead hidden neurons (no input, no output, or never active on the validation set) per epoch."""
    def record(model, data):
        return [r["counts"] for r in dead_neurons(model, data.X_val)]
    return {"widths": setting(fast)["sizes"][1:-1], "traces": _per_epoch(fast, rng, record)}


DEAD_STYLES = {"static": ("tab:blue", "o", 0), "SET": ("tab:orange", "s", 1), "RigL": ("tab:green", "^", 2),
               "Sparse Momentum": ("tab:red", "D", 3)}     # colour, marker, slot of a small sideways shift


def dst_dead_neurons_plot(data, path, clip=None):
    """Dead hidden neurons per epoch, one panel per hidden layer: solid = dead of any kind, dotted =
    never active on the validation set. Curves are shifted sideways by a few hundredths of an epoch so
    that equal counts stay visible; counts above ``clip`` (default: the largest count after epoch 0,
    with room) are drawn at the clip line and written beside it."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator
    n = len(data["widths"])
    traces = data["traces"]
    fig, axes = plt.subplots(1, n, figsize=(5.6 * n + 2.6, 4.4), squeeze=False)
    for l, ax in enumerate(axes[0]):
        later = [row[l][k] for t in traces.values() for row in t[1:] for k in ("dead", "never_active")]
        top = clip if clip is not None else max(4, int(np.ceil(1.5 * max(later, default=0))))
        for m, trace in traces.items():
            color, marker, slot = DEAD_STYLES.get(m, ("k", "o", 0))
            x = np.arange(len(trace)) + 0.08 * (slot - 1.5)
            for key, ls, kw in (("dead", "-", {"marker": marker, "ms": 4}), ("never_active", ":", {"lw": 1.5})):
                v = np.array([row[l][key] for row in trace], dtype=float)
                ax.plot(x, np.minimum(v, top), ls=ls, color=color, **kw)
                for i in np.flatnonzero(v > top):
                    ax.annotate(f"{m}: {int(v[i])} at epoch {i}" + (" (never active)" if key != "dead" else ""),
                                (x[i], top), xytext=(6, -4 - 10 * slot), textcoords="offset points",
                                fontsize=7.5, color=color, va="top", arrowprops={"arrowstyle": "-", "color": color})
                if (v > top).any():
                    ax.plot(x[v > top], np.full((v > top).sum(), top), marker="^", ls="", color=color, ms=7)
        if any(row[l][k] > top for t in traces.values() for row in t for k in ("dead", "never_active")):
            ax.axhline(top, color="0.4", lw=0.8, ls="--")
            ax.text(0.99, top, "axis clipped here ", transform=ax.get_yaxis_transform(), ha="right", va="bottom",
                    fontsize=7.5, color="0.4")
        ax.set_ylim(-0.3, top * 1.08 + 0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set(title=f"hidden layer {l + 1} ({data['widths'][l]} neurons)", xlabel="epoch (0 = init)",
               ylabel="dead neurons")
        ax.grid(alpha=0.3)
    handles = [Line2D([], [], color=DEAD_STYLES.get(m, ("k",))[0], marker=DEAD_STYLES.get(m, ("k", "o"))[1], ms=4)
               for m in traces]
    handles += [Line2D([], [], color="0.3", marker="o", ms=4), Line2D([], [], color="0.3", ls=":", lw=1.5)]
    labels = list(traces) + ["dead of any kind: no input, no output\nor never active", "never active on the\nvalidation set"]
    axes[0, -1].legend(handles, labels, fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0)
    fig.suptitle("Dead hidden neurons during training, 5 % weights, MNIST-5k (methods shifted sideways by "
                 "≤ 0.12 epoch so that equal counts stay visible)", fontsize=11)
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
    step = progress(acc.size, "Sparse Momentum ")
    for i, p in enumerate(cfg["prune_rates"]):
        for j, mu in enumerate(cfg["momenta"]):
            for s, seed in enumerate(cfg["sens_seeds"]):
                model = build("Sparse Momentum", cfg["sizes"], 0.05, seed)
                hp = dict(hp0, prune_rate=p, momentum=mu)
                acc[i, j, s] = train_method("Sparse Momentum", model, mnist_split(cfg["n_train"], seed),
                                            cfg["epochs"], hp, seed + 1000)[1]["test"]
                step(f"p = {p}, μ = {mu}, seed {seed}: test {acc[i, j, s]:.4f}")
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
    fig.colorbar(im, ax=ax, label=f"test accuracy (%), mean of {len(data['seeds'])} seed(s)")
    _save(fig, path)
