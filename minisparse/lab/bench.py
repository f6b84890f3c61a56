"""Time and memory of one training step: the CSR model against the same MLP as dense W ⊙ M.

    python -m minisparse bench [--fast] [--densities D …] [--widths W …] [--batch 128] [--repeats N]

The MLP is 784 − h − h − 10 (ReLU); one step is forward + backward + SGD-momentum update on a
synthetic batch. Sweep 1 varies the density d (the same in every layer) at fixed widths and finds the
crossover density below which CSR is faster. Sweep 2 holds the connections per layer fixed while the
width grows: a CSR step should then cost O(B·nnz) and barely grow, a dense step grows as O(B·h²).
Sweep 3 holds SET's ε fixed (Erdős–Rényi, nnz = ε(n_in + n_out) per layer) from 1,000 to 300,000
units, so nnz grows like h: the CSR step should grow like h too, the dense one (timed up to
``--dense-max-width``) like h². Its table gives the time per multiply-add of one product (ns per
B·nnz) and the size of one (B, h) activation array, which decides whether the products' random row
accesses hit the cache. Peak memory is measured with ``tracemalloc`` (NumPy reports its array allocations to it).
"""
import argparse
import statistics
import sys
import time
import tracemalloc
from dataclasses import dataclass

import numpy as np

from ..network import init
from ..network.layer import SparseLinear
from ..network.masked import MaskedMLP
from ..network.mlp import SparseMLP
from ..network.optim import SGD
from ..network.train import train_step

N_IN, N_CLASSES = 784, 10
LR, MOMENTUM = 1e-4, 0.9        # small: steps repeat one batch, and wide dense output layers would diverge at 0.01
MiB = 2 ** 20


@dataclass
class StepResult:
    """One configuration, one model kind: median ms per step, peak extra bytes during a step, and
    the bytes the model itself holds (weights, pattern, biases, optimizer state)."""
    kind: str
    width: int
    density: float
    nnz: int
    ms: float
    peak_bytes: int
    model_bytes: int


def layer_nnz(width, density=None, connections=None, output_connections=None):
    """nnz per layer of 784−h−h−10: round(d·n_in·n_out), or ``connections`` in each hidden layer and
    ``output_connections`` (default ``connections``) in the output layer, capped at n_in·n_out."""
    shapes = [(N_IN, width), (width, width), (width, N_CLASSES)]
    if connections is None:
        return [init.uniform_nnz(n_in, n_out, density) for n_in, n_out in shapes]
    wanted = [connections, connections, output_connections or connections]
    return [min(int(k), n_in * n_out) for k, (n_in, n_out) in zip(wanted, shapes)]


def build_model(width, density=None, connections=None, rng=0, dtype=np.float32,
                output_connections=None, epsilon=None):
    """The benchmarked :class:`SparseMLP` 784−h−h−10 with uniformly random positions; with ``epsilon``,
    Erdős–Rényi layers of nnz = ε(n_in + n_out) (SET's, capped at dense)."""
    if epsilon is not None:
        return SparseMLP.random([N_IN, width, width, N_CLASSES], topology="erdos_renyi", epsilon=epsilon,
                                rng=rng, dtype=dtype)
    rng = np.random.default_rng(rng)
    sizes = [N_IN, width, width, N_CLASSES]
    layers = []
    for l, k in enumerate(layer_nnz(width, density, connections, output_connections)):
        f = "linear" if l == 2 else "relu"
        W = init.random_sparse(sizes[l], sizes[l + 1], k, rng, activation=f, dtype=dtype)
        layers.append(SparseLinear(W, np.zeros(sizes[l + 1], dtype=dtype), f))
    return SparseMLP(layers)


# ---- the two models' training steps, side by side -------------------------------------------------

def csr_stepper(model):
    """One step of the CSR model: O(B·nnz) sampled gradient, momentum on W.data (nnz,)."""
    opt = SGD(model, lr=LR, momentum=MOMENTUM)

    def step(X, y):
        train_step(model, opt, X, y)

    def nbytes():                       # after a step: the layers' panel copies are built by then
        return sum(L.nbytes + v_W.nbytes + v_b.nbytes for L, v_W, v_b in zip(model.layers, opt.v_W, opt.v_b))
    return step, nbytes


def dense_stepper(model):
    """One step of the same MLP as dense W ⊙ M: O(B·n_in·n_out) per layer whatever the density."""
    masked = MaskedMLP.from_sparse(model)

    def step(X, y):
        _, grads = masked.loss_and_grads(X, y)
        masked.sgd_step(grads, LR, MOMENTUM)

    def nbytes():
        velocity = [a for pair in masked.velocity or () for a in pair]
        return sum(a.nbytes for a in masked.Ws + masked.Ms + masked.bs + velocity)
    return step, nbytes


STEPPERS = {"csr": csr_stepper, "dense": dense_stepper}


