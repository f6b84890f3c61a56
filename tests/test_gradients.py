"""Hand-written gradients against central differences, in float64, at active and inactive positions."""
import numpy as np
import pytest

from minisparse import SparseMLP, activations, losses, topology
from minisparse import layer as layer_module
from minisparse.layer import SparseLinear, build_panels, sampled_product

from helpers import rel_err, toy as _toy


def toy(seed=0, sizes=(6, 7, 5, 4), density=0.5, activation="relu", B=5):
    return _toy(seed, sizes, density, activation, B)

H = 1e-6


def numeric_grad(f, x, h=H):
    """Central differences ∂f/∂x_k ≈ (f(x + h e_k) − f(x − h e_k)) / 2h, x modified in place and restored."""
    g = np.zeros(x.size)
    flat = x.reshape(-1)
    for k in range(x.size):
        old = flat[k]
        flat[k] = old + h
        up = f()
        flat[k] = old - h
        down = f()
        flat[k] = old
        g[k] = (up - down) / (2 * h)
    return g.reshape(x.shape)


@pytest.mark.parametrize("name", ["relu", "tanh", "sigmoid", "linear"])
def test_activation_derivatives(name):
    f, f_prime = activations.get(name)
    Z = np.random.default_rng(1).standard_normal(50) * 3
    Z = Z[np.abs(Z) > 1e-3]                                # ReLU's kink has no derivative
    numeric = np.array([(f(z + H) - f(z - H)) / (2 * H) for z in Z])
    assert rel_err(f_prime(Z, f(Z)), numeric) < 1e-6


def test_cross_entropy_gradient():
    rng = np.random.default_rng(2)
    Z, y = rng.standard_normal((6, 5)), rng.integers(0, 5, 6)
    numeric = numeric_grad(lambda: losses.cross_entropy(Z, y), Z)
    assert rel_err(losses.cross_entropy_grad(Z, y), numeric) < 1e-6


def test_cross_entropy_by_hand():
    # logits (0, ln 3) → softmax (1/4, 3/4); label 1 → L = −ln(3/4); ∂L/∂Z = (1/4, 3/4 − 1)
    Z = np.array([[0.0, np.log(3.0)]])
    assert np.isclose(losses.cross_entropy(Z, np.array([1])), -np.log(0.75))
    assert np.allclose(losses.cross_entropy_grad(Z, np.array([1])), [[0.25, -0.25]])


