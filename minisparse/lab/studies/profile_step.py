"""Where one training step's time goes: per layer, the forward product, the element-wise work, the
sampled product, the input gradient; then the optimizer. 784-h-h-10, Erdős–Rényi ε = 20, batch 128,
float32 (the setting of ``minisparse.lab.bench`` sweep 3).

    python minisparse/lab/studies/profile_step.py [h ...]        # default 10000 100000 (the stored output also has 300000); output: minisparse/lab/studies/profile_step.txt
"""
import sys
import time

import numpy as np

from minisparse.lab.bench import build_model
from minisparse.network.kernels.fast import gathered_sampled_product as sampled_product, panel_product
from minisparse.network.optim import SGD
from minisparse.runtime import retain_freed_memory


def ms(fn, repeats=3):
    """Best of ``repeats`` calls after a warm-up, in ms."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return 1e3 * best


def profile(width, batch=128):
    model = build_model(width, epsilon=20)
    rng = np.random.default_rng(0)
    X, y = rng.random((batch, 784), dtype=np.float32), rng.integers(0, 10, batch)
    _, cache = model.forward(X, keep=True)
    total = ms(lambda: model.loss_and_grads(X, y))
    print(f"h = {width:,}: nnz {model.nnz:,}, forward + backward {total:.0f} ms")
    print(f"  {'layer':>22}  {'nnz':>10}  {'walk':>12}  {'product':>8}  {'sampled':>8}  {'input grad':>10}  {'elementwise':>11}")
    for l, layer in enumerate(model.layers):
        A_prev, Z, A = cache[l]
        dA = np.asfortranarray(rng.standard_normal(Z.shape, dtype=np.float32))
        dZ = dA * layer.f_prime(Z, A)
        forward = ms(lambda: layer.forward(A_prev))
        walk, values = layer.walk, layer.W.data
        if walk == "row-major":
            sampled = ms(lambda: sampled_product(A_prev, dZ, layer.rows, layer.cols))
            grad_in = ms(lambda: (layer.W @ dZ.T).T) if l else 0.0
            product = ms(lambda: A_prev @ layer.W)
        else:
            P_in = layer.walks.panels("in")
            P = P_in if walk == "column-major" else layer.walks.panels("out")
            sampled = ms(lambda: sampled_product(A_prev, dZ, P.rows, P.cols))
            grad_in = ms(lambda: panel_product(P_in, values, dZ.T).T) if l else 0.0
            if walk == "column-major":
                product = ms(lambda: (P_in.refresh(values)[0] @ A_prev.T).T)
            else:
                product = ms(lambda: panel_product(P, values, A_prev.T).T)
        backward = ms(lambda: layer.backward(A_prev, Z, A, dA, need_dA_prev=l > 0))
        elementwise = max(forward - product, 0) + max(backward - sampled - grad_in, 0)
        name = f"{layer.shape[0]:,} → {layer.shape[1]:,}"
        print(f"  {name:>22}  {layer.nnz:>10,}  {walk:>12}  "
              f"{product:>8.1f}  {sampled:>8.1f}  {grad_in:>10.1f}  {elementwise:>11.1f}")
    _, grads = model.loss_and_grads(X, y)
    opt = SGD(model, lr=1e-4, momentum=0.9)
    print(f"  optimizer (SGD with momentum on W.data and b): {ms(lambda: opt.step(grads)):.1f} ms\n", flush=True)


if __name__ == "__main__":
    retain_freed_memory()
    for w in [int(a) for a in sys.argv[1:]] or [10_000, 100_000]:
        profile(w)
