"""Growth: score the inactive positions of a layer, then add the k best (or k random ones).

- :mod:`~.criteria` — the scores: gradient (RigL), momentum (Sparse Momentum), magnitude before it was
  dropped, Hessian-guided. (CTRE's cosine similarity lives with CTRE.)
- :mod:`~.select` — grow the k highest-scoring positions, or k uniformly random ones (SET), keeping
  the pattern canonical and the optimizer's state aligned.
"""
from . import criteria, select
from .criteria import (gauss_newton_diagonal_dense, gradient_score, hessian_growth_score, hessian_growth_value,
                       magnitude_regrowth_score, momentum_score, remember_dropped)
from .select import (Candidates, grow_at_keys, grow_highest, grow_random, random_positions, top_k_dense, top_k_keys,
                     uniform_values)
