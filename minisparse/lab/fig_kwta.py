"""Sparse activations on sparse weights (Ahmad & Scheinkman 2019, "How Can We Be So Dense?"), measured
on MNIST-5k with an MLP: accuracy and multiply-adds over weight density × activation density, accuracy
as pixels are replaced by noise, and the units that never fire with and without boosting.

Protocol, the same for every cell: 784-h-h-10 (h = 500), static random weights at the given density
(uniform per layer; dense = 1), ReLU (activation density 1) or k-WTA in both hidden layers with the
paper's boosting (β = 1.5, ×0.85 per epoch, period 1,000, k_inference = 1.5·k), SGD lr 0.02 with
momentum 0.9, batch 64, 20 epochs, 3 seeds; test accuracy at the last epoch. The paper's networks are
CNNs trained on 60,000 images; this is the MLP version on 3,500.

Noise (the paper's test, ``image_transforms.RandomNoise``): in each test image ⌊784·level⌋ pixels
drawn without replacement are set to the constant 0.7469 (the data mean plus two standard deviations,
as the code sets them), for levels 0, 0.05, …, 0.5; the noise score is the mean accuracy over the
11 levels (the paper sums correct answers, which is the same number × 110,000).
"""
import numpy as np

from ..network.cost import step_macs
from ..network.kwta import duty_cycle_entropy, use_kwinners
from ..network.mlp import SparseMLP
from ..network.neurons import dead_neurons
from ..network.optim import SGD
from ..network.train import evaluate, run_epoch
from .common import mnist_split, parallel_map, save as _save, t_interval

NOISE_LEVELS = tuple(round(0.05 * i, 2) for i in range(11))
WHITE = 0.1307 + 2 * 0.3081           # the paper's noise value, on pixels in [0, 1]
BOOST = {"boost_strength": 1.5, "boost_strength_factor": 0.85, "duty_cycle_period": 1000, "k_inference_factor": 1.5}
KINDS = {"dense": (1.0, None), "weight-sparse": (0.3, None), "activation-sparse": (1.0, 0.1),
         "both sparse": (0.3, 0.1)}     # (weight density, activation density) of the noise panel's four


def setting(fast):
    if fast:
        return {"sizes": [784, 64, 64, 10], "n_train": 600, "epochs": 2, "seeds": (0,),
                "weight_densities": (1.0, 0.3), "activation_densities": (None, 0.1), "boost_seeds": (0,)}
    return {"sizes": [784, 500, 500, 10], "n_train": None, "epochs": 20, "seeds": (0, 1, 2),
            "weight_densities": (1.0, 0.3, 0.1, 0.03), "activation_densities": (None, 0.3, 0.1, 0.05),
            "boost_seeds": (0, 1, 2)}


def build(sizes, weight_density, activation_density, seed, boost=True):
    """The MLP of one cell: uniform static weights, ReLU or k-WTA (``activation_density`` = k/n)."""
    model = SparseMLP.random(sizes, density=weight_density, topology="dense" if weight_density == 1 else "uniform",
                             rng=seed)
    if activation_density is not None:
        use_kwinners(model, percent_on=activation_density, **(BOOST if boost else dict(BOOST, boost_strength=0.0)))
    return model


def add_noise(X, level, rng):
    """Each row with ⌊n·level⌋ of its entries, drawn without replacement, set to WHITE.   # a copy"""
    X = np.array(X, copy=True)
    m = int(X.shape[1] * level)
    if m:
        idx = np.argsort(rng.random(X.shape), axis=1)[:, :m]            # a uniform m-subset per row
        np.put_along_axis(X, idx, WHITE, axis=1)
    return X


def train(model, data, epochs, seed, on_epoch=None):
    """SGD (lr 0.02, momentum 0.9), batch 64; ``on_epoch(epoch, model)`` after every epoch (0: before)."""
    rng, opt = np.random.default_rng(seed + 1000), SGD(model, lr=0.02, momentum=0.9)
    if on_epoch:
        on_epoch(0, model)
    for epoch in range(1, epochs + 1):
        run_epoch(model, opt, data.X_train, data.y_train, 64, rng)
        model.end_epoch()
        if on_epoch:
            on_epoch(epoch, model)
    return model


