"""Element-wise activations, each with its derivative written beside it.

``derivative(Z, A)`` returns f'(Z) given both the pre-activation Z and the output A = f(Z), so that
each rule can use whichever is cheaper (tanh' = 1 − A², σ' = A(1 − A), ReLU' = [Z > 0]).
"""
import numpy as np


def relu(Z):
    """A = max(Z, 0)."""
    return np.maximum(Z, 0)


def relu_derivative(Z, A):
    """f'(Z) = [Z > 0]."""
    return (Z > 0).astype(Z.dtype)


def tanh(Z):
    """A = tanh(Z)."""
    return np.tanh(Z)


def tanh_derivative(Z, A):
    """f'(Z) = 1 − A²."""
    return 1 - A * A


def sigmoid(Z):
    """A = 1 / (1 + e^(−Z)), computed without overflow for large |Z|."""
    E = np.exp(-np.abs(Z))
    return np.where(Z >= 0, 1 / (1 + E), E / (1 + E))


def sigmoid_derivative(Z, A):
    """f'(Z) = A (1 − A)."""
    return A * (1 - A)


def linear(Z):
    """A = Z (the output layer, whose softmax lives in the loss)."""
    return Z


def linear_derivative(Z, A):
    """f'(Z) = 1."""
    return np.ones_like(Z)


ACTIVATIONS = {
    "relu": (relu, relu_derivative),
    "tanh": (tanh, tanh_derivative),
    "sigmoid": (sigmoid, sigmoid_derivative),
    "linear": (linear, linear_derivative),
}


def get(name):
    """``(f, f')`` for an activation name; an unknown name lists the known ones."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]
