"""K-FAC and WoodFisher for OBS against their definitions: factors by hand, dense inverses of the
Kronecker block and of the damped empirical Fisher, the generic OBS formulas, a finite-difference
Hessian, and on a trained net the exact-Hessian OBS."""
import numpy as np
import pytest
import scipy.sparse as sp
from helpers import rel_err, small_teacher, toy
from scipy import stats
from test_second_order import dense_hessian

from minisparse import SGD, SparseMLP
from minisparse.network import losses
from minisparse.network.layer import SparseLinear
from minisparse.network.train import fit
from minisparse.pruning import second_order as so
from minisparse.pruning import second_order_approx as sa


def one_layer(seed=0):
    """A linear 4 → 3 layer with a hand pattern (neuron 1 sees rows 0, 2, 3) and a batch of 6."""
    rng = np.random.default_rng(seed)
    mask = np.array([[1, 1, 0], [0, 0, 1], [1, 1, 1], [1, 1, 0]], dtype=bool)
    W = sp.csr_array(np.where(mask, rng.standard_normal(mask.shape), 0.0))
    model = SparseMLP([SparseLinear(W, rng.standard_normal(3) * 0.1, "linear")])
    return model, rng.standard_normal((6, 4)), rng.integers(0, 3, 6)


def test_kfac_factors_by_hand():
    a = np.array([[1.0, 2.0], [3.0, 0.0]])
    g = np.array([[1.0, -1.0], [0.0, 2.0]])
    A, G = sa.kfac_factors_from(a, g, damping=0.04)           # √0.04 = 0.2 × mean diagonal
    assert np.allclose(A, [[5 + 0.7, 1], [1, 2 + 0.7]], atol=1e-14)          # (aaᵀ + …)/2, 3.5·0.2
    assert np.allclose(G, [[0.5 + 0.3, -0.5], [-0.5, 2.5 + 0.3]], atol=1e-14)  # mean diag 1.5


def test_kfac_factors_of_a_layer_are_the_moments_of_inputs_and_output_gradients():
    model, X, y = one_layer()
    Y = np.eye(3)[y]
    dZ = losses.softmax(X @ model.layers[0].W.toarray() + model.layers[0].b) - Y   # ∂L_n/∂Z per sample
    A, G = sa.kfac_factors(model, 0, X, y, damping=1e-2)
    A0, G0 = X.T @ X / 6, dZ.T @ dZ / 6
    assert np.allclose(A, A0 + 0.1 * np.diag(A0).mean() * np.eye(4), rtol=1e-12)
    assert np.allclose(G, G0 + 0.1 * np.diag(G0).mean() * np.eye(3), rtol=1e-12)


def test_kfac_block_inverse_is_the_inverse_of_the_kronecker_block():
    model, X, y = one_layer()
    A, G = sa.kfac_factors(model, 0, X, y, damping=1e-2)
    S = np.array([0, 2, 3])
    assert rel_err(sa.kfac_block_inverse(A, G, 1, S), np.linalg.inv(G[1, 1] * A[np.ix_(S, S)])) < 1e-12


@pytest.mark.parametrize("N, k", [(1, 3), (7, 5), (40, 12)])
def test_woodfisher_recursion_is_the_damped_fisher_inverse(N, k):
    rng = np.random.default_rng(N)
    g, lam = rng.standard_normal((N, k)) * 3, 0.05
    dense = np.linalg.inv(lam * np.eye(k) + g.T @ g / N)
    assert rel_err(sa.woodfisher_inverse(g, lam), dense) < 1e-10


def test_damping_must_be_positive():
    model, X, y = one_layer()
    for f in (lambda: sa.woodfisher_inverse(np.ones((2, 2)), 0.0), lambda: sa.kfac_factors(model, 0, X, y, 0),
              lambda: sa.woodfisher_obs_score(model, 0, X, y, -1.0)):
        with pytest.raises(ValueError, match="damping"):
            f()


def dense_kfac_inverses(model, l, X, y, damping):
    A, G = sa.kfac_factors(model, l, X, y, damping)
    return lambda j, S: np.linalg.inv(G[j, j] * A[np.ix_(S, S)])


def dense_fisher_inverses(model, l, X, y, damping):
    block = so._fisher_blocks(model, X, y, damping)[l]
    return lambda j, S: np.linalg.inv(block(j, S))


def generic_obs(layer, inverse, keep):
    """s_q = w_q²/(2[H⁻¹]_qq) and the OBS update, neuron by neuron from a given H⁻¹."""
    s, w = np.zeros(layer.nnz), layer.W.data.copy()
    for j, ks in enumerate(so.neuron_entries(layer)):
        if ks.size:
            H_inv = inverse(j, layer.rows[ks])
            s[ks] = w[ks] ** 2 / (2 * np.diagonal(H_inv))
            Q = np.flatnonzero(~keep[ks])
            if Q.size:
                w[ks] = w[ks] - H_inv[:, Q] @ np.linalg.solve(H_inv[np.ix_(Q, Q)], w[ks][Q])
                w[ks[Q]] = 0.0
    return s, w


