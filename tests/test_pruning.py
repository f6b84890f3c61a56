"""Score-then-remove pruning against dense-mask formulas and plain sorted-list oracles."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from minisparse import SGD, SparseLinear, SparseMLP
from minisparse.pruning.select import keep_all_but_lowest, prune_lowest, removal_counts
from minisparse.pruning.zeroth_order import magnitude_score, random_score, set_keep_mask
from minisparse.network.topk import bottom_k_indices, top_k_indices
from minisparse.network.topology import entry_rows, from_positions, is_canonical, mask


def positions(W):
    """Stored positions (i, j) in W.data order, as Python tuples."""
    return list(zip(entry_rows(W).tolist(), W.indices.tolist()))


def lowest_oracle(scores, k):
    """The k lowest entries by a plain sort of (score, position index): ties go to the earliest."""
    return set(sorted(range(len(scores)), key=lambda e: (scores[e], e))[:k])


def snapshot(model):
    return [dict(zip(positions(layer.W), layer.W.data.tolist())) for layer in model.layers]


def assert_removed_exactly(before, model, removed):
    """Layer l now holds exactly its old entries minus ``removed[l]`` (positions), values unchanged."""
    for old, layer, gone in zip(before, model.layers, removed):
        assert snapshot_layer(layer) == {p: v for p, v in old.items() if p not in gone}
        assert is_canonical(layer.W)


def snapshot_layer(layer):
    return dict(zip(positions(layer.W), layer.W.data.tolist()))


def small_model(seed=0, sizes=(6, 5, 4), density=0.6):
    return SparseMLP.random(list(sizes), density=density, rng=seed)


# ---------------------------------------------------------------- scores

def test_magnitude_score_is_abs_w_on_the_mask():
    model = small_model()
    model.layers[0].W.data[2] = 0.0                           # a stored zero still gets a score
    for s, layer in zip(magnitude_score(model), model.layers):
        D, M = layer.W.toarray(), mask(layer.W)
        assert np.array_equal(s, np.abs(D)[M])                # row-major = canonical W.data order


def test_random_score_is_uniform_per_weight_and_seeded():
    model = small_model()
    s1, s2 = random_score(model, 7), random_score(model, np.random.default_rng(7))
    rng = np.random.default_rng(7)
    expected = [rng.random(layer.nnz) for layer in model.layers]
    for a, b, e, layer in zip(s1, s2, expected, model.layers):
        assert a.shape == (layer.nnz,) and np.all((0 <= a) & (a < 1))
        assert np.array_equal(a, b) and np.array_equal(a, e)
    with pytest.raises(TypeError, match="Generator"):
        random_score(model, None)


# ---------------------------------------------------------------- prune_lowest: counts and oracle

@pytest.mark.parametrize("fraction", [0.0, 0.25, 0.5, 1.0])
def test_per_layer_fraction_removes_the_k_lowest(fraction):
    model = small_model(1)
    scores = magnitude_score(model)
    before = snapshot(model)
    nnz = [layer.nnz for layer in model.layers]
    keeps = prune_lowest(model, scores, fraction=fraction)
    removed = []
    for s, old, n, keep, layer in zip(scores, before, nnz, keeps, model.layers):
        k = int(np.round(fraction * n))
        assert layer.nnz == n - k and keep.sum() == n - k
        pos = list(old)
        removed.append({pos[e] for e in lowest_oracle(s.tolist(), k)})
    assert_removed_exactly(before, model, removed)


def test_global_fraction_uses_one_threshold_over_all_layers():
    model = small_model(2)
    scores = magnitude_score(model)
    before = snapshot(model)
    total = model.nnz
    k = int(round(0.4 * total))
    flat = [(s, l, e) for l, layer_scores in enumerate(scores) for e, s in enumerate(layer_scores)]
    gone = sorted(flat)[:k]                                  # ties: earlier layer, then position
    prune_lowest(model, scores, fraction=0.4, scope="global")
    assert model.nnz == total - k
    removed = [{list(before[l])[e] for _, ll, e in gone if ll == l} for l in range(2)]
    assert_removed_exactly(before, model, removed)


def test_density_targets_per_layer_and_global():
    model = small_model(3, sizes=(8, 6, 5), density=0.7)
    prune_lowest(model, magnitude_score(model), density=0.3)
    assert [layer.nnz for layer in model.layers] == [round(0.3 * 48), round(0.3 * 30)]   # 14, 9
    model = small_model(3, sizes=(8, 6, 5), density=0.7)
    prune_lowest(model, magnitude_score(model), density=0.3, scope="global")
    assert model.nnz == round(0.3 * 78)                                                  # 23
    # a layer already below the target loses nothing; the other reaches it
    model = small_model(3, sizes=(8, 6, 5), density=0.7)
    prune_lowest(model, magnitude_score(model), density=0.3)
    prune_lowest(model, magnitude_score(model), density=0.5)
    assert [layer.nnz for layer in model.layers] == [14, 9]


def test_fraction_is_of_the_current_weights():
    model = small_model(4, sizes=(10, 10, 4), density=0.8)
    n0 = model.layers[0].nnz
    prune_lowest(model, magnitude_score(model), fraction=0.5)
    n1 = model.layers[0].nnz
    prune_lowest(model, magnitude_score(model), fraction=0.5)
    assert n1 == n0 - round(0.5 * n0) and model.layers[0].nnz == n1 - round(0.5 * n1)


def test_removal_counts():
    model = small_model(5, sizes=(8, 6, 5), density=0.5)     # nnz 24 and 15, sizes 48 and 30
    per_layer, total = removal_counts(model, fraction=0.3)
    assert per_layer.tolist() == [round(0.3 * 24), round(0.3 * 15)] and total == round(0.3 * 39)
    per_layer, total = removal_counts(model, density=0.25)
    assert per_layer.tolist() == [24 - 12, 15 - round(7.5)] and total == 39 - round(0.25 * 78)


def test_removal_counts_round_half_to_even():
    """A dense 2 → 5 layer (10 weights): d·N = 2.5 keeps 2 and 3.5 keeps 4 (half to even, not half
    up); a fraction p·nnz = 1.5 removes 2, 2.5 removes 2, 4.5 removes 4."""
    from minisparse import SparseMLP
    model = SparseMLP.random([2, 5], density=1.0, rng=0)
    assert model.nnz == 10
    for density, removed in ((0.25, 8), (0.35, 6), (0.45, 6)):
        per_layer, total = removal_counts(model, density=density)
        assert per_layer.tolist() == [removed] and total == removed
    for fraction, removed in ((0.15, 2), (0.25, 2), (0.45, 4)):
        per_layer, total = removal_counts(model, fraction=fraction)
        assert per_layer.tolist() == [removed] and total == removed


# ---------------------------------------------------------------- ties

def test_ties_remove_the_earliest_positions_first():
    # 3 x 3 layer, 6 stored entries, all scores equal: the first k in row-major order go
    W = from_positions([0, 0, 1, 2, 2, 2], [0, 2, 1, 0, 1, 2], [1.0, -1.0, 1.0, 1.0, -1.0, 1.0], (3, 3))
    model = SparseMLP([SparseLinear(W, np.zeros(3), "linear")])
    prune_lowest(model, magnitude_score(model), fraction=0.5)          # k = 3
    assert positions(model.layers[0].W) == [(2, 0), (2, 1), (2, 2)]


def test_global_ties_take_earlier_layers_first():
    W0 = from_positions([0, 1], [0, 1], [2.0, 2.0], (2, 2))
    W1 = from_positions([0, 1], [1, 0], [2.0, 2.0], (2, 2))
    model = SparseMLP([SparseLinear(W0, np.zeros(2)), SparseLinear(W1, np.zeros(2), "linear")])
    prune_lowest(model, magnitude_score(model), fraction=0.75, scope="global")    # k = 3
    assert [layer.nnz for layer in model.layers] == [0, 1]
    assert positions(model.layers[1].W) == [(1, 0)]


def test_lowest_k_is_stable():
    assert keep_all_but_lowest([3.0, 1.0, 1.0, 0.5, 1.0], 3).tolist() == [True, False, False, False, True]


# ---------------------------------------------------------------- optimizer state

def test_sgd_velocity_follows_the_pattern():
    model = small_model(6)
    opt = SGD(model, lr=0.1, momentum=0.9)
    for l, layer in enumerate(model.layers):
        opt.v_W[l][:] = np.arange(layer.nnz) + 100.0 * l
    v_at = [dict(zip(positions(layer.W), opt.v_W[l].tolist())) for l, layer in enumerate(model.layers)]
    keeps = prune_lowest(model, magnitude_score(model), fraction=0.4, scope="global", optimizer=opt)
    for l, (layer, keep) in enumerate(zip(model.layers, keeps)):
        assert opt.v_W[l].shape == (layer.nnz,)
        assert [v_at[l][p] for p in positions(layer.W)] == opt.v_W[l].tolist()


# ---------------------------------------------------------------- property tests

@given(seed=st.integers(0, 10_000), fraction=st.floats(0.0, 1.0), scope=st.sampled_from(["layer", "global"]),
       sizes=st.lists(st.integers(1, 7), min_size=2, max_size=4), use_random=st.booleans())
def test_prune_lowest_property(seed, fraction, scope, sizes, use_random):
    model = SparseMLP.random(sizes, density=0.6, rng=seed)
    scores = random_score(model, seed) if use_random else magnitude_score(model)
    if use_random:                                           # force ties to exercise tie-breaking
        scores = [np.round(s, 1) for s in scores]
    before = snapshot(model)
    nnz = [layer.nnz for layer in model.layers]
    keeps = prune_lowest(model, scores, fraction=fraction, scope=scope)
    if scope == "layer":
        removed = [{list(old)[e] for e in lowest_oracle(s.tolist(), int(np.round(fraction * n)))}
                   for s, old, n in zip(scores, before, nnz)]
    else:
        flat = [(s, l, e) for l, ls in enumerate(scores) for e, s in enumerate(ls.tolist())]
        gone = sorted(flat)[:int(round(fraction * sum(nnz)))]
        removed = [{list(before[l])[e] for _, ll, e in gone if ll == l} for l in range(len(nnz))]
    assert_removed_exactly(before, model, removed)
    assert sum(nnz) - model.nnz == sum(len(r) for r in removed)
    for keep, n, gone_l in zip(keeps, nnz, removed):
        assert keep.shape == (n,) and (~keep).sum() == len(gone_l)


@given(seed=st.integers(0, 10_000), density=st.floats(0.01, 1.0), scope=st.sampled_from(["layer", "global"]))
def test_prune_to_density_property(seed, density, scope):
    model = SparseMLP.random([7, 6, 5, 3], density=0.7, rng=seed)
    sizes = [layer.shape[0] * layer.shape[1] for layer in model.layers]
    nnz = [layer.nnz for layer in model.layers]
    prune_lowest(model, magnitude_score(model), density=density, scope=scope)
    if scope == "layer":
        assert [layer.nnz for layer in model.layers] == [min(n, round(density * s))
                                                          for n, s in zip(nnz, sizes)]
    else:
        assert model.nnz == min(sum(nnz), round(density * sum(sizes)))
    assert all(is_canonical(layer.W) for layer in model.layers)


# ---------------------------------------------------------------- SET's two-sided rule

def test_set_keeps_seventy_percent_of_gaussian_weights():
    w = np.random.default_rng(0).standard_normal(1000)
    kept = set_keep_mask(w, 0.3).mean()
    assert abs(kept - 0.70) <= 0.01
    assert abs(kept - 0.15) > 0.3                            # not the one-sided bug (keeps ~15 %)
    # the bug keeps only the most negative weights: check both signs survive in proportion
    keep = set_keep_mask(w, 0.3)
    assert abs(keep[w > 0].mean() - 0.7) < 0.01 and abs(keep[w < 0].mean() - 0.7) < 0.01


@given(seed=st.integers(0, 10_000), n=st.integers(0, 60), zeta=st.floats(0.0, 1.0), n_zero=st.integers(0, 3))
def test_set_drops_the_values_closest_to_zero_on_each_side(seed, n, zeta, n_zero):
    rng = np.random.default_rng(seed)
    w = np.round(rng.standard_normal(n), 1)                  # rounding makes ties and exact zeros
    w[rng.choice(n, size=min(n_zero, n), replace=False)] = 0.0
    keep = set_keep_mask(w, zeta)
    neg = sorted((e for e in range(n) if w[e] < 0), key=lambda e: (-w[e], e))   # closest to 0 first
    pos = sorted((e for e in range(n) if w[e] > 0), key=lambda e: (w[e], e))
    dropped = set(neg[:round(zeta * len(neg))]) | set(pos[:round(zeta * len(pos))])
    dropped |= {e for e in range(n) if w[e] == 0}
    assert set(np.flatnonzero(~keep).tolist()) == dropped


def test_set_hand_example():
    w = np.array([-3.0, -0.5, 0.0, 0.2, 1.0, -1.0, 4.0, 0.1])
    # negatives -3, -0.5, -1 -> round(0.34*3) = 1 dropped: -0.5; positives 0.2, 1, 4, 0.1 ->
    # round(0.34*4) = 1 dropped: 0.1; the exact 0 is dropped too
    assert set_keep_mask(w, 0.34).tolist() == [True, False, False, True, True, True, True, False]
    assert set_keep_mask(w, 0.0).tolist() == (w != 0).tolist()     # ζ = 0 keeps every non-zero


def reference_threshold_keep(w, zeta):
    """The SET reference code's rule (``weightsEvolution``) restated with plain lists: sort, find the
    first and last entries closest to 0, read the two thresholds at the truncated positions, keep
    what lies strictly outside them."""
    v = sorted(float(x) for x in w)
    n = len(v)
    closest = min(abs(x) for x in v)
    at = [i for i, x in enumerate(v) if abs(x) == closest]
    first, past_last = at[0], at[-1] + 1
    low = v[int((1 - zeta) * first)]
    high = v[int(min(n - 1, past_last + zeta * (n - past_last)))]
    return [float(x) < low or float(x) > high for x in w]


def test_set_reference_rule_smallest_case():
    """ζ = 0.3 on [−0.9, −0.5, 0.1, 0.8]: the reference's thresholds are −0.5 and 0.8 (positions
    int(0.7·2) = 1 and min(3, 3 + 0.3) → 3), so it keeps −0.9 alone; the count rule drops
    round(0.6) = 1 weight of each sign and keeps −0.9 and 0.8."""
    w = np.array([-0.9, -0.5, 0.1, 0.8])
    assert set_keep_mask(w, 0.3, rule="reference").tolist() == [True, False, False, False]
    assert set_keep_mask(w, 0.3).tolist() == [True, False, False, True]
    assert set_keep_mask(w, 0.3, rule="count").tolist() == [True, False, False, True]


@pytest.mark.parametrize("w, zeta, keep", [
    # all positive: t₋ = 0.1 (nothing below it), t₊ = v[int(min(2, 1 + 0.6))] = 0.2
    ([0.3, 0.1, 0.2], 0.3, [True, False, False]),
    # all negative: t₋ = v[int(0.5·3)] = −0.3, t₊ = v[min(3, 4)] = −0.1 (nothing above it)
    ([-0.1, -0.4, -0.2, -0.3], 0.5, [False, True, False, False]),
    # two zeros and ties: sorted [−1, −.2, −.2, 0, 0, .5, .5, 1], first 0 at 3, past the last at 5;
    # t₋ = v[int(0.7·3)] = v[2] = −0.2, t₊ = v[int(5 + 0.3·3)] = v[5] = 0.5: both tied pairs go
    ([0.0, -0.2, 0.5, -0.2, 0.5, 0.0, 1.0, -1.0], 0.3, [False] * 6 + [True, True]),
    # the weight closest to 0 is negative (−0.05): t₋ = v[int(0.8·1)] = v[0] = −2, t₊ = v[int(2 + 0.2·2)] = 1
    ([1.0, -0.05, 3.0, -2.0], 0.2, [False, False, True, False]),
    ([0.5], 0.3, [False]),                                   # a lone weight is both thresholds
    ([], 0.3, []),
])
def test_set_reference_rule_by_hand(w, zeta, keep):
    assert set_keep_mask(np.array(w, dtype=float), zeta, rule="reference").tolist() == keep


@given(seed=st.integers(0, 10_000), n=st.integers(1, 40), zeta=st.floats(0.0, 1.0),
       n_zero=st.integers(0, 3), sign=st.sampled_from(["both", "positive", "negative"]),
       coarse=st.booleans())
def test_set_reference_rule_matches_the_plain_restatement(seed, n, zeta, n_zero, sign, coarse):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(n)
    w = np.round(w, 1) if coarse else w                      # coarse values: ties and exact zeros
    w = np.abs(w) if sign == "positive" else -np.abs(w) if sign == "negative" else w
    w[rng.choice(n, size=min(n_zero, n), replace=False)] = 0.0
    keep = set_keep_mask(w, zeta, rule="reference")
    assert keep.tolist() == reference_threshold_keep(w, zeta)
    assert not keep[w == 0].any()                            # zeros go under both rules
    dropped_ref, dropped_count = ~keep, ~set_keep_mask(w, zeta)
    if not coarse and n_zero == 0:                           # no ties: 0–2 more per sign, never fewer
        for side in (w > 0, w < 0):
            extra = dropped_ref[side].sum() - dropped_count[side].sum()
            assert 0 <= extra <= 2


def test_set_rule_must_be_known():
    with pytest.raises(ValueError, match=r"rule must be one of \('count', 'reference'\)"):
        set_keep_mask([1.0, -1.0], 0.3, rule="threshold")


# ---------------------------------------------------------------- bad inputs

def test_nan_scores_raise_and_leave_the_model_untouched():
    model = small_model(8)
    scores = magnitude_score(model)
    scores[1][0] = np.nan
    before = snapshot(model)
    for scope in ("layer", "global"):
        with pytest.raises(ValueError, match="NaN"):
            prune_lowest(model, scores, fraction=0.5, scope=scope)
    assert snapshot(model) == before


def test_wrong_score_shapes_raise():
    model = small_model(9)
    scores = magnitude_score(model)
    for bad in (scores[:1], scores + [scores[0]], [scores[0][:-1], scores[1]],
                [scores[0][None, :], scores[1]]):
        with pytest.raises(ValueError, match="aligned"):
            prune_lowest(model, bad, fraction=0.5)


@pytest.mark.parametrize("kwargs, match", [
    (dict(fraction=-0.1), r"fraction must be in \[0, 1\]"), (dict(fraction=1.5), "fraction"),
    (dict(fraction=np.nan), "fraction"), (dict(density=0.0), r"density must be in \(0, 1\]"),
    (dict(density=1.2), "density"), (dict(fraction=0.2, density=0.5), "exactly one"),
    (dict(), "exactly one"), (dict(fraction=0.2, scope="row"), "scope")])
def test_bad_amounts_raise(kwargs, match):
    model = small_model(10)
    with pytest.raises(ValueError, match=match):
        prune_lowest(model, magnitude_score(model), **kwargs)


def test_bad_k_and_zeta_raise():
    with pytest.raises(ValueError, match="cannot remove 4 of 3"):
        keep_all_but_lowest([1.0, 2.0, 3.0], 4)
    with pytest.raises(ValueError, match="cannot remove -1"):
        keep_all_but_lowest([1.0, 2.0, 3.0], -1)
    for zeta in (-0.1, 1.1, np.nan):
        with pytest.raises(ValueError, match="zeta"):
            set_keep_mask([1.0, -1.0], zeta)


def test_set_rejects_nan_weights():
    with pytest.raises(ValueError, match="NaN"):
        set_keep_mask(np.array([np.nan, 1.0, -1.0]), 0.5)


def test_integer_keep_mask_is_read_as_boolean_by_weights_and_optimizer_alike():
    from minisparse import SGD, SparseMLP
    from minisparse.network.topology import prune
    model = SparseMLP.random([6, 5, 3], density=0.5, rng=0)
    opt = SGD(model, lr=0.1)
    opt.v_W[0] = np.arange(15, dtype=float)
    prune(model, 0, (np.arange(15) % 2).astype(int), opt)
    assert model.layers[0].nnz == 7 and np.array_equal(opt.v_W[0], np.arange(1, 15, 2))


def test_fraction_given_as_text_is_read_or_refused_cleanly():
    from minisparse import SparseMLP
    model = SparseMLP.random([6, 5, 3], density=0.5, rng=0)
    per_layer, total = removal_counts(model, fraction="0.4")
    assert list(per_layer) == [6, 3] and total == 9
    with pytest.raises(ValueError, match="cannot remove"):
        keep_all_but_lowest(np.arange(5.0), 1.5)


@given(seed=st.integers(0, 10_000), n=st.integers(0, 50), data=st.data())
def test_bottom_and_top_k_are_the_stable_sort_prefixes(seed, n, data):
    """The k lowest (highest) with ties to the smaller index: the first k of a stable sort of s (of −s),
    and each call returns k distinct indices."""
    scores = np.round(np.random.default_rng(seed).standard_normal(n), 1)        # many ties
    k = data.draw(st.integers(0, n))
    low, high = bottom_k_indices(scores, k), top_k_indices(scores, k)
    assert sorted(low.tolist()) == sorted(np.argsort(scores, kind="stable")[:k].tolist())
    assert sorted(high.tolist()) == sorted(np.argsort(-scores, kind="stable")[:k].tolist())
    assert len(set(low.tolist())) == len(set(high.tolist())) == k
