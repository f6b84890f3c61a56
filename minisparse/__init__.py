"""minisparse: training sparse neural networks from scratch in pure NumPy and SciPy.

Weights are ``scipy.sparse.csr_array`` matrices (rows = presynaptic neurons); backprop is written by
hand; a training step costs O(batch · nnz) unless a method asks for dense information.

The package follows the article: :mod:`~minisparse.network` (the sparse layer, the MLP and its training
step), :mod:`~minisparse.pruning` (by order), :mod:`~minisparse.growth`,
:mod:`~minisparse.sparse_training` (static, SET, RigL, Sparse Momentum, DSR, DEEP R, CTRE), :mod:`~minisparse.data`;
figures and benchmarks are in :mod:`minisparse.lab`.
"""
from . import data, growth, network, pruning, sparse_training
from .network import SGD, Adam, DivergenceError, Grad, History, SparseLinear, SparseMLP, evaluate, fit, train_step
from .network.kernels import reference_kernels

__version__ = "0.1.0"
__all__ = ["SparseMLP", "SparseLinear", "Grad", "SGD", "Adam", "fit", "train_step", "evaluate",
           "History", "DivergenceError", "reference_kernels"]
