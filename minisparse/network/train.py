"""The training loop, written out: mini-batches, a per-epoch history and one progress line per epoch.

The pieces (:func:`minibatches`, :func:`train_step`, :func:`evaluate`, :class:`History`) are what the
dynamic sparse training loops are built from. :func:`fit` is the plain loop for a static topology;
its ``after_step`` / ``after_epoch`` arguments are where a topology update plugs in (e.g. SET calls
its update after each epoch), and a method that must change the step itself (RigL skips the
optimizer step on an update step) writes its own loop from the same pieces.
"""
import sys
import time

import numpy as np

from .checks import DivergenceError, check_optimizer, check_positive_int, check_rng, check_X, check_y
from .cost import epoch_macs
from .neurons import dead_neurons
from .losses import log_softmax
from .mlp import EVAL_ELEMENTS, EVAL_MIN_ROWS, eval_batch_size   # the evaluation batch rule (mlp.py)


def check_training_args(epochs, batch_size, min_epochs=1):
    """Return (epochs, batch_size) as ints after checking both are positive integers: every training
    loop calls it first, before any work (0 epochs would train nothing, a batch size of 0 would divide
    by zero, a float one would fail mid-way). ``min_epochs=0``: :func:`fit` also takes 0 epochs."""
    return (check_positive_int(epochs, "epochs", "the number of passes over the training data", min_epochs),
            check_positive_int(batch_size, "batch_size", "rows per training step"))


def minibatches(n, batch_size, rng):
    """Shuffled index arrays covering range(n) once, each of size ``batch_size`` (the last may be smaller)."""
    batch_size = check_positive_int(batch_size, "batch_size", "rows per training step")
    order = rng.permutation(n)
    return [order[s:s + batch_size] for s in range(0, n, batch_size)]


EXPLODED = 100.0   # a batch loss above 100·ln(C), 100× a uniform guess's, means the run has diverged


def check_loss(loss, n_classes, lr=None, where=""):
    """Raise DivergenceError unless the batch loss is finite and at most EXPLODED·ln(C)."""
    if not np.isfinite(loss) or loss > EXPLODED * np.log(n_classes):
        raise DivergenceError(f"the training loss became {loss:.4g}{where} (diverged; a uniform guess scores "
                              f"{np.log(n_classes):.3g}): lower the learning rate"
                              f"{'' if lr is None else f' (now {lr})'} or check the data scaling")


def train_step(model, optimizer, X, y, dense=False):
    """Forward, backward and one optimizer step on a batch; return (loss, grads).

    ``dense`` asks for the dense gradient too (SGD with dense momentum needs it every step).
    """
    with np.errstate(over="ignore", invalid="ignore"):   # a diverging run is reported just below
        loss, grads = model.loss_and_grads(X, y, dense=dense)
    check_loss(loss, model.n_classes, optimizer.hyper.get("lr"))
    optimizer.step(grads)
    return loss, grads


def evaluate(model, X, y, batch_size=1000):
    """(mean cross-entropy, accuracy) on (X, y), in batches so memory stays O(batch·width): at most
    ``batch_size`` rows, fewer for wide layers (rows × widest layer ≤ EVAL_ELEMENTS, at least EVAL_MIN_ROWS)."""
    batch_size = eval_batch_size(model, batch_size, EVAL_ELEMENTS, EVAL_MIN_ROWS)   # this module's names
    total_loss, correct = 0.0, 0
    for s in range(0, len(y), batch_size):
        Z = model.forward(X[s:s + batch_size])
        yb = y[s:s + batch_size]
        total_loss += float(-log_softmax(Z)[np.arange(len(yb)), yb].sum())
        correct += int(np.sum(Z.argmax(axis=1) == yb))
    return total_loss / len(y), correct / len(y)