def _cell(args):
    """One grid run: (weight density, activation density, seed, fast) → accuracy, MACs, noise curve."""
    wd, ad, seed, fast = args
    cfg = setting(fast)
    data = mnist_split(cfg["n_train"], seed)
    model = train(build(cfg["sizes"], wd, ad, seed), data, cfg["epochs"], seed)
    noise_rng = np.random.default_rng(seed + 7)
    curve = [evaluate(model, add_noise(data.X_test, level, noise_rng), data.y_test)[1] for level in NOISE_LEVELS]
    return {"test": evaluate(model, data.X_test, data.y_test)[1], "macs": step_macs(model, 64)["sparse"],
            "nnz": model.nnz, "noise": curve}


def _boost_run(args):
    """Silent hidden units (never firing on the training set) and duty-cycle entropy per epoch."""
    boost, seed, fast = args
    cfg = setting(fast)
    data = mnist_split(cfg["n_train"], seed)
    trace = []

    def record(epoch, model):
        silent = sum(r["counts"]["never_active"] for r in dead_neurons(model, data.X_train))
        entropy = [duty_cycle_entropy(layer.f.duty_cycles) / duty_cycle_entropy(np.full(layer.f.n, layer.f.target_density))
                   for layer in model.layers[:-1]] if boost is not None else []
        trace.append({"epoch": epoch, "silent": silent, "entropy": entropy})

    model = build(cfg["sizes"], 0.3, 0.1 if boost is not None else None, seed, boost=bool(boost))
    train(model, data, cfg["epochs"], seed, on_epoch=record)
    return {"trace": trace, "test": evaluate(model, data.X_test, data.y_test)[1]}



def kwta_data(fast=False, rng=0):
    """The grid (accuracy, MACs, noise curves per cell and seed) and the boosting runs."""
    cfg = setting(fast)
    cells = [(wd, ad) for wd in cfg["weight_densities"] for ad in cfg["activation_densities"]]
    jobs = [(wd, ad, s, fast) for wd, ad in cells for s in cfg["seeds"]]
    boost_jobs = [(b, s, fast) for b in (True, False, None) for s in cfg["boost_seeds"]]
    results = iter(parallel_map(_cell, jobs, label=lambda j: f"k-WTA grid w={j[0]} a={j[1]} seed {j[2]}"))
    out = {"sizes": cfg["sizes"], "epochs": cfg["epochs"], "seeds": cfg["seeds"], "noise_levels": NOISE_LEVELS,
           "weight_densities": cfg["weight_densities"], "activation_densities": cfg["activation_densities"],
           "kinds": KINDS, "boost": BOOST, "cells": []}
    dense_macs = None
    for wd, ad in cells:
        runs = [next(results) for _ in cfg["seeds"]]
        acc, noise = [r["test"] for r in runs], np.array([r["noise"] for r in runs])
        score = noise.mean(axis=1)                                  # per seed: mean accuracy over the levels
        m, h = t_interval(acc)
        sm, sh = t_interval(score)
        curve = [t_interval(noise[:, i]) for i in range(noise.shape[1])]
        if wd == 1.0 and ad is None:
            dense_macs = runs[0]["macs"]
        out["cells"].append({"weight_density": wd, "activation_density": ad, "acc": acc, "mean": m, "ci": h,
                             "macs": runs[0]["macs"], "nnz": runs[0]["nnz"], "noise_score": list(score),
                             "noise_mean": sm, "noise_ci": sh, "noise_curve": [c[0] for c in curve],
                             "noise_curve_ci": [c[1] for c in curve]})
    for c in out["cells"]:
        c["macs_vs_dense"] = c["macs"] / dense_macs
    boost_runs = iter(parallel_map(_boost_run, boost_jobs, label=lambda j: f"k-WTA boosting={j[0]} seed {j[1]}"))
    out["boosting"] = {name: [next(boost_runs) for _ in cfg["boost_seeds"]]
                       for name in ("k-WTA, boosting", "k-WTA, no boosting", "ReLU")}
    return out


