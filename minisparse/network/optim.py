"""SGD with momentum (PyTorch form, optional Nesterov and L2) and Adam, with state aligned to W.data.

Per-weight state (a velocity, Adam's moments) is an array aligned with ``layer.W.data``; when the
pattern changes, :meth:`Optimizer.on_remove` and :meth:`Optimizer.on_add` carry it along (pruned
entries dropped, grown entries initialised as the caller says). ``SGD(dense_momentum=True)`` instead
keeps a dense velocity V (n_in, n_out) over *all* positions, active and inactive, updated from the
dense gradient every step: Sparse Momentum needs it, and it costs O(B·n_in·n_out) per step.
L2 weight decay applies to weights, not biases.

Every hyper-parameter is checked at construction: a learning rate that is NaN, ±inf, ≤ 0 or not a
number (a string) is refused there, before it can train the weights into NaN.
"""
import numpy as np

from .checks import check_number


class Optimizer:
    """Shared bookkeeping: hyper-parameters, per-layer state arrays and their pattern-following."""

    aligned = ()        # names of per-layer state lists aligned with W.data
    per_bias = ()       # names of per-layer state lists aligned with b

    def __init__(self, model, **hyper):
        self.model, self.hyper, self.t = model, hyper, 0
        for name in self.aligned:
            setattr(self, name, [np.zeros_like(layer.W.data) for layer in model.layers])
        for name in self.per_bias:
            setattr(self, name, [np.zeros_like(layer.b) for layer in model.layers])

    def on_remove(self, l, keep):
        """Layer l kept only the entries with ``keep`` (aligned with the old W.data): drop the rest."""
        for name in self.aligned:
            getattr(self, name)[l] = getattr(self, name)[l][keep]

    def on_add(self, l, order, n_new, state=None):
        """Layer l grew ``n_new`` entries (see ``topology.add_entries``); their state is ``state[name]``
        (broadcast, default 0) and ``order`` puts old and new entries in W.data order."""
        state = state or {}
        for name in self.aligned:
            old = getattr(self, name)[l]
            new = np.broadcast_to(np.asarray(state.get(name, 0.0), dtype=old.dtype), (n_new,))
            getattr(self, name)[l] = np.concatenate([old, new])[order]

    def state_arrays(self):
        """Every state array by a flat name (for saving): '{name}.{l}'."""
        out = {f"{name}.{l}": arr for name in self.aligned + self.per_bias
               for l, arr in enumerate(getattr(self, name))}
        return out | {"t": np.array(self.t)}

    def load_state_arrays(self, arrays):
        """Inverse of :meth:`state_arrays`, checking each shape against the model."""
        for name in self.aligned + self.per_bias:
            lst = getattr(self, name)
            for l in range(len(lst)):
                arr = np.asarray(arrays[f"{name}.{l}"])
                if arr.shape != lst[l].shape:
                    raise ValueError(f"optimizer state {name}.{l} has shape {arr.shape}, "
                                     f"the model needs {lst[l].shape}")
                lst[l] = arr.astype(lst[l].dtype)
        self.t = int(arrays["t"])

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyper.items())
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """v ← μv + (g + λw);  w ← w − ηv  (PyTorch form);  Nesterov: w ← w − η(g + λw + μv).

    Parameters: ``lr`` η, ``momentum`` μ, ``nesterov``, ``weight_decay`` λ, ``dense_momentum``
    (keep V (n_in, n_out) over all positions; ``step`` then needs each Grad's dense G), ``lr_scale``
    (one multiplier per layer: layer l, weights and bias, steps with η·lr_scale[l]; default all 1).

    Why a per-layer scale: a unit's pre-activation moves by about η·fan_in·E[a²] per step when all
    its fan_in incoming weights follow the gradient. A 333,333 → 10 output layer then moves 10⁴×
    faster than a hidden layer with 20 connections per unit, and one η cannot suit both.
    """

    def __init__(self, model, lr=0.01, momentum=0.9, nesterov=False, weight_decay=0.0,
                 dense_momentum=False, lr_scale=None):
        for value, name, what in ((lr, "lr", "the learning rate, > 0"), (momentum, "momentum", "in [0, 1)"),
                                  (weight_decay, "weight_decay", "≥ 0")):
            check_number(value, name, what=what)                     # a number, not NaN or inf
        if lr <= 0 or not 0 <= momentum < 1 or weight_decay < 0:
            raise ValueError(f"need lr > 0, 0 ≤ momentum < 1, weight_decay ≥ 0; "
                             f"got lr={lr}, momentum={momentum}, weight_decay={weight_decay}")
        if lr_scale is not None:
            lr_scale = tuple(float(s) for s in lr_scale)
            if len(lr_scale) != len(model.layers) or not all(np.isfinite(s) and s > 0 for s in lr_scale):
                raise ValueError(f"lr_scale needs one finite multiplier > 0 per layer ({len(model.layers)}), "
                                 f"got {lr_scale}")
        self.aligned = () if dense_momentum else ("v_W",)
        self.per_bias = ("v_b",)
        super().__init__(model, lr=lr, momentum=momentum, nesterov=nesterov,
                         weight_decay=weight_decay, dense_momentum=dense_momentum, lr_scale=lr_scale)
        if dense_momentum:   # positional: pruned weights keep their velocity, grown ones find theirs
            self.V = [np.zeros(layer.shape, dtype=layer.W.dtype) for layer in model.layers]

    def layer_lr(self, l):
        """η for layer l: ``lr`` times its ``lr_scale``."""
        scale = self.hyper["lr_scale"]
        return self.hyper["lr"] * (1.0 if scale is None else scale[l])

    def _update(self, w, g, v, lr):
        """In place: v ← μv + g; w ← w − η·(v, or g + μv with Nesterov)."""
        mu = self.hyper["momentum"]
        v *= mu
        v += g
        w -= lr * (g + mu * v if self.hyper["nesterov"] else v)

    def step(self, grads):
        """One update of every layer's W.data and b from its :class:`~minisparse.mlp.Grad`."""
        self.t += 1
        lam = self.hyper["weight_decay"]
        for l, (layer, g) in enumerate(zip(self.model.layers, grads)):
            lr = self.layer_lr(l)
            if self.hyper["dense_momentum"]:
                self._dense_velocity(l, layer, g, lam, lr)
            else:
                w = layer.W.data
                self._update(w, g.dW + lam * w if lam else g.dW, self.v_W[l], lr)
            self._update(layer.b, g.db, self.v_b[l], lr)

    def _dense_velocity(self, l, layer, g, lam, lr):
        """V ← μV + G over all positions (+λw at active ones); then w moves with V at its positions."""
        if g.G is None:
            raise ValueError("SGD(dense_momentum=True) needs the dense gradient every step: "
                             "call model.loss_and_grads(X, y, dense=True)")
        mu, V = self.hyper["momentum"], self.V[l]
        rows, cols, w = layer.rows, layer.cols, layer.W.data
        G = g.G
        if lam:
            G = G.copy()
            G[rows, cols] += lam * w
        V *= mu
        V += G
        v = V[rows, cols]
        w -= lr * (G[rows, cols] + mu * v if self.hyper["nesterov"] else v)

    def state_arrays(self):
        out = super().state_arrays()
        if self.hyper["dense_momentum"]:
            out |= {f"V.{l}": V for l, V in enumerate(self.V)}
        return out

    def load_state_arrays(self, arrays):
        super().load_state_arrays(arrays)
        if self.hyper["dense_momentum"]:
            for l in range(len(self.V)):
                V = np.asarray(arrays[f"V.{l}"])
                if V.shape != self.V[l].shape:
                    raise ValueError(f"optimizer state V.{l} has shape {V.shape}, "
                                     f"the model needs {self.V[l].shape}")
                self.V[l] = V.astype(self.V[l].dtype)