@pytest.mark.parametrize("method", ["kfac", "woodfisher"])
@pytest.mark.parametrize("l", [0, 1, 2])
def test_scores_and_updates_are_the_obs_formulas_of_their_inverse(method, l):
    model, X, y = toy(3, (5, 6, 4, 3), 0.6, "tanh", 9)
    score, prune_fn = {"kfac": (sa.kfac_obs_score, sa.kfac_prune),
                       "woodfisher": (sa.woodfisher_obs_score, sa.woodfisher_prune)}[method]
    inverse = {"kfac": dense_kfac_inverses, "woodfisher": dense_fisher_inverses}[method](model, l, X, y, 0.05)
    layer = model.layers[l]
    s = score(model, l, X, y, damping=0.05)
    n_remove = round(0.4 * layer.nnz)
    keep_expected = np.ones(layer.nnz, bool)
    keep_expected[np.argsort(s, kind="stable")[:n_remove]] = False
    s_ref, w_ref = generic_obs(layer, inverse, keep_expected)
    assert rel_err(s, s_ref) < 1e-10
    rows, cols = layer.rows.copy(), layer.cols.copy()
    keep = prune_fn(model, l, X, y, fraction=0.4, damping=0.05)
    assert np.array_equal(keep, keep_expected)
    assert model.layers[l].nnz == keep.sum()
    dense = np.zeros(layer.shape)
    dense[rows[keep], cols[keep]] = w_ref[keep]
    assert rel_err(model.layers[l].W.toarray(), dense) < 1e-10


def test_kfac_update_is_the_least_squares_refit_whatever_g():
    """G_jj cancels in K-FAC's update: it is the OBS update with H = A (the layer-wise refit)."""
    model, X, y = one_layer()
    layer = model.layers[0]
    keep = np.ones(layer.nnz, bool)
    keep[[0, 3]] = False
    A, _ = sa.kfac_factors(model, 0, X, y, 1e-2)
    _, w_ref = generic_obs(layer, lambda j, S: np.linalg.inv(A[np.ix_(S, S)]), keep)
    rows, cols = layer.rows.copy(), layer.cols.copy()
    sa.kfac_obs_update(model, 0, X, y, keep, damping=1e-2)
    assert np.allclose(model.layers[0].W.toarray()[rows[keep], cols[keep]], w_ref[keep], rtol=1e-12)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_exact_blocks_are_the_finite_difference_hessian(activation):
    model, X, y = toy(5, (5, 6, 4, 3), 0.6, activation, 4)
    H = dense_hessian(model, X, y)
    offset = 0
    for l, layer in enumerate(model.layers):
        inverse = sa.exact_block_inverse_fn(model, l, X, y, damping=1e-9)
        for j, ks in enumerate(so.neuron_entries(layer)):
            if ks.size:
                H_fd = H[np.ix_(offset + ks, offset + ks)]
                err = np.abs(np.linalg.inv(inverse(j, layer.rows[ks])) - H_fd).max()
                assert err < 1e-5 * np.abs(H).max()          # a dead ReLU neuron's block is 0
        offset += layer.nnz


@pytest.fixture(scope="module")
def trained():
    d = small_teacher()
    model = SparseMLP.random([20, 16, 8, 4], density=0.5, activation="tanh", rng=np.random.default_rng(0))
    fit(model, SGD(model, lr=0.05), d, epochs=10, verbose=False)
    return model, d.X_train, d.y_train


@pytest.mark.parametrize("l", [0, 1, 2])
def test_against_the_exact_hessian_on_a_trained_net(trained, l):
    model, X, y = trained
    before = [layer.W.data.copy() for layer in model.layers]
    # WoodFisher inverts the very matrix of the empirical-Fisher OBS: the same saliencies, any N, λ
    assert rel_err(sa.woodfisher_obs_score(model, l, X[:50], y[:50], 1e-4),
                   so.obs_score(model, X[:50], y[:50], 1e-4)[l]) < 1e-8
    r = sa.approximation_errors(model, X, y, l)
    assert all(np.array_equal(b, layer.W.data) for b, layer in zip(before, model.layers))
    for name in ("kfac", "woodfisher"):
        assert r[name]["spearman"] > 0 and r[name]["pearson"] > 0
        assert np.isfinite([r[name]["score_rel_err"], r[name]["update_rel_err"]]).all()
        assert r[name]["madds"] > 0 and r[name]["seconds"] >= 0
    # the exact ranking is closer to the empirical Fisher's than to a random one
    s_ex = sa._scores(model.layers[l], sa.exact_block_inverse_fn(model, l, X, y))
    s_rand = np.random.default_rng(0).permutation(s_ex)
    assert r["woodfisher"]["spearman"] > stats.spearmanr(s_rand, s_ex)[0]
