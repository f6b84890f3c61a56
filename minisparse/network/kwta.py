"""k-winners-take-all: per sample, only the k units with the largest (boosted) pre-activations fire
(Ahmad & Scheinkman 2019, "How Can We Be So Dense? The Benefits of Using Highly Sparse
Representations"; the authors' code: numenta/htmpapers ``arxiv/how_can_we_be_so_dense``, and
numenta/nupic.torch ``KWinners``).

For a layer of n units with target density â = k/n, duty cycles d_j (how often unit j has fired
lately) and boost strength β:

    boost       b_j = exp(β·(â − d_j))                       (a unit firing less than â is boosted)
    winners     W_b = the k largest Z[b, j]·b_j of row b      (ties: the lower unit index wins)
    output      A[b, j] = Z[b, j] if j ∈ W_b, else 0          (the un-boosted value; no ReLU: a winner
                                                              may be negative)
    backward    ∂L/∂Z[b, j] = ∂L/∂A[b, j] if j ∈ W_b, else 0

Boosting only chooses the winners; it never scales what is passed on, and no gradient flows through
it. Duty cycles are updated after every TRAINING forward pass on a batch of B rows, from the units
that fired with a positive value (the code's ``x.gt(0)``):

    t ← t + B;  P = min(period, t);  d ← (d·(P − B) + Σ_b [A[b, j] > 0]) / P

(an exact running mean over the first ``period`` samples, then an exponential average with weight
B/P). At inference (``training=False``) the duty cycles are frozen and k_inference = min(round(k·f),
n) units fire (f = ``k_inference_factor``). After every epoch β ← β·``boost_strength_factor``
(:meth:`KWinners.end_epoch`, which the training loops call through ``SparseMLP.end_epoch``).

Differences from the authors' code, on purpose:
- ties: ``torch.topk`` leaves the choice among equal boosted values to the implementation (and
  nupic.torch's default ``break_ties=False`` keeps every unit tied at the threshold, so more than k
  may fire); here exactly k fire and a tie goes to the lower unit index, so a run is reproducible.
- backward mask: the code passes the gradient at the winners' indices; here at the winners whose
  value is not exactly 0 (``derivative`` reads A ≠ 0, the ReLU convention ReLU′(0) = 0). They differ
  only for a winner whose pre-activation is exactly 0.
- the code has no guard when a batch is larger than the period (P − B < 0); here that is refused.

Paper settings (MNIST, ``experiments_paper.cfg``): β = 1.5, factor 0.85, k_inference_factor 1.5,
period 1,000, weights 30 % dense in the sparse linear layer; the paper's MNIST networks are CNNs.
"""
import numpy as np


def boost_factors(duty_cycles, target_density, boost_strength):
    """b_j = exp(β·(â − d_j)).   # (n,)"""
    return np.exp(boost_strength * (target_density - np.asarray(duty_cycles)))


def winners_mask(scores, k):
    """Boolean (B, n): True at the k largest ``scores`` of each row; among equal scores at the
    boundary the lower column index wins, so exactly k are True per row."""
    B, n = scores.shape
    if not 0 <= k <= n:
        raise ValueError(f"k must be in [0, {n}], got {k}")
    if k == 0:
        return np.zeros((B, n), dtype=bool)
    if k == n:
        return np.ones((B, n), dtype=bool)
    kth = np.partition(scores, n - k, axis=1)[:, n - k:n - k + 1]           # (B, 1) the k-th largest
    above = scores > kth
    tied = scores == kth
    room = k - above.sum(axis=1, keepdims=True)                             # how many tied units fit
    return above | (tied & (np.cumsum(tied, axis=1) <= room))


def update_duty_cycles(duty_cycles, fired, seen, period):
    """One batch's update of the duty cycles from ``fired`` (B, n) booleans; returns (d, samples seen):
    t ← t + B, P = min(period, t), d ← (d·(P − B) + Σ_b fired[b]) / P."""
    B = fired.shape[0]
    if B > period:
        raise ValueError(f"a batch of {B} rows is larger than the duty-cycle period {period}: "
                         f"d·(P − B) would weigh the old duty cycles negatively; raise duty_cycle_period")
    seen = seen + B
    P = min(period, seen)
    return (duty_cycles * (P - B) + fired.sum(axis=0)) / P, seen


def duty_cycle_entropy(duty_cycles):
    """Σ_j H(d_j), H(x) = −x log₂ x − (1 − x) log₂(1 − x) (0 at x ∈ {0, 1}): how evenly the units
    share the firing, the authors' measure (``duty_cycle_metrics.py``); its maximum is n·H(k/n)."""
    d = np.clip(np.asarray(duty_cycles, dtype=float), 0.0, 1.0)
    inner = (d > 0) & (d < 1)
    x = d[inner]
    return float(np.sum(-x * np.log2(x) - (1 - x) * np.log2(1 - x)))


