"""First-order (and gradient-flow) pruning scores: SNIP, GraSP, Taylor, movement, momentum-based.

Every score follows :mod:`minisparse.pruning`: one array per layer aligned with ``W.data``, LOW =
UNIMPORTANT, removed by :func:`~minisparse.pruning.prune_lowest`. Only active weights are scored;
biases are never scored nor perturbed. The trackers (:class:`TaylorScore`, :class:`MovementScore`,
:class:`MomentumPruner`) hold arrays aligned with ``W.data`` and raise ``ValueError`` when the
pattern (``indptr``/``indices``) changed under them.
"""
import copy

import numpy as np

from ..network.checks import check_density
from .select import prune_lowest
from ..network.topology import prune


def _weight_grads(model, X, y):
    """g = ∂L/∂W on the active weights, one (nnz_l,) array per layer."""
    return [g.dW for g in model.loss_and_grads(X, y)[1]]


def snip_score(model, X, y):
    """s = |g ⊙ w|   (SNIP connection sensitivity, Lee et al. 2019), g = ∂L/∂w on one batch.

    The paper divides by Σ_k |g_k w_k|; one positive factor for all layers changes no ranking, local or
    global, so it is left out.
    """
    return [np.abs(g * layer.W.data) for g, layer in zip(_weight_grads(model, X, y), model.layers)]


def snip_prune(model, X, y, density, scope="global"):
    """SNIP: score on one batch at initialisation and remove the lowest |g ⊙ w| in one shot, down to
    ``density``; returns the keep-masks. Training the sparse net from scratch is the caller's job.

    How many go: exactly nnz − round(d·N) weights, N = Σ n_in·n_out over the layers (per layer with
    ``scope='layer'``), with round half to even (Python's and NumPy's round: d·N = 2.5 keeps 2,
    3.5 keeps 4); ties at the cut go to the earlier entry (:mod:`minisparse.pruning.select`). Only
    weights are in the pool, never biases. The two reference codes count differently:

    - namhoonlee/snip-public, ``snip/model.py`` (``create_sparse_mask``): keeps exactly
      κ = int(round(N′·(1 − target_sparsity))) by ``top_k``, but its pool N′ holds the biases with
      the weights (every variable whose name has a 'w' or 'b'). The biases start at 0
      (``snip/main.py``: ``initializer_b_bp='zeros'``), so they score |g·b| = 0 and are among the
      first removed (masked to 0 from then on); the κ kept entries are then weights, about d·(number
      of biases) more than round(d·N).
    - ganguli-lab/Synaptic-Flow, ``Pruners/pruners.py`` (``Pruner._global_mask``, ``_local_mask``):
      its ``sparsity`` is the fraction kept, k = int((1 − sparsity)·N) truncates, and the mask
      ``score <= threshold`` (the k-th smallest) removes every entry tied with it too; biases are
      left out by default (``Utils/generator.py``, ``masked_parameters(bias=False)``).

    No option reproduces either count.
    """
    return prune_lowest(model, snip_score(model, X, y), density=check_density(density), scope=scope)


def hessian_vector_product(model, X, y, v, step=None):
    """Hv ≈ (∇L(θ + εv) − ∇L(θ − εv)) / 2ε   (central differences of the hand-written gradient).

    θ = the active weights (biases held fixed), ``v`` one (nnz_l,) array per layer. ε is chosen so
    that ‖εv‖ = step·max(‖θ‖, 1), step = (machine ε)^(1/3) by default (6e-6 in float64): the error is
    O(ε²) plus rounding, ~1e-8 relative in float64 unless a ReLU input crosses 0 inside ±εv.
    The weights are restored exactly (copied back, not re-subtracted).
    """
    theta = [layer.W.data.copy() for layer in model.layers]
    v_norm = np.sqrt(sum(float(vi @ vi) for vi in v))
    if v_norm == 0:
        return [np.zeros_like(t) for t in theta]
    step = np.finfo(model.dtype).eps ** (1 / 3) if step is None else step
    eps = float(step * max(np.sqrt(sum(float(t @ t) for t in theta)), 1.0) / v_norm)   # keeps dtype
    try:
        for layer, t, vi in zip(model.layers, theta, v):
            np.copyto(layer.W.data, t + eps * vi)
        g_plus = _weight_grads(model, X, y)
        for layer, t, vi in zip(model.layers, theta, v):
            np.copyto(layer.W.data, t - eps * vi)
        g_minus = _weight_grads(model, X, y)
    finally:
        for layer, t in zip(model.layers, theta):
            np.copyto(layer.W.data, t)
    return [(gp - gm) / (2 * eps) for gp, gm in zip(g_plus, g_minus)]


