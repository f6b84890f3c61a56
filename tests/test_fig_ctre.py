"""CTRE figures in fast mode: F4's recorded update is consistent (picks are the top-k Sim among the
positions not kept, the just-dropped ones replaced at random), F7/F8/F6/F5 have the shapes and ranges
they claim, and spreading the runs over worker processes changes nothing."""
import numpy as np
import pytest

from minisparse.lab import fig_ctre


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
    jobs = [("SET", "madelon", 0, 16, 1, 2, 1, 200), ("CTRE_sim", "madelon", 1, 16, 1, 2, 1, 200)]
    assert fig_ctre.run_all(jobs) == [fig_ctre._job(j) for j in jobs]
