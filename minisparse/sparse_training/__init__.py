"""Dynamic sparse training (article 000, second half): train a sparse network from scratch while its
connections move. Each algorithm is an explicit update function and an explicit training loop.

- :mod:`~.static` — a fixed random mask (article 001), the baseline.
- :mod:`~.set_training` — SET: drop the weights closest to 0 by sign, regrow at random.
- :mod:`~.rigl` — RigL: drop the smallest |w|, grow the largest dense |gradient|.
- :mod:`~.sparse_momentum` — Sparse Momentum: prune by magnitude, redistribute and regrow by momentum.
- :mod:`~.dsr` — DSR: prune below one global adaptive threshold, give the freed weights back to the
  layers in proportion to their survivors, at random positions.
- :mod:`~.deep_r` — DEEP R: fixed signs, a Langevin step on θ = |w|, a connection reaching 0 is
  replaced by a random dormant one.
- :mod:`~.ctre` — CTRE: grow where the two neurons fire together (cosine similarity), with random
  exploration.
- :mod:`~.schedules` — how much to rewire and when; :mod:`~.diagnostics` — topology change, the
  ever-active rate, a log of every update.
"""
from . import ctre, deep_r, diagnostics, dsr, rigl, schedules, set_training, sparse_momentum, static
from .ctre import ctre_update, train_ctre
from .deep_r import deep_r_step, deep_r_update, train_deep_r
from .dsr import dsr_update, train_dsr
from .rigl import rigl_update, train_rigl
from .set_training import set_update, train_set
from .sparse_momentum import sparse_momentum_update, train_sparse_momentum
from .static import train_static
