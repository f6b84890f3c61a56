"""The pruning figures: accuracy vs sparsity by order (P1), and dense → prune vs sparse from scratch (P2).

P1 prunes one trained MLP on MNIST-5k with every criterion of the article's first half, one shot,
at sparsities from 50 % to 99 %, and again after the same fine-tuning budget. P2 compares, at equal
final sparsity, what dense → prune → fine-tune and sparse-from-scratch training reach and the
multiply-adds each spent (article 001, section 8).
"""
import copy

import numpy as np

from .. import pruning
from ..pruning import entropy_guided, first_order, neuron_scores, pipelines, second_order, second_order_approx, structured
from ..network.mlp import SparseMLP
from ..network.checks import DivergenceError
from ..network.optim import SGD
from ..network.train import fit
from .common import mnist_split, progress


def setting(fast):
    """Sizes, epochs and sparsities for the full run or the quick one."""
    if fast:
        return dict(sizes=[784, 32, 16, 10], n_train=600, epochs=3, finetune=1, calib=100,
                    sparsities=(0.5, 0.9, 0.98), p2_sparsities=(0.9,), imp_rounds=2)
    return dict(sizes=[784, 300, 100, 10], n_train=None, epochs=10, finetune=3, calib=1000,
                sparsities=(0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99), p2_sparsities=(0.9, 0.98),
                imp_rounds=4)


# ---- every criterion as "prune this model down to density d" ------------------------------------

def _neurons_to_remove(model, density):
    """Remove the same fraction r of every hidden layer's neurons so that the remaining weights are
    about d of the original dense count (bisection on r). Returns neurons to remove per hidden layer."""
    widths = [layer.shape[1] for layer in model.layers[:-1]]
    sizes = [model.n_in] + widths + [model.n_classes]

    def kept(r):
        w = [sizes[0]] + [max(1, round((1 - r) * n)) for n in widths] + [sizes[-1]]
        return sum(a * b for a, b in zip(w[:-1], w[1:]))
    total, lo, hi = kept(0.0), 0.0, 1.0
    for _ in range(50):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if kept(mid) > density * total else (lo, mid)
    return [min(n - 1, round(hi * n)) for n in widths]


def _structured(merge):
    def prune_neurons(model, density, ctx):
        for l, n in enumerate(_neurons_to_remove(model, density)):
            if merge:
                structured.merge_similar_neurons(model, l, n)
            else:
                structured.prune_low_variance(model, ctx["X"], l, n)
    return prune_neurons


def _by_neuron_score(score):
    """Remove each hidden layer's lowest-scoring units, layer by layer (each layer scored after the one
    below it was pruned), as many as keep about ``density`` of the weights."""
    def prune_neurons(model, density, ctx):
        for l, n in enumerate(_neurons_to_remove(model, density)):
            neuron_scores.prune_neurons_by_score(model, l, score(model, ctx, l), n)
    return prune_neurons


def _coreset(model, density, ctx):
    """Coreset pruning: sample the kept units by sensitivity, reweight their outgoing weights; the top
    hidden layer first (its sensitivities read the layer above, which is not pruned)."""
    counts = _neurons_to_remove(model, density)
    for l in reversed(range(len(counts))):
        neuron_scores.coreset_prune(model, l, model.layers[l].shape[1] - counts[l], np.random.default_rng(l))


def _egp(model, density, ctx):
    """EGP prunes the hidden layers only: the share of them that brings the whole network to ``density``."""
    hidden = sum(layer.nnz for layer in model.layers[:-1])
    remove = model.nnz - density * sum(n_in * n_out for n_in, n_out in (layer.shape for layer in model.layers))
    entropy_guided.egp_prune(model, ctx["X"], amount=float(np.clip(remove / hidden, 0.0, 1.0)))


def _per_layer(prune_layer):
    return lambda model, density, ctx: [prune_layer(model, l, ctx["X"], ctx["y"], density=density)
                                        for l in range(len(model.layers))]


def _score(fn):
    return lambda model, density, ctx: pruning.prune_lowest(model, fn(model, ctx["X"], ctx["y"]),
                                                            density=density)


