"""The dynamic-sparse-training figures: structures in fast mode, RigL/Sparse Momentum invariants, CI math."""
import numpy as np
import pytest

from minisparse.lab import fig_dst, fig_dst_extras

from helpers import captured_figures, overlap


@pytest.fixture(scope="module")
def fast():
    """Every data function once, in fast mode (a few seconds in all)."""
    main = {name: getattr(fig_dst, f"{name}_data")(fast=True)
            for name in ("rigl_update", "sparse_momentum_update", "dst_accuracy")}
    return main | {name: getattr(fig_dst_extras, f"{name}_data")(fast=True)
                   for name in ("dst_dead_neurons", "dst_out_degree", "sm_sensitivity")}


def test_t_interval_hand_example():
    # x = 1, 2, 3: mean 2, s = 1, t_{0.975, 2} = 4.302653; half = 4.302653 / √3 = 2.484138
    mean, half = fig_dst.t_interval([1.0, 2.0, 3.0])
    assert mean == pytest.approx(2.0)
    assert half == pytest.approx(4.302653 / np.sqrt(3), rel=1e-6)
    assert np.isnan(fig_dst.t_interval([0.5])[1])


def test_rigl_update_drops_smallest_and_grows_largest_gradient(fast):
    d = fast["rigl_update"]
    assert 0 < d["drop_fraction"] <= d["alpha"] and d["t"] in d["updates"]
    for l, L in enumerate(d["layers"]):
        before, dropped, grown, after = (np.asarray(L[k]) for k in ("before", "dropped", "grown", "after"))
        assert dropped.size == grown.size > 0
        assert np.all(np.isin(dropped, before))
        # grown were inactive after the drop: never a kept connection (re-growing a dropped one is allowed)
        kept = np.setdiff1d(before, dropped)
        assert not np.isin(grown, kept).any()
        assert np.array_equal(np.sort(after), np.union1d(kept, grown)) and after.size == before.size
        W, G = np.asarray(L["W"]), np.asarray(L["G"])
        assert np.abs(W.ravel()[dropped]).max() <= np.abs(W.ravel()[kept]).min()   # smallest |w| dropped
        inactive = np.setdiff1d(np.arange(W.size), kept)
        not_grown = np.setdiff1d(inactive, grown)
        if not_grown.size:
            assert np.abs(G.ravel()[grown]).min() >= np.abs(G.ravel()[not_grown]).max()
        assert W.shape == (d["sizes"][l], d["sizes"][l + 1])


def test_sparse_momentum_update_conserves_nnz(fast):
    d = fast["sparse_momentum_update"]
    assert sum(d["shares"]) == pytest.approx(1.0)
    assert sum(d["after_regrowth"]) == sum(d["before"])
    assert all(a <= b for a, b in zip(d["after_prune"], d["before"]))
    assert sum(d["before"]) - sum(d["after_prune"]) > 0


def test_dst_accuracy_structure(fast):
    d = fast["dst_accuracy"]
    assert set(d["methods"]) == {"dense", *fig_dst.METHODS}
    for m in fig_dst.METHODS:
        r = d["methods"][m]
        assert len(r["mean"]) == len(r["ci"]) == len(d["densities"])
        assert all(len(a) == len(d["seeds"]) and all(0 <= x <= 1 for x in a) for a in r["acc"])
        assert all(abs(rd - t) < 0.01 for rd, t in zip(r["density"], d["densities"]))
        assert d["chosen"][m]["lr"] in [row[0] for row in d["selection"][m]]
    assert len(d["methods"]["dense"]["mean"]) == 1


def test_extras_structure(fast):
    dead = fast["dst_dead_neurons"]["traces"]
    epochs = fig_dst.setting(True)["epochs"]
    assert set(dead) == set(fig_dst_extras.METHODS)
    assert all(len(t) == epochs + 1 and {"dead", "no_input", "never_active"} <= set(t[0][0]) for t in dead.values())
    maps = fast["dst_out_degree"]["maps"]
    for v in maps.values():
        assert np.asarray(v["start"]).shape == np.asarray(v["end"]).shape == (28, 28)
    assert np.asarray(maps["static"]["start"]).sum() == np.asarray(maps["static"]["end"]).sum()
    s = fast["sm_sensitivity"]
    assert np.asarray(s["mean"]).shape == (len(s["prune_rates"]), len(s["momenta"]))


@pytest.mark.parametrize("name", ["rigl_update", "sparse_momentum_update", "dst_accuracy", "dst_dead_neurons",
                                  "dst_out_degree", "sm_sensitivity"])
def test_every_plot_writes_a_png(fast, tmp_path, name):
    path = tmp_path / f"{name}.png"
    module = fig_dst if hasattr(fig_dst, f"{name}_plot") else fig_dst_extras
    getattr(module, f"{name}_plot")(fast[name], str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_dead_neurons_plot_is_readable(monkeypatch):
    """Legend off the data and naming both line kinds, integer epochs, one outlier clipped and written out."""
    import matplotlib.pyplot as plt

    def row(dead1, dead2, never=0):
        return [{"dead": dead1, "never_active": never, "no_input": 0, "no_output": dead1},
                {"dead": dead2, "never_active": never, "no_input": 0, "no_output": dead2}]
    traces = {m: [row(1, 61 if m == "Sparse Momentum" else 1)] + [row(2, 2, 1)] * 5 for m in fig_dst.METHODS}
    figs = captured_figures(monkeypatch, fig_dst_extras)
    fig_dst_extras.dst_dead_neurons_plot({"widths": [300, 100], "traces": traces}, "unused.png")
    fig = figs[0]
    renderer = fig.canvas.get_renderer()
    legend = fig.axes[-1].get_legend()
    labels = " ".join(t.get_text() for t in legend.get_texts())
    assert all(m in labels for m in fig_dst.METHODS) and "never active" in labels
    for ax in fig.axes:
        assert overlap(legend.get_window_extent(renderer), ax.get_window_extent(renderer)) == 0
        assert all(float(t).is_integer() for t in ax.get_xticks())
        assert "dotted" not in ax.get_title()
    left, right = fig.axes
    assert right.get_ylim()[1] < 20                                  # the 61 no longer sets the scale …
    assert any("61" in t.get_text() and "Sparse Momentum" in t.get_text() for t in right.texts)   # … it is written
    assert left.get_ylim()[1] < 20 and not any("61" in t.get_text() for t in left.texts)
    plt.close(fig)


def test_sm_sensitivity_colour_bar_is_labelled(fast, monkeypatch):
    import matplotlib.pyplot as plt
    figs = captured_figures(monkeypatch, fig_dst_extras)
    fig_dst_extras.sm_sensitivity_plot(fast["sm_sensitivity"], "unused.png")
    colorbar = figs[0].axes[-1]
    assert "test accuracy (%)" in colorbar.get_ylabel()
    plt.close(figs[0])
