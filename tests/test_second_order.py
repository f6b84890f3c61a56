"""Second-order pruning against independent oracles: second differences of the loss, a dense
finite-difference Hessian, the KKT system of a constrained quadratic, per-sample library gradients,
and least squares for the layer-wise reconstruction."""
import numpy as np
import pytest
import scipy.sparse as sp

from minisparse import SGD, SparseMLP, pruning

from minisparse.network import losses, topology

from minisparse.pruning import second_order
from minisparse.network.layer import SparseLinear

from helpers import rel_err, toy as _toy


def toy(seed=0, sizes=(5, 6, 4, 3), density=0.6, activation="relu", B=4):
    return _toy(seed, sizes, density, activation, B)


def second_differences(model, X, y, h=1e-4):
    """∂²L/∂w_q² ≈ (L(w + h e_q) − 2L(w) + L(w − h e_q)) / h², every stored weight, layer by layer."""
    L0, out = model.loss(X, y), []
    for layer in model.layers:
        d = np.empty(layer.nnz)
        for k in range(layer.nnz):
            old = layer.W.data[k]
            layer.W.data[k] = old + h
            up = model.loss(X, y)
            layer.W.data[k] = old - h
            down = model.loss(X, y)
            layer.W.data[k] = old
            d[k] = (up - 2 * L0 + down) / h ** 2
        out.append(d)
    return out


def dense_hessian(model, X, y, h=1e-5):
    """Full Hessian over all stored weights by central differences of the library's gradients."""
    params = [layer.W.data for layer in model.layers]
    n = sum(p.size for p in params)

    def grad():
        return np.concatenate([g.dW for g in model.loss_and_grads(X, y)[1]])
    H, col = np.empty((n, n)), 0
    for p in params:
        for k in range(p.size):
            old = p[k]
            p[k] = old + h
            up = grad()
            p[k] = old - h
            down = grad()
            p[k] = old
            H[:, col] = (up - down) / (2 * h)
            col += 1
    return (H + H.T) / 2


def min_hidden_abs_Z(model, X):
    _, cache = model.forward(X, keep=True)
    return min(np.abs(Z).min() for _, Z, _ in cache[:-1])


# ---------------------------------------------------------------- diagonal Hessian


def test_softmax_factor_gives_the_cross_entropy_hessian():
    rng = np.random.default_rng(0)
    P = losses.softmax(rng.standard_normal((3, 4)))
    S = second_order.softmax_factor(P)
    for b in range(3):
        assert np.allclose(S[b] @ S[b].T, np.diag(P[b]) - np.outer(P[b], P[b]), atol=1e-14)


@pytest.mark.parametrize("activation, method, density", [
    ("relu", "gauss_newton", 0.6), ("relu", "gauss_newton", 1.0), ("relu", "exact", 0.6),
    ("tanh", "exact", 0.6), ("sigmoid", "exact", 0.6), ("tanh", "exact", 1.0)])
def test_hessian_diagonal_matches_second_differences(activation, method, density):
    model, X, y = toy(seed=5, activation=activation, density=density)
    if activation == "relu":          # a ±1e-4 step moves Z by < 1e-3: stay away from the kinks
        assert min_hidden_abs_Z(model, X) > 1e-2
    H = second_order.hessian_diagonal(model, X, y, method=method)
    numeric = second_differences(model, X, y)
    for H_l, num_l, layer in zip(H, numeric, model.layers):
        assert H_l.shape == (layer.nnz,)
        assert rel_err(H_l, num_l) < 1e-4


def test_bias_diagonal_matches_second_differences():
    model, X, y = toy(activation="tanh")
    _, Hb = second_order.hessian_diagonal(model, X, y, method="exact", bias=True)
    L0, h = model.loss(X, y), 1e-4
    for layer, Hb_l in zip(model.layers, Hb):
        num = np.empty(layer.b.size)
        for j in range(layer.b.size):
            old = layer.b[j]
            layer.b[j] = old + h
            up = model.loss(X, y)
            layer.b[j] = old - h
            down = model.loss(X, y)
            layer.b[j] = old
            num[j] = (up - 2 * L0 + down) / h ** 2
        assert rel_err(Hb_l, num) < 1e-4