class History:
    """One row per epoch: a dict of 'epoch', 'loss', 'train_acc', 'val_acc', 'test_acc', 'density'
    (per layer), 'nnz', 'seconds' and whatever a method adds. ``history['loss']`` is a column."""

    def __init__(self):
        self.rows = []

    def append(self, **row):
        self.rows.append(row)

    def __getitem__(self, key):
        return np.array([row.get(key, np.nan) for row in self.rows])

    def __len__(self):
        return len(self.rows)

    def __repr__(self):
        if not self.rows:
            return "History(0 epochs)"
        last = self.rows[-1]
        return (f"History({len(self.rows)} epochs, last: loss={last['loss']:.4f}, "
                f"val_acc={last.get('val_acc', float('nan')):.4f}, "
                f"test_acc={last.get('test_acc', float('nan')):.4f})")


def progress_line(row, epochs):
    """'epoch   3/20  loss 0.4123  train 0.912  val 0.901  test 0.899  density 0.2/0.2/0.2  1.2s'."""
    dens = "/".join(f"{d:.3g}" for d in row["density"])
    accs = "  ".join(f"{k.split('_')[0]} {row[k]:.3f}" for k in ("train_acc", "val_acc", "test_acc")
                     if k in row and np.isfinite(row[k]))
    width = len(str(epochs))
    return (f"epoch {row['epoch']:>{width}}/{epochs}  loss {row['loss']:.4f}  {accs}  "
            f"density {dens}  {row['seconds']:.2f}s")


HEARTBEAT = 30.0     # seconds between progress lines inside an epoch (verbose runs; very wide networks)