METHODS = {   # name: (order, prune(model, density, ctx)); ctx: calibration X, y and movement scores
    "magnitude (per layer)": ("zeroth", lambda m, d, ctx: pruning.prune_lowest(
        m, pruning.magnitude_score(m), density=d)),
    "magnitude (global)": ("zeroth", lambda m, d, ctx: pruning.prune_lowest(
        m, pruning.magnitude_score(m), density=d, scope="global")),
    "random": ("zeroth", lambda m, d, ctx: pruning.prune_lowest(m, pruning.random_score(m, 0), density=d)),
    "neuron similarity (structured)": ("zeroth", _structured(merge=True)),
    "activity (structured)": ("zeroth", _structured(merge=False)),
    "coreset (structured)": ("zeroth", _coreset),
    "EGP (entropy-guided)": ("zeroth", _egp),
    "gating relevance (structured)": ("first", _by_neuron_score(
        lambda m, ctx, l: neuron_scores.gating_relevance(m, ctx["X"], ctx["y"], l))),
    "sensitivity (structured)": ("first", _by_neuron_score(
        lambda m, ctx, l: neuron_scores.sensitivity_scores(m, ctx["X"], l))),
    "SNIP |g⊙w|": ("first", _score(first_order.snip_score)),
    "GraSP": ("first", _score(first_order.grasp_score)),
    "Taylor (accumulated)": ("first", _score(first_order.taylor_score)),
    "movement": ("first", lambda m, d, ctx: pruning.prune_lowest(m, ctx["movement"], density=d)),
    "OBD": ("second", _score(second_order.obd_score)),
    "OBS (Fisher, per neuron)": ("second", lambda m, d, ctx: second_order.obs_prune(
        m, ctx["X"], ctx["y"], density=d)),
    "layer-wise OBS": ("second", lambda m, d, ctx: second_order.layerwise_obs_prune(m, ctx["X"], density=d)),
    "OBS with K-FAC curvature": ("second", _per_layer(second_order_approx.kfac_prune)),
}


def train_tracking_movement(model, data, epochs, rng=0):
    """Train as ``pipelines.train`` does while accumulating movement scores S ← S − g ⊙ w.

    Movement pruning (Sanh et al. 2020) scores how weights move while they are trained on the task;
    on an already converged network one more epoch only moves them by SGD noise (S then has a
    random sign and a size growing with |w|, and removing its lower half removes large weights:
    measured at chance level even at 50 %), so the scores are gathered during the training itself.
    """
    tracker = first_order.MovementScore(model)
    fit(model, SGD(model, lr=0.05, momentum=0.9), data, epochs, batch_size=100, rng=rng,
        verbose=False, after_step=lambda step, grads: tracker.update(grads))
    return tracker.scores()


def prune_with(name, model, density, ctx):
    """Prune ``model`` in place with method ``name`` down to about ``density`` of its dense size."""
    return METHODS[name][1](model, density, ctx)


def pruning_data(fast=False, rng=0):
    """P1: for every method and sparsity, test accuracy one-shot and after the fine-tuning budget."""
    cfg = setting(fast)
    data = mnist_split(cfg["n_train"], rng)
    trained = SparseMLP.random(cfg["sizes"], density=1.0, rng=rng)
    movement = train_tracking_movement(trained, data, cfg["epochs"], rng)
    total = trained.nnz
    ctx = {"X": data.X_train[:cfg["calib"]], "y": data.y_train[:cfg["calib"]], "movement": movement}
    out = {"dense": pipelines.accuracy_on_test(trained, data), "sparsities": cfg["sparsities"],
           "finetune_epochs": cfg["finetune"], "methods": {}}
    step = progress(len(METHODS) * len(cfg["sparsities"]), "pruning: ")
    for name, (order, _) in METHODS.items():
        rows = {"order": order, "sparsity": [], "one_shot": [], "finetuned": []}
        for s in cfg["sparsities"]:
            model = copy.deepcopy(trained)
            prune_with(name, model, 1 - s, ctx)
            rows["sparsity"].append(1 - model.nnz / total)
            rows["one_shot"].append(pipelines.accuracy_on_test(model, data))
            try:
                pipelines.train(model, data, cfg["finetune"], lr=0.02, rng=rng)
                rows["finetuned"].append(pipelines.accuracy_on_test(model, data))
            except DivergenceError:                  # coreset's reweighted units can blow up the step
                rows["finetuned"].append(float("nan"))
                rows.setdefault("diverged", []).append(s)
            step(f"{name} at {s:.0%}, fine-tuned")
        out["methods"][name] = rows
    return out


