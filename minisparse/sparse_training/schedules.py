"""f(t) = α/2·(1 + cos(π t / T_end)) and friends: how much to rewire, and when   (SET, RigL, Sparse Momentum).

A drop fraction is the share of a layer's *current* nnz removed at an update (and regrown):
ζ in SET and CTRE, α·(cosine) in RigL, p (the "prune rate") in Sparse Momentum.

Conventions for when to update:
- step-based (RigL): ``step`` counts training steps from 1 (the step about to be taken, equivalently
  the number of batches seen including this one). An update happens at steps ΔT, 2ΔT, … strictly
  before T_end: ``step % ΔT == 0 and step < T_end`` (RigL-PyTorch). RigL's TensorFlow code also
  allows step == T_end, where f(T_end) = 0 drops nothing, so the two agree in effect. On an update
  step RigL skips the optimizer step.
- epoch-based (SET, Sparse Momentum, CTRE): ``epoch`` counts completed epochs from 1; an update
  follows every epoch but the last (``epoch < n_epochs``; SET's loop ``i < epochs − 1`` 0-based).
"""
import math

from ..network.checks import check_fraction


def _check_time(t, t_end, name_t="t", name_end="t_end"):
    if t < 0 or t_end <= 0:
        raise ValueError(f"need {name_t} ≥ 0 and {name_end} > 0, got {name_t}={t!r}, {name_end}={t_end!r}")


def constant_fraction(zeta):
    """f(t) = ζ   (SET, Mocanu et al. 2018: ζ = 0.3; CTRE: ζ = 0.2). Returns f."""
    zeta = check_fraction(zeta, "zeta")
    return lambda t: zeta


def cosine_decay(t, alpha, t_end):
    """f(t) = α/2·(1 + cos(π t / T_end)) for t ≤ T_end, 0 after   (RigL, Evci et al. 2020: α = 0.3).

    RigL's T_end is 75 % of the training steps; f(0) = α, f(T_end/2) = α/2, f(T_end) = 0.
    """
    alpha = check_fraction(alpha, "alpha")
    _check_time(t, t_end)
    if t >= t_end:
        return 0.0
    return alpha / 2 * (1 + math.cos(math.pi * t / t_end))


def cosine_annealing(t, t_max, start, floor):
    """f(t) = floor + (start − floor)/2·(1 + cos(π t / T_max)) for t ≤ T_max, floor after.

    PyTorch's CosineAnnealingLR in closed form (which would rise again after T_max; here it stays).
    """
    _check_time(t, t_max, "t", "t_max")
    if not 0 <= floor <= start <= 1:
        raise ValueError(f"need 0 ≤ floor ≤ start ≤ 1, got start={start!r}, floor={floor!r}")
    t = min(t, t_max)
    return floor + (start - floor) / 2 * (1 + math.cos(math.pi * t / t_max))


def sparse_momentum_prune_rate(epoch, n_epochs, p0=0.5, p_min=0.005):
    """p(e) = p_min + (p0 − p_min)/2·(1 + cos(π e / E))   (Sparse Momentum, Dettmers & Zettlemoyer 2019).

    Their code (``sparselearning.core.CosineDecay``: CosineAnnealingLR with prune rate 0.5 and
    eta_min = 0.005, T_max = batches per epoch × epochs, stepped once per batch) evaluates it at the
    end of epoch e (1-based), i.e. at t = e·(batches per epoch): the same as t = e, T = E here.
    So the first update (e = 1) already uses slightly less than p0. It rounds up: k = ⌈p·nnz⌉.
    """
    return cosine_annealing(epoch, n_epochs, p0, p_min)


def is_update_step(step, period, t_end):
    """True at steps ΔT, 2ΔT, … with step < T_end   (RigL: ΔT = 100, T_end = 75 % of training)."""
    if period < 1 or t_end < 0:
        raise ValueError(f"need period ΔT ≥ 1 and t_end ≥ 0, got period={period!r}, t_end={t_end!r}")
    return step > 0 and step % period == 0 and step < t_end


def is_epoch_update(epoch, n_epochs):
    """True after every epoch but the last: 1 ≤ epoch < n_epochs   (SET, Sparse Momentum, CTRE)."""
    if n_epochs < 1:
        raise ValueError(f"n_epochs must be ≥ 1, got {n_epochs!r}")
    return 1 <= epoch < n_epochs