def run_epoch(model, optimizer, X, y, batch_size, rng, dense=False, after_step=None, step0=0,
              report_every=None):
    """One pass over (X, y) in shuffled mini-batches; return (mean training loss, steps so far).

    ``after_step(step, grads)`` runs after each optimizer step (``step`` counts from ``step0``).
    ``report_every``: seconds; if given, a line on stderr ('  step 12/35  loss 0.6132  41 s') whenever
    that long has passed since the last one, so that a long epoch shows it is alive.
    """
    losses, step, seen, n_steps = [], step0, 0, -(-len(y) // batch_size)
    start = last = time.perf_counter()
    for k, idx in enumerate(minibatches(len(y), batch_size, rng), 1):
        loss, grads = train_step(model, optimizer, X[idx], y[idx], dense=dense)
        losses.append(loss * len(idx))
        seen += len(idx)
        step += 1
        if after_step is not None:
            after_step(step, grads)
        if report_every is not None and k < n_steps and time.perf_counter() - last >= report_every:
            last = time.perf_counter()
            print(f"  step {k}/{n_steps}  loss {np.sum(losses) / seen:.4f}  {last - start:.0f} s",
                  file=sys.stderr, flush=True)
    return float(np.sum(losses) / len(y)), step


def epoch_row(model, X, y, splits, epoch, loss, step, seconds, macs=None, **extra):
    """One History row: epoch, training loss, accuracies (train, and each split's loss and accuracy),
    density per layer, nnz, dead hidden neurons per layer (no input or no output connection: O(nnz)),
    seconds, the epoch's multiply-adds split into sparse and dense work, and what the method adds."""
    macs = macs or {"sparse": 0, "dense": 0}
    row = dict(epoch=epoch, loss=loss, train_acc=evaluate(model, X, y)[1], step=step,
               density=[layer.density for layer in model.layers], nnz=model.nnz,
               dead=[d["counts"]["dead"] for d in dead_neurons(model)], seconds=seconds,
               macs_sparse=macs["sparse"], macs_dense=macs["dense"], **extra)
    for k, (Xk, yk) in splits.items():
        row[f"{k}_loss"], row[f"{k}_acc"] = evaluate(model, Xk, yk)
    return row


DATA_PARTS = ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test")


def data_parts(data):
    """{'X_train': …, 'y_train': …, 'X_val': …, …} from a :class:`~minisparse.data.datasets.Split` (or
    any object with those attributes), a tuple ``(X, y)`` (training data only: no validation or test
    accuracy is logged) or a tuple ``(X_train, y_train, X_val, y_val, X_test, y_test)``."""
    if isinstance(data, (tuple, list)) and not hasattr(data, "X_train"):
        if len(data) not in (2, 6):
            raise ValueError(f"data as a tuple must be (X, y) or (X_train, y_train, X_val, y_val, X_test, "
                             f"y_test), got a tuple of {len(data)}")
        return dict.fromkeys(DATA_PARTS) | dict(zip(DATA_PARTS, data))
    if not hasattr(data, "X_train") or not hasattr(data, "y_train"):
        raise TypeError(f"data must be a minisparse.data.datasets.Split (e.g. load_dataset('mnist5k'), or "
                        f"stratified_split(X, y)) or a tuple (X, y); got {type(data).__name__}")
    return {k: getattr(data, k, None) for k in DATA_PARTS}


def checked_data(model, data):
    """(X_train, y_train, {'val': (X, y), 'test': (X, y)}) checked against the model (shapes, labels,
    finite values); empty evaluation parts are left out. Every training loop starts with it.
    ``data``: a Split or a tuple, see :func:`data_parts`."""
    parts = data_parts(data)
    X = check_X(parts["X_train"], model.n_in, "X_train").astype(model.dtype, copy=False)
    y = check_y(parts["y_train"], model.n_classes, len(X), "y_train")
    splits = {}
    for k in ("val", "test"):
        Xk, yk = parts[f"X_{k}"], parts[f"y_{k}"]
        if Xk is not None and yk is not None and len(yk):
            splits[k] = (check_X(Xk, model.n_in, f"X_{k}"), check_y(yk, model.n_classes, name=f"y_{k}"))
    return X, y, splits


def fit(model, optimizer, data, epochs, batch_size=100, rng=0, verbose=True, dense=False,
        after_step=None, after_epoch=None, checkpoint=None, resume=None):
    """Train for ``epochs`` passes over ``data.X_train``; return a :class:`History`.

    ``data`` is a :class:`~minisparse.datasets.Split` (validation/test sets may be empty) or a tuple
    ``(X, y)`` (see :func:`data_parts`). ``optimizer`` must be built for ``model``.
    ``epochs`` is an integer ≥ 0: 0 trains nothing and returns an empty History (the one-shot prune
    of ``pruning.pipelines.lottery_ticket(epochs=0)``); ``batch_size`` an integer ≥ 1.
    ``after_epoch(epoch, history)`` runs at the end of every epoch, after the row is logged: the
    place where an epoch-wise topology update (SET, Sparse Momentum, CTRE) plugs in.
    ``checkpoint`` (a path) and ``resume`` (from ``checkpoint.load_checkpoint``): see
    :mod:`minisparse.network.checkpoint`.
    """
    from .checkpoint import epoch_start, restore
    epochs, batch_size = check_training_args(epochs, batch_size)
    check_optimizer(model, optimizer)
    rng = check_rng(rng)
    X, y, splits = checked_data(model, data)
    history = History()
    first, step = restore(resume, optimizer, history)
    for epoch in range(first, epochs + 1):
        epoch_start(checkpoint, epoch, first, model, optimizer, rng, step, history)
        start = time.perf_counter()
        loss, step = run_epoch(model, optimizer, X, y, batch_size, rng, dense, after_step, step,
                               report_every=HEARTBEAT if verbose else None)
        seconds = time.perf_counter() - start
        macs = epoch_macs(model, len(y), batch_size, range(len(model.layers)) if dense else ())
        model.end_epoch()                        # k-WTA layers decay their boost strength
        row = epoch_row(model, X, y, splits, epoch, loss, step, seconds, macs)
        history.append(**row)
        if verbose:
            print(progress_line(row, epochs), flush=True)
        if after_epoch is not None:
            after_epoch(epoch, history)
    return history