@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_gauss_newton_misses_the_f_second_term(activation):
    model, X, y = toy(activation=activation)
    gn = np.concatenate(second_order.hessian_diagonal(model, X, y, "gauss_newton"))
    exact = np.concatenate(second_order.hessian_diagonal(model, X, y, "exact"))
    numeric = np.concatenate(second_differences(model, X, y))
    assert rel_err(exact, numeric) < 1e-4
    assert rel_err(gn, numeric) > 1e-2           # the f″ ⊙ dA term is not negligible
    # the output layer sees no f″: there both methods agree exactly
    n_last = model.layers[-1].nnz
    assert np.allclose(gn[-n_last:], exact[-n_last:], rtol=1e-12)


def test_exact_refuses_wide_layers_and_unknown_methods():
    model, X, y = toy(sizes=(3, second_order.MAX_EXACT_WIDTH + 1, 2), density=0.5)
    with pytest.raises(ValueError, match="gauss_newton"):
        second_order.hessian_diagonal(model, X, y, method="exact")
    with pytest.raises(ValueError, match="unknown method"):
        second_order.hessian_diagonal(model, X, y, method="fisher")


def test_exact_equals_gauss_newton_for_relu_across_chunks():
    # f″ = 0 for ReLU: the two methods agree; B > EXACT_CHUNK exercises the chunked exact pass
    model, X, y = toy(seed=2, B=2 * second_order.EXACT_CHUNK + 5)
    gn = second_order.hessian_diagonal(model, X, y, "gauss_newton", bias=True)
    exact = second_order.hessian_diagonal(model, X, y, "exact", bias=True)
    for a, b in zip(gn[0] + gn[1], exact[0] + exact[1]):
        assert np.allclose(a, b, rtol=1e-10, atol=1e-14)


# ---------------------------------------------------------------- OBD


def test_obd_by_hand():
    # one linear layer, x = (4, 1), W = [[0.25, 0.2], [·, 0.3]] (w_10 absent), b = (0, −0.1)
    # Z = (4·0.25, 4·0.2 + 1·0.3 − 0.1) = (1, 1) → p = (½, ½); h_j = p_j(1 − p_j) = ¼ for both classes
    # H_qq = x_i²·h_j = (16·¼, 16·¼, 1·¼) = (4, 4, ¼)
    # s_q = ½·H_qq·w_q² = (½·4·0.0625, ½·4·0.04, ½·¼·0.09) = (0.125, 0.08, 0.01125)
    W = topology.from_positions([0, 0, 1], [0, 1, 1], [0.25, 0.2, 0.3], (2, 2))
    model = SparseMLP([SparseLinear(W, np.array([0.0, -0.1]), "linear")])
    X, y = np.array([[4.0, 1.0]]), np.array([0])
    assert np.allclose(second_order.hessian_diagonal(model, X, y)[0], [4, 4, 0.25])
    s = second_order.obd_score(model, X, y)
    assert np.allclose(s[0], [0.125, 0.08, 0.01125])
    # OBD removes w_11 = 0.3 (tiny input); magnitude would have removed w_01 = 0.2
    assert np.argmin(pruning.magnitude_score(model)[0]) == 1
    pruning.prune_lowest(model, s, fraction=1 / 3)
    assert topology.mask(model.layers[0].W).tolist() == [[True, True], [False, False]]


@pytest.mark.parametrize("activation, method", [("relu", "gauss_newton"), ("tanh", "exact")])
def test_obd_matches_dense_finite_difference_hessian(activation, method):
    model, X, y = toy(seed=1, activation=activation, sizes=(4, 5, 3), B=6)
    if activation == "relu":
        assert min_hidden_abs_Z(model, X) > 1e-2
    H = dense_hessian(model, X, y)
    w = np.concatenate([layer.W.data for layer in model.layers])
    s = np.concatenate(second_order.obd_score(model, X, y, method))
    assert rel_err(s, 0.5 * np.diag(H) * w ** 2) < 1e-6
    assert np.abs(H - np.diag(np.diag(H))).max() > 1e-3     # OBD's diagonal is an approximation


# ---------------------------------------------------------------- OBS block maths


def quadratic(seed=0, n=6):
    rng = np.random.default_rng(seed)
    M = rng.standard_normal((n, n))
    return M @ M.T + 0.5 * np.eye(n), rng.standard_normal(n)     # H (SPD), w* (the current weights)


