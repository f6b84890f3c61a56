"""Input validation: every public entry point checks its arguments here and fails loudly.

Each check raises ``ValueError`` (or ``TypeError``) whose message names the argument, what was
received and what was expected, so that bad input never turns into silently wrong numbers.
"""
import numpy as np


class DivergenceError(FloatingPointError):
    """Training produced a non-finite or exploding loss."""


def check_density(density, name="density"):
    """Return ``density`` as a float after checking 0 < density ≤ 1."""
    try:
        d = float(density)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number in (0, 1], got {density!r}") from None
    if not (0.0 < d <= 1.0):
        raise ValueError(f"{name} must be in (0, 1] (a fraction of connections kept), got {density!r}")
    return d


def check_fraction(value, name, low_open=False):
    """Return ``value`` as a float after checking it lies in [0, 1] (or (0, 1] if ``low_open``)."""
    v = float(value)
    ok = (0.0 < v <= 1.0) if low_open else (0.0 <= v <= 1.0)
    if not ok:
        interval = "(0, 1]" if low_open else "[0, 1]"
        raise ValueError(f"{name} must be in {interval}, got {value!r}")
    return v


def check_X(X, n_features=None, name="X"):
    """Check a 2-D finite float batch ``(B, n_features)`` and return it as a float array."""
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (batch, features), got shape {X.shape}")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"{name} has {X.shape[1]} features per row, but the model expects {n_features}")
    if X.shape[0] == 0:
        raise ValueError(f"{name} is empty (0 rows)")
    if not np.issubdtype(X.dtype, np.floating):
        X = X.astype(np.float64)
    if not np.all(np.isfinite(X)):
        bad = int(np.size(X) - np.count_nonzero(np.isfinite(X)))
        raise ValueError(f"{name} contains {bad} NaN or inf value(s); clean or impute the data first")
    return X


def check_y(y, n_classes, n_samples=None, name="y"):
    """Check integer class labels in ``[0, n_classes)`` and return them as an int64 array."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one integer label per row), got shape {y.shape}")
    if n_samples is not None and y.shape[0] != n_samples:
        raise ValueError(f"{name} has {y.shape[0]} labels but X has {n_samples} rows")
    if np.issubdtype(y.dtype, np.floating):
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise ValueError(f"{name} must hold integer class labels, got non-integer values")
    elif not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"{name} must hold integer class labels, got dtype {y.dtype}")
    y = y.astype(np.int64)
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(
            f"{name} has labels in [{y.min()}, {y.max()}] but the model has {n_classes} classes: "
            f"labels must be in [0, {n_classes - 1}]")
    return y


def check_rng(rng):
    """Return a ``np.random.Generator``; an int seeds a new one, ``None`` is refused (no hidden global RNG)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)):
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng must be a numpy Generator or an int seed, got {type(rng).__name__}")
