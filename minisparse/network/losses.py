"""Softmax cross-entropy, with its gradient with respect to the logits."""
import numpy as np


def softmax(Z):
    """P = exp(Z − max Z) / Σ exp(Z − max Z), row-wise.   # (B, C)"""
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def log_softmax(Z):
    """log P = Z − max Z − log Σ exp(Z − max Z), row-wise.   # (B, C)"""
    S = Z - Z.max(axis=1, keepdims=True)
    return S - np.log(np.exp(S).sum(axis=1, keepdims=True))


def cross_entropy(Z, y):
    """L = −(1/B) Σ_b log softmax(Z)[b, y_b]   (mean over the batch)."""
    return float(-log_softmax(Z)[np.arange(len(y)), y].mean())


def cross_entropy_grad(Z, y):
    """∂L/∂Z = (softmax(Z) − onehot(y)) / B.   # (B, C)"""
    dZ = softmax(Z)
    dZ[np.arange(len(y)), y] -= 1
    return dZ / len(y)
