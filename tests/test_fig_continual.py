"""The continual-learning figure in fast mode: every method and scenario, consistent summaries, a plot."""
import numpy as np
import pytest
from helpers import captured_figures

from minisparse.continual import average_accuracy, forgetting
from minisparse.lab import fig_continual


@pytest.fixture(scope="module")
def fast():
    return fig_continual.continual_data(fast=True)


def test_every_method_and_scenario_with_consistent_summaries(fast):
    assert set(fast["runs"]) == {"task", "class"}
    for scenario, runs in fast["runs"].items():
        assert list(runs) == list(fig_continual.METHODS)
        for method, r in runs.items():
            R = np.array(r["R"])
            assert R.shape == (len(fast["seeds"]), 5, 5)
            assert np.isnan(R[0][np.triu_indices(5, 1)]).all() and not np.isnan(R[0][np.tril_indices(5)]).any()
            assert r["final"] == pytest.approx(np.mean([average_accuracy(x)[-1] for x in R]))
            assert r["forgetting"] == pytest.approx(np.mean([forgetting(x) for x in R]))
    # PackNet forgets nothing in the task-incremental scenario (its masks give each task its own network)
    assert fast["runs"]["task"]["PackNet, dense"]["forgetting"] == 0.0
    assert fast["runs"]["task"]["SpaceNet-style"]["forgetting"] == 0.0


def test_sparse_methods_hold_fewer_weights(fast):
    nnz = {m: np.mean(fast["runs"]["task"][m]["nnz"]) for m in fig_continual.METHODS}
    assert nnz["fine-tune, sparse 10 %"] < 0.2 * nnz["fine-tune, dense"]
    assert nnz["SpaceNet-style"] < nnz["fine-tune, dense"]


def test_plot(fast, monkeypatch):
    figs = captured_figures(monkeypatch, fig_continual)
    fig_continual.continual_plot(fast, "unused.png")
    assert len(figs) == 1 and len(figs[0].axes) == 8