def cell(data, wd, ad):
    """The grid cell of weight density ``wd`` and activation density ``ad`` (None: ReLU)."""
    return next(c for c in data["cells"] if c["weight_density"] == wd and c["activation_density"] == ad)


def kwta_plot(data, path):
    import matplotlib.pyplot as plt
    wds, ads = data["weight_densities"], data["activation_densities"]
    acc = np.array([[cell(data, w, a)["mean"] * 100 for a in ads] for w in wds])
    macs = np.array([[cell(data, w, a)["macs_vs_dense"] for a in ads] for w in wds])
    alabels = ["ReLU" if a is None else f"k-WTA {a:.0%}" for a in ads]
    wlabels = [f"{w:.0%}" for w in wds]
    fig, ax = plt.subplots(1, 4, figsize=(19, 4.6))
    for a, M, title, fmt in ((ax[0], acc, "test accuracy (%)", "{:.1f}"),
                             (ax[1], np.log10(macs), "multiply-adds of a training step / dense (log₁₀)", None)):
        im = a.imshow(M, cmap="viridis")
        a.set_xticks(range(len(ads)), alabels)
        a.set_yticks(range(len(wds)), wlabels)
        a.set(xlabel="activations", ylabel="weights kept", title=title)
        for i in range(len(wds)):
            for j in range(len(ads)):
                text = fmt.format(M[i, j]) if fmt else f"{macs[i, j]:.3g}×"
                a.text(j, i, text, ha="center", va="center", color="w" if M[i, j] < M.mean() else "k", fontsize=8)
        fig.colorbar(im, ax=a, fraction=0.046)
    levels = np.array(data["noise_levels"]) * 100
    for i, (name, (wd, ad)) in enumerate(data["kinds"].items()):
        c = cell(data, wd, ad)
        mean, ci = np.array(c["noise_curve"]) * 100, np.nan_to_num(np.array(c["noise_curve_ci"]) * 100)
        ax[2].plot(levels, mean, marker="o", ms=3, color=f"C{i}",
                   label=f"{name} (score {c['noise_mean'] * 100:.1f} ± {np.nan_to_num(c['noise_ci']) * 100:.1f})")
        ax[2].fill_between(levels, mean - ci, mean + ci, color=f"C{i}", alpha=0.15)
    ax[2].set(xlabel="pixels replaced by noise (%)", ylabel="test accuracy (%)",
              title="noise robustness (score = mean over levels)")
    ax[2].legend(fontsize=7, loc="lower left")
    ax[2].grid(alpha=0.3)
    for i, (name, runs) in enumerate(data["boosting"].items()):
        ep = [t["epoch"] for t in runs[0]["trace"]]
        silent = np.array([[t["silent"] for t in r["trace"]] for r in runs])
        ax[3].plot(ep, silent.mean(axis=0), marker="o", ms=3, color=f"C{i + 4}",
                   label=f"{name}: test {np.mean([r['test'] for r in runs]) * 100:.1f} %")
    ax[3].set(xlabel="epoch", ylabel=f"hidden units never firing on the training set (of {2 * data['sizes'][1]})",
              title="silent units, weights 30 %, k-WTA 10 %")
    ax[3].legend(fontsize=7)
    ax[3].grid(alpha=0.3)
    fig.suptitle(f"Sparse activations on sparse weights · MNIST-5k, {'-'.join(map(str, data['sizes']))}, "
                 f"{data['epochs']} epochs, {len(data['seeds'])} seed(s) (cf. Ahmad & Scheinkman 2019)")
    _save(fig, path)
