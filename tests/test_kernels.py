"""The layer's products: every fast kernel against its reference form, on every walk, in float32 and
float64; the walks' data structures (panels) against W's dense blocks; the reference switch."""
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from minisparse import SGD, SparseLinear, SparseMLP, reference_kernels, train_step
from minisparse.network import kernels, topology
from minisparse.network.kernels import fast, reference

PRODUCTS = ("forward_product", "sampled_product", "input_gradient_product")


def random_layer(rng, n_in, n_out, nnz, dtype):
    keys = np.sort(rng.choice(n_in * n_out, nnz, replace=False))
    W = topology.from_keys(keys, rng.standard_normal(nnz).astype(dtype), (n_in, n_out))
    return SparseLinear(W, rng.standard_normal(n_out).astype(dtype), "tanh")


def both_forms(layer, A_prev, dZ):
    """{product: (fast result, reference result)} for one layer and batch."""
    out = {}
    for kind in ("fast", "reference"):
        with reference_kernels(on=kind == "reference"):
            assert kernels.active() == kind
            res = (kernels.forward_product(layer, A_prev), kernels.sampled_product(layer, A_prev, dZ),
                   kernels.input_gradient_product(layer, dZ))
        for name, r in zip(PRODUCTS, res):
            out.setdefault(name, []).append(r)
    return out


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n_in=st.integers(1, 30), n_out=st.integers(1, 30),
       batch=st.integers(1, 9), fill=st.floats(0.0, 1.0), panel_units=st.sampled_from([1, 2, 3, 7, 32768]),
       dtype=st.sampled_from([np.float32, np.float64]), order=st.sampled_from(["C", "F"]))
def test_every_fast_kernel_equals_its_reference(seed, n_in, n_out, batch, fill, panel_units, dtype, order):
    """Random shapes and patterns (empty and full layers included), batches in C or Fortran order,
    panels forced small so that every walk (row-major, column-major, panels of unequal widths) runs:
    each fast product equals the reference expression, in the same dtype."""
    rng = np.random.default_rng(seed)
    saved = fast.PANEL_UNITS
    fast.PANEL_UNITS = panel_units
    try:
        layer = random_layer(rng, n_in, n_out, int(round(fill * n_in * n_out)), dtype)
        A_prev = np.asarray(rng.standard_normal((batch, n_in)).astype(dtype), order=order)
        dZ = np.asarray(rng.standard_normal((batch, n_out)).astype(dtype), order=order)
        results = both_forms(layer, A_prev, dZ)
    finally:
        fast.PANEL_UNITS = saved
    tol = 1e-4 if dtype == np.float32 else 1e-12
    for name, (f, r) in results.items():
        assert f.dtype == r.dtype == dtype, name
        assert f.shape == r.shape, name
        assert np.allclose(f, r, rtol=tol, atol=tol), (name, layer.walk)


@pytest.mark.parametrize("shape, panel_units, walk", [
    ((5, 40), 32768, "column-major"), ((40, 5), 32768, "row-major"), ((12, 12), 32768, "row-major"),
    ((12, 12), 4, "panels"), ((9, 14), 4, "panels"), ((14, 9), 2, "panels"), ((5, 40), 4, "panels")])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_each_walk_equals_the_reference(shape, panel_units, walk, dtype, monkeypatch):
    """Named cases, one per walk, so that a failure says which walk broke."""
    monkeypatch.setattr(fast, "PANEL_UNITS", panel_units)
    rng = np.random.default_rng(4)
    layer = random_layer(rng, *shape, 60, dtype)
    assert layer.walk == walk
    A_prev, dZ = rng.standard_normal((7, shape[0])).astype(dtype), rng.standard_normal((7, shape[1])).astype(dtype)
    tol = 1e-4 if dtype == np.float32 else 1e-12
    for name, (f, r) in both_forms(layer, A_prev, dZ).items():
        assert f.dtype == dtype and np.allclose(f, r, rtol=tol, atol=tol), name


def mlp_with_every_walk(seed=0):
    """An expanding, a square and a contracting layer (the last two in panels when PANEL_UNITS < 4)."""
    return SparseMLP.random([2, 20, 20, 4], density=0.4, activation="tanh", rng=seed)


@pytest.mark.parametrize("panel_units", [32768, 3])
def test_a_training_step_through_the_reference_kernels_matches_the_fast_path(panel_units, monkeypatch):
    """Loss, every gradient and the weights after an SGD step agree to 1e-12 in float64."""
    monkeypatch.setattr(fast, "PANEL_UNITS", panel_units)
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((9, 2)), rng.integers(0, 4, 9)
    runs = []
    for kind in ("fast", "reference"):
        model = mlp_with_every_walk()
        assert [layer.walk for layer in model.layers] == (
            ["column-major", "row-major", "row-major"] if panel_units > 20 else ["column-major", "panels", "panels"])
        with reference_kernels(on=kind == "reference"):
            loss, grads = model.loss_and_grads(X, y, dense=True)
            step_loss, _ = train_step(model, SGD(model, lr=0.1, momentum=0.9), X, y)
        runs.append((loss, grads, step_loss, [layer.W.data.copy() for layer in model.layers]))
    (l1, g1, s1, w1), (l2, g2, s2, w2) = runs
    assert abs(l1 - l2) <= 1e-12 and abs(s1 - s2) <= 1e-12
    for a, b in zip(g1, g2):
        for x, z in ((a.dW, b.dW), (a.db, b.db), (a.G, b.G)):
            assert np.allclose(x, z, rtol=0, atol=1e-12)
    assert all(np.allclose(a, b, rtol=0, atol=1e-12) for a, b in zip(w1, w2))