def peak_bytes(step, X, y):
    """Peak traced memory during one call of ``step``, above what was allocated just before it."""
    if started := not tracemalloc.is_tracing():
        tracemalloc.start()
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    step(X, y)
    peak = tracemalloc.get_traced_memory()[1] - before
    if started:
        tracemalloc.stop()
    return peak


def time_step(width, density=None, batch=128, kind="csr", dtype=np.float32, repeats=5, rng=0,
              connections=None, output_connections=None, epsilon=None):
    """Median wall time of ``repeats`` steps after one warm-up, then one more step's peak memory."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    model = build_model(width, density, connections, rng, dtype, output_connections, epsilon)
    data_rng = np.random.default_rng(rng)
    X = data_rng.standard_normal((batch, N_IN)).astype(dtype)             # (B, 784)
    y = data_rng.integers(0, N_CLASSES, batch)                           # (B,)
    step, nbytes = STEPPERS[kind](model)
    step(X, y)                                                           # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step(X, y)
        times.append(time.perf_counter() - start)
    peak = peak_bytes(step, X, y)       # separately: tracing slows Python-level allocations
    return StepResult(kind, width, model.density, model.nnz, 1e3 * statistics.median(times), peak,
                      nbytes())


# ---- sweeps and tables -----------------------------------------------------------------------------

COLUMNS = ["width", "density", "nnz", "csr ms/step", "dense ms/step", "speed-up", "csr peak MiB",
           "dense peak MiB", "csr model MiB", "dense model MiB"]


def table_row(csr, dense=None, base_ms=None):
    """One table row (strings) from a CSR result and an optional dense one."""
    dash = "—"
    row = [f"{csr.width}", f"{csr.density:.4g}", f"{csr.nnz:,}", f"{csr.ms:.2f}",
           f"{dense.ms:.2f}" if dense else dash, f"{dense.ms / csr.ms:.2f}×" if dense else dash,
           f"{csr.peak_bytes / MiB:.2f}", f"{dense.peak_bytes / MiB:.2f}" if dense else dash,
           f"{csr.model_bytes / MiB:.2f}", f"{dense.model_bytes / MiB:.2f}" if dense else dash]
    return row + ([f"{csr.ms / base_ms:.2f}×"] if base_ms else [])


def print_table(title, header, rows):
    """Right-aligned columns under a title line."""
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(r, widths)) for r in [header] + rows]
    print("\n" + title, *lines, sep="\n", flush=True)


def measure(width, kinds, args, density=None, connections=None, output_connections=None, epsilon=None):
    """{kind: StepResult} for one configuration, with a progress line on stderr."""
    out = {}
    for kind in kinds:
        out[kind] = r = time_step(width, density, args.batch, kind, args.dtype, args.repeats,
                                  args.seed, connections, output_connections, epsilon)
        print(f"  {kind:5s} width {width:>6}  density {r.density:.4g}  nnz {r.nnz:,}  "
              f"{r.ms:.2f} ms/step  peak {r.peak_bytes / MiB:.2f} MiB", file=sys.stderr, flush=True)
    return out


def crossover(results):
    """Density where the dense/CSR time ratio crosses 1 (log-log interpolation), as a summary line."""
    pts = sorted((r["csr"].density, r["dense"].ms / r["csr"].ms) for r in results)
    width = results[0]["csr"].width
    for (d0, s0), (d1, s1) in zip(pts, pts[1:]):
        if s0 > 1 >= s1:
            d = np.exp(np.log(d0) + np.log(s0) / (np.log(s0) - np.log(s1)) * np.log(d1 / d0))
            return f"CSR is faster below density ≈ {d:.3g} at width {width}"
    if pts[-1][1] > 1:
        return f"CSR is faster at every density tested (up to {pts[-1][0]:.3g}) at width {width}"
    return f"CSR is slower even at density {pts[0][0]:.3g} at width {width}"


def linear_fit(results, batch):
    """Non-negative least squares t = a·B·nnz + b·B·Σwidth + c over CSR step times (ms), relative
    error weighted; returns (a, b, c, worst relative residual). B·nnz is the products' work, B·Σwidth
    (Σwidth = h + h + 10, every layer's outputs) the element-wise work. Fit over all three sweeps:
    at fixed ε alone nnz and width grow together and cannot be told apart."""
    from scipy.optimize import nnls
    nnz = np.array([batch * r.nnz for r in results], dtype=float)
    bw = np.array([batch * (2 * r.width + N_CLASSES) for r in results], dtype=float)
    t = np.array([r.ms for r in results])
    A = np.column_stack([nnz, bw, np.ones_like(t)])
    coef, _ = nnls(A / t[:, None], np.ones_like(t))
    return (*coef, float(np.max(np.abs(A @ coef - t) / t)))


DEFAULTS = dict(densities=[0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 0.5], widths=[1000, 4000, 10000],
                fixed_widths=[1000, 3000, 10000], connections=200_000, repeats=5,
                eps_widths=[1000, 3000, 10000, 30000, 100000, 300000], epsilon=20.0, dense_max_width=10000)
FAST = dict(densities=[0.01, 0.1, 0.5], widths=[200, 400], fixed_widths=[200, 300, 500],
            connections=20_000, repeats=2, eps_widths=[200, 400, 800], epsilon=5.0, dense_max_width=400)
EPS_COLUMNS = ["ns per B·nnz", "(B, h) MiB"]


def growth_lines(sweep3, epsilon):
    """One line per step of sweep 3: how much the nnz and the CSR (and dense) step time grew."""
    lines = []
    for r0, r1 in zip(sweep3, sweep3[1:]):
        c0, c1 = r0["csr"], r1["csr"]
        dense = (f", dense W ⊙ M {r1['dense'].ms / r0['dense'].ms:.1f}×" if "dense" in r0 and "dense" in r1 else "")
        lines.append(f"sweep 3, ε = {epsilon:g}: h {c0.width:,} → {c1.width:,} ({c1.width / c0.width:g}× wider): "
                     f"{c1.nnz / c0.nnz:.1f}× the nnz, CSR {c1.ms / c0.ms:.1f}× the time{dense}")
    return lines


def parse_args(argv):
    """Command-line options; unset sizes come from DEFAULTS, or FAST with --fast."""
    p = argparse.ArgumentParser(prog="python -m minisparse bench", description=__doc__.split("\n")[0])
    p.add_argument("--fast", action="store_true", help="small sizes, repeats 2 (for tests)")
    p.add_argument("--densities", type=float, nargs="+", help="sweep 1 densities")
    p.add_argument("--widths", type=int, nargs="+", help="sweep 1 widths h")
    p.add_argument("--fixed-widths", type=int, nargs="+", help="sweep 2 widths h")
    p.add_argument("--connections", type=int, help="sweep 2 nnz per layer (capped at dense)")
    p.add_argument("--eps-widths", type=int, nargs="+", help="sweep 3 widths h (Erdős–Rényi, fixed ε)")
    p.add_argument("--epsilon", type=float, help="sweep 3 ε (nnz = ε(n_in + n_out) per layer)")
    p.add_argument("--dense-max-width", type=int, help="sweep 3: also time dense W ⊙ M up to this width")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--repeats", type=int, help="timed steps per configuration (median)")
    p.add_argument("--float64", action="store_true", help="float64 instead of float32")
    p.add_argument("--dense-wide", action="store_true", help="also time the dense model in sweep 2")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plot", metavar="PNG", help="also draw the sweeps (and write their numbers to a .json beside it)")
    args = p.parse_args(argv)
    for name, value in (FAST if args.fast else DEFAULTS).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.dtype = np.float64 if args.float64 else np.float32
    return args


def main(argv=None):
    """Run both sweeps, print their tables and the crossover summary; return the results."""
    args = parse_args(argv)
    print(f"One training step of MLP 784-h-h-10 (ReLU), batch {args.batch}, "
          f"{np.dtype(args.dtype).name}, median of {args.repeats} steps", flush=True)
    sweep1 = {w: [measure(w, ("csr", "dense"), args, density=d) for d in args.densities]
              for w in args.widths}
    rows = [table_row(r["csr"], r["dense"]) for w in args.widths for r in sweep1[w]]
    print_table("Sweep 1: time vs density (same density in every layer)", COLUMNS, rows)

    kinds = ("csr", "dense") if args.dense_wide else ("csr",)
    n_out = N_CLASSES * min(args.fixed_widths)      # the output layer too holds the same nnz at every width
    sweep2 = [measure(w, kinds, args, connections=args.connections, output_connections=n_out)
              for w in args.fixed_widths]
    base = sweep2[0]["csr"].ms
    rows = [table_row(r["csr"], r.get("dense"), base) for r in sweep2]
    print_table(f"Sweep 2: fixed connections ({args.connections:,} per hidden layer, {n_out:,} "
                f"in the output layer)",
                COLUMNS + [f"csr vs h={args.fixed_widths[0]}"], rows)
    sweep3 = [measure(w, ("csr", "dense") if w <= args.dense_max_width else ("csr",), args, epsilon=args.epsilon)
              for w in args.eps_widths]
    base = sweep3[0]["csr"]
    itemsize = np.dtype(args.dtype).itemsize
    rows = [table_row(r["csr"], r.get("dense"), base.ms)
            + [f"{r['csr'].ms * 1e6 / (args.batch * r['csr'].nnz):.1f}",
               f"{args.batch * r['csr'].width * itemsize / MiB:.1f}"] for r in sweep3]
    print_table(f"Sweep 3: fixed ε = {args.epsilon:g} (Erdős–Rényi), nnz grows with the width",
                COLUMNS + [f"csr vs h={args.eps_widths[0]}"] + EPS_COLUMNS, rows)
    every = [r["csr"] for w in args.widths for r in sweep1[w]] + [r["csr"] for r in sweep2] + [r["csr"] for r in sweep3]
    a, b, c, worst = linear_fit(every, args.batch)
    print()
    print("\n".join(crossover(sweep1[w]) for w in args.widths), flush=True)
    print(f"fit over every CSR step: t ≈ {a * 1e6:.3g} ns·B·nnz + {b * 1e6:.3g} ns·B·Σwidth + {c:.3g} ms "
          f"(worst relative residual {worst:.0%})", flush=True)
    print("\n".join(growth_lines(sweep3, args.epsilon)), flush=True)
    results = {"density": sweep1, "fixed": sweep2, "epsilon": sweep3, "fit": (a, b, c, worst), "batch": args.batch}
    if args.plot:
        plot(results, args.plot)
        print(f"wrote {args.plot}", flush=True)
    return results


def plot(results, path):
    """Time and peak memory vs density (CSR vs dense W ⊙ M, per width) and time vs width at fixed ε
    with the fitted line, the dense model where it was timed, and guides ∝ h and ∝ h²; the numbers go
    to a .json beside the PNG. Both written atomically."""
    import dataclasses
    import json

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..network.serialize import atomic_write
    a, b, c, worst = results["fit"]
    B = results["batch"]
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6))
    for w, rows in results["density"].items():
        d = [r["csr"].density * 100 for r in rows]
        for kind, ls in (("csr", "-"), ("dense", "--")):
            axes[0].plot(d, [r[kind].ms for r in rows], ls, marker="o", ms=4, label=f"{kind}, h = {w:,}")
            axes[1].plot(d, [r[kind].peak_bytes / MiB for r in rows], ls, marker="o", ms=4, label=f"{kind}, h = {w:,}")
    for ax, what in zip(axes[:2], ("ms per step", "peak extra memory per step (MiB)")):
        ax.set(xscale="log", yscale="log", xlabel="density (%)", ylabel=what)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3, which="both")
    axes[0].set_title("784-h-h-10, one SGD step: CSR vs dense W ⊙ M")
    axes[1].set_title("peak memory of a step")
    eps = results["epsilon"]
    h = np.array([r["csr"].width for r in eps], dtype=float)
    t = np.array([r["csr"].ms for r in eps])
    ax = axes[2]
    ax.plot(h, t, "o", color="tab:blue", label="CSR step")
    for r in eps:
        ax.annotate(f"{r['csr'].nnz / 1e6:.2g} M", (r["csr"].width, r["csr"].ms), fontsize=7,
                    xytext=(4, -9), textcoords="offset points")
    fit = [a * B * r["csr"].nnz + b * B * (2 * r["csr"].width + N_CLASSES) + c for r in eps]
    ax.plot(h, fit, "-", color="tab:blue", lw=1,
            label=f"fit: {a * 1e6:.2g} ns·B·nnz + {b * 1e6:.2g} ns·B·Σwidth + {c:.2g} ms")
    dense = [(r["dense"].width, r["dense"].ms) for r in eps if "dense" in r]
    if dense:
        ax.plot(*zip(*dense), "s--", color="tab:red", ms=4, label="dense W ⊙ M step")
    ax.plot(h, t[0] * h / h[0], ":", color="0.4", lw=1, label="∝ h (the connections, at fixed ε)")
    h0, t0 = dense[0] if dense else (h[0], t[0])
    ax.plot(h, t0 * (h / h0) ** 2, ":", color="0.7", lw=1, label="∝ h² (the dense size)")
    ax.set(xscale="log", yscale="log", xlabel="hidden width h (784-h-h-10)", ylabel="ms per step",
           title="fixed ε: time follows the connections (labels: nnz)", ylim=(t.min() / 3, t.max() * 5))
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110))
    plt.close(fig)
    numbers = {"batch": B, "fit": {"a_ms_per_mac": a, "b_ms_per_element": b, "c_ms": c, "worst_relative_residual": worst},
               "density": {str(w): [{k: dataclasses.asdict(v) for k, v in r.items()} for r in rows]
                           for w, rows in results["density"].items()},
               "fixed": [{k: dataclasses.asdict(v) for k, v in r.items()} for r in results["fixed"]],
               "epsilon": [{k: dataclasses.asdict(v) for k, v in r.items()} for r in eps]}
    atomic_write(path[:-4] + ".json", lambda f: json.dump(numbers, f, indent=1), binary=False)


if __name__ == "__main__":
    from ..runtime import retain_freed_memory
    retain_freed_memory()                   # a process-wide allocator setting: entry points only
    main()