def grasp_score(model, X, y, step=None, temperature=200.0):
    """s = θ ⊙ H_T g_T = −S(−θ)   (GraSP, Wang et al. 2020, negated for the low-is-removed rule).

    Removing weight q (δ = −θ_q e_q) changes the gradient norm by Δ‖g‖² ≈ 2δᵀHg = −2θ_q(Hg)_q = 2S_q
    with the paper's S(−θ) = −θ ⊙ Hg. GraSP removes the HIGHEST S: the weights whose removal raises
    gradient flow most (or lowers it least). The reference code (alecwangcq/GraSP, pruner/GraSP.py)
    agrees: ``grads = -weight * weight.grad  # -theta_q Hg``, ``threshold = topk(all_scores,
    num_params_to_rm)`` (the largest), ``keep = score <= acceptable_score``. So we return −S = θ ⊙ Hg
    and :func:`prune_lowest` removes its lowest = the paper's highest. Not |θ ⊙ Hg|: the sign matters.

    g and H are those of the loss on softened logits, L_T(θ) = CE(Z(θ)/T, y), with the reference
    code's T = 200 (measured here: at 90 % on MNIST-5k, T = 200 trains to 0.898/0.925 over two
    seeds, T = 1 to 0.868/0.898, a random mask to 0.895/0.893). They are computed on a copy whose
    last layer is divided by T (θ′ = Jθ, J = 1/T on that layer): g_T = J g′ and
    θ ⊙ H_T g_T = θ′ ⊙ H′(J² g′). g and Hg both come from the batch (X, y), as in the reference code;
    its division by |Σ S| is a positive factor (no change). Not copied: its Xavier re-initialisation
    of Linear layers, and its count (see :func:`grasp_prune`).
    """
    scaled = copy.deepcopy(model)
    scaled.layers[-1].W.data /= temperature                       # logits Z / T
    scaled.layers[-1].b /= temperature
    J = [1.0] * (len(model.layers) - 1) + [1.0 / temperature]
    g = _weight_grads(scaled, X, y)                               # g′ = ∂L/∂θ′
    Hv = hessian_vector_product(scaled, X, y, [j * j * gl for j, gl in zip(J, g)], step)
    return [layer.W.data * h for layer, h in zip(scaled.layers, Hv)]


def grasp_prune(model, X, y, density, step=None, temperature=200.0):
    """GraSP at initialisation: one shot, one global threshold, remove the lowest θ ⊙ Hg (= the
    paper's highest −θ ⊙ Hg) down to ``density``; returns the keep-masks.

    How many go: exactly nnz − round(d·N) weights, N = Σ n_in·n_out, round half to even (Python's
    round: d·N = 2.5 keeps 2); ties at the cut go to the earlier entry. The reference
    (alecwangcq/GraSP, ``pruner/GraSP.py``) truncates, ``num_params_to_rm = int(N·ratio)``, and then
    keeps ``score <= threshold`` with the threshold the k-th highest score: it removes k − 1 weights
    (fewer if scores tie with the k-th). No option reproduces it.
    """
    return prune_lowest(model, grasp_score(model, X, y, step, temperature), density=check_density(density),
                        scope="global")