class Adam(Optimizer):
    """m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  w ← w − η·m̂/(√v̂ + ε), m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ)
    (Kingma & Ba 2015; article 001 trains with Adam, η = 1e-3). L2: g ← g + λw."""

    aligned = ("m_W", "v_W")
    per_bias = ("m_b", "v_b")

    def __init__(self, model, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
        for value, name, what in ((lr, "lr", "the learning rate, > 0"), (beta1, "beta1", "in [0, 1)"),
                                  (beta2, "beta2", "in [0, 1)"), (eps, "eps", "> 0"),
                                  (weight_decay, "weight_decay", "≥ 0")):
            check_number(value, name, what=what)                     # a number, not NaN or inf
        if lr <= 0 or not (0 <= beta1 < 1 and 0 <= beta2 < 1) or eps <= 0 or weight_decay < 0:
            raise ValueError(f"need lr > 0, β in [0, 1), eps > 0, weight_decay ≥ 0; got lr={lr}, "
                             f"beta1={beta1}, beta2={beta2}, eps={eps}, weight_decay={weight_decay}")
        super().__init__(model, lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay)

    def _update(self, w, g, m, v):
        h = self.hyper
        m *= h["beta1"]
        m += (1 - h["beta1"]) * g
        v *= h["beta2"]
        v += (1 - h["beta2"]) * g * g
        m_hat = m / (1 - h["beta1"] ** self.t)
        v_hat = v / (1 - h["beta2"] ** self.t)
        w -= h["lr"] * m_hat / (np.sqrt(v_hat) + h["eps"])

    def step(self, grads):
        """One Adam update of every layer's W.data and b."""
        self.t += 1
        lam = self.hyper["weight_decay"]
        for l, (layer, g) in enumerate(zip(self.model.layers, grads)):
            gw = g.dW + lam * layer.W.data if lam else g.dW
            self._update(layer.W.data, gw, self.m_W[l], self.v_W[l])
            self._update(layer.b, g.db, self.m_b[l], self.v_b[l])


OPTIMIZERS = {"sgd": SGD, "adam": Adam}
