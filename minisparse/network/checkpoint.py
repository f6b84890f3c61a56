"""Checkpoints: a run's whole state at the end of an epoch, in one .npz written atomically, so that a
run stopped at any moment resumes from its last finished epoch and ends bit-identical to a run that
never stopped.

The file holds what ``serialize.save`` writes (the model with its k-WTA state, the optimizer and its
state arrays) and the loop's own state:

    run.state          JSON: epoch, step, the random generator's state, the optimizer's learning rate,
                       the History rows, the TopologyLog rows, and the loop's scalars (DSR's threshold…)
    run.array.{name}   the loop's arrays (the positions ever active, per layer)

A loop takes ``checkpoint`` (a path, saved after every epoch) and ``resume`` (a :class:`Resume` from
:func:`load_checkpoint`); the caller passes the checkpoint's model and random generator in place of
new ones. JSON keeps every float exactly (``repr`` round-trips), NaN included.
"""
import json
from typing import NamedTuple

import numpy as np

from . import serialize


class Resume(NamedTuple):
    """A checkpoint, read back: the model, the optimizer (a fresh one holding the saved state), the
    random generator at the saved state, and the loop's state."""
    model: object
    optimizer: object
    rng: np.random.Generator
    epoch: int
    step: int
    history: list
    log: list
    scalars: dict
    arrays: dict


def save_checkpoint(path, model, optimizer, rng, epoch, step, history, log=None, scalars=None, arrays=None):
    """Write the run's state after ``epoch`` to ``path`` (.npz), atomically."""
    state = {"epoch": int(epoch), "step": int(step), "rng": rng.bit_generator.state,
             "lr": optimizer.hyper.get("lr"), "history": history.rows, "log": [] if log is None else log.rows,
             "scalars": scalars or {}}
    try:
        text = json.dumps(state, default=_plain)
    except TypeError as e:
        raise ValueError(f"a checkpoint's state must be plain numbers, strings, lists and dicts: {e}") from e
    out = serialize.model_arrays(model, optimizer) | {"run.state": np.array(text)}
    out |= {f"run.array.{name}": np.asarray(a) for name, a in (arrays or {}).items()}
    return serialize.atomic_write(serialize.npz_path(path), lambda f: np.savez(f, **out))


def _plain(obj):
    """NumPy arrays and scalars as lists and numbers (for the History rows)."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


def load_checkpoint(path):
    """Read a checkpoint written by :func:`save_checkpoint`; returns a :class:`Resume`."""
    path = serialize.npz_path(path)
    model, optimizer = serialize.load(path)
    if optimizer is None:
        raise ValueError(f"{path} holds a model but no optimizer state: not a checkpoint")
    with np.load(path, allow_pickle=False) as f:
        if "run.state" not in f.files:
            raise ValueError(f"{path} is a saved model, not a checkpoint (no run.state)")
        state = json.loads(str(f["run.state"]))
        arrays = {k[len("run.array."):]: f[k] for k in f.files if k.startswith("run.array.")}
    rng = np.random.default_rng()
    rng.bit_generator.state = state["rng"]
    if state.get("lr") is not None:
        optimizer.hyper["lr"] = state["lr"]
    return Resume(model, optimizer, rng, state["epoch"], state["step"], state["history"], state["log"],
                  state["scalars"], arrays)


def restore(resume, optimizer, history, log=None):
    """Put a :class:`Resume` into a loop's fresh optimizer, History and TopologyLog; returns (first
    epoch to run, step). Without ``resume``: (1, 0)."""
    if resume is None:
        return 1, 0
    optimizer.load_state_arrays(resume.optimizer.state_arrays())
    optimizer.hyper["lr"] = resume.optimizer.hyper["lr"]
    history.rows = list(resume.history)
    if log is not None:
        log.rows = list(resume.log)
    return resume.epoch + 1, resume.step


def ever_arrays(ever):
    """An EverActive's positions as checkpoint arrays: {'ever.{l}': sorted keys}."""
    return {f"ever.{l}": keys for l, keys in enumerate(ever.keys)}


def restore_ever(ever, resume):
    """Give an EverActive the positions a checkpoint recorded (nothing without ``resume``)."""
    if resume is not None:
        ever.keys = [np.asarray(resume.arrays[f"ever.{l}"], dtype=np.int64) for l in range(len(ever.keys))]


def epoch_start(checkpoint, epoch, first, model, optimizer, rng, step, history, log=None, ever=None, **scalars):
    """At the top of epoch ``epoch``: save the state the previous epoch ended with (when a path is given
    and the previous epoch ran in this call). What a loop does between the end of one epoch and the
    start of the next is nothing, so this is the end-of-epoch state."""
    if checkpoint is not None and epoch > first:
        save_checkpoint(checkpoint, model, optimizer, rng, epoch - 1, step, history, log, scalars,
                        ever_arrays(ever) if ever is not None else None)