@pytest.mark.parametrize("Q", [[2], [1, 4], [0, 3, 5], [0, 1, 2, 3, 4, 5]])
def test_obs_update_is_the_constrained_minimiser(Q):
    H, w_star = quadratic()
    n, q = len(w_star), len(Q)
    w_new = second_order.obs_update(w_star, np.linalg.inv(H), Q)
    assert np.all(w_new[Q] == 0.0)
    w_h = second_order.obs_update_hessian(w_star, H, Q)               # the form the routines use
    assert np.all(w_h[Q] == 0.0) and np.allclose(w_h, w_new, atol=1e-12)
    # KKT of min ½(w − w*)ᵀH(w − w*) s.t. E_Qᵀw = 0:  [[H, E_Q], [E_Qᵀ, 0]] [w; μ] = [H w*; 0]
    E = np.eye(n)[:, Q]
    K = np.block([[H, E], [E.T, np.zeros((q, q))]])
    w_kkt = np.linalg.solve(K, np.concatenate([H @ w_star, np.zeros(q)]))[:n]
    assert np.allclose(w_new, w_kkt, atol=1e-12)
    increase = 0.5 * (w_new - w_star) @ H @ (w_new - w_star)
    H_inv_QQ = np.linalg.inv(H)[np.ix_(Q, Q)]
    assert np.isclose(increase, 0.5 * w_star[Q] @ np.linalg.solve(H_inv_QQ, w_star[Q]))
    if q == 1:
        assert np.isclose(increase, w_star[Q[0]] ** 2 / (2 * np.linalg.inv(H)[Q[0], Q[0]]))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_spd_inverse(dtype):
    H, _ = quadratic(seed=1, n=7)
    H_inv = second_order.spd_inverse(H.astype(dtype))
    assert H_inv.dtype == dtype and np.array_equal(H_inv, H_inv.T)
    assert np.allclose(H_inv, np.linalg.inv(H), rtol=1e-3 if dtype == np.float32 else 1e-10)
    with pytest.raises(np.linalg.LinAlgError, match="damping"):
        second_order.spd_inverse(-H)


def per_sample_grads(model, X, y, l):
    """g_b = ∇_W L_b of layer l from the library, one sample at a time.   # (B, nnz_l)"""
    return np.array([model.loss_and_grads(X[b:b + 1], y[b:b + 1])[1][l].dW for b in range(len(y))])


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_fisher_block_matches_per_sample_gradients(activation):
    model, X, y = toy(seed=1, activation=activation, B=7)
    A_prevs, dZs = second_order.per_sample_backward(model, X, y)
    for l, layer in enumerate(model.layers):
        G = per_sample_grads(model, X, y, l)                           # (B, nnz)
        for j, ks in enumerate(second_order.neuron_entries(layer)):
            assert np.all(layer.cols[ks] == j) and np.all(np.diff(layer.rows[ks]) > 0)
            F_ref = G[:, ks].T @ G[:, ks] / len(y)
            F = second_order.fisher_block(A_prevs[l], dZs[l][:, j], layer.rows[ks])
            assert np.allclose(F, F_ref, atol=1e-14, rtol=1e-10)


def test_obs_score_matches_dense_reference():
    model, X, y = toy(seed=2, activation="tanh", B=5)
    damping = 0.1
    s = second_order.obs_score(model, X, y, damping=damping)
    for l, layer in enumerate(model.layers):
        G = per_sample_grads(model, X, y, l)
        lam = damping * np.mean(G ** 2)                                  # mean diag of the layer's Fisher
        for j in range(layer.shape[1]):
            ks = np.flatnonzero(layer.cols == j)
            F_inv = np.linalg.inv(G[:, ks].T @ G[:, ks] / len(y) + lam * np.eye(ks.size))
            assert np.allclose(s[l][ks], layer.W.data[ks] ** 2 / (2 * np.diag(F_inv)), rtol=1e-10)


# ---------------------------------------------------------------- pruning routines


def check_pruned(before_masks, model, keeps, expected_removed):
    for M, layer, keep, k in zip(before_masks, model.layers, keeps, expected_removed):
        assert topology.is_canonical(layer.W)
        assert int((~keep).sum()) == k and layer.nnz == keep.sum()
        removed = np.zeros_like(M)
        removed[np.nonzero(M)[0][~keep], np.nonzero(M)[1][~keep]] = True   # row-major = W.data order
        assert np.array_equal(topology.mask(layer.W), M & ~removed)


def obs(model, X, y, **kw):
    return second_order.obs_prune(model, X, y, damping=1e-2, **kw)


def layerwise(model, X, y, **kw):
    return second_order.layerwise_obs_prune(model, X, **kw)


