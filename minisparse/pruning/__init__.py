"""Pruning, classified by order (article 000, first half): score every weight, remove the lowest.

- :mod:`~.select` — score, then remove: keep-masks per layer or with one global threshold.
- :mod:`~.zeroth_order` — the weight alone: |w|, random, SET's two-sided rule.
- :mod:`~.first_order` — the gradient: SNIP, GraSP, Taylor, movement, momentum-based.
- :mod:`~.second_order` — the curvature: OBD (diagonal Hessian), OBS, layer-wise OBS.
- :mod:`~.second_order_approx` — OBS with K-FAC or WoodFisher curvature, against the exact Hessian.
- :mod:`~.structured` — whole neurons: low activation variance, merging similar neurons.
- :mod:`~.neuron_scores` — whole neurons by order: coreset sensitivity (zeroth), gate relevance and
  output sensitivity (first).
- :mod:`~.entropy_guided` — EGP: per-layer budgets from the entropy of the ReLU states.
- :mod:`~.pipelines` — the loops around them: prune and fine-tune, gradual magnitude pruning, the
  lottery ticket with rewinding, prune at initialisation then train.
"""
from . import (entropy_guided, first_order, neuron_scores, pipelines, second_order, second_order_approx, select,
               structured, zeroth_order)
from .select import keep_all_but_lowest, keep_masks, prune_lowest, removal_counts
from .zeroth_order import magnitude_score, random_score, set_keep_mask
