"""Small builders and measures shared by the gradient tests."""
import numpy as np

from minisparse import SparseMLP


def rel_err(a, b):
    """‖a − b‖ / max(‖a‖, ‖b‖): the relative error of a whole array (lists of arrays are joined)."""
    if isinstance(a, list):
        a, b = np.concatenate(a), np.concatenate(b)
    return np.linalg.norm(a - b) / max(np.linalg.norm(a), np.linalg.norm(b), 1e-300)


def numeric_grad(f, x, h=1e-6):
    """Central differences ∂f/∂x_k ≈ (f(x + h e_k) − f(x − h e_k)) / 2h, x modified in place and restored."""
    g = np.zeros(x.size)
    flat = x.reshape(-1)
    for k in range(x.size):
        old = flat[k]
        flat[k] = old + h
        up = f()
        flat[k] = old - h
        down = f()
        flat[k] = old
        g[k] = (up - down) / (2 * h)
    return g.reshape(x.shape)


def toy(seed, sizes, density, activation, B):
    """A small sparse MLP with random biases, and a random batch (X, y) for it."""
    rng = np.random.default_rng(seed)
    model = SparseMLP.random(list(sizes), density=density, activation=activation, rng=rng)
    for layer in model.layers:
        layer.b[:] = rng.standard_normal(layer.b.size) * 0.1
    X = rng.standard_normal((B, sizes[0]))
    y = rng.integers(0, sizes[-1], B)
    return model, X, y


def small_teacher(n=600):
    """A 20-feature, 4-class teacher task, split train/val/test: enough for a few epochs of a loop."""
    from minisparse.data.datasets import make_teacher_data, stratified_split
    X, y = make_teacher_data(n=n, n_features=20, n_classes=4, n_hidden=24, rng=0)
    return stratified_split(X, y, rng=0)


def captured_figures(monkeypatch, module):
    """Make ``module._save`` keep the figure (drawn) instead of writing it; returns the list it fills."""
    figs = []

    def keep(fig, path, layout=True):
        if layout:
            fig.tight_layout()
        fig.canvas.draw()
        figs.append(fig)
    monkeypatch.setattr(module, "_save", keep)
    return figs


def overlap(a, b):
    """Area shared by two display-space boxes (matplotlib Bbox)."""
    w, h = min(a.x1, b.x1) - max(a.x0, b.x0), min(a.y1, b.y1) - max(a.y0, b.y0)
    return max(w, 0) * max(h, 0)
