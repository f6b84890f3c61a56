"""CTRE figures in fast mode: F4's recorded update is consistent (picks are the top-k Sim among the
positions not kept, the just-dropped ones replaced at random), F7/F8/F6/F5 have the shapes and ranges
they claim, and spreading the runs over worker processes changes nothing."""
import numpy as np
import pytest

from minisparse.lab import fig_ctre

from helpers import captured_figures, overlap


@pytest.fixture(scope="module")
def update():
    return fig_ctre.ctre_update_data(fast=True)


def test_f4_update_is_a_real_ctre_sim_update(update):
    assert update["sizes"] == [5, 8, 3]
    for L in update["layers"]:
        k = L["dropped"].size
        kept = np.setdiff1d(L["before"], L["dropped"])
        free = np.setdiff1d(np.arange(L["sim"].size), kept)
        order = free[np.argsort(-L["sim"].ravel()[free], kind="stable")]
        assert np.array_equal(L["picks"], np.sort(order[:k]))
        redo = np.isin(L["picks"], L["dropped"])
        assert np.array_equal(L["by_similarity"], L["picks"][~redo]) and L["at_random"].size == redo.sum()
        assert np.array_equal(L["after"], np.union1d(kept, L["grown"])) and L["after"].size == L["before"].size
    assert any(L["at_random"].size for L in update["layers"])        # the figure shows both kinds


def test_f7_f5_f8_f6_fast(monkeypatch):
    acc = fig_ctre.ctre_accuracy_data(fast=True)
    cfg = fig_ctre.setting(True)
    assert set(acc["data"]) == {"madelon", "mnist5k", "text"}
    for rows in acc["data"].values():
        assert list(rows) == list(fig_ctre.METHODS)
        for r in rows.values():
            run = r["runs"][0]
            assert len(run["test"]) == len(run["val"]) == cfg["epochs"]
            assert 0 <= run["best_test"] <= 1 and run["test"][run["best_epoch"] - 1] == run["best_test"]
    sparse = acc["data"]["madelon"]
    assert sparse["dense"]["runs"][0]["density"] == 1.0
    nnz = {m: sparse[m]["runs"][0]["nnz"] for m in fig_ctre.METHODS if m != "dense"}
    assert max(nnz.values()) - min(nnz.values()) <= 1                # the same budget for every method
    trace = fig_ctre.ctre_trace_data(fast=True)
    sim = trace["CTRE_sim"]
    assert len(sim["by_similarity"]) == cfg["epochs"] - 1
    assert trace["CTRE_seq"]["switch_epoch"] is None or trace["CTRE_seq"]["switch_epoch"] >= 1 + cfg["patience"]
    dens = fig_ctre.ctre_density_data(fast=True)
    for rows in dens["methods"].values():
        assert rows["density"] == sorted(rows["density"])           # a larger ε, a denser net
    f6 = fig_ctre.cosine_vs_dot_data(fast=True)
    assert all(0 <= v <= 1 for key in ("cosine", "dot") for row in f6[key] for v in row)
    monkeypatch.setenv("MINISPARSE_WORKERS", "2")
    jobs = [("SET", "madelon", 0, 0, 16, 1, 2, 1, 200), ("CTRE_sim", "madelon", 0, 1, 16, 1, 2, 1, 200)]
    assert fig_ctre.run_all(jobs) == [fig_ctre._job(j) for j in jobs]


def _fake_runs(monkeypatch, seeds=(0, 1, 2), epochs=5):
    """Replace data loading and training by recorders: F7 / F8 then only assemble jobs and results."""
    drawn, trained = [], []

    def dataset(name, seed, n_fast=None):
        drawn.append((name, seed))
        return (name, seed)

    def run(method, data, hidden, epsilon, epochs_, seed, patience=40):
        trained.append((method, data, epsilon, seed))
        test = list(np.linspace(0.5, 0.6 + 0.01 * seed, epochs_))
        return {"val": test, "test": test, "last": test[-1], "best_epoch": epochs_, "best_val": test[-1],
                "best_test": test[-1], "density": 0.01 * epsilon, "nnz": 10}
    cfg = dict(fig_ctre.setting(True), seeds=seeds, f8_seeds=seeds, epochs=epochs, f8_epochs=epochs,
               data={"madelon": seeds, "text": seeds[:1]})
    monkeypatch.setattr(fig_ctre, "setting", lambda fast: cfg)
    monkeypatch.setattr(fig_ctre, "dataset", dataset)
    monkeypatch.setattr(fig_ctre, "run", run)
    monkeypatch.setenv("MINISPARSE_WORKERS", "1")
    return drawn, trained


def test_f7_f8_train_every_seed_on_one_data_draw(monkeypatch):
    """The seeds vary the network only: every run of a data set sees the same draw."""
    drawn, trained = _fake_runs(monkeypatch)
    f7 = fig_ctre.ctre_accuracy_data.__wrapped__(fast=True)
    assert set(drawn) == {("madelon", fig_ctre.DATA_SEED), ("text", fig_ctre.DATA_SEED)}
    assert f7["data_seed"] == fig_ctre.DATA_SEED
    madelon = [t for t in trained if t[1][0] == "madelon"]
    assert sorted({t[3] for t in madelon}) == [0, 1, 2]              # three network seeds …
    assert {t[1] for t in madelon} == {("madelon", fig_ctre.DATA_SEED)}   # … one data draw
    assert f7["data"]["madelon"]["SET"]["seeds"] == [0, 1, 2]
    drawn.clear()
    f8 = fig_ctre.ctre_density_data(fast=True, rng=3)
    assert set(drawn) == {("madelon", fig_ctre.DATA_SEED + 3)} and f8["data_seed"] == fig_ctre.DATA_SEED + 3