class _Tracker:
    """Per-layer arrays aligned with W.data, plus the pattern and the weights they were aligned with."""

    def __init__(self, model):
        self.model = model
        self._remember()

    def _remember(self):
        """Record the current pattern and weights (the weights the next gradient is taken at)."""
        self._indptr = [layer.W.indptr.copy() for layer in self.model.layers]
        self._indices = [layer.W.indices.copy() for layer in self.model.layers]
        self._w = [layer.W.data.copy() for layer in self.model.layers]

    def _check(self, grads=None):
        """Raise ValueError if a layer's pattern changed since the last record (or grads misalign)."""
        for l, layer in enumerate(self.model.layers):
            if (layer.W.nnz != self._indices[l].size or not np.array_equal(layer.W.indptr, self._indptr[l])
                    or not np.array_equal(layer.W.indices, self._indices[l])):
                raise ValueError(
                    f"{type(self).__name__}: layer {l}'s sparsity pattern changed under the tracker "
                    f"(nnz {self._indices[l].size} → {layer.W.nnz}, or moved entries); its scores are "
                    f"aligned with the old W.data. Create a new tracker after a topology change.")
            if grads is not None and np.shape(grads[l].dW) != (layer.W.nnz,):
                raise ValueError(f"grads[{l}].dW has shape {np.shape(grads[l].dW)}, "
                                 f"layer {l} has {layer.W.nnz} weights")


class TaylorScore(_Tracker):
    """s = Σ_t |g_t ⊙ w_t|   (first-order Taylor importance of each weight).

    |g w| is the first-order estimate of |ΔL| when w is set to 0 (Mozer & Smolensky 1989's
    skeletonization; SNIP's score). Molchanov et al. 2017 apply the criterion to whole feature maps;
    Molchanov et al. 2019 ("Importance Estimation for Neural Network Pruning") define it per
    parameter, as (g w)², and sum it over groups. Summing the per-batch absolute values (not |Σ g w|)
    follows their averaging over batches (a mean ranks the same).
    ``update(grads)``: call once per batch — after the optimizer step if training (``fit``'s
    ``after_step``), or with no step at all. w_t is the weight the gradient was taken at, i.e. the
    value at the previous ``update`` (or at construction): the weight BEFORE the step.
    """

    def __init__(self, model):
        super().__init__(model)
        self.S = [np.zeros_like(layer.W.data) for layer in model.layers]

    def update(self, grads):
        """S_l += |g_l ⊙ w_l| with w_l the weights before this batch's step."""
        self._check(grads)
        for S, g, w in zip(self.S, grads, self._w):
            S += np.abs(g.dW * w)
        self._remember()

    def scores(self):
        """A copy of the accumulated scores, one (nnz_l,) array per layer (low = unimportant)."""
        self._check()
        return [S.copy() for S in self.S]


def taylor_score(model, X, y, batch_size=100):
    """s = Σ_batches |g_b ⊙ w|   (first-order Taylor importance, see :class:`TaylorScore`) over (X, y)
    in order, without training (w fixed)."""
    tracker = TaylorScore(model)
    for s in range(0, len(y), batch_size):
        tracker.update(model.loss_and_grads(X[s:s + batch_size], y[s:s + batch_size])[1])
    return tracker.scores()


class MovementScore(TaylorScore):
    """S = −Σ_t (∂L/∂W)_t ⊙ W_t   (movement pruning, Sanh et al. 2020; α dropped).

    S starts at 0. A weight that the gradient pushes towards 0 (g and w of the same sign, so SGD
    shrinks |w|) loses score; one pushed away from 0 gains. Remove the LOWEST S. Sanh et al. learn S
    by SGD on the scores with a straight-through estimator, S ← S − α g ⊙ w; a constant α > 0 changes
    no ranking. At 3 % of the weights on SQuAD they report 76.3 F1 (movement) vs 54.5 (magnitude).
    g_t is the gradient the step used and W_t the weight it was computed at, BEFORE the update (as
    in the paper's backward pass): call ``update(grads)`` after every optimizer step (``after_step``).
    """

    def update(self, grads):
        """S_l −= g_l ⊙ w_l with w_l the weights before this step."""
        self._check(grads)
        for S, g, w in zip(self.S, grads, self._w):
            S -= g.dW * w
        self._remember()


