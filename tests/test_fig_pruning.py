"""The pruning figures' data functions: every method reaches its target, P2 accounts its cost."""
import copy

import pytest

from minisparse import SparseMLP

from minisparse.lab import fig_pruning

from minisparse.pruning import pipelines

from minisparse.network import topology
from minisparse.data.datasets import make_teacher_data, stratified_split

from helpers import overlap


@pytest.fixture(scope="module")
def trained():
    X, y = make_teacher_data(n=600, n_features=30, n_classes=4, rng=0)
    data = stratified_split(X, y, rng=0)
    model = SparseMLP.random([30, 40, 20, 4], density=1.0, rng=0)
    movement = fig_pruning.train_tracking_movement(model, data, 3)
    return model, data, movement


@pytest.mark.parametrize("name", list(fig_pruning.METHODS))
def test_every_method_reaches_its_target_density(trained, name):
    model, data = copy.deepcopy(trained[0]), trained[1]
    total = model.nnz
    ctx = {"X": data.X_train[:100], "y": data.y_train[:100], "movement": trained[2]}
    fig_pruning.prune_with(name, model, 0.2, ctx)
    structured = "structured" in name                   # whole neurons: only about the target
    assert model.nnz / total == pytest.approx(0.2, abs=0.05 if structured else 2e-3)
    assert all(topology.is_canonical(layer.W) for layer in model.layers)
    assert pipelines.accuracy_on_test(model, data) > 0.0


def test_neurons_to_remove_hits_the_weight_budget():
    model = SparseMLP.random([784, 300, 100, 10], density=1.0, rng=0)
    n1, n2 = fig_pruning._neurons_to_remove(model, 0.1)
    kept = 784 * (300 - n1) + (300 - n1) * (100 - n2) + (100 - n2) * 10
    assert abs(kept / model.nnz - 0.1) < 0.01
    assert abs(n1 / 300 - n2 / 100) < 0.02              # the same fraction of each hidden layer


def test_scratch_vs_prune_costs_and_plot(tmp_path):
    out = fig_pruning.scratch_vs_prune_data(fast=True)
    results = out["runs"][0]["results"]
    assert set(results) == {"dense → prune → fine-tune", "gradual magnitude (cubic)",
                            "IMP, rewound to init", "static sparse from scratch",
                            "SNIP, then sparse training", "GraSP, then sparse training"}
    macs = {k: v[1] for k, v in results.items()}
    # training at 10 % density from the start costs a small fraction of training dense first
    assert macs["static sparse from scratch"] < 0.2 * macs["dense → prune → fine-tune"]
    assert macs["IMP, rewound to init"] > macs["dense → prune → fine-tune"]
    assert all(0.0 <= acc <= 1.0 for acc, _ in results.values())
    fig_pruning.scratch_vs_prune_plot(out, str(tmp_path / "p2.png"))
    assert (tmp_path / "p2.png").read_bytes()[:4] == b"\x89PNG"


def test_pruning_plot_draws_every_method(tmp_path):
    fake = {"dense": 0.9, "sparsities": (0.5, 0.9), "finetune_epochs": 1, "methods": {
        name: {"order": order, "sparsity": [0.5, 0.9], "one_shot": [0.8, 0.5], "finetuned": [0.85, 0.7]}
        for name, (order, _) in fig_pruning.METHODS.items()}}
    fig_pruning.pruning_plot(fake, str(tmp_path / "p1.png"))
    assert (tmp_path / "p1.png").stat().st_size > 10_000


def test_pruning_plot_legends_stay_off_the_data(monkeypatch):
    import matplotlib.pyplot as plt
    from minisparse.lab import common
    seen = {}

    def keep(fig, path):                  # the plot closes its figure after saving: measure here
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        seen["legends"] = [ax.get_legend().get_window_extent(renderer) for ax in fig.axes if ax.get_legend()]
        seen["axes"] = [ax.get_window_extent(renderer) for ax in fig.axes]
        seen["named"] = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    monkeypatch.setattr(common, "save_figure", keep)
    fake = {"dense": 0.9, "sparsities": (0.5, 0.9), "finetune_epochs": 1, "methods": {
        name: {"order": order, "sparsity": [0.5, 0.9], "one_shot": [0.1, 0.5], "finetuned": [0.85, 0.05]}
        for name, (order, _) in fig_pruning.METHODS.items()}}
    fig_pruning.pruning_plot(fake, "unused.png")
    assert len(seen["legends"]) == 3                                  # one per order
    assert set(fig_pruning.METHODS) <= set(seen["named"])
    assert all(overlap(legend, ax) == 0 for legend in seen["legends"] for ax in seen["axes"])
    plt.close("all")


