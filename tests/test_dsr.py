"""DSR: the threshold rule in both directions, the reallocation by hand (with its rounding), one update
on a hand-built network against a dense-mask restatement, and the invariants as properties."""
import copy

import numpy as np
import pytest
from helpers import small_teacher
from hypothesis import given
from hypothesis import strategies as st

from minisparse import SGD, SparseMLP
from minisparse.network.topology import entry_keys, from_keys, is_canonical, mask
from minisparse.sparse_training.dsr import (
    N_P_FRACTION,
    adapt_threshold,
    below_threshold,
    default_n_prune,
    dsr_update,
    reallocate,
    train_dsr,
)

# ---------------------------------------------------------------- the rules, by hand

def test_threshold_doubles_when_too_few_are_pruned_and_halves_when_too_many():
    # N_p = 100, δ = 0.1: the band is [90, 110]; K outside it moves H by a factor 2.
    assert adapt_threshold(0.01, 111, 100) == 0.005        # 111 > 110: too many → H/2
    assert adapt_threshold(0.01, 110, 100) == 0.01         # on the edge: unchanged
    assert adapt_threshold(0.01, 90, 100) == 0.01
    assert adapt_threshold(0.01, 89, 100) == 0.02          # 89 < 90: too few → 2H
    assert adapt_threshold(0.01, 0, 100) == 0.02
    assert adapt_threshold(0.01, 130, 100, tolerance=0.5) == 0.01     # a wider band
    with pytest.raises(ValueError, match="threshold H > 0"):
        adapt_threshold(0.0, 5, 100)
    with pytest.raises(ValueError, match="tolerance"):
        adapt_threshold(0.01, 5, 100, tolerance=1.5)


def test_prune_is_strictly_below_h_and_never_empties_a_layer():
    w = np.array([0.5, -0.02, 0.01, -0.3, 0.0199])
    assert below_threshold(w, 0.02).tolist() == [True, True, False, True, False]   # |−0.02| = H stays
    assert below_threshold(np.array([0.001, -0.004, 0.002]), 1.0).tolist() == [False, True, False]
    assert below_threshold(np.array([]), 1.0).size == 0


def test_reallocation_gives_each_layer_its_share_of_the_survivors():
    # K = 10, R = (6, 3, 1): exactly (6, 3, 1).
    assert reallocate(10, [6, 3, 1], [100, 100, 100]).tolist() == [6, 3, 1]
    # K = 7: ideal 4.2, 2.1, 0.7 → floors 4, 2, 0; the 1 left goes to the largest remainder (0.7).
    assert reallocate(7, [6, 3, 1], [100, 100, 100]).tolist() == [4, 2, 1]
    # K = 5, R = (1, 1): 2.5 and 2.5, a tie → the lower layer: (3, 2).
    assert reallocate(5, [1, 1], [100, 100]).tolist() == [3, 2]
    # Layer 0 has 2 free positions: it takes them; the other 8 go 3 : 1 → 6, 2.
    assert reallocate(10, [6, 3, 1], [2, 100, 100]).tolist() == [2, 6, 2]
    with pytest.raises(ValueError, match="free slots"):
        reallocate(10, [6, 3, 1], [2, 3, 4])


# ---------------------------------------------------------------- one update on a printed network

def hand_model():
    """4-3-2: layer 0 holds 6 weights, layer 1 holds 4; H = 0.1 prunes 3 in layer 0, 1 in layer 1."""
    model = SparseMLP.random([4, 3, 2], density=0.5, rng=0)
    model.layers[0].W = from_keys([0, 2, 4, 5, 7, 10], [0.5, -0.05, 0.09, -0.8, 0.3, -0.099], (4, 3))
    model.layers[1].W = from_keys([0, 1, 3, 4], [0.4, -0.6, 0.05, 0.7], (3, 2))
    return model


def test_one_update_by_hand():
    model = hand_model()
    opt = SGD(model, lr=0.1, momentum=0.9)
    opt.v_W[0][:] = 1.0
    opt.v_W[1][:] = 1.0
    up = dsr_update(model, 0.1, n_prune=2, rng=0, optimizer=opt)
    # (1) |w| < 0.1: layer 0 loses keys 2, 4, 10 (−0.05, 0.09, −0.099), layer 1 loses key 3 (0.05).
    assert up.pruned == [3, 1] and up.surviving == [3, 3]
    assert up.dropped[0].tolist() == [2, 4, 10] and up.dropped[1].tolist() == [3]
    # (3) K = 4 shared ∝ survivors 3 : 3 → 2 and 2; free before the update: 12 − 6 = 6 and 6 − 4 = 2.
    assert up.grown_counts == [2, 2]
    # (2) K = 4 > 1.1 · 2: too many pruned → H/2 for the next update.
    assert up.threshold == 0.1 and up.next_threshold == 0.05
    for l, (layer, d, g) in enumerate(zip(model.layers, up.dropped, up.grown)):
        keys = entry_keys(layer.W)
        assert not np.isin(g, d).any()                      # never back onto a just-pruned position
        assert np.all(layer.W.data[np.isin(keys, g)] == 0)  # grown at 0
        assert np.all(opt.v_W[l][np.isin(keys, g)] == 0) and np.all(opt.v_W[l][~np.isin(keys, g)] == 1)
        assert is_canonical(layer.W)
    # layer 1's only free positions were 2 and 5, besides the just-pruned 3: both grown.
    assert up.grown[1].tolist() == [2, 5] and model.nnz == 10
    assert model.layers[0].W.nnz == 5 and model.layers[1].W.nnz == 5


