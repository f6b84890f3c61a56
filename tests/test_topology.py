"""Every CSR pattern routine against a dense-mask formula; properties of every pattern change."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from minisparse import SGD, Adam, SparseMLP

from minisparse.network import init, topology
from minisparse.network.topology import add_entries, from_positions, is_canonical, mask, remove_entries


def random_layer(seed, n_in=7, n_out=9, nnz=20):
    rng = np.random.default_rng(seed)
    return init.random_sparse(n_in, n_out, nnz, rng)


def dense_with_explicit(W):
    """(values, mask) as dense arrays: a stored zero shows up in the mask only."""
    return W.toarray(), mask(W)


def test_mask_matches_stored_positions():
    W = from_positions([0, 2, 2], [1, 0, 3], [0.0, 5.0, -1.0], (3, 4))
    expected = np.zeros((3, 4), bool)
    expected[[0, 2, 2], [1, 0, 3]] = True
    assert np.array_equal(mask(W), expected)
    assert W.nnz == 3 and is_canonical(W)      # the explicit 0 at (0, 1) is a connection


def test_from_positions_rejects_duplicates():
    with pytest.raises(ValueError, match="duplicate"):
        from_positions([1, 1], [2, 2], [1.0, 2.0], (3, 3))


@given(seed=st.integers(0, 10_000), frac=st.floats(0.0, 1.0))
def test_remove_matches_dense_formula(seed, frac):
    W = random_layer(seed)
    rng = np.random.default_rng(seed + 1)
    keep = rng.random(W.nnz) < frac
    W2 = remove_entries(W, keep)
    # dense formula: new mask = old mask with the dropped positions cleared
    M = mask(W)
    rows, cols = topology.entry_rows(W), W.indices
    M[rows[~keep], cols[~keep]] = False
    assert np.array_equal(mask(W2), M)
    assert np.array_equal(W2.toarray(), W.toarray() * M)
    assert W2.nnz == keep.sum() and is_canonical(W2)


@given(seed=st.integers(0, 10_000), k=st.integers(0, 15))
def test_add_matches_dense_formula_and_order(seed, k):
    W = random_layer(seed)
    rng = np.random.default_rng(seed + 2)
    free = np.flatnonzero(~mask(W).ravel())
    new = rng.choice(free, size=min(k, free.size), replace=False)
    rows, cols = np.divmod(new, W.shape[1])
    values = np.zeros(new.size) if seed % 2 else rng.standard_normal(new.size)
    W2, order = add_entries(W, rows, cols, values)
    D, M = W.toarray(), mask(W)
    D[rows, cols] = values
    M[rows, cols] = True
    assert np.array_equal(W2.toarray(), D) and np.array_equal(mask(W2), M)
    assert W2.nnz == W.nnz + new.size and is_canonical(W2)     # explicit zeros kept
    # state aligned with W.data follows through `order`
    state = np.concatenate([W.data, values])[order]
    assert np.array_equal(state, W2.data)


def test_add_refuses_active_and_out_of_range_positions():
    W = from_positions([0, 1], [0, 1], [1.0, 2.0], (2, 2))
    with pytest.raises(ValueError, match="active position"):
        add_entries(W, [1], [1], [3.0])
    with pytest.raises(ValueError, match="inside"):
        add_entries(W, [2], [0], [3.0])
    with pytest.raises(ValueError, match="distinct"):
        add_entries(W, [0, 0], [1, 1], [3.0, 4.0])


def test_remove_checks_keep_shape():
    W = random_layer(0)
    with pytest.raises(ValueError, match="aligned with W.data"):
        remove_entries(W, np.ones(W.nnz + 1, bool))


@given(seed=st.integers(0, 10_000), frac=st.floats(0.05, 0.6))
def test_prune_then_grow_keeps_nnz_and_state_follows(seed, frac):
    """Drop a fraction, grow as many elsewhere: nnz conserved, sets disjoint, optimizer state follows."""
    model = SparseMLP.random([6, 8, 4], density=0.4, rng=seed)
    for opt in (SGD(model, lr=0.1, momentum=0.9), Adam(model)):
        opt_state = [np.arange(layer.nnz, dtype=float) + 1 for layer in model.layers]
        for l in range(2):
            opt.v_W[l] = opt_state[l].copy()
        rng = np.random.default_rng(seed)
        layer = model.layers[0]
        before, nnz = mask(layer.W), layer.nnz
        keep = rng.random(nnz) >= frac
        kept_values, kept_state = layer.W.data[keep], opt.v_W[0][keep]
        topology.prune(model, 0, keep, opt)
        free = np.flatnonzero(~mask(layer.W).ravel() & ~before.ravel())   # never just-dropped ones
        n_new = min(nnz - layer.nnz, free.size)
        grown = rng.choice(free, n_new, replace=False)
        r, c = np.divmod(grown, layer.shape[1])
        topology.grow(model, 0, r, c, 0.0, opt, state={"v_W": -1.0})
        after = mask(layer.W)
        assert layer.nnz == nnz - (nnz - keep.sum() - n_new) and is_canonical(layer.W)
        assert not np.any(before.ravel()[grown])                          # grown were inactive
        assert np.all(after[r, c]) and np.all(layer.W.toarray()[r, c] == 0)
        is_new = np.isin(topology.entry_keys(layer.W), grown)
        assert np.all(opt.v_W[0][is_new] == -1.0)
        assert np.array_equal(opt.v_W[0][~is_new], kept_state)
        assert np.array_equal(layer.W.data[~is_new], kept_values)
        if isinstance(opt, Adam):
            assert opt.m_W[0].shape == (layer.nnz,)
        model = SparseMLP.random([6, 8, 4], density=0.4, rng=seed)


@pytest.mark.parametrize("n_in,n_out,eps", [(784, 300, 20), (300, 100, 13), (100, 10, 1), (5, 3, 10)])
def test_erdos_renyi_count(n_in, n_out, eps):
    nnz = init.erdos_renyi_nnz(n_in, n_out, eps)
    assert nnz == min(round(eps * (n_in + n_out)), n_in * n_out)
    model = SparseMLP.random([n_in, n_out], topology="erdos_renyi", epsilon=eps, rng=0)
    assert model.layers[0].nnz == nnz


def test_erk_hits_global_density_and_caps_dense_layers():
    shapes = [(784, 300), (300, 100), (100, 10)]
    d = init.erk_densities(shapes, 0.1)
    sizes = np.array([a * b for a, b in shapes])
    assert np.isclose((d * sizes).sum(), 0.1 * sizes.sum())
    # uncapped layers follow (n_in + n_out)/(n_in·n_out) with one common scale
    raw = np.array([(a + b) / (a * b) for a, b in shapes])
    free = d < 1
    assert np.allclose(d[free] / raw[free], (d[free] / raw[free])[0])
    # at 50 % the 100×10 layer would exceed density 1 and is made dense; the rest rescaled
    d50 = init.erk_densities(shapes, 0.5)
    assert d50[2] == 1.0 and np.isclose((d50 * sizes).sum(), 0.5 * sizes.sum())
    model = SparseMLP.random([784, 300, 100, 10], density=0.1, topology="erk", rng=0)
    assert [layer.nnz for layer in model.layers] == [round(x * s) for x, s in zip(d, sizes)]


def test_epsilon_for_density_inverts_erdos_renyi():
    shapes = [(784, 300), (300, 100), (100, 10)]
    eps = init.epsilon_for_density(shapes, 0.05)
    total = sum(init.erdos_renyi_nnz(a, b, eps) for a, b in shapes)
    assert abs(total / sum(a * b for a, b in shapes) - 0.05) < 1e-4


@pytest.mark.parametrize("density", [0.0, -0.1, 1.5, float("nan")])
def test_bad_density_is_refused(density):
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        SparseMLP.random([10, 5, 3], density=density, rng=0)


@given(seed=st.integers(0, 2**31 - 1))
def test_same_seed_same_weights(seed):
    a = SparseMLP.random([12, 9, 4], density=0.3, rng=seed)
    b = SparseMLP.random([12, 9, 4], density=0.3, rng=seed)
    for la, lb in zip(a.layers, b.layers):
        assert np.array_equal(la.W.indptr, lb.W.indptr) and np.array_equal(la.W.indices, lb.W.indices)
        assert np.array_equal(la.W.data, lb.W.data)
    c = SparseMLP.random([12, 9, 4], density=0.3, rng=seed + 1)
    assert not all(np.array_equal(la.W.data, lc.W.data) for la, lc in zip(a.layers, c.layers))


def test_uniform_density_and_fan_in_scaling():
    model = SparseMLP.random([1000, 2000, 10], density=0.01, rng=0)
    W = model.layers[0].W
    assert W.nnz == 20_000 and is_canonical(W)
    # He scaling with the sparse fan-in d·n_in = 10: std ≈ sqrt(2/10)
    assert abs(W.data.std() - np.sqrt(2 / 10)) < 0.01


def test_is_canonical_detects_broken_arrays():
    W = from_positions([0, 1, 1], [2, 0, 1], [1.0, 2.0, 3.0], (2, 3))
    assert is_canonical(W)
    unsorted = W.copy()
    unsorted.indices[1:3] = unsorted.indices[1:3][::-1].copy()
    assert not is_canonical(unsorted)
    short = W.copy()
    short.indptr = short.indptr[:-1]
    assert not is_canonical(short)


@given(st.lists(st.integers(0, 200), max_size=60), st.lists(st.integers(0, 200), max_size=60),
       st.lists(st.integers(-5, 205), max_size=40))
def test_union_and_membership_of_sorted_keys_match_numpy(a, b, x):
    a, b = np.unique(np.array(a, dtype=np.int64)), np.unique(np.array(b, dtype=np.int64))
    u = topology.union_sorted(a, b)
    assert u.dtype == np.int64 and np.array_equal(u, np.union1d(a, b))
    x = np.array(x, dtype=np.int64)
    assert np.array_equal(topology.isin_sorted(x, u), np.isin(x, u))


def test_show_tells_a_stored_zero_from_an_absent_entry():
    """A connection grown at 0 prints as a number, an absent position as a dot; values keep their sign
    and digits; the lines are the rows of W."""
    W = from_positions([0, 0, 1], [0, 2, 1], [0.0, -1.5, 2.25], (2, 3))
    show = topology.show
    assert show(W).splitlines() == [" 0.00     · -1.50", "    ·  2.25     ·"]
    assert show(W, digits=1, absent=".").splitlines()[1] == "   .  2.2    ."
