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


SET_RULES = ("count", "reference")


def set_keep_mask(w, zeta, rule="count"):
    """SET's two-sided magnitude rule: drop ζ of the positive weights closest to 0 *and* ζ of the
    negative weights closest to 0 (Mocanu et al. 2018); returns the keep-mask.   # (nnz,)

    With N(0, 1) weights and ζ = 0.3 about 70 % are kept. (Two widely copied PyTorch ports keep only
    the most negative weights instead, about 15 %.) Weights that are exactly 0 lie between the two
    thresholds of SET's reference code and are dropped by both rules.

    ``rule="count"`` (default): exactly round(ζ·n₋) negatives and round(ζ·n₊) positives are dropped
    (Python's round, half to even; ties at the cut go to the earlier entry). O(nnz), a partition.

    ``rule="reference"``: the two thresholds of ``weightsEvolution`` in the authors' SciPy code
    (github.com/dcmocanu/sparse-evolutionary-artificial-neural-networks,
    ``SET-MLP-Sparse-Python-Data-Structures/set_mlp_sparse_data_structures.py``), reproduced exactly.
    With v = sort(w), n = v.size, f = the first index of min |v| and ℓ = 1 + its last index,
    t₋ = v[int((1 − ζ)·f)] and t₊ = v[int(min(n − 1, ℓ + ζ·(n − ℓ)))] (float products truncated, as
    there); kept are w < t₋ or w > t₊. A weight equal to a threshold goes, and so does the weight
    closest to 0 whatever its sign, so (ties aside) each sign loses 0–2 weights more than round(ζ·count):
    for w = [−0.9, −0.5, 0.1, 0.8], ζ = 0.3 the reference keeps only −0.9 (t₋ = −0.5, t₊ = 0.8),
    the count rule keeps −0.9 and 0.8. A sign with no weights gets a threshold from the other sign
    (all positive: t₋ = min w, no weight is below it). O(nnz log nnz) (a sort, as in the reference).
    """
    zeta = check_fraction(zeta, "zeta")
    if rule not in SET_RULES:
        raise ValueError(f"rule must be one of {SET_RULES}, got {rule!r}")
    w = np.asarray(w)
    if np.any(np.isnan(w)):
        raise ValueError("weights contain NaN: the run has diverged, SET's rule is undefined")
    if rule == "reference":
        return _reference_thresholds_keep(w, zeta)
    keep = np.ones(w.size, dtype=bool)
    neg, pos = np.flatnonzero(w < 0), np.flatnonzero(w > 0)
    keep[w == 0] = False
    # negatives closest to 0 are the largest ones; positives closest to 0 the smallest ones (O(nnz))
    keep[neg[bottom_k_indices(-w[neg], int(round(zeta * neg.size)))]] = False
    keep[pos[bottom_k_indices(w[pos], int(round(zeta * pos.size)))]] = False
    return keep


def _reference_thresholds_keep(w, zeta):
    """Keep-mask of the SET reference code's thresholds t₋, t₊ (see :func:`set_keep_mask`).   # (n,)"""
    if w.size == 0:
        return np.ones(0, dtype=bool)
    v = np.sort(w)
    n, dist = v.size, np.abs(v)
    first = int(np.argmin(dist))                                 # first entry closest to 0
    past_last = n - int(np.argmin(dist[::-1]))                   # one past the last such entry
    t_neg = v[int((1 - zeta) * first)]
    t_pos = v[int(min(n - 1, past_last + zeta * (n - past_last)))]
    return (w < t_neg) | (w > t_pos)