class KWinners:
    """The k-WTA activation of one layer of ``n`` units, with boosting by duty cycle (see the module
    docstring for the equations).

    Parameters: ``n`` units; ``k`` winners per sample in training (``percent_on`` instead gives
    k = round(n·percent_on)); ``boost_strength`` β ≥ 0 (0: no boosting); ``boost_strength_factor``
    (β is multiplied by it after every epoch); ``duty_cycle_period``; ``k_inference_factor``.
    State: ``duty_cycles`` (n,), ``seen`` (training samples so far), the current ``boost_strength``.
    """

    name = "kwta"

    def __init__(self, n, k=None, percent_on=None, boost_strength=1.5, boost_strength_factor=0.85,
                 duty_cycle_period=1000, k_inference_factor=1.5):
        if (k is None) == (percent_on is None):
            raise ValueError("give exactly one of k (winners per sample) and percent_on (k = round(n·percent_on))")
        n = int(n)
        if k is None:
            if not 0 < percent_on <= 1:
                raise ValueError(f"percent_on must be in (0, 1], got {percent_on!r}")
            k = max(1, int(round(n * percent_on)))
        if not isinstance(k, (int, np.integer)) or not 1 <= k <= n:
            raise ValueError(f"k must be an integer in [1, {n}] (winners per sample), got {k!r}")
        if not boost_strength >= 0 or not 0 < boost_strength_factor <= 1:
            raise ValueError(f"need boost_strength ≥ 0 and boost_strength_factor in (0, 1], got "
                             f"{boost_strength!r} and {boost_strength_factor!r}")
        if not isinstance(duty_cycle_period, (int, np.integer)) or duty_cycle_period < 1:
            raise ValueError(f"duty_cycle_period must be a positive integer (samples), got {duty_cycle_period!r}")
        if not k_inference_factor >= 1:
            raise ValueError(f"k_inference_factor must be ≥ 1 (more winners at inference), got {k_inference_factor!r}")
        self.n, self.k = n, int(k)
        self.k_inference = min(int(round(self.k * k_inference_factor)), n)
        self.boost_strength, self.boost_strength_factor = float(boost_strength), float(boost_strength_factor)
        self.duty_cycle_period, self.k_inference_factor = int(duty_cycle_period), float(k_inference_factor)
        self.duty_cycles, self.seen = np.zeros(n), 0

    @property
    def target_density(self):
        """â = k/n."""
        return self.k / self.n

    def winners(self, Z, training=False):
        """The winners mask (B, n) of pre-activations Z: the top k (k_inference at inference) of Z·b."""
        k = self.k if training else self.k_inference
        if self.boost_strength == 0:
            return winners_mask(Z, k)
        return winners_mask(Z * boost_factors(self.duty_cycles, self.target_density, self.boost_strength), k)

    def __call__(self, Z, training=False):
        """A = Z at the winners, 0 elsewhere; in training, then update the duty cycles.   # (B, n)"""
        if Z.shape[1] != self.n:
            raise ValueError(f"KWinners over {self.n} units got pre-activations of width {Z.shape[1]}")
        A = np.where(self.winners(Z, training), Z, 0).astype(Z.dtype, copy=False)
        if training:
            self.duty_cycles, self.seen = update_duty_cycles(self.duty_cycles, A > 0, self.seen,
                                                             self.duty_cycle_period)
        return A

    def derivative(self, Z, A):
        """∂A/∂Z: 1 at the winners (A ≠ 0), 0 elsewhere.   # (B, n)"""
        return (A != 0).astype(Z.dtype)

    def end_epoch(self):
        """β ← β·boost_strength_factor (the authors' ``update_boost_strength``, once per epoch)."""
        self.boost_strength *= self.boost_strength_factor

    def state(self):
        """Everything needed to rebuild this activation exactly: parameters and state, as plain values."""
        return {"n": self.n, "k": self.k, "boost_strength": self.boost_strength,
                "boost_strength_factor": self.boost_strength_factor, "duty_cycle_period": self.duty_cycle_period,
                "k_inference_factor": self.k_inference_factor, "seen": int(self.seen)}

    @classmethod
    def from_state(cls, state, duty_cycles):
        """Inverse of :meth:`state` (with the duty-cycle array)."""
        state = dict(state)
        seen = state.pop("seen")
        kw = cls(**state)
        duty_cycles = np.asarray(duty_cycles, dtype=float)
        if duty_cycles.shape != (kw.n,):
            raise ValueError(f"duty cycles must have shape ({kw.n},), got {duty_cycles.shape}")
        kw.duty_cycles, kw.seen = duty_cycles.copy(), int(seen)
        return kw

    def __repr__(self):
        return (f"KWinners(n={self.n}, k={self.k}, k_inference={self.k_inference}, "
                f"boost_strength={self.boost_strength:.4g}, duty_cycle_period={self.duty_cycle_period})")


def use_kwinners(model, layers=None, **kwargs):
    """Give hidden layers of ``model`` a :class:`KWinners` activation (in place; returns the model).

    ``layers``: indices of hidden layers (default: every hidden layer); ``kwargs`` go to
    :class:`KWinners` (``k`` or ``percent_on``, boosting). The layer after each one learns that its
    input has k active units per row, which the products then exploit
    (:mod:`minisparse.network.kernels.active_units`) and ``cost`` counts.
    """
    hidden = range(len(model.layers) - 1)
    layers = list(hidden) if layers is None else list(layers)
    for l in layers:
        if l not in hidden:
            raise ValueError(f"layer {l} is not a hidden layer (hidden: {list(hidden)}); the output layer "
                             f"stays linear")
    for l in layers:
        model.layers[l].set_activation(KWinners(model.layers[l].shape[1], **kwargs))
    model.link_activations()
    return model
