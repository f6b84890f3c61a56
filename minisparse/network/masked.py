"""The same MLP with dense weights and a binary mask: article 001's ``SparseLinear`` in NumPy.

Every (n_in, n_out) array here is dense, so this model costs O(B·n_in·n_out) per step whatever the
density. It exists as an independent oracle for the CSR model (tests compare losses, gradients and
weights) and as the baseline of the benchmark. W is kept zero outside the mask M, so that
W ⊙ M = W and the forward pass needs no extra multiply.
"""
import numpy as np

from . import activations, losses
from .topology import mask


class MaskedMLP:
    """Z_l = A_{l−1} @ (W_l ⊙ M_l) + b_l with dense W_l, M_l (n_in, n_out); ∂L/∂W_l = (A_{l−1}ᵀ dZ_l) ⊙ M_l."""

    def __init__(self, Ws, Ms, bs, activation_names):
        self.Ws = [W * M for W, M in zip(Ws, Ms)]
        self.Ms, self.bs, self.activation_names = Ms, bs, activation_names
        self.acts = [activations.get(name) for name in activation_names]
        self.velocity = None

    @classmethod
    def from_sparse(cls, model):
        """A dense copy of a :class:`~minisparse.mlp.SparseMLP` (same weights, same mask)."""
        return cls([layer.W.toarray() for layer in model.layers],
                   [mask(layer.W) for layer in model.layers],
                   [layer.b.copy() for layer in model.layers],
                   [layer.activation for layer in model.layers])

    def loss_and_grads(self, X, y):
        """Loss and [(dW (n_in, n_out) masked, db (n_out,))] per layer."""
        cache, A = [], X
        for W, b, (f, _) in zip(self.Ws, self.bs, self.acts):
            Z = A @ W + b
            cache.append((A, Z, f(Z)))
            A = cache[-1][2]
        loss = losses.cross_entropy(A, y)
        dA, grads = losses.cross_entropy_grad(A, y), []
        for (A_prev, Z, A), W, M, (_, f_prime) in reversed(list(zip(cache, self.Ws, self.Ms, self.acts))):
            dZ = dA * f_prime(Z, A)
            grads.append(((A_prev.T @ dZ) * M, dZ.sum(axis=0)))
            dA = dZ @ W.T
        return loss, grads[::-1]

    def sgd_step(self, grads, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
        """Masked SGD with momentum, PyTorch form: v ← μv + g + λw; w ← w − ηv (or Nesterov)."""
        if self.velocity is None:
            self.velocity = [(np.zeros_like(W), np.zeros_like(b)) for W, b in zip(self.Ws, self.bs)]
        for l, (dW, db) in enumerate(grads):
            for p, g, v in ((self.Ws[l], dW + weight_decay * self.Ws[l], self.velocity[l][0]),
                            (self.bs[l], db, self.velocity[l][1])):
                v *= momentum
                v += g
                p -= lr * (g + momentum * v if nesterov else v)
            self.Ws[l] *= self.Ms[l]
