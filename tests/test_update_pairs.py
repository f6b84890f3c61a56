"""Every topology update reports the (i, j) connections it dropped and grew, and they are exactly the
change between the old and the new dense masks: M_new = (M_old minus dropped) plus grown."""
import numpy as np
import pytest

from minisparse import SGD, SparseMLP
from minisparse.network.topology import mask, pairs
from minisparse.sparse_training import ctre, deep_r, dsr, rigl, set_training, sparse_momentum


def as_set(ij):
    assert ij.ndim == 2 and ij.shape[1] == 2
    return set(map(tuple, ij.tolist()))


def check(old_masks, model, dropped_ij, grown_ij):
    for M_old, layer, d, g in zip(old_masks, model.layers, dropped_ij, grown_ij):
        M_new = mask(layer.W)
        old = set(map(tuple, np.argwhere(M_old).tolist()))
        new = set(map(tuple, np.argwhere(M_new).tolist()))
        assert as_set(d) <= old and as_set(g) <= new and len(as_set(d)) == len(d) and len(as_set(g)) == len(g)
        assert new == (old - as_set(d)) | as_set(g)


def setup(rng=0, dense_momentum=False):
    r = np.random.default_rng(rng)
    model = SparseMLP.random([6, 9, 4], density=0.4, rng=rng)
    X, y = r.standard_normal((12, 6)), r.integers(0, 4, 12)
    opt = SGD(model, lr=0.05, momentum=0.9, dense_momentum=dense_momentum)
    for _ in range(3):
        _, grads = model.loss_and_grads(X, y, dense=dense_momentum)
        opt.step(grads)
    return model, opt, X, y, [mask(layer.W) for layer in model.layers]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_set_rigl_sparse_momentum_ctre_dsr_and_deep_r_report_their_pairs(seed):
    model, opt, X, y, before = setup(seed)
    rewires = set_training.set_update(model, 0.3, seed, opt)
    check(before, model, [r.dropped_ij for r in rewires], [r.grown_ij for r in rewires])
    assert all(np.array_equal(r.dropped_ij, pairs(r.dropped, layer.shape[1])) for r, layer in zip(rewires, model.layers))

    model, opt, X, y, before = setup(seed)
    up = rigl.rigl_update(model, X, y, 0.3, opt)
    check(before, model, up.dropped_ij, up.grown_ij)

    model, opt, X, y, before = setup(seed, dense_momentum=True)
    ups = sparse_momentum.sparse_momentum_update(model, opt, 0.3)
    check(before, model, [u.dropped_ij for u in ups], [u.grown_ij for u in ups])

    model, opt, X, y, before = setup(seed)
    ups = ctre.ctre_update(model, 0.3, seed, opt, "sim", ctre.cosine_similarity(model, X))
    check(before, model, [u.dropped_ij for u in ups], [u.grown_ij for u in ups])

    model, opt, X, y, before = setup(seed)
    up = dsr.dsr_update(model, 0.05, 10, seed, opt)
    check(before, model, up.dropped_ij, up.grown_ij)

    model, opt, X, y, _ = setup(seed)
    deep_r.signed_init(model, seed)
    before = [mask(layer.W) for layer in model.layers]
    _, up = deep_r.deep_r_step(model, opt, X, y, 1.0, 1e-4, seed, seed)
    assert sum(d.size for d in up.dropped) > 0
    check(before, model, up.dropped_ij, up.grown_ij)


def test_pairs_inverts_the_flat_key():
    assert pairs([0, 4, 11], 4).tolist() == [[0, 0], [1, 0], [2, 3]]
    assert pairs(np.array([], dtype=np.int64), 7).shape == (0, 2)
