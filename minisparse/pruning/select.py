"""Score, then remove: the one routine that removes the lowest-scoring weights, layer by layer or globally.

Convention for every unstructured criterion in minisparse (zeroth, first and second order): a
*score* is a list with one array per layer, aligned with that layer's ``W.data`` (shape (nnz_l,)),
and **low means unimportant**: :func:`prune_lowest` removes the k lowest. A criterion whose paper
removes the *highest* values (GraSP) returns the negated quantity and says so.

Ties are broken deterministically: among equal scores the entry that comes first in the layer's
canonical order (row-major position i·n_out + j; for a global threshold, earlier layers first) is
removed first.
"""
import numpy as np

from ..network.checks import check_fraction
from ..network.topk import bottom_k_indices
from ..network.topology import prune


def keep_all_but_lowest(scores, k):
    """Keep-mask (True = keep) that is False at the k lowest entries of ``scores`` (ties: the smaller
    index is dropped first).   # bool (n,)"""
    scores = np.asarray(scores)
    if not isinstance(k, (int, np.integer)) or not 0 <= k <= scores.size:
        raise ValueError(f"cannot remove {k} of {scores.size} entries")
    if np.any(np.isnan(scores)):
        raise ValueError("scores contain NaN: a criterion produced an undefined importance")
    keep = np.ones(scores.size, dtype=bool)
    keep[bottom_k_indices(scores, k)] = False
    return keep


def removal_counts(model, fraction=None, density=None):
    """Entries to remove: (per layer (L,), in total), for a fraction of the current weights or a
    target density (per layer and overall).

    ``fraction`` p: round(p·nnz) are removed. ``density`` d: nnz − round(d·N) are removed (never
    fewer than 0), N = n_in·n_out per layer, or summed over the layers for the total, so exactly
    round(d·N) stay. Both round half to even (NumPy's and Python's round): d·N = 2.5 keeps 2,
    3.5 keeps 4. The reference codes of SNIP, GraSP and Synaptic-Flow count otherwise (truncation,
    ties): see ``first_order.snip_prune`` and ``first_order.grasp_prune``.
    """
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
        return [keep_all_but_lowest(s, int(k)) for s, k in zip(scores, per_layer)]
    if scope == "global":
        nnz = [layer.nnz for layer in model.layers]
        return np.split(keep_all_but_lowest(np.concatenate(scores), total), np.cumsum(nnz)[:-1])
    raise ValueError(f"scope must be 'layer' or 'global', got {scope!r}")


def prune_lowest(model, scores, fraction=None, density=None, scope="layer", optimizer=None):
    """Remove the lowest-scoring weights (see :func:`keep_masks`); the optimizer's state follows.

    Returns the keep-masks, aligned with the old ``W.data`` of each layer.
    """
    keeps = keep_masks(model, scores, fraction, density, scope)
    for l, keep in enumerate(keeps):
        prune(model, l, keep, optimizer)
    return keeps


