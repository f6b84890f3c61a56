"""First-order pruning scores against hand-worked examples, dense oracles and finite differences."""
import numpy as np
import pytest

from minisparse import SGD, SparseMLP, fit, train_step
from minisparse.data.datasets import Split
from minisparse.pruning.first_order import (MomentumPruner, MovementScore, TaylorScore, grasp_prune, grasp_score,
                                    hessian_vector_product, snip_prune, snip_score, taylor_score)
from minisparse.network.layer import SparseLinear
from minisparse.network.losses import softmax
from minisparse.network.masked import MaskedMLP
from minisparse.network.mlp import Grad
from minisparse.network.topology import entry_keys, from_positions, grow, is_canonical, prune

from helpers import rel_err, toy as _toy


def toy(seed=0, sizes=(6, 7, 5, 4), density=0.6, activation="tanh", B=8):
    return _toy(seed, sizes, density, activation, B)


def tiny():
    """One linear layer 2 → 2, W = [[1, 3], [1, ·]] ((1, 1) inactive), b = 0; x = (1, 2), y = 0.

    Z = x W = (1·1 + 2·1, 1·3) = (3, 3) → p = (½, ½) → dZ = p − onehot(0) = (−½, ½).
    g_ij = x_i dZ_j on the active entries (0,0), (0,1), (1,0): g = (−½, ½, 2·(−½)) = (−0.5, 0.5, −1).
    """
    W = from_positions([0, 0, 1], [0, 1, 0], [1.0, 3.0, 1.0], (2, 2))
    model = SparseMLP([SparseLinear(W, np.zeros(2), "linear")])
    return model, np.array([[1.0, 2.0]]), np.array([0])


def dense_grads_at_active(model, X, y):
    """g at the active positions from the dense-mask model (an independent backprop)."""
    _, grads = MaskedMLP.from_sparse(model).loss_and_grads(X, y)
    return [dW[layer.rows, layer.cols] for (dW, _), layer in zip(grads, model.layers)]


def fd_hessian(model, X, y, h=1e-5):
    """Full Hessian over all active weights, column k = (∇L(θ + h e_k) − ∇L(θ − h e_k)) / 2h."""
    flat = [layer.W.data for layer in model.layers]
    cols = []
    for w in flat:
        for k in range(w.size):
            old = w[k]
            w[k] = old + h
            up = np.concatenate([g.dW for g in model.loss_and_grads(X, y)[1]])
            w[k] = old - h
            down = np.concatenate([g.dW for g in model.loss_and_grads(X, y)[1]])
            w[k] = old
            cols.append((up - down) / (2 * h))
    H = np.array(cols).T
    return (H + H.T) / 2


def split(v, model):
    return np.split(v, np.cumsum([layer.nnz for layer in model.layers])[:-1])


# ---------------------------------------------------------------- SNIP

def test_snip_by_hand():
    model, X, y = tiny()
    # s = |g ⊙ w| = (|−0.5·1|, |0.5·3|, |−1·1|) = (0.5, 1.5, 1.0)
    np.testing.assert_allclose(snip_score(model, X, y)[0], [0.5, 1.5, 1.0], atol=1e-15)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_snip_matches_dense_oracle(seed):
    model, X, y = toy(seed, activation="relu")
    expected = [np.abs(g * layer.W.data) for g, layer in zip(dense_grads_at_active(model, X, y), model.layers)]
    assert rel_err(snip_score(model, X, y), expected) < 1e-12


@pytest.mark.parametrize("prune_fn", [snip_prune, grasp_prune])
@pytest.mark.parametrize("density", [0.05, 0.2, 0.37])
def test_one_shot_prunes_reach_exact_density(prune_fn, density):
    model, X, y = toy(3, sizes=(12, 10, 6), density=0.6)
    size = sum(l.shape[0] * l.shape[1] for l in model.layers)
    keeps = prune_fn(model, X, y, density)
    assert model.nnz == round(density * size)
    assert all(is_canonical(layer.W) for layer in model.layers)
    assert sum(int(k.sum()) for k in keeps) == model.nnz