def test_f7_plot_keeps_legends_off_the_data_and_every_method_visible(monkeypatch):
    import matplotlib.pyplot as plt
    _fake_runs(monkeypatch)
    data = fig_ctre.ctre_accuracy_data.__wrapped__(fast=True)
    # CTRE_seq never switching is the same run as CTRE without random: make it so
    for rows in data["data"].values():
        rows["CTRE_seq"] = rows["CTRE without random"]
    figs = captured_figures(monkeypatch, fig_ctre)
    fig_ctre.ctre_accuracy_plot(data, "unused.png")
    fig = figs[0]
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        legend = ax.get_legend()
        assert legend is not None
        assert overlap(legend.get_window_extent(renderer), ax.get_window_extent(renderer)) == 0
        labels = [t.get_text() for t in legend.get_texts()]
        assert len(labels) == len(fig_ctre.METHODS)
        assert "never switched" in labels[list(fig_ctre.METHODS).index("CTRE_seq")]
        lines = {line.get_label().split(":")[0]: line for line in ax.get_lines()}
        styles = {(line.get_linestyle(), line.get_marker(), line.get_color()) for line in lines.values()}
        assert len(styles) == len(fig_ctre.METHODS)                   # no two methods drawn alike
        seq, plain = lines["CTRE_seq"], lines["CTRE without random"]
        assert seq.get_zorder() > plain.get_zorder() and seq.get_marker() != plain.get_marker()
        assert seq.get_markevery() != plain.get_markevery()            # markers at different epochs
    assert "seeds vary the network only" in fig._suptitle.get_text()
    plt.close(fig)


def test_f8_plot_legend_outside_the_axes(monkeypatch):
    import matplotlib.pyplot as plt
    _fake_runs(monkeypatch, seeds=(0, 1))
    data = fig_ctre.ctre_density_data(fast=True)
    figs = captured_figures(monkeypatch, fig_ctre)
    fig_ctre.ctre_density_plot(data, "unused.png")
    fig = figs[0]
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    legend = ax.get_legend()
    assert overlap(legend.get_window_extent(renderer), ax.get_window_extent(renderer)) == 0
    assert "one data draw" in ax.get_title()
    labels = [t.get_text() for t in legend.get_texts()]              # the fake runs are all alike
    assert "never switched" in labels[[label.split("\n")[0] for label in labels].index("CTRE_seq")]
    plt.close(fig)


def test_f4_legend_sits_under_the_heatmaps(update, monkeypatch):
    import matplotlib.pyplot as plt
    figs = captured_figures(monkeypatch, fig_ctre)
    fig_ctre.ctre_update_plot(update, "unused.png")
    fig = figs[0]
    renderer = fig.canvas.get_renderer()
    heatmaps = [ax for ax in fig.axes if ax.get_title().startswith("Sim")]
    legend = next(ax.get_legend() for ax in fig.axes if ax.get_legend() and not ax.get_title())
    box = legend.get_window_extent(renderer)
    assert len(heatmaps) == 2
    assert all(box.y1 <= ax.get_window_extent(renderer).y0 for ax in heatmaps)      # below both
    assert box.x0 < heatmaps[1].get_window_extent(renderer).x1 and box.x1 > heatmaps[0].get_window_extent(renderer).x0
    plt.close(fig)


def test_f5_shows_a_ctre_seq_run_that_switched(monkeypatch):
    """CTRE_seq's panel comes from the first seed that switched to random growth, and says which."""
    import matplotlib.pyplot as plt

    def run(growth):
        return {"growth": growth, "by_similarity": [3] * len(growth), "at_random": [0] * len(growth),
                "val": [0.5] * (len(growth) + 1)}
    sim = ["cosine"] * 6
    runs = {"CTRE_sim": {"seeds": [0, 1, 2], "runs": [run(sim)] * 3},
            "CTRE_seq": {"seeds": [0, 1, 2], "runs": [run(sim), run(sim[:4] + ["random"] * 2), run(sim)]}}
    monkeypatch.setattr(fig_ctre, "ctre_accuracy_data", lambda fast=False, rng=0: {"data": {"madelon": runs}})
    trace = fig_ctre.ctre_trace_data(fast=True)
    assert (trace["CTRE_seq"]["seed"], trace["CTRE_seq"]["switch_epoch"]) == (1, 5)
    assert trace["CTRE_seq"]["switched_seeds"] == [1] and trace["CTRE_sim"]["seed"] == 0
    runs["CTRE_seq"]["runs"] = [run(sim)] * 3                         # none switched: the first seed
    assert fig_ctre.ctre_trace_data(fast=True)["CTRE_seq"]["seed"] == 0
    trace = fig_ctre.ctre_trace_data(fast=True)
    trace["CTRE_seq"] = dict(trace["CTRE_seq"], switch_epoch=5, seed=1, switched_seeds=[1])
    figs = captured_figures(monkeypatch, fig_ctre)
    fig_ctre.ctre_trace_plot(trace, "unused.png")
    fig = figs[0]
    renderer = fig.canvas.get_renderer()
    assert all(ax.get_legend() is None for ax in fig.axes) and len(fig.legends) == 1
    assert all(overlap(fig.legends[0].get_window_extent(renderer), ax.get_window_extent(renderer)) == 0
               for ax in fig.axes)
    assert "seed 1" in fig.axes[1].get_title() and "after epoch 5" in fig.axes[1].get_title()
    plt.close(fig)