def test_update_against_a_dense_mask_restatement():
    """M_new = (M ∧ |W| ≥ H) ∨ grown, grown ⊆ ¬M, per-layer counts ∝ survivors (largest remainder)."""
    rng = np.random.default_rng(3)
    model = SparseMLP.random([12, 10, 8, 5], density=0.3, rng=3)
    for layer in model.layers:
        layer.W.data[:] = rng.standard_normal(layer.nnz) * 0.1
    W_old = [layer.W.toarray() for layer in model.layers]
    M_old = [mask(layer.W) for layer in model.layers]
    H = 0.05
    up = dsr_update(model, H, n_prune=30, rng=1)
    kept = [m & (np.abs(W) >= H) for m, W in zip(M_old, W_old)]
    R = np.array([k.sum() for k in kept])
    K = sum(m.sum() for m in M_old) - R.sum()
    ideal = K * R / R.sum()
    assert np.all(np.abs(np.array(up.grown_counts) - ideal) < 1) and sum(up.grown_counts) == K
    for k, m, layer, W in zip(kept, M_old, model.layers, W_old):
        M_new = mask(layer.W)
        grown = M_new & ~k
        assert np.array_equal(M_new & k, k) and not (grown & m).any()
        assert np.array_equal(layer.W.toarray()[k], W[k]) and np.all(layer.W.toarray()[grown] == 0)


def test_too_dense_is_refused_before_anything_changes():
    model = SparseMLP.random([4, 3, 2], topology="dense", rng=0)
    before = [layer.W.copy() for layer in model.layers]
    with pytest.raises(ValueError, match="too dense for DSR"):
        dsr_update(model, 10.0, n_prune=5, rng=0)
    assert all((a != layer.W).nnz == 0 for a, layer in zip(before, model.layers))
    with pytest.raises(ValueError, match="threshold H"):
        dsr_update(model, -1.0, n_prune=5, rng=0)
    with pytest.raises(ValueError, match="n_prune"):
        dsr_update(model, 0.1, n_prune=0, rng=0)


# ---------------------------------------------------------------- invariants, as properties

@given(seed=st.integers(0, 10_000), H=st.floats(1e-3, 0.3), density=st.floats(0.05, 0.45))
def test_update_conserves_nnz_keeps_canonical_and_grows_apart_from_what_it_pruned(seed, H, density):
    model = SparseMLP.random([9, 7, 6, 3], density=density, rng=seed)
    nnz, old = model.nnz, [entry_keys(layer.W) for layer in model.layers]
    up = dsr_update(model, H, n_prune=10, rng=seed)
    assert model.nnz == nnz and sum(up.pruned) == sum(up.grown_counts)
    for layer, k0, d, g in zip(model.layers, old, up.dropped, up.grown):
        assert is_canonical(layer.W)
        assert np.isin(d, k0).all() and not np.isin(g, k0).any() and not np.isin(g, d).any()
        assert np.array_equal(entry_keys(layer.W), np.union1d(np.setdiff1d(k0, d), g))


def test_training_same_seed_same_run_and_the_threshold_moves_towards_the_target():
    data = small_teacher()
    runs = []
    for _ in range(2):
        model = SparseMLP.random([20, 24, 16, 4], density=0.2, rng=0)
        history, log = train_dsr(model, data, epochs=6, period=5, n_prune=40, lr=0.05, rng=7, verbose=False)
        runs.append((model, history, log))
    (m1, h1, l1), (m2, h2, l2) = runs
    assert np.array_equal(h1["loss"], h2["loss"]) and l1["threshold"] == l2["threshold"]
    assert all(np.array_equal(a.W.toarray(), b.W.toarray()) for a, b in zip(m1.layers, m2.layers))
    assert len(l1["step"]) >= 4 and all(s % 5 == 0 for s in l1["step"])
    for K, H, H_next in zip(map(sum, l1["pruned"]), l1["threshold"], l1["next_threshold"]):
        assert H_next == (H / 2 if K > 44 else 2 * H if K < 36 else H)
    assert h1["loss"][-1] < h1["loss"][0] and h1.rows[-1]["updates"] == len(l1["step"])
    assert {"threshold", "moved", "ever_active", "macs_sparse"} <= set(h1.rows[-1])
    assert h1.rows[-1]["macs_dense"] == 0


def test_default_target_scales_the_codes_600_of_5324():
    model = SparseMLP.random([784, 300, 100, 10], density=0.02, rng=0)
    assert abs(model.nnz - 5324) < 5 and abs(default_n_prune(model) - 600) <= 1
    assert N_P_FRACTION == pytest.approx(0.1127, abs=1e-4)
    model2 = copy.deepcopy(model)
    assert default_n_prune(model2) == default_n_prune(model)