def test_sampled_product_matches_dense_formula_and_chunks():
    rng = np.random.default_rng(3)
    W = topology.from_keys(np.sort(rng.choice(40 * 30, 200, replace=False)), np.ones(200), (40, 30))
    A, dZ = rng.standard_normal((16, 40)), rng.standard_normal((16, 30))
    rows, cols = topology.entry_rows(W), W.indices
    dense = (A.T @ dZ)[rows, cols]                      # G = A_prevᵀ dZ sampled at the pattern
    loop = [sum(A[b, i] * dZ[b, j] for b in range(16)) for i, j in zip(rows, cols)]
    for chunk in (1, 37, 16 * 7, 1 << 20):
        g = sampled_product(A, dZ, rows, cols, chunk_elements=chunk)
        assert np.allclose(g, dense, rtol=1e-12, atol=1e-12) and np.allclose(g, loop)
    g32 = sampled_product(A.astype(np.float32), dZ.astype(np.float32), rows, cols, chunk_elements=16 * 7)
    assert g32.dtype == np.float32 and np.allclose(g32, dense, rtol=1e-4, atol=1e-4)   # float32 stays float32
    assert sampled_product(A, dZ, rows[:0], cols[:0]).shape == (0,)                     # an empty layer


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_single_layer_gradients(activation):
    rng = np.random.default_rng(4)
    W = topology.from_keys(np.sort(rng.choice(8 * 6, 20, replace=False)), rng.standard_normal(20), (8, 6))
    layer = SparseLinear(W, rng.standard_normal(6), activation)
    A_prev, R = rng.standard_normal((5, 8)), rng.standard_normal((5, 6))
    loss = lambda: float(np.sum(layer.forward(A_prev)[1] * R))    # L = Σ A ⊙ R, so dA = R
    Z, A = layer.forward(A_prev)
    dW, db, dA_prev, G = layer.backward(A_prev, Z, A, R, dense=True)
    assert rel_err(dW, numeric_grad(loss, layer.W.data)) < 1e-6
    assert rel_err(db, numeric_grad(loss, layer.b)) < 1e-6
    assert rel_err(dA_prev, numeric_grad(loss, A_prev)) < 1e-6
    assert np.allclose(G[layer.rows, layer.cols], dW)


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_three_layer_mlp_active_positions(activation):
    model, X, y = toy(activation=activation)
    _, grads = model.loss_and_grads(X, y)
    for layer, g in zip(model.layers, grads):
        assert rel_err(g.dW, numeric_grad(lambda: model.loss(X, y), layer.W.data)) < 1e-6
        assert rel_err(g.db, numeric_grad(lambda: model.loss(X, y), layer.b)) < 1e-6


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_dense_gradient_at_inactive_positions(activation):
    """G_ij for an inactive (i, j): insert (i, j) as an explicit zero and take central differences."""
    model, X, y = toy(seed=5, activation=activation)
    _, grads = model.loss_and_grads(X, y, dense=True)
    for l, layer in enumerate(model.layers):
        G = grads[l].G
        assert G.shape == layer.shape
        assert rel_err(G[layer.rows, layer.cols], grads[l].dW) < 1e-10
        inactive = np.argwhere(~topology.mask(layer.W))
        for i, j in inactive[:: max(1, len(inactive) // 6)]:
            topology.grow(model, l, [i], [j], 0.0)
            k = np.flatnonzero((layer.rows == i) & (layer.cols == j))[0]
            numeric = numeric_grad(lambda: model.loss(X, y), layer.W.data[k:k + 1])[0]
            assert abs(numeric - G[i, j]) <= 1e-6 * max(1e-3, abs(G[i, j]) + abs(numeric))
            topology.prune(model, l, np.arange(layer.nnz) != k)
        _, again = model.loss_and_grads(X, y, dense=True)
        assert np.allclose(again[l].G, G)                   # pattern restored, gradient unchanged


def test_float32_gradients_stay_float32_and_close():
    model, X, y = toy(seed=6)
    _, g64 = model.loss_and_grads(X, y)
    m32 = SparseMLP([type(layer)(layer.W.astype(np.float32), layer.b.astype(np.float32),
                                 layer.activation) for layer in model.layers])
    _, g32 = m32.loss_and_grads(X.astype(np.float32), y, dense=True)
    for a, b in zip(g64, g32):
        assert b.dW.dtype == np.float32 and b.db.dtype == np.float32 and b.G.dtype == np.float32
        assert np.allclose(a.dW, b.dW, atol=1e-5)


@pytest.mark.parametrize("shape, panel_units, walk", [
    ((5, 40), 32768, "column-major"), ((40, 5), 32768, "row-major"), ((12, 12), 32768, "row-major"),
    ((12, 12), 4, "panels"), ((9, 14), 4, "panels"), ((14, 9), 2, "panels"), ((5, 40), 4, "panels")])
def test_every_walk_matches_the_dense_formulas(shape, panel_units, walk, monkeypatch):
    """Expanding layers (n_in < n_out) run their products in column-major order, layers wide on both
    sides panel by panel, the others in W's row-major order (here PANEL_UNITS is made small so that
    tiny layers use panels, including unequal and one-unit-wide panels). Every walk must give the
    dense formulas, also after W.data changes in place (an optimizer step, with or without a new
    forward pass) and after the pattern changes."""
    monkeypatch.setattr(layer_module, "PANEL_UNITS", panel_units)
    rng = np.random.default_rng(11)
    n_in, n_out = shape
    W = topology.from_keys(np.sort(rng.choice(n_in * n_out, 60, replace=False)), rng.standard_normal(60), shape)
    layer = SparseLinear(W, rng.standard_normal(n_out), "tanh")
    assert layer.walk == walk
    A_prev, dA = rng.standard_normal((7, n_in)), rng.standard_normal((7, n_out))

    def check():
        Wd = layer.W.toarray()
        Z, A = layer.forward(A_prev)
        assert np.allclose(Z, A_prev @ Wd + layer.b, atol=1e-12)
        layer.W.data *= 1.5                                  # in place, as an optimizer does
        Wd = layer.W.toarray()
        dW, db, dA_prev, _ = layer.backward(A_prev, Z, A, dA)   # no forward since the change
        dZ = dA * (1 - A * A)
        assert np.allclose(dW, (A_prev.T @ dZ)[layer.rows, layer.cols], atol=1e-12)
        assert np.allclose(dA_prev, dZ @ Wd.T, atol=1e-12) and np.allclose(db, dZ.sum(0))
        assert np.allclose(layer.forward(A_prev)[0], A_prev @ Wd + layer.b, atol=1e-12)

    check()
    keep = rng.random(layer.nnz) < 0.7                           # a new pattern: caches rebuilt
    layer.W = topology.remove_entries(layer.W, keep)
    free = np.setdiff1d(np.arange(n_in * n_out), topology.entry_keys(layer.W))[:9]
    layer.W, _ = topology.add_entries(layer.W, free // n_out, free % n_out, rng.standard_normal(9))
    check()


@pytest.mark.parametrize("side", ["out", "in"])
@pytest.mark.parametrize("shape, width", [((12, 12), 4), ((9, 14), 5), ((14, 9), 1), ((6, 6), 6), ((20, 3), 7)])
def test_panels_hold_the_dense_blocks(side, shape, width):
    """Each panel is W's dense block over its range of units (transposed for side 'in'), ``order`` is a
    permutation of the entries with ``rows``/``cols`` following it, and panels are at most ``width``
    units wide and cover the side; empty panels (no entry in a range) are kept."""
    rng = np.random.default_rng(3)
    n_in, n_out = shape
    keys = np.sort(rng.choice(n_in * n_out, n_in * n_out // 3, replace=False))
    keys = keys[keys % n_out != n_out - 1] if side == "out" else keys[keys // n_out != 0]   # one empty unit
    W = topology.from_keys(keys, rng.standard_normal(keys.size), shape)
    P = build_panels(W, topology.entry_rows(W), side, width)
    Wd = W.toarray()
    n = n_out if side == "out" else n_in
    assert P.edges[0] == 0 and P.edges[-1] == n and np.all(np.diff(P.edges) <= width) and np.all(np.diff(P.edges) > 0)
    assert np.array_equal(np.sort(P.order), np.arange(W.nnz))
    assert np.array_equal(P.rows, topology.entry_rows(W)[P.order]) and np.array_equal(P.cols, W.indices[P.order])
    assert np.array_equal(np.concatenate([b.data for b in P.blocks]), W.data[P.order])
    for lo, hi, block in zip(P.edges, P.edges[1:], P.blocks):
        assert np.array_equal(block.toarray(), Wd[:, lo:hi] if side == "out" else Wd[lo:hi, :].T)
    W.data[:] = rng.standard_normal(W.nnz)                 # refresh follows W.data's new values
    Wd = W.toarray()
    for lo, hi, block in zip(P.edges, P.edges[1:], P.refresh(W.data)):
        assert np.array_equal(block.toarray(), Wd[:, lo:hi] if side == "out" else Wd[lo:hi, :].T)


def test_nbytes_counts_the_pattern_copies(monkeypatch):
    """A fresh layer holds W and b; the panel copies built by the first products are counted too, per
    side at least order (8 B), rows and cols (4 B each), values and indices (4 B each) per entry; a new
    pattern drops them again."""
    monkeypatch.setattr(layer_module, "PANEL_UNITS", 4)
    rng = np.random.default_rng(5)
    W = topology.from_keys(np.sort(rng.choice(144, 50, replace=False)), rng.standard_normal(50), (12, 12))
    layer = SparseLinear(W, np.zeros(12), "relu")
    base = W.data.nbytes + W.indices.nbytes + W.indptr.nbytes + layer.b.nbytes
    assert layer.nbytes == base
    Z, A = layer.forward(rng.standard_normal((3, 12)))
    after_forward = layer.nbytes
    assert after_forward >= base + 50 * (8 + 4 + 4 + 4 + 4)           # 'out' panels (and entry rows)
    layer.backward(rng.standard_normal((3, 12)), Z, A, rng.standard_normal((3, 12)))
    assert layer.nbytes >= after_forward + 50 * (8 + 4 + 4 + 4 + 4)    # plus the 'in' panels
    built = layer.nbytes
    fresh = SparseLinear(W.copy(), np.zeros(12), "relu").prepare()        # builds the same copies up front
    assert fresh.nbytes == built and set(fresh._panels) == {"in", "out"}
    layer.W = topology.remove_entries(layer.W, np.arange(50) % 2 == 0)
    assert layer.nbytes == layer.W.data.nbytes + layer.W.indices.nbytes + layer.W.indptr.nbytes + layer.b.nbytes


def test_panels_give_the_row_major_results_bit_for_bit(monkeypatch):
    """Panels add the same terms in the same order as the row-major products (each output unit sums
    over its inputs in increasing order, each input unit over its outputs), so the forward values,
    the sampled gradient and the input gradient are identical, not just close."""
    rng = np.random.default_rng(8)
    W = topology.from_keys(np.sort(rng.choice(90 * 70, 900, replace=False)),
                           rng.standard_normal(900).astype(np.float32), (90, 70))
    A_prev = np.asfortranarray(rng.standard_normal((16, 90), dtype=np.float32))
    dA = np.asfortranarray(rng.standard_normal((16, 70), dtype=np.float32))
    results = []
    for units in (32768, 16):
        monkeypatch.setattr(layer_module, "PANEL_UNITS", units)
        layer = SparseLinear(W.copy(), np.zeros(70, np.float32), "relu")
        Z, A = layer.forward(A_prev)
        results.append((layer.walk, Z, *layer.backward(A_prev, Z, A, dA)[:3]))
    (walk_a, *plain), (walk_b, *panels) = results
    assert (walk_a, walk_b) == ("row-major", "panels")
    assert all(np.array_equal(p, q) for p, q in zip(plain, panels))