def test_under_the_switch_the_layer_calls_the_reference_kernels(monkeypatch):
    """Inside ``reference_kernels()`` the layer's forward and backward reach the three reference
    functions and never the fast ones; outside it, the reverse; the switch resets on exit, also when
    the block raises."""
    calls = []
    for module, kind in ((reference, "reference"), (fast, "fast")):
        for name in PRODUCTS:
            original = getattr(module, name)
            monkeypatch.setattr(module, name, lambda *a, _o=original, _n=f"{kind}.{name}": calls.append(_n) or _o(*a))
    model = mlp_with_every_walk()
    X, y = np.ones((3, 2)), np.array([0, 1, 2])
    with reference_kernels():
        model.loss_and_grads(X, y)
    assert sorted(set(calls)) == [f"reference.{n}" for n in sorted(PRODUCTS)]
    assert calls.count("reference.input_gradient_product") == 2        # every layer but the first
    calls.clear()
    model.loss_and_grads(X, y)
    assert sorted(set(calls)) == [f"fast.{n}" for n in sorted(PRODUCTS)]
    with pytest.raises(RuntimeError):
        with reference_kernels():
            raise RuntimeError("inside the block")
    assert kernels.active() == "fast"


def test_the_environment_variable_selects_the_reference_kernels_for_a_process():
    env = dict(os.environ, MINISPARSE_KERNELS="reference")
    code = "import minisparse.network.kernels as k; print(k.active())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "reference"
    env["MINISPARSE_KERNELS"] = "quick"
    bad = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert bad.returncode != 0 and "MINISPARSE_KERNELS='quick'" in bad.stderr and "'reference'" in bad.stderr


def test_reference_forms_are_the_plain_formulas():
    """The reference forms against dense NumPy on W.toarray() (the oracle's own oracle)."""
    rng = np.random.default_rng(9)
    layer = random_layer(rng, 8, 11, 30, np.float64)
    A_prev, dZ = rng.standard_normal((5, 8)), rng.standard_normal((5, 11))
    Wd = layer.W.toarray()
    assert np.allclose(reference.forward_product(layer.W, A_prev), A_prev @ Wd, atol=1e-13)
    assert np.allclose(reference.sampled_product(layer.W, A_prev, dZ), (A_prev.T @ dZ)[layer.rows, layer.cols])
    assert np.allclose(reference.input_gradient_product(layer.W, dZ), dZ @ Wd.T, atol=1e-13)


def test_sampled_product_matches_dense_formula_and_chunks():
    rng = np.random.default_rng(3)
    W = topology.from_keys(np.sort(rng.choice(40 * 30, 200, replace=False)), np.ones(200), (40, 30))
    A, dZ = rng.standard_normal((16, 40)), rng.standard_normal((16, 30))
    rows, cols = topology.entry_rows(W), W.indices
    dense = (A.T @ dZ)[rows, cols]                      # G = A_prevᵀ dZ sampled at the pattern
    loop = [sum(A[b, i] * dZ[b, j] for b in range(16)) for i, j in zip(rows, cols)]
    for chunk in (1, 37, 16 * 7, 1 << 20):
        g = fast.gathered_sampled_product(A, dZ, rows, cols, chunk_elements=chunk)
        assert np.allclose(g, dense, rtol=1e-12, atol=1e-12) and np.allclose(g, loop)
    g32 = fast.gathered_sampled_product(A.astype(np.float32), dZ.astype(np.float32), rows, cols, chunk_elements=16 * 7)
    assert g32.dtype == np.float32 and np.allclose(g32, dense, rtol=1e-4, atol=1e-4)   # float32 stays float32
    assert fast.gathered_sampled_product(A, dZ, rows[:0], cols[:0]).shape == (0,)                     # an empty layer


@pytest.mark.parametrize("shape, panel_units, walk", [
    ((5, 40), 32768, "column-major"), ((40, 5), 32768, "row-major"), ((12, 12), 32768, "row-major"),
    ((12, 12), 4, "panels"), ((9, 14), 4, "panels"), ((14, 9), 2, "panels"), ((5, 40), 4, "panels")])
def test_every_walk_matches_the_dense_formulas(shape, panel_units, walk, monkeypatch):
    """Expanding layers (n_in < n_out) run their products in column-major order, layers wide on both
    sides panel by panel, the others in W's row-major order (here PANEL_UNITS is made small so that
    tiny layers use panels, including unequal and one-unit-wide panels). Every walk must give the
    dense formulas, also after W.data changes in place (an optimizer step, with or without a new
    forward pass) and after the pattern changes."""
    monkeypatch.setattr(fast, "PANEL_UNITS", panel_units)
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
    P = fast.build_panels(W, topology.entry_rows(W), side, width)
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
    monkeypatch.setattr(fast, "PANEL_UNITS", 4)
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
    assert fresh.nbytes == built and set(fresh.walks._panels) == {"in", "out"}
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
        monkeypatch.setattr(fast, "PANEL_UNITS", units)
        layer = SparseLinear(W.copy(), np.zeros(70, np.float32), "relu")
        Z, A = layer.forward(A_prev)
        results.append((layer.walk, Z, *layer.backward(A_prev, Z, A, dA)[:3]))
    (walk_a, *plain), (walk_b, *panels) = results
    assert (walk_a, walk_b) == ("row-major", "panels")
    assert all(np.array_equal(p, q) for p, q in zip(plain, panels))