class MomentumPruner(_Tracker):
    """prune w when |w| < τ_l = threshold / I_l for ``patience`` consecutive epochs,
    I_l = mean|W_l| / mean_l' mean|W_l'|   (momentum-based pruning, article 000, first-order methods).

    Direction of the scaling: an important layer (I_l > 1) gets a LOWER threshold and is pruned
    less; an unimportant one a higher threshold. The literal "threshold · I_l" would do the reverse:
    it cuts a fixed fraction of each layer's own mean, |w| / mean|W_l| < threshold / mean_l' mean|W_l'|
    for every l, so importance would cancel out. τ_l is recomputed every epoch.

    The "momentum" is the weight's magnitude over the last epochs, not the optimizer's velocity:
    nothing here reads optimizer state. A weight goes only if it has stayed small, so one that dips
    below τ_l for an epoch (e.g. while changing sign) survives. (This matches the magnitude-history
    reading of "weight momentum" in Johnson et al. 2022, WeightMom.)

    ``update()`` once per epoch records |w| and τ_l in a window of the last ``window`` epochs;
    ``step_prune(optimizer)`` removes the weights whose last ``patience`` recorded epochs were all
    below threshold. Only ``step_prune`` may change the pattern while the pruner is in use.
    """

    def __init__(self, model, threshold, window=15, patience=10):
        if threshold < 0 or not 1 <= patience <= window:
            raise ValueError(f"need threshold ≥ 0 and 1 ≤ patience ≤ window; got threshold={threshold}, "
                             f"window={window}, patience={patience}")
        super().__init__(model)
        self.threshold, self.window, self.patience = float(threshold), int(window), int(patience)
        self.magnitudes = [np.full((window, layer.nnz), np.nan) for layer in model.layers]  # (K, nnz_l)
        self.thresholds = np.full((window, len(model.layers)), np.nan)                     # (K, L)

    def layer_thresholds(self):
        """τ_l = threshold / I_l with I_l = mean|W_l| / mean over non-empty layers; inf if I_l = 0."""
        means = np.array([np.abs(layer.W.data).mean() if layer.nnz else np.nan
                          for layer in self.model.layers])
        overall = np.nanmean(means)
        if not overall > 0:
            raise ValueError("every weight is 0 (or every layer empty): layer importance is undefined")
        with np.errstate(divide="ignore"):
            return self.threshold / (means / overall)

    def update(self):
        """Record this epoch's |w| and τ_l (oldest epoch dropped)."""
        self._check()
        self.thresholds[:-1] = self.thresholds[1:]
        self.thresholds[-1] = self.layer_thresholds()
        for M, layer in zip(self.magnitudes, self.model.layers):
            M[:-1] = M[1:]
            M[-1] = np.abs(layer.W.data)
        self._remember()

    def candidates(self):
        """Per layer, True where |w| < τ_l in each of the last ``patience`` recorded epochs.   # (nnz_l,)"""
        self._check()
        tau = self.thresholds[-self.patience:]                                   # (P, L)
        return [np.all(M[-self.patience:] < tau[:, l, None], axis=0)             # NaN (unseen) → False
                for l, M in enumerate(self.magnitudes)]

    def step_prune(self, optimizer=None):
        """Remove the candidates (``topology.prune``; the optimizer's state follows), realign the
        window; return the keep-masks (aligned with the old W.data)."""
        keeps = [~c for c in self.candidates()]
        for l, keep in enumerate(keeps):
            if not keep.all():
                prune(self.model, l, keep, optimizer)
                self.magnitudes[l] = self.magnitudes[l][:, keep]
        self._remember()
        return keeps
