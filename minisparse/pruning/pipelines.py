"""Pruning pipelines, each an explicit loop handing over a CSR model that then trains truly sparsely.

- dense → one-shot prune → fine-tune (:func:`prune_and_finetune`);
- gradual magnitude pruning on the cubic schedule of Zhu & Gupta 2017 (:func:`gradual_magnitude_pruning`);
- iterative magnitude pruning with rewinding: the lottery ticket (:func:`lottery_ticket`);
- SNIP or GraSP at initialisation, then sparse training from scratch (:func:`prune_at_init_then_train`).

Every pipeline counts the multiply-adds it spends (``minisparse.cost``), so that dense → prune can be
compared with sparse from scratch at equal final sparsity (article 001, section 8).
"""
import copy

import numpy as np

from ..network import cost

from . import first_order
from ..network.checks import check_density, check_rng
from ..network.optim import SGD
from .select import prune_lowest
from .zeroth_order import magnitude_score
from ..network.topology import entry_keys
from ..network.train import History, evaluate, fit, minibatches, train_step


def train(model, data, epochs, lr=0.05, momentum=0.9, batch_size=100, rng=0, verbose=False):
    """SGD with momentum on a fixed pattern; return (history, multiply-adds spent). ``epochs=0``
    trains nothing (an empty History)."""
    if epochs == 0:
        return History(), 0
    history = fit(model, SGD(model, lr=lr, momentum=momentum), data, epochs, batch_size=batch_size,
                  rng=rng, verbose=verbose)
    macs = epochs * cost.epoch_macs(model, len(data.y_train), batch_size)["sparse"]
    return history, macs


def accuracy_on_test(model, data):
    """Accuracy on the test split."""
    return evaluate(model, data.X_test, data.y_test)[1]


def prune_and_finetune(model, scores, density, data, finetune_epochs, scope="layer", **train_args):
    """Remove the lowest-scoring weights down to ``density``, then fine-tune the sparse model.

    Returns a dict: accuracy right after pruning ('one_shot'), after fine-tuning ('finetuned'),
    and the fine-tuning multiply-adds ('macs'). ``model`` is pruned in place.
    """
    prune_lowest(model, scores, density=check_density(density), scope=scope)
    one_shot = accuracy_on_test(model, data)
    macs = 0
    if finetune_epochs:
        _, macs = train(model, data, finetune_epochs, **train_args)
    return {"one_shot": one_shot, "finetuned": accuracy_on_test(model, data), "macs": macs,
            "density": model.density}


def cubic_density(step, final_density, start, end, initial_density=1.0):
    """d_t = 1 − s_t,  s_t = s_f + (s_i − s_f)·(1 − (t − t₀)/(t_end − t₀))³   (Zhu & Gupta 2017, Eq. 1).

    Sparsity rises fast at first and slowly near the end, when the network has less to give up.
    """
    s_i, s_f = 1 - initial_density, 1 - final_density
    progress = np.clip((step - start) / max(end - start, 1), 0.0, 1.0)
    return 1 - (s_f + (s_i - s_f) * (1 - progress) ** 3)


def gradual_magnitude_pruning(model, data, final_density, epochs, prune_every=50, start_frac=0.1,
                              end_frac=0.7, lr=0.05, momentum=0.9, batch_size=100, rng=0,
                              scope="layer"):
    """Train while pruning by magnitude every ``prune_every`` steps (ΔT) on the cubic schedule,
    from ``start_frac`` to ``end_frac`` of training; then train on at the final density.

    Returns (history dict with 'step', 'density' per pruning event, test accuracy, multiply-adds).
    """
    rng = check_rng(rng)
    opt = SGD(model, lr=lr, momentum=momentum)
    n = len(data.y_train)
    total_steps = epochs * int(np.ceil(n / batch_size))
    start, end = int(start_frac * total_steps), int(end_frac * total_steps)
    step, macs, events = 0, 0, {"step": [], "density": []}
    for _ in range(epochs):
        for idx in minibatches(n, batch_size, rng):
            train_step(model, opt, data.X_train[idx], data.y_train[idx])
            macs += cost.step_macs(model, len(idx))["sparse"]
            step += 1
            if start <= step <= end and (step - start) % prune_every == 0:
                target = cubic_density(step, final_density, start, end)
                prune_lowest(model, magnitude_score(model), density=target, scope=scope, optimizer=opt)
                events["step"].append(step)
                events["density"].append(model.density)
    prune_lowest(model, magnitude_score(model), density=final_density, scope=scope, optimizer=opt)
    return events, accuracy_on_test(model, data), macs


