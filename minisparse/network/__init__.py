"""The network and its training step: a sparse layer, the MLP, backprop, optimizers and the loop.

- :mod:`~.layer` — ``SparseLinear``: Z = A_prev @ W + b, A = f(Z), and its backward pass, written as
  the equations; each product is one named call into :mod:`~.kernels`.
- :mod:`~.kernels` — the layer's three products (forward, sampled weight gradient, input gradient):
  their plain reference forms, the fast forms, and the switch between them.
- :mod:`~.mlp` — ``SparseMLP``: layers chained, ``loss_and_grads`` by backprop.
- :mod:`~.activations`, :mod:`~.losses`, :mod:`~.init` (sparse topologies and initial weights).
- :mod:`~.topology` — the one module that changes a CSR pattern (prune, grow); :mod:`~.topk` — the
  k lowest / highest scores, which every pruning and growth method selects with.
- :mod:`~.optim` — SGD with momentum (state over active weights, or a dense velocity) and Adam.
- :mod:`~.train` — mini-batches, one training step, evaluation, the History of a run, ``fit``.
- :mod:`~.kwta` — k-winners-take-all activations with boosting (sparse activations).
- :mod:`~.cost` (multiply-adds of a step), :mod:`~.neurons` (dead units, out-degree),
  :mod:`~.serialize` (save / load), :mod:`~.checkpoint` (resumable runs), :mod:`~.masked` (the dense
  W ⊙ M baseline), :mod:`~.checks`.
"""
from . import (activations, checks, cost, init, kernels, layer, losses, masked, mlp, neurons, optim, serialize,
               topk, topology, train)
from .checks import DivergenceError
from .layer import SparseLinear
from .mlp import Grad, SparseMLP
from .optim import SGD, Adam
from .train import History, evaluate, fit, train_step
