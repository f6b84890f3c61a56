"""Does the cost of a layer's products follow k, the active inputs per row?

    python -m minisparse bench-kwta [--width 4000] [--density 0.02] [--batch 100] [--ks 400 200 100 50]

One n × n layer (float32, uniform random weights at ``--density``) and a batch whose rows have k
active inputs each (k-WTA of random pre-activations). For every k it times (median over
``--repeats`` interleaved rounds) the three products on the active-unit path
(:mod:`minisparse.network.kernels.active_units`) and, once, on the dense-input fast path, and prints
each time with its ratio to the time at the previous (twice larger) k: 0.5 means the time halved
with k. The CSR of the activations (reading all n inputs) is timed on its own.
"""
import argparse
import statistics
import time

import numpy as np

from ..network import kernels
from ..network.kernels import active_units
from ..network.kwta import winners_mask
from ..network.mlp import SparseMLP

PRODUCTS = ("forward", "sampled", "input gradient")


def _time(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def product_times(width=4000, density=0.02, batch=100, ks=(400, 200, 100, 50), repeats=7, rng=0):
    """{'dense': {product: s}, 'active': {k: {product: s, 'csr': s}}, ...} medians over ``repeats``."""
    model = SparseMLP.random([width, width], density=density, rng=rng, dtype=np.float32)
    layer = model.layers[0]
    layer.input_fraction, layer.input_kernels = 1.0, "active"
    r = np.random.default_rng(rng)
    Z = r.standard_normal((batch, width)).astype(np.float32)
    dZ = r.standard_normal((batch, width)).astype(np.float32)
    batches = {k: np.where(winners_mask(Z, k), Z, 0).astype(np.float32) for k in ks}
    rows = layer.rows
    times = {k: {p: [] for p in PRODUCTS + ("csr",)} for k in ks}
    dense = {p: [] for p in PRODUCTS}
    for _ in range(repeats):
        for k, A in batches.items():
            Ac = active_units.active_rows(A)
            times[k]["csr"].append(_time(lambda: active_units.active_rows(A)))
            times[k]["forward"].append(_time(lambda: active_units.forward_product(layer.W, Ac)))
            times[k]["sampled"].append(_time(lambda: active_units.sampled_product(layer.W, Ac, dZ, rows)))
            times[k]["input gradient"].append(_time(lambda: active_units.input_gradient_product(layer.W, Ac, dZ)))
        layer.input_kernels = "dense"
        A = batches[ks[0]]
        dense["forward"].append(_time(lambda: kernels.forward_product(layer, A)))
        dense["sampled"].append(_time(lambda: kernels.sampled_product(layer, A, dZ)))
        dense["input gradient"].append(_time(lambda: kernels.input_gradient_product(layer, dZ)))
        layer.input_kernels = "active"
    med = statistics.median
    return {"width": width, "density": density, "batch": batch, "nnz": layer.nnz, "ks": list(ks),
            "repeats": repeats, "dense": {p: med(v) for p, v in dense.items()},
            "active": {k: {p: med(v) for p, v in t.items()} for k, t in times.items()}}


def print_times(result):
    """The table: ms per product and k, with the ratio to the previous k."""
    print(f"{result['width']} × {result['width']} layer, density {result['density']:g} (nnz {result['nnz']:,}), "
          f"batch {result['batch']}, float32, medians of {result['repeats']}")
    print(f"{'k':>7} {'k/n':>7} " + " ".join(f"{p + ' ms':>16} {'ratio':>6}" for p in PRODUCTS) + f" {'csr ms':>8}")
    prev = None
    for k in result["ks"]:
        t = result["active"][k]
        cells = []
        for p in PRODUCTS:
            ratio = f"{t[p] / prev[p]:.2f}" if prev else "—"
            cells.append(f"{1e3 * t[p]:>16.2f} {ratio:>6}")
        print(f"{k:>7} {k / result['width']:>7.2%} " + " ".join(cells) + f" {1e3 * t['csr']:>8.2f}")
        prev = t
    d = result["dense"]
    print(f"{'dense-input fast path (any k)':>15}: " + ", ".join(f"{p} {1e3 * d[p]:.2f} ms" for p in PRODUCTS), flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m minisparse bench-kwta", description=__doc__.splitlines()[0])
    p.add_argument("--fast", action="store_true", help="a small layer (for tests)")
    p.add_argument("--width", type=int)
    p.add_argument("--density", type=float, default=0.02)
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--ks", type=int, nargs="+")
    p.add_argument("--repeats", type=int)
    args = p.parse_args(argv)
    width = args.width or (200 if args.fast else 4000)
    ks = args.ks or ([20, 10, 5] if args.fast else [400, 200, 100, 50])
    if any(not 1 <= k <= width for k in ks):
        raise SystemExit(f"--ks must lie in [1, {width}] (active inputs per row), got {ks}")
    if not 0 < args.density <= 1:
        raise SystemExit(f"--density must be in (0, 1], got {args.density}")
    result = product_times(width, args.density, args.batch, ks, args.repeats or (1 if args.fast else 7))
    print_times(result)
    return result


if __name__ == "__main__":
    main()