@pytest.mark.parametrize("routine", [obs, layerwise])
@pytest.mark.parametrize("density0", [0.5, 1.0])
def test_prune_counts_per_layer_and_global(routine, density0):
    for scope, kw in [("layer", dict(fraction=0.3)), ("layer", dict(density=0.2)),
                      ("global", dict(fraction=0.4))]:
        model, X, y = toy(seed=4, sizes=(8, 7, 6, 3), density=density0, B=20)
        opt = SGD(model, lr=0.1, momentum=0.9)
        before = [topology.mask(layer.W) for layer in model.layers]
        per_layer, total = pruning.removal_counts(model, **kw)
        keeps = routine(model, X, y, scope=scope, optimizer=opt, **kw)
        removed = [int((~k).sum()) for k in keeps]
        if scope == "layer":
            assert removed == list(per_layer)
        assert sum(removed) == total
        check_pruned(before, model, keeps, removed)
        assert [v.size for v in opt.v_W] == [layer.nnz for layer in model.layers]


def test_obs_prune_removes_the_lowest_scores_and_compensates():
    model, X, y = toy(seed=5, sizes=(6, 5, 3), density=0.7, B=30)
    old = [layer.W.data.copy() for layer in model.layers]
    s = second_order.obs_score(model, X, y, damping=1e-2)
    keeps = second_order.obs_prune(model, X, y, fraction=0.3, damping=1e-2)
    for s_l, keep, w_old, layer in zip(s, keeps, old, model.layers):
        assert np.array_equal(keep, pruning.keep_all_but_lowest(s_l, int((~keep).sum())))
        assert not np.allclose(layer.W.data, w_old[keep])           # survivors moved (OBS update)


def correlated_inputs(rng, n=400, d=12):
    return rng.standard_normal((n, d)) @ (np.eye(d) + 0.8 * rng.standard_normal((d, d)))


def test_layerwise_update_is_the_least_squares_refit():
    # with λ → 0 each neuron's survivors solve min ‖X̂_R w_R − X̂ w_old‖², X̂ the layer's inputs in the
    # *pruned* network (SparseGPT feeds each layer the pruned layers' outputs): plain least squares
    rng = np.random.default_rng(6)
    model, _, _ = toy(seed=6, sizes=(12, 10, 8, 3), density=0.7)
    X = correlated_inputs(rng)
    W_old = [layer.W.toarray() for layer in model.layers]
    second_order.layerwise_obs_prune(model, X, fraction=0.5, damping=1e-12)
    _, cache = model.forward(X, keep=True)
    for layer, W_o, (X_hat, _, _) in zip(model.layers, W_old, cache):
        W_new, M = layer.W.toarray(), topology.mask(layer.W)
        for j in range(W_new.shape[1]):
            R = np.flatnonzero(M[:, j])
            w_R = np.linalg.lstsq(X_hat[:, R], X_hat @ W_o[:, j], rcond=None)[0]
            assert np.allclose(W_new[R, j], w_R, atol=1e-6)


@pytest.mark.parametrize("density0", [0.6, 1.0])
def test_layerwise_obs_beats_magnitude_on_reconstruction(density0):
    rng = np.random.default_rng(7)
    model, _, _ = toy(seed=7, sizes=(12, 10, 3), density=density0)
    X = correlated_inputs(rng)
    Z_old = X @ model.layers[0].W

    def error(m):
        return np.sum((X @ m.layers[0].W - Z_old) ** 2) / len(X)
    mag = SparseMLP([SparseLinear(layer.W.copy(), layer.b.copy(), layer.activation)
                     for layer in model.layers])
    pruning.prune_lowest(mag, pruning.magnitude_score(mag), fraction=0.5)
    second_order.layerwise_obs_prune(model, X, fraction=0.5)
    assert model.nnz == mag.nnz
    assert error(model) < 0.75 * error(mag)             # measured: 0.54 (d0 = 1) and 0.56 (d0 = 0.6)


def test_damping_must_be_positive():
    model, X, y = toy()
    with pytest.raises(ValueError, match="damping"):
        second_order.obs_prune(model, X, y, fraction=0.1, damping=0.0)
    with pytest.raises(ValueError, match="damping"):
        second_order.layerwise_obs_prune(model, X, fraction=0.1, damping=-1.0)


def test_obs_update_handles_a_sparse_csr_start_in_place():
    # the joint update writes W.data in place: the pattern object changes only through topology.prune
    model, X, y = toy(seed=8, density=0.5, B=10)
    assert all(isinstance(layer.W, sp.csr_array) for layer in model.layers)
    second_order.obs_prune(model, X, y, density=0.3, damping=1e-2)
    assert all(topology.is_canonical(layer.W) for layer in model.layers)
    assert all(np.isfinite(layer.W.data).all() for layer in model.layers)
