"""Score, then remove: zeroth-order scores and the one routine that removes the lowest-scoring weights.

Convention for every unstructured criterion in minisparse (zeroth, first and second order): a
*score* is a list with one array per layer, aligned with that layer's ``W.data`` (shape (nnz_l,)),
and **low means unimportant**: :func:`prune_lowest` removes the k lowest. A criterion whose paper
removes the *highest* values (GraSP) returns the negated quantity and says so.

Ties are broken deterministically: among equal scores the entry that comes first in the layer's
canonical order (row-major position i·n_out + j; for a global threshold, earlier layers first) is
removed first.
"""
import numpy as np

from .checks import check_fraction, check_rng
from .topology import prune


def magnitude_score(model):
    """s = |w|   (magnitude pruning; Han et al. 2015, the lottery ticket's IMP)."""
    return [np.abs(layer.W.data) for layer in model.layers]


def random_score(model, rng):
    """s ~ U(0, 1) per weight: random pruning, the baseline every criterion must beat."""
    rng = check_rng(rng)
    return [rng.random(layer.nnz) for layer in model.layers]


def lowest_indices(scores, k):
    """Positions of the k lowest entries of ``scores``, ties broken by position: the set that
    ``np.argsort(scores, kind="stable")[:k]`` holds, found in O(n) by a partition, not a sort.   # (k,)"""
    scores = np.asarray(scores)
    if k == 0:
        return np.empty(0, dtype=np.intp)
    if k == scores.size:
        return np.arange(scores.size)
    t = np.partition(scores, k - 1)[k - 1]                     # the k-th lowest value
    below = np.flatnonzero(scores < t)
    return np.concatenate([below, np.flatnonzero(scores == t)[:k - below.size]])   # first ties first


def lowest_k(scores, k):
    """Boolean keep-mask that removes the k lowest entries of ``scores`` (stable: ties by position)."""
    scores = np.asarray(scores)
    if not isinstance(k, (int, np.integer)) or not 0 <= k <= scores.size:
        raise ValueError(f"cannot remove {k} of {scores.size} entries")
    if np.any(np.isnan(scores)):
        raise ValueError("scores contain NaN: a criterion produced an undefined importance")
    keep = np.ones(scores.size, dtype=bool)
    keep[lowest_indices(scores, k)] = False
    return keep


def removal_counts(model, fraction=None, density=None):
    """Entries to remove: (per layer (L,), in total), for a fraction of the current weights or a
    target density (per layer and overall)."""
    if (fraction is None) == (density is None):
        raise ValueError("give exactly one of fraction (of current weights to remove) or density (target)")
    nnz = np.array([layer.nnz for layer in model.layers])
    size = np.array([layer.shape[0] * layer.shape[1] for layer in model.layers])
    if fraction is not None:
        fraction = check_fraction(fraction, "fraction")
        return np.round(fraction * nnz).astype(int), int(round(fraction * nnz.sum()))
    density = check_fraction(density, "density", low_open=True)
    per_layer = np.maximum(nnz - np.round(density * size).astype(int), 0)
    return per_layer, max(int(nnz.sum() - round(density * size.sum())), 0)


def keep_masks(model, scores, fraction=None, density=None, scope="layer"):
    """The keep-masks (one per layer, aligned with ``W.data``) that remove the lowest scores:
    a ``fraction`` of the current weights, or down to ``density``; nothing is pruned yet.

    ``scope='layer'``: every layer loses the same fraction (or reaches the same density);
    ``scope='global'``: one threshold over all layers' scores decides where the removals fall.
    """
    if len(scores) != len(model.layers) or any(np.shape(s) != (layer.nnz,)
                                                for s, layer in zip(scores, model.layers)):
        raise ValueError("scores must hold one array per layer, aligned with that layer's W.data")
    per_layer, total = removal_counts(model, fraction, density)
    if scope == "layer":
        return [lowest_k(s, int(k)) for s, k in zip(scores, per_layer)]
    if scope == "global":
        nnz = [layer.nnz for layer in model.layers]
        return np.split(lowest_k(np.concatenate(scores), total), np.cumsum(nnz)[:-1])
    raise ValueError(f"scope must be 'layer' or 'global', got {scope!r}")


def prune_lowest(model, scores, fraction=None, density=None, scope="layer", optimizer=None):
    """Remove the lowest-scoring weights (see :func:`keep_masks`); the optimizer's state follows.

    Returns the keep-masks, aligned with the old ``W.data`` of each layer.
    """
    keeps = keep_masks(model, scores, fraction, density, scope)
    for l, keep in enumerate(keeps):
        prune(model, l, keep, optimizer)
    return keeps


def set_keep_mask(w, zeta):
    """SET's two-sided magnitude rule: drop ζ of the positive weights closest to 0 *and* ζ of the
    negative weights closest to 0 (Mocanu et al. 2018); returns the keep-mask.   # (nnz,)

    With N(0, 1) weights and ζ = 0.3 about 70 % are kept. (Two widely copied PyTorch ports keep only
    the most negative weights instead, about 15 %.) Weights that are exactly 0 lie between the two
    thresholds of SET's reference code and are dropped too.
    """
    zeta = check_fraction(zeta, "zeta")
    w = np.asarray(w)
    if np.any(np.isnan(w)):
        raise ValueError("weights contain NaN: the run has diverged, SET's rule is undefined")
    keep = np.ones(w.size, dtype=bool)
    neg, pos = np.flatnonzero(w < 0), np.flatnonzero(w > 0)
    keep[w == 0] = False
    # negatives closest to 0 are the largest ones; positives closest to 0 the smallest ones (O(nnz))
    keep[neg[lowest_indices(-w[neg], int(round(zeta * neg.size)))]] = False
    keep[pos[lowest_indices(w[pos], int(round(zeta * pos.size)))]] = False
    return keep
