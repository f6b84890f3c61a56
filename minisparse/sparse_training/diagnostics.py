"""What to measure about a sparse network while it trains: density, topology change, in-time
over-parameterisation, dead neurons, input out-degree and the multiply-adds of each update.

Everything works from the stored positions (``topology.entry_keys``) and costs O(nnz) time and memory
(a sort, O(nnz log nnz), where two patterns are compared); no dense (n_in, n_out) array is formed.
"""
from typing import NamedTuple

import numpy as np

from ..network.topology import density, entry_keys, union_sorted


def layer_densities(model):
    """d_l = nnz_l / (n_in · n_out) for every layer l."""
    return [density(layer.W) for layer in model.layers]


class TopologyChange(NamedTuple):
    """Positions dropped (|M_{t−1} \\ M_t|), grown (|M_t \\ M_{t−1}|), moved = (dropped + grown)/2,
    and moved / nnz of the old pattern."""
    dropped: int
    grown: int
    moved: float
    fraction: float


def topology_change(W_old, W_new):
    """|M_t ⊕ M_{t−1}| / 2: the number of connections that moved between two patterns of one layer.

    Computed from the sorted flat positions of the two canonical CSR arrays; values are ignored and
    an explicit 0 counts as a connection.
    """
    if W_old.shape != W_new.shape:
        raise ValueError(f"patterns of one layer must share a shape, got {W_old.shape} and {W_new.shape}")
    common = np.intersect1d(entry_keys(W_old), entry_keys(W_new), assume_unique=True).size
    dropped, grown = W_old.nnz - common, W_new.nnz - common
    moved = (dropped + grown) / 2
    return TopologyChange(int(dropped), int(grown), moved, moved / W_old.nnz if W_old.nnz else 0.0)


class EverActive:
    """R = |M_0 ∪ M_1 ∪ … ∪ M_t| / (n_in · n_out): the in-time over-parameterisation rate
    (Liu et al. 2021), the fraction of positions that have ever held a connection.

    Holds the sorted flat positions ever active, per layer: memory O(distinct positions ever active).
    Call :meth:`update` after every topology change (the starting topology is read at construction).
    """

    def __init__(self, model):
        self.shapes = [layer.shape for layer in model.layers]
        self.keys = [entry_keys(layer.W) for layer in model.layers]      # each sorted, unique

    def update(self, model):
        """Add the current positions of every layer to the positions ever active."""
        for l, layer in enumerate(model.layers):
            if layer.shape != self.shapes[l]:
                raise ValueError(f"layer {l} changed shape from {self.shapes[l]} to {layer.shape}")
            self.keys[l] = union_sorted(self.keys[l], entry_keys(layer.W))

    def layer_rates(self):
        """R_l = |∪_t M_t^l| / (n_in · n_out) per layer."""
        return [k.size / (n_in * n_out) for k, (n_in, n_out) in zip(self.keys, self.shapes)]

    @property
    def rate(self):
        """R = Σ_l |∪_t M_t^l| / Σ_l n_in · n_out over the whole network."""
        return sum(k.size for k in self.keys) / sum(n_in * n_out for n_in, n_out in self.shapes)


class TopologyLog:
    """One row per topology update: step, epoch, per-layer dropped / grown / moved / nnz, and the
    multiply-adds the update cost, split into 'sparse' (∝ nnz) and 'dense' (∝ n_in·n_out) work.

    Usage: ``before = [layer.W for layer in model.layers]``; update the topology (``topology.prune``
    and ``grow`` build new arrays, so ``before`` keeps the old patterns);
    ``log.record(model, before, step=s, macs={'sparse': …, 'dense': …})``.
    """

    def __init__(self):
        self.rows = []

    def record(self, model, W_before, step=None, epoch=None, macs=None, ever_active=None, extra=None):
        """Log one update of ``model`` from the patterns ``W_before`` (one CSR per layer).

        ``macs``: the update's own cost as ``{'sparse': int, 'dense': int}`` (what the caller spent).
        ``ever_active``: an :class:`EverActive` to update; its rate is logged. ``extra``: a dict of
        further scalars (e.g. the random share of CTRE's growth), stored as they are.
        """
        if len(W_before) != len(model.layers):
            raise ValueError(f"W_before has {len(W_before)} layers, the model {len(model.layers)}")
        changes = [topology_change(W0, layer.W) for W0, layer in zip(W_before, model.layers)]
        macs = macs or {}
        row = dict(step=step, epoch=epoch,
                   dropped=[c.dropped for c in changes], grown=[c.grown for c in changes],
                   moved=[c.moved for c in changes], fraction=[c.fraction for c in changes],
                   nnz=[int(layer.nnz) for layer in model.layers],
                   macs_sparse=int(macs.get("sparse", 0)), macs_dense=int(macs.get("dense", 0)))
        if ever_active is not None:
            ever_active.update(model)
            row["ever_active"] = ever_active.rate
        row.update(extra or {})
        self.rows.append(row)
        return row

    def as_dict(self):
        """Columns: {key: [value per update]} of plain Python values, ready for ``json.dump``.

        A key missing from some rows holds None there.
        """
        keys = list(dict.fromkeys(k for row in self.rows for k in row))
        return {k: [row.get(k) for row in self.rows] for k in keys}

    def __len__(self):
        return len(self.rows)

    def __repr__(self):
        moved = sum(sum(row["moved"]) for row in self.rows)
        return f"TopologyLog({len(self.rows)} updates, {moved:g} connections moved in all)"
