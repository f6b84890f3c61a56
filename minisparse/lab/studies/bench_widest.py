"""Sweep 3 of ``minisparse.lab.bench`` one step further: one CSR training step of 784-h-h-10 at ε = 20
for very wide h (default h = 1,000,000: 70 M connections, 8.4 GiB, ~2 minutes).

    python minisparse/lab/studies/bench_widest.py [h ...]        # output kept in minisparse/lab/studies/bench_widest.txt
"""
import resource
import sys
import time

from minisparse.lab import bench
from minisparse.runtime import retain_freed_memory

retain_freed_memory()                              # as the bench's own entry point does
for width in [int(a) for a in sys.argv[1:]] or [1_000_000]:
    start = time.time()
    r = bench.time_step(width, epsilon=20, repeats=3)
    print(f"width {width} nnz {r.nnz:,} {r.ms:.0f} ms/step  ns per B·nnz {r.ms * 1e6 / (128 * r.nnz):.2f}  "
          f"peak step MiB {r.peak_bytes / 2**20:.0f}  "
          f"maxrss {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.1f} GiB  "
          f"wall {time.time() - start:.0f}s", flush=True)