def pruning_plot(data, path):
    import matplotlib.pyplot as plt
    from .common import save_figure
    orders = ("zeroth", "first", "second")
    markers, styles = "osD^vP", ("-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1)))
    fig, axes = plt.subplots(2, 3, figsize=(15, 9.6), sharey=True)
    ticks = np.arange(len(data["sparsities"]))
    for row, key in enumerate(("one_shot", "finetuned")):
        for col, order in enumerate(orders):
            ax = axes[row, col]
            names = [name for name, r in data["methods"].items() if r["order"] == order]
            for i, name in enumerate(names):
                ax.plot(ticks, data["methods"][name][key], marker=markers[i % 6], ls=styles[i % 6], ms=5,
                        color=f"C{i}", label=name)
            ax.axhline(data["dense"], color="k", ls="--", lw=1, label=f"dense, unpruned: {data['dense']:.3f}")
            ax.set_xticks(ticks, [f"{s:.0%}" for s in data["sparsities"]])
            ax.set(title=f"{order} order · " + ("one shot" if row == 0 else
                   f"after {data['finetune_epochs']} fine-tuning epoch(s)"), xlabel="target sparsity",
                   ylabel="test accuracy" if col == 0 else None, ylim=(0, 1))
            ax.grid(alpha=0.3)
            if row == 1:                      # one legend per column, under it: the rows share the methods
                ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    fig.suptitle("Pruning by order: one trained MLP on MNIST-5k, every criterion of the article")
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


# ---- P2: dense → prune → fine-tune vs sparse from scratch, with the multiply-adds spent ----------

def scratch_vs_prune_data(fast=False, rng=0):
    """P2: test accuracy and training multiply-adds of five routes to the same final sparsity."""
    cfg = setting(fast)
    data = mnist_split(cfg["n_train"], rng)
    E, F = cfg["epochs"], cfg["finetune"]
    out = {"epochs": E, "finetune": F, "runs": []}
    step = progress(6 * len(cfg["p2_sparsities"]), "P2 ")
    for s in cfg["p2_sparsities"]:
        d = 1 - s
        dense = SparseMLP.random(cfg["sizes"], density=1.0, rng=rng)
        _, macs = pipelines.train(dense, data, E, rng=rng)
        pf = pipelines.prune_and_finetune(dense, pruning.magnitude_score(dense), d, data, F, rng=rng)
        runs = {"dense → prune → fine-tune": (pf["finetuned"], macs + pf["macs"])}
        step(f"dense → prune → fine-tune, {s:.0%}")
        model = SparseMLP.random(cfg["sizes"], density=1.0, rng=rng)
        _, acc, macs = pipelines.gradual_magnitude_pruning(model, data, d, E + F, rng=rng)
        runs["gradual magnitude (cubic)"] = (acc, macs)
        step(f"gradual magnitude (cubic), {s:.0%}")
        model = SparseMLP.random(cfg["sizes"], density=1.0, rng=rng)
        _, trace, macs = pipelines.lottery_ticket(model, data, d, cfg["imp_rounds"], E, rng=rng)
        runs["IMP, rewound to init"] = (trace[-1][1], macs)
        step(f"IMP, rewound to init, {s:.0%}")
        model = SparseMLP.random(cfg["sizes"], density=d, rng=rng)
        _, macs = pipelines.train(model, data, E + F, rng=rng)
        runs["static sparse from scratch"] = (pipelines.accuracy_on_test(model, data), macs)
        step(f"static sparse from scratch, {s:.0%}")
        model = SparseMLP.random(cfg["sizes"], density=1.0, rng=rng)
        _, acc, macs = pipelines.snip_then_train(model, data, d, E + F, rng=rng)
        runs["SNIP, then sparse training"] = (acc, macs)
        step(f"SNIP, then sparse training, {s:.0%}")
        model = SparseMLP.random(cfg["sizes"], density=1.0, rng=rng)
        _, acc, macs = pipelines.prune_at_init_then_train(model, data, d, E + F, "grasp", rng=rng)
        runs["GraSP, then sparse training"] = (acc, macs)
        step(f"GraSP, then sparse training, {s:.0%}")
        out["runs"].append({"sparsity": s, "results": runs})
    return out


def scratch_vs_prune_plot(data, path):
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    from .common import save_figure
    fig, axes = plt.subplots(1, len(data["runs"]), figsize=(7 * len(data["runs"]), 4.5), squeeze=False)
    for ax, run in zip(axes[0], data["runs"]):
        for name, (acc, macs) in run["results"].items():
            ax.scatter(macs / 1e9, acc, s=60, label=f"{name}: {acc:.3f}, {macs / 1e9:.1f} GMAC")
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))   # 0.5, 1, 2, 5, 10, 20 rather than 10⁰, 10¹
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set(title=f"final sparsity {run['sparsity']:.0%}", xlabel="training multiply-adds (10⁹, log)",
               ylabel="test accuracy")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"Dense → prune vs sparse from scratch (MNIST-5k; {data['epochs']} + "
                 f"{data['finetune']} epochs each)")
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
