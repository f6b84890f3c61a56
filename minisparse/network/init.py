"""Initial sparse topologies (uniform, Erdős–Rényi, ERK) and initial weights scaled by the sparse fan-in."""
import numpy as np

from .checks import check_density, check_rng
from .topology import from_keys


def uniform_nnz(n_in, n_out, density):
    """nnz = round(d · n_in · n_out), at least 1: the same density d in every layer."""
    return max(1, int(round(check_density(density) * n_in * n_out)))


def erdos_renyi_nnz(n_in, n_out, epsilon):
    """nnz = ε · (n_in + n_out), capped at n_in · n_out   (SET, Mocanu et al. 2018).

    A capped layer is dense. ε is SET's sparsity parameter (20 in its CIFAR runs, 13 in its
    Fashion-MNIST tutorial, 1 in CTRE's highly sparse regime).
    """
    if epsilon <= 0:
        raise ValueError(f"epsilon must be positive, got {epsilon!r}")
    return int(min(round(epsilon * (n_in + n_out)), n_in * n_out))


def erk_densities(layer_shapes, density):
    """Per-layer densities d_l ∝ (n_in + n_out) / (n_in · n_out) with Σ d_l·n_in·n_out = d·Σ n_in·n_out.

    ERK (RigL, Evci et al. 2020; for an MLP it equals Erdős–Rényi with ε solved for the target).
    A layer whose density would exceed 1 is made dense and the scale is solved again for the rest.
    """
    check_density(density)
    sizes = np.array([n_in * n_out for n_in, n_out in layer_shapes], dtype=float)
    raw = np.array([(n_in + n_out) / (n_in * n_out) for n_in, n_out in layer_shapes])
    dense = np.zeros(len(sizes), dtype=bool)
    while True:
        budget = density * sizes.sum() - sizes[dense].sum()
        eps = budget / np.sum(raw[~dense] * sizes[~dense])
        d = np.where(dense, 1.0, eps * raw)
        if not np.any(d[~dense] > 1.0):
            return d
        dense |= d > 1.0


def epsilon_for_density(layer_shapes, density):
    """The ε for which Erdős–Rényi gives global density d (before capping): ε = d·Σ n_in n_out / Σ (n_in+n_out)."""
    check_density(density)
    total = sum(n_in * n_out for n_in, n_out in layer_shapes)
    return density * total / sum(n_in + n_out for n_in, n_out in layer_shapes)


def random_keys(n_in, n_out, nnz, rng):
    """nnz distinct flat positions drawn uniformly without replacement, sorted.   # (nnz,)"""
    total = n_in * n_out
    if not 1 <= nnz <= total:
        raise ValueError(f"nnz must be in [1, {total}] for a ({n_in}, {n_out}) layer, got {nnz}")
    return np.sort(rng.choice(total, size=nnz, replace=False).astype(np.int64))


def init_weights(n, fan_in, rng, activation="relu", dtype=np.float64):
    """w ~ N(0, gain²/fan_in) with the *sparse* fan-in (mean stored entries per column).   # (n,)

    gain² = 2 for ReLU (He et al. 2015), 1 otherwise. Scaling by the dense fan-in n_in would make a
    1 %-dense layer's pre-activations 10× too small; the sparse fan-in keeps their variance at 1.
    """
    gain2 = 2.0 if activation == "relu" else 1.0
    return (rng.standard_normal(n) * np.sqrt(gain2 / max(fan_in, 1.0))).astype(dtype)


def random_sparse(n_in, n_out, nnz, rng, activation="relu", dtype=np.float64):
    """A ``(n_in, n_out)`` CSR layer with nnz uniformly random positions and fan-in-scaled weights."""
    rng = check_rng(rng)
    keys = random_keys(n_in, n_out, nnz, rng)
    values = init_weights(nnz, nnz / n_out, rng, activation, dtype)
    return from_keys(keys, values, (n_in, n_out))