def rewind(model, snapshot):
    """Set every surviving weight (and every bias) back to its value in ``snapshot`` (an earlier copy
    of the model with a superset of its pattern): the lottery ticket's reset."""
    for layer, old in zip(model.layers, snapshot.layers):
        keys, old_keys = entry_keys(layer.W), entry_keys(old.W)
        at = np.searchsorted(old_keys, keys)
        if np.any(at >= old_keys.size) or np.any(old_keys[np.minimum(at, old_keys.size - 1)] != keys):
            raise ValueError("cannot rewind: the snapshot lacks some of the model's connections")
        layer.W.data[:] = old.W.data[at]
        layer.b[:] = old.b


def lottery_ticket(model, data, final_density, rounds, epochs, rewind_epochs=0, scope="layer",
                   verbose=False, **train_args):
    """Iterative magnitude pruning with rewinding (Frankle & Carbin 2019; late rewinding, Frankle
    et al. 2020): train, prune p = 1 − d^(1/rounds) of the remaining weights by magnitude, rewind the
    survivors to their values at epoch ``rewind_epochs`` (0 = initialisation), repeat; then train the
    ticket once more. Returns (model, per-round list of (density, test accuracy), multiply-adds).
    """
    check_density(final_density)
    macs = 0
    if rewind_epochs:
        macs += train(model, data, rewind_epochs, **train_args)[1]
    snapshot = copy.deepcopy(model)
    p = 1 - final_density ** (1 / rounds)
    trace = []
    for r in range(rounds):
        macs += train(model, data, epochs, **train_args)[1]
        trace.append((model.density, accuracy_on_test(model, data)))
        prune_lowest(model, magnitude_score(model), fraction=p, scope=scope)
        rewind(model, snapshot)
        if verbose:
            print(f"IMP round {r + 1}/{rounds}: density {model.density:.4f}, accuracy before pruning "
                  f"{trace[-1][1]:.4f}", flush=True)
    macs += train(model, data, epochs, **train_args)[1]
    trace.append((model.density, accuracy_on_test(model, data)))
    return model, trace, macs


def prune_at_init_then_train(model, data, density, epochs, criterion="snip", batch_size=100, rng=0,
                             **train_args):
    """Score at initialisation on one batch, prune globally to ``density`` in one shot, then train the
    sparse network from scratch: SNIP (Lee et al. 2019, |g ⊙ w|) or GraSP (Wang et al. 2020, which
    keeps gradient flow). Returns (history, test accuracy, multiply-adds incl. the scoring pass)."""
    prune_fn = {"snip": first_order.snip_prune, "grasp": first_order.grasp_prune}[criterion]
    rng = check_rng(rng)
    idx = rng.choice(len(data.y_train), size=min(batch_size, len(data.y_train)), replace=False)
    passes = 1 if criterion == "snip" else 3                # GraSP: g, then Hg by two more gradients
    macs = passes * cost.step_macs(model, len(idx))["sparse"]
    prune_fn(model, data.X_train[idx], data.y_train[idx], density)
    history, train_macs = train(model, data, epochs, batch_size=batch_size, rng=rng, **train_args)
    return history, accuracy_on_test(model, data), macs + train_macs


def snip_then_train(model, data, density, epochs, batch_size=100, rng=0, **train_args):
    """SNIP (Lee et al. 2019): :func:`prune_at_init_then_train` with |g ⊙ w|."""
    return prune_at_init_then_train(model, data, density, epochs, "snip", batch_size, rng, **train_args)
