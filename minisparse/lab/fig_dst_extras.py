"""Extra dynamic-sparse-training figures: dead hidden neurons per epoch, input-pixel out-degree maps,
and Sparse Momentum's sensitivity to prune rate and momentum, at 5 % weights, with the
hyperparameters ``fig_dst.select_hparams`` chose, through the same ``fig_dst.train_method`` loop.
"""

import numpy as np

from ..network.neurons import dead_neurons, out_degree_map
from .common import mnist_split, progress, save as _save
from .fig_dst import build, select_hparams, setting, train_method

METHODS = ("static", "SET", "RigL", "Sparse Momentum")    # DSR and DEEP R are in F3 only


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


DEAD_STYLES = {   # colour, marker, size, line width: wider and larger first, so equal counts nest visibly
    "static": ("tab:blue", "o", 10, 4.0), "SET": ("tab:orange", "s", 7, 2.4), "RigL": ("tab:green", "^", 5, 1.5),
    "Sparse Momentum": ("tab:red", "D", 4, 1.0)}


def _dead_style(method):
    return DEAD_STYLES.get(method, ("k", "o", 5, 1.0))


def dst_dead_neurons_plot(data, path, clip=None):
    """Dead hidden neurons per epoch, one panel per hidden layer: solid = dead of any kind, dotted =
    never active on the validation set. Methods are drawn wide to narrow with hollow markers, so
    equal counts stay visible; counts above ``clip`` (default: set by the counts after epoch 0, with
    room) are drawn at the clip line and written out beside it."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator
    n = len(data["widths"])
    traces = data["traces"]
    fig, axes = plt.subplots(1, n, figsize=(5.6 * n + 2.6, 4.4), squeeze=False)
    for l, ax in enumerate(axes[0]):
        later = [row[l][k] for t in traces.values() for row in t[1:] for k in ("dead", "never_active")]
        top = clip if clip is not None else max(4, int(np.ceil(1.2 * max(later, default=0))) + 1)
        clipped = 0
        for m, trace in traces.items():
            color, marker, ms, lw = _dead_style(m)
            x = np.arange(len(trace))
            for key, ls, kw in (("dead", "-", {"marker": marker, "ms": ms, "mfc": "none", "mew": 1.5, "lw": lw}),
                                ("never_active", ":", {"lw": 1.5})):
                v = np.array([row[l][key] for row in trace], dtype=float)
                ax.plot(x, np.minimum(v, top), ls=ls, color=color, alpha=0.85, **kw)
                for i in np.flatnonzero(v > top):
                    kinds = ", ".join(f"{trace[i][l][k]} {k.replace('_', ' ')}" for k in ("no_input", "no_output")
                                      if key == "dead" and trace[i][l].get(k))
                    what = "never active" if key != "dead" else "dead" + (f": {kinds}" if kinds else "")
                    ax.annotate(f"{m}, epoch {i}: {int(v[i])} {what}", (x[i], top),
                                xytext=(10, -10 - 11 * clipped), textcoords="offset points", fontsize=8,
                                color=color, va="top", arrowprops={"arrowstyle": "-", "color": color})
                    ax.plot(x[i], top, marker="^", ls="", color=color, ms=8)
                    clipped += 1
        if clipped:
            ax.axhline(top, color="0.4", lw=0.8, ls="--")
            ax.text(0.99, top, "axis clipped here ", transform=ax.get_yaxis_transform(), ha="right", va="bottom",
                    fontsize=7.5, color="0.4")
        ax.set_ylim(-0.4, top * 1.08 + 0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set(title=f"hidden layer {l + 1} ({data['widths'][l]} neurons)", xlabel="epoch (0 = init)",
               ylabel="dead neurons")
        ax.grid(alpha=0.3)
    handles = [Line2D([], [], color=_dead_style(m)[0], marker=_dead_style(m)[1], ms=_dead_style(m)[2], mfc="none",
                      mew=1.5, lw=_dead_style(m)[3]) for m in traces]
    handles += [Line2D([], [], color="0.3", marker="o", ms=5, mfc="none"), Line2D([], [], color="0.3", ls=":", lw=1.5)]
    labels = list(traces) + ["dead of any kind: no input, no output\nor never active", "never active on the\nvalidation set"]
    axes[0, -1].legend(handles, labels, fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0)
    fig.suptitle("Dead hidden neurons during training, 5 % weights, MNIST-5k")
    _save(fig, path)


def dst_out_degree_data(fast=False, rng=0):
    """Input-pixel out-degree maps (28×28) at the start and end of training per method, 5 %."""
    traces = _per_epoch(fast, rng, lambda model, data: out_degree_map(model))
    return {"maps": {m: {"start": t[0], "end": t[-1]} for m, t in traces.items()}}


def dst_out_degree_plot(data, path):
    import matplotlib.pyplot as plt
    ms = list(data["maps"])
    fig, axes = plt.subplots(2, len(ms), figsize=(2.6 * len(ms) + 1.2, 5.8), layout="constrained")
    vmax = max(np.max(v["end"]) for v in data["maps"].values())
    for c, m in enumerate(ms):
        for r, when in enumerate(("start", "end")):
            im = axes[r, c].imshow(np.asarray(data["maps"][m][when]), cmap="viridis", vmin=0, vmax=vmax)
            axes[r, c].set_title(f"{m}, {when}", fontsize=9)
            axes[r, c].set_axis_off()
    fig.colorbar(im, ax=axes, shrink=0.8, label="connections out of the pixel")
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
            r, g, b, _ = im.cmap(im.norm(mean[i, j]))          # dark text on light cells
            ax.text(j, i, f"{mean[i, j]:.2f}", ha="center", va="center", fontsize=9,
                    color="k" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "w")
    ax.set_xticks(range(len(data["momenta"])), data["momenta"])
    ax.set_yticks(range(len(data["prune_rates"])), data["prune_rates"])
    ax.set(xlabel="momentum μ", ylabel="initial prune rate p (cosine-decayed)",
           title=f"Sparse Momentum at 5 %: test accuracy (%), mean of {len(data['seeds'])} seed(s), lr {data['lr']}\n"
                 "(SGD: μ also sets the effective step η/(1 − μ))")
    fig.colorbar(im, ax=ax, label=f"test accuracy (%), mean of {len(data['seeds'])} seed(s)")
    _save(fig, path)
