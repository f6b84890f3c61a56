"""The k-WTA figure: the paper's noise, the grid's structure and costs in fast mode, and its plot."""
import numpy as np
import pytest
from helpers import captured_figures

from minisparse.lab import fig_kwta


@pytest.fixture(scope="module")
def fast():
    return fig_kwta.kwta_data(fast=True)


def test_noise_sets_exactly_the_share_of_pixels_to_the_white_value():
    X = np.random.default_rng(0).random((50, 784)) * 0.5                # below WHITE, so changes show
    for level in (0.0, 0.05, 0.5):
        noisy = fig_kwta.add_noise(X, level, np.random.default_rng(1))
        changed = noisy != X
        assert (changed.sum(axis=1) == int(784 * level)).all()
        assert np.all(noisy[changed] == fig_kwta.WHITE) and np.array_equal(noisy[~changed], X[~changed])
    assert fig_kwta.WHITE == pytest.approx(0.7469)
    a, b = (fig_kwta.add_noise(X, 0.3, np.random.default_rng(s)) for s in (2, 3))
    assert not np.array_equal(a, b)                                      # different draws, different pixels


def test_grid_cells_costs_and_traces(fast):
    cfg = fig_kwta.setting(True)
    assert len(fast["cells"]) == len(cfg["weight_densities"]) * len(cfg["activation_densities"])
    dense = fig_kwta.cell(fast, 1.0, None)
    assert dense["macs_vs_dense"] == 1.0
    for c in fast["cells"]:
        assert len(c["noise_curve"]) == len(fig_kwta.NOISE_LEVELS) and 0 <= c["mean"] <= 1
        assert len(c["acc"]) == len(cfg["seeds"])
    # k-WTA at 10 % makes layers 2 and 3 pay for a tenth of their inputs; sparse weights cut every layer
    assert fig_kwta.cell(fast, 1.0, 0.1)["macs"] < dense["macs"]
    assert fig_kwta.cell(fast, 0.3, 0.1)["macs"] < fig_kwta.cell(fast, 0.3, None)["macs"] < dense["macs"]
    assert set(fast["boosting"]) == {"k-WTA, boosting", "k-WTA, no boosting", "ReLU"}
    for runs in fast["boosting"].values():
        assert [t["epoch"] for t in runs[0]["trace"]] == list(range(cfg["epochs"] + 1))


def test_plot_draws_four_panels(fast, monkeypatch):
    figs = captured_figures(monkeypatch, fig_kwta)
    fig_kwta.kwta_plot(fast, "unused.png")
    assert len(figs) == 1 and len([a for a in figs[0].axes if a.get_title()]) == 4
