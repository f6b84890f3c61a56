"""Zeroth-order pruning scores: what a weight's value alone says about it (|w|, or nothing at all).

Scores follow :mod:`minisparse.pruning.select`: one array per layer aligned with ``W.data``, low means
unimportant. SET's two-sided rule is a keep-mask of its own (it drops by sign, not by one threshold).
"""
import numpy as np

from ..network.checks import check_fraction, check_rng
from ..network.topk import bottom_k_indices


def magnitude_score(model):
    """s = |w|   (magnitude pruning; Han et al. 2015, the lottery ticket's IMP)."""
    return [np.abs(layer.W.data) for layer in model.layers]


def random_score(model, rng):
    """s ~ U(0, 1) per weight: random pruning, the baseline every criterion must beat."""
    rng = check_rng(rng)
    return [rng.random(layer.nnz) for layer in model.layers]


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
    keep[neg[bottom_k_indices(-w[neg], int(round(zeta * neg.size)))]] = False
    keep[pos[bottom_k_indices(w[pos], int(round(zeta * pos.size)))]] = False
    return keep