@pytest.mark.parametrize("prune_fn, scope, density, kept", [
    (snip_prune, "layer", 0.25, [2, 2]),        # 10 weights per layer: 2.5 → 2, not 3
    (snip_prune, "layer", 0.35, [4, 4]),        # 3.5 → 4
    (snip_prune, "global", 0.125, 2),           # N = 20: 2.5 → 2
    (snip_prune, "global", 0.175, 4),           # 3.5 → 4
    (grasp_prune, "global", 0.125, 2),
    (grasp_prune, "global", 0.225, 4),          # 4.5 → 4
])
def test_one_shot_counts_round_half_to_even(prune_fn, scope, density, kept):
    """Two dense layers 2 → 5 → 2 (10 weights each, N = 20): round(d·N) stays, half to even."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((6, 2)), rng.integers(0, 2, 6)
    model = SparseMLP.random([2, 5, 2], density=1.0, activation="tanh", rng=1)
    if prune_fn is snip_prune:
        snip_prune(model, X, y, density, scope=scope)
    else:
        grasp_prune(model, X, y, density)
    nnz = [layer.nnz for layer in model.layers]
    assert (nnz if scope == "layer" else sum(nnz)) == kept


def test_snip_prune_keeps_the_highest_globally():
    model, X, y = toy(4, sizes=(12, 10, 6), density=0.6)
    s = np.concatenate(snip_score(model, X, y))
    keys_before = [entry_keys(layer.W) for layer in model.layers]
    keeps = snip_prune(model, X, y, density=0.2)
    kept = np.concatenate(keeps)
    assert s[kept].min() >= s[~kept].max()
    for keep, keys, layer in zip(keeps, keys_before, model.layers):
        np.testing.assert_array_equal(entry_keys(layer.W), keys[keep])


# ---------------------------------------------------------------- Hessian-vector product and GraSP

def exact_linear_hessian(model, X):
    """One linear softmax layer: H[(i,j),(k,l)] = (1/B) Σ_b x_bi x_bk (diag p_b − p_b p_bᵀ)_jl, active only."""
    layer = model.layers[0]
    P = softmax(X @ layer.W + layer.b)
    H = sum(np.kron(np.outer(x, x), np.diag(p) - np.outer(p, p)) for x, p in zip(X, P)) / len(X)
    keys = entry_keys(layer.W)
    return H[np.ix_(keys, keys)]


def test_grasp_by_hand():
    model, X, y = tiny()
    # p = (½, ½): diag p − ppᵀ = [[¼, −¼], [−¼, ¼]]; g = (−0.5, 0.5, −1) on (0,0), (0,1), (1,0).
    # u_l = Σ_k x_k g_kl: u_0 = 1·(−0.5) + 2·(−1) = −2.5, u_1 = 1·0.5 = 0.5
    # v = (diag p − ppᵀ) u = (¼(−2.5) − ¼(0.5), −¼(−2.5) + ¼(0.5)) = (−0.75, 0.75)
    # (Hg)_ij = x_i v_j = (−0.75, 0.75, 2·(−0.75)) = (−0.75, 0.75, −1.5)
    # θ ⊙ Hg = (1·(−0.75), 3·0.75, 1·(−1.5)) = (−0.75, 2.25, −1.5); paper's S = −θ ⊙ Hg = (0.75, −2.25, 1.5)
    g = model.loss_and_grads(X, y)[1][0].dW
    np.testing.assert_allclose(g, [-0.5, 0.5, -1.0], atol=1e-15)
    np.testing.assert_allclose(exact_linear_hessian(model, X) @ g, [-0.75, 0.75, -1.5], atol=1e-15)
    np.testing.assert_allclose(hessian_vector_product(model, X, y, [g])[0], [-0.75, 0.75, -1.5], atol=1e-8)
    np.testing.assert_allclose(grasp_score(model, X, y, temperature=1.0)[0], [-0.75, 2.25, -1.5], atol=1e-8)
    # GraSP removes the HIGHEST S = 1.5 at (1, 0): our lowest score is that same entry
    keep = grasp_prune(model, X, y, density=0.5, temperature=1.0)[0]
    np.testing.assert_array_equal(keep, [True, True, False])


def test_hvp_matches_exact_linear_hessian_on_random_inputs():
    rng = np.random.default_rng(5)
    W = from_positions(*np.divmod(rng.choice(20, 13, replace=False), 4), rng.standard_normal(13), (5, 4))
    model = SparseMLP([SparseLinear(W, rng.standard_normal(4), "linear")])
    X, y, v = rng.standard_normal((7, 5)), rng.integers(0, 4, 7), rng.standard_normal(13)
    assert rel_err(hessian_vector_product(model, X, y, [v]), [exact_linear_hessian(model, X) @ v]) < 1e-7


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_hg_matches_finite_difference_hessian(activation):
    model, X, y = toy(6, activation=activation)
    before = [layer.W.data.copy() for layer in model.layers]
    g = np.concatenate([g.dW for g in model.loss_and_grads(X, y)[1]])
    Hg = fd_hessian(model, X, y) @ g
    assert rel_err(hessian_vector_product(model, X, y, split(g, model)), split(Hg, model)) < 1e-5
    expected = split(np.concatenate(before) * Hg, model)
    assert rel_err(grasp_score(model, X, y, temperature=1.0), expected) < 1e-5
    for w, layer in zip(before, model.layers):      # weights restored bit for bit
        np.testing.assert_array_equal(layer.W.data, w)


def test_grasp_prune_follows_the_reference_rule():
    # reference: S = −θ ⊙ Hg; threshold = topk(S, k) → remove the k highest S (over all layers)
    model, X, y = toy(7, sizes=(8, 6, 4), density=0.7)
    g = np.concatenate([g.dW for g in model.loss_and_grads(X, y)[1]])
    S = -np.concatenate([layer.W.data for layer in model.layers]) * (fd_hessian(model, X, y) @ g)
    k = model.nnz - round(0.3 * sum(l.shape[0] * l.shape[1] for l in model.layers))
    expected_keep = np.ones(S.size, dtype=bool)
    expected_keep[np.argsort(-S)[:k]] = False
    np.testing.assert_array_equal(np.concatenate(grasp_prune(model, X, y, 0.3, temperature=1.0)),
                                  expected_keep)


def test_grasp_with_temperature_is_the_softened_loss_formula():
    """θ ⊙ H_T g_T for L_T(θ) = CE(Z/T): the chain rule through a copy whose last layer is θ/T."""
    import copy
    T = 200.0
    model, X, y = toy(8, activation="tanh")
    scaled = copy.deepcopy(model)
    scaled.layers[-1].W.data /= T
    scaled.layers[-1].b /= T
    J = np.concatenate([np.full(layer.nnz, 1.0 / T if l == len(model.layers) - 1 else 1.0)
                        for l, layer in enumerate(model.layers)])
    g_T = J * np.concatenate([g.dW for g in scaled.loss_and_grads(X, y)[1]])     # ∂L_T/∂θ
    H_T = J[:, None] * fd_hessian(scaled, X, y) * J[None, :]                      # ∂²L_T/∂θ²
    theta = np.concatenate([layer.W.data for layer in model.layers])
    expected = split(theta * (H_T @ g_T), model)
    assert rel_err(grasp_score(model, X, y, temperature=T), expected) < 1e-5
    assert rel_err(grasp_score(model, X, y), expected) < 1e-5                     # T = 200 by default
    assert rel_err(grasp_score(model, X, y, temperature=1.0), expected) > 0.1     # and T matters


# ---------------------------------------------------------------- Taylor and movement

def hand_model():
    """One layer 1 → 2 with w = (1, 1): two weights the test pushes by hand."""
    W = from_positions([0, 0], [0, 1], [1.0, 1.0], (1, 2))
    return SparseMLP([SparseLinear(W, np.zeros(2), "linear")])


def two_hand_steps(tracker, model):
    """Two SGD steps (η = 0.2) with g = (0.5, −0.5), each followed by ``update`` as in ``after_step``."""
    g = [Grad(np.array([0.5, -0.5]), np.zeros(2))]
    model.layers[0].W.data[:] -= 0.2 * g[0].dW  # step 1, g taken at w = (1, 1): w → (0.9, 1.1)
    tracker.update(g)
    model.layers[0].W.data[:] -= 0.2 * g[0].dW  # step 2, g taken at w = (0.9, 1.1): w → (0.8, 1.2)
    tracker.update(g)
    return tracker.scores()[0]


def test_movement_by_hand():
    model = hand_model()
    # S = −g₁w₁ − g₂w₂ = −(0.5·1, −0.5·1) − (0.5·0.9, −0.5·1.1) = (−0.5 − 0.45, 0.5 + 0.55) = (−0.95, 1.05)
    S = two_hand_steps(MovementScore(model), model)
    np.testing.assert_allclose(S, [-0.95, 1.05], atol=1e-15)
    assert S[0] < S[1]       # weight 0 pushed towards 0 (0.9), weight 1 away (1.1)


def test_taylor_by_hand():
    model = hand_model()
    # s = |g₁w₁| + |g₂w₂| = (0.5 + 0.45, 0.5 + 0.55) = (0.95, 1.05)
    np.testing.assert_allclose(two_hand_steps(TaylorScore(model), model), [0.95, 1.05], atol=1e-15)


def test_movement_equals_recorded_sum_over_training_steps():
    model, X, y = toy(8, activation="relu")
    opt, tracker, rng = SGD(model, lr=0.1, momentum=0.9), MovementScore(model), np.random.default_rng(0)
    expected = [np.zeros(layer.nnz) for layer in model.layers]
    for _ in range(6):
        idx = rng.choice(len(y), 4, replace=False)
        w_before = [layer.W.data.copy() for layer in model.layers]
        _, grads = train_step(model, opt, X[idx], y[idx])
        tracker.update(grads)
        for e, g, w in zip(expected, grads, w_before):
            e -= g.dW * w
    assert rel_err(tracker.scores(), expected) < 1e-14


def test_movement_with_fit_after_step_uses_pre_step_weights():
    model, X, y = toy(9)
    data = Split(X, y, X[:0], y[:0], X[:0], y[:0])
    tracker, expected = MovementScore(model), [np.zeros(layer.nnz) for layer in model.layers]
    last = [layer.W.data.copy() for layer in model.layers]

    def after_step(step, grads):
        tracker.update(grads)
        for e, g, w in zip(expected, grads, last):
            e -= g.dW * w                       # recorded weights: after the previous step
        last[:] = [layer.W.data.copy() for layer in model.layers]

    fit(model, SGD(model, lr=0.05), data, epochs=2, batch_size=3, rng=0, verbose=False,
        after_step=after_step)
    assert rel_err(tracker.scores(), expected) < 1e-14


def test_taylor_is_sum_of_per_batch_dense_scores():
    model, X, y = toy(10, activation="relu", B=11)
    expected = [np.zeros(layer.nnz) for layer in model.layers]
    for s in range(0, 11, 4):                   # batches of 4, 4, 3
        for e, g, layer in zip(expected, dense_grads_at_active(model, X[s:s + 4], y[s:s + 4]), model.layers):
            e += np.abs(g * layer.W.data)
    assert rel_err(taylor_score(model, X, y, batch_size=4), expected) < 1e-12
    assert rel_err(expected, snip_score(model, X, y)) > 1e-3    # not the one-batch score


# ---------------------------------------------------------------- momentum-based pruning

def set_weights(model, values):
    for layer, v in zip(model.layers, values):
        layer.W.data[:] = v


def test_momentum_layer_importance_by_hand():
    W0 = from_positions([0, 0, 1, 1], [0, 1, 0, 1], [-0.1, 0.2, 0.4, -0.5], (2, 2))
    W1 = from_positions([0, 0, 1, 1], [0, 1, 0, 1], [0.1, -0.2, 0.9, -1.2], (2, 2))
    model = SparseMLP([SparseLinear(W0, np.zeros(2)), SparseLinear(W1, np.zeros(2), "linear")])
    # mean|W_0| = 1.2/4 = 0.3, mean|W_1| = 2.4/4 = 0.6, mean over layers 0.45
    # I_0 = 0.3/0.45 = 2/3, I_1 = 0.6/0.45 = 4/3; τ_l = 0.2 / I_l: τ_0 = 0.3, τ_1 = 0.15
    pruner = MomentumPruner(model, threshold=0.2, window=3, patience=2)
    np.testing.assert_allclose(pruner.layer_thresholds(), [0.3, 0.15])
    pruner.update()
    pruner.update()
    # below: layer 0 |w| 0.1, 0.2 < 0.3; layer 1 only 0.1 < 0.15 (0.2 survives in the important layer;
    # the literal threshold·I_l, τ = (0.133, 0.267), would remove 0.2 there and keep 0.2 in layer 0)
    keeps = pruner.step_prune()
    np.testing.assert_array_equal(keeps[0], [False, False, True, True])
    np.testing.assert_array_equal(keeps[1], [False, True, True, True])
    np.testing.assert_array_equal(model.layers[1].W.data, [-0.2, 0.9, -1.2])


def test_momentum_needs_patience_consecutive_epochs():
    W = from_positions([0, 0, 0, 0], [0, 1, 2, 3], np.ones(4), (1, 4))
    model = SparseMLP([SparseLinear(W, np.zeros(4), "linear")])      # one layer: I = 1, τ = 0.2
    opt = SGD(model, lr=0.1)
    pruner = MomentumPruner(model, threshold=0.2, window=5, patience=3)
    #        epoch:  1     2     3     4     5     6
    a = np.array([0.5, -0.1, 0.1, 0.1, -0.1, np.nan])   # below from epoch 2 on → candidate at epoch 4
    b = np.array([0.1, 0.1, 0.5, 0.1, -0.1, 0.1])        # dips 2 epochs, recovers, dips again
    seen = []
    for t in range(5):
        set_weights(model, [[a[t], b[t], 1.0, -1.0]])
        pruner.update()
        seen.append(pruner.candidates()[0][:2].tolist())
    assert seen == [[False, False]] * 3 + [[True, False]] * 2
    keep = pruner.step_prune(opt)[0]
    np.testing.assert_array_equal(keep, [False, True, True, True])       # only a
    assert opt.v_W[0].shape == (3,) and pruner.magnitudes[0].shape == (5, 3)
    set_weights(model, [[b[5], 0.1, -1.0]])             # epoch 6: b below for epochs 4, 5, 6; the
    pruner.update()                                     # third weight only now (its first dip)
    np.testing.assert_array_equal(pruner.candidates()[0], [True, False, False])   # realigned history


def test_momentum_pruner_inside_fit():
    model, X, y = toy(11, activation="relu", B=30)
    data, opt = Split(X, y, X[:0], y[:0], X[:0], y[:0]), None
    opt = SGD(model, lr=0.05)
    pruner = MomentumPruner(model, threshold=0.5, window=3, patience=2)
    nnz0 = model.nnz
    fit(model, opt, data, epochs=4, batch_size=10, rng=0, verbose=False,
        after_epoch=lambda e, h: (pruner.update(), pruner.step_prune(opt)))
    assert 0 < model.nnz < nnz0 and all(is_canonical(layer.W) for layer in model.layers)
    assert all(v.shape == (layer.nnz,) for v, layer in zip(opt.v_W, model.layers))


def test_momentum_pruner_refuses_bad_arguments():
    model, _, _ = toy(0)
    with pytest.raises(ValueError, match="patience"):
        MomentumPruner(model, threshold=0.1, window=5, patience=6)


# ---------------------------------------------------------------- pattern changed under a tracker

def change_pattern(model, same_nnz):
    """Drop entry 0 of layer 0; with ``same_nnz`` grow a new entry elsewhere (nnz unchanged)."""
    layer = model.layers[0]
    free = np.setdiff1d(np.arange(layer.shape[0] * layer.shape[1]), entry_keys(layer.W))[0]
    keep = np.ones(layer.nnz, dtype=bool)
    keep[0] = False
    prune(model, 0, keep)
    if same_nnz:
        grow(model, 0, [free // layer.shape[1]], [free % layer.shape[1]], 0.0)


@pytest.mark.parametrize("same_nnz", [False, True])
@pytest.mark.parametrize("make", [TaylorScore, MovementScore,
                                  lambda m: MomentumPruner(m, threshold=0.1, window=3, patience=2)])
def test_trackers_detect_a_changed_pattern(make, same_nnz):
    model, X, y = toy(12)
    tracker = make(model)
    grads = model.loss_and_grads(X, y)[1]
    change_pattern(model, same_nnz)
    call = tracker.update if isinstance(tracker, MomentumPruner) else lambda: tracker.update(grads)
    with pytest.raises(ValueError, match="pattern changed"):
        call()


def test_tracker_refuses_misaligned_grads():
    model, X, y = toy(13)
    tracker = MovementScore(model)
    grads = model.loss_and_grads(X, y)[1]
    grads[1] = Grad(grads[1].dW[:-1], grads[1].db)
    with pytest.raises(ValueError, match=r"grads\[1\]"):
        tracker.update(grads)
