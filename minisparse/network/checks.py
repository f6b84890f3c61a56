"""Input validation: every public entry point checks its arguments here and fails loudly.

Each check raises ``ValueError`` (or ``TypeError``) whose message names the argument, what was
received and what was expected, so that bad input never turns into silently wrong numbers.
"""
import math
import numbers
import warnings

import numpy as np
import scipy.sparse as sp

SUPPORTED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))   # of a model's weights
SPARSE_X_LIMIT = 1 << 27    # entries of a scipy.sparse X that check_X densifies (1 GiB in float64)


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
    interval = "(0, 1]" if low_open else "[0, 1]"
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a number in {interval}, got {value!r} ({type(value).__name__})")
    try:                                          # a number, or text that reads as one ('0.4')
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number in {interval}, got {value!r} ({type(value).__name__})") from None
    ok = (0.0 < v <= 1.0) if low_open else (0.0 <= v <= 1.0)
    if not ok:
        raise ValueError(f"{name} must be in {interval}, got {value!r}")
    return v


def check_number(value, name, *, gt=None, ge=None, lt=None, le=None, what=None):
    """Return ``value`` unchanged after checking that it is a finite real number (a bool is not)
    within the bounds given (``gt`` >, ``ge`` ≥, ``lt`` <, ``le`` ≤). TypeError for a non-number,
    ValueError for NaN, ±inf or a value out of bounds; ``what`` says what the argument is."""
    bounds = [f"{op} {b!r}" for op, b in ((">", gt), ("≥", ge), ("<", lt), ("≤", le)) if b is not None]
    expected = " ".join(["a finite number"] + [" and ".join(bounds)] * bool(bounds))
    expected += f" ({what})" if what else ""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be {expected}, got {value!r} ({type(value).__name__})")
    ok = (math.isfinite(value) and (gt is None or value > gt) and (ge is None or value >= ge)
          and (lt is None or value < lt) and (le is None or value <= le))
    if not ok:
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    return value


def check_positive_int(value, name, what=None, minimum=1):
    """Return ``value`` as an int after checking it is an integer ≥ ``minimum`` (an int or NumPy
    integer; a float such as 100.0 or a bool is refused, TypeError; a smaller one, ValueError)."""
    kind = {1: "a positive integer", 0: "a non-negative integer"}.get(minimum, f"an integer ≥ {minimum}")
    kind += f" ({what})" if what else ""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be {kind}, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    return int(value)


def check_dtype(dtype, name="dtype"):
    """Return ``np.dtype(dtype)`` after checking it is a supported weight dtype: float32 or float64.

    float16 overflows in training (non-finite weights after an epoch) and an integer dtype truncates
    the weights, so both are refused (TypeError) rather than trained into wrong numbers."""
    supported = ", ".join(f"np.{d}" for d in SUPPORTED_DTYPES)
    try:
        dt = None if dtype is None else np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt not in SUPPORTED_DTYPES:       # (np.dtype == None compares as float64)
        shown = repr(dtype) if dt is None else str(dt)
        raise TypeError(f"{name} {shown} is not supported: the supported dtypes are {supported}")
    return dt


def check_optimizer(model, optimizer, name="optimizer"):
    """Check that ``optimizer`` was built for ``model`` (its state is aligned with that model's weights)."""
    if not (hasattr(optimizer, "step") and hasattr(optimizer, "model")):
        raise TypeError(f"{name} must be a minisparse optimizer (e.g. minisparse.SGD(model, lr=0.1)), "
                        f"got {type(optimizer).__name__}")
    if optimizer.model is not model:
        raise ValueError(f"{name} was built for another model object than the one being trained (its "
                         f"per-weight state follows that model's weights): build it from the model you "
                         f"train, e.g. {type(optimizer).__name__}(model, lr=...)")


def check_sparse_start(model, method):
    """Refuse a model whose every layer is dense: a dynamic sparse method has no free position to grow
    into and would only re-draw weights that it drops."""
    if all(layer.nnz == layer.shape[0] * layer.shape[1] for layer in model.layers):
        raise ValueError(f"{method} needs a sparse model, but every layer of {model!r} is dense "
                         f"(density 1): there is no free position to grow into. Train a dense baseline "
                         f"with minisparse.fit, or start sparse (topology='erdos_renyi' with a smaller "
                         f"epsilon, or a density < 1)")


def warn_if_no_update(method, epochs, batches, period, period_name, frac, frac_name, t_end):
    """Warn when a step-scheduled method (updates at steps ΔT, 2ΔT, … before T_end, which the loop
    computes as about frac · epochs · batches) will make no topology update in this run, saying which
    period or epochs would give one. Returns the number of updates the run will make."""
    total = epochs * batches
    updates = (t_end - 1) // period if t_end >= 1 else 0
    if updates == 0:
        fixes = [f"{period_name} ≤ {t_end - 1}"] if t_end >= 2 else []
        if frac > 0:
            more = max(epochs + 1, math.ceil((period + 1) / (frac * batches)))
            while int(frac * (more * batches)) < period + 1:
                more += 1
            fixes.append(f"epochs ≥ {more}")
        advice = f"; use {' or '.join(fixes)} for at least one" if fixes else ""
        warnings.warn(f"{method} will make no topology update: updates come every {period_name}={period} "
                      f"steps before T_end = {t_end} ({frac_name}={frac} of {epochs} epoch(s) × {batches} "
                      f"batches = {total} steps), so this run is static sparse training{advice}",
                      UserWarning, stacklevel=3)
    return updates


def _densify(X, name):
    """A scipy.sparse X as a dense array, if it is small enough (SPARSE_X_LIMIT entries)."""
    if X.ndim == 2 and X.shape[0] * X.shape[1] > SPARSE_X_LIMIT:
        gib = X.shape[0] * X.shape[1] * 8 / 2**30
        raise ValueError(f"{name} is a scipy.sparse matrix of shape {X.shape}: minisparse trains on dense "
                         f"inputs and this one would take {gib:.1f} GiB dense (more than "
                         f"{SPARSE_X_LIMIT:,} entries); pass a dense array of fewer rows or features")
    return X.toarray()


def check_X(X, n_features=None, name="X"):
    """Check a 2-D finite float batch ``(B, n_features)`` and return it as a float array.

    A scipy.sparse matrix or array is converted to a dense one (up to SPARSE_X_LIMIT entries);
    complex values are refused (the imaginary part would be dropped), as is any non-numeric dtype."""
    if sp.issparse(X):
        X = _densify(X, name)
    X = np.asarray(X)
    if X.dtype.kind == "c":
        raise TypeError(f"{name} is complex ({X.dtype}): the model takes real inputs. Pass {name}.real if "
                        f"the imaginary part is meant to be 0, or split real and imaginary parts into features")
    if X.dtype.kind not in "biuf":
        try:
            X = X.astype(np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must hold real numbers, got dtype {X.dtype}") from None
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
