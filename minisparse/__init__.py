"""minisparse: training sparse neural networks from scratch in pure NumPy and SciPy.

Weights are ``scipy.sparse.csr_array`` matrices (rows = presynaptic neurons); backprop is written by
hand; a training step costs O(batch · nnz) unless a method asks for dense information.
"""
from .checks import DivergenceError
from .layer import SparseLinear
from .mlp import Grad, SparseMLP
from .optim import SGD, Adam
from .train import History, evaluate, fit, train_step

__version__ = "0.1.0"
__all__ = ["SparseMLP", "SparseLinear", "Grad", "SGD", "Adam", "fit", "train_step", "evaluate",
           "History", "DivergenceError"]
