"""Process-level settings for long runs: keep freed memory for reuse (glibc), and how many threads
the BLAS library may use (:func:`limit_blas_threads`).

A training step allocates a few dozen fresh (batch, width) arrays and frees them again. With glibc's
default settings, freed blocks at the top of the heap above a small threshold (twice the current
mmap threshold, a few MiB) are handed back to the operating system, and the next step pays a page
fault for every 4 KiB it touches again. For small, fast steps this doubles the time: 784-4000-4000-10
at 0.1 % density, batch 128, float32, takes 10.7 ms per step with the defaults and 5.0 ms with
:func:`retain_freed_memory` (the dense W ⊙ M step gains 2-20 % on the same machine). Steps with
arrays above 32 MiB, which glibc always maps afresh, do not change.

The setting is process-wide, so the library never applies it on import: the command-line entry
point (``python -m minisparse``, with its ``train``, ``figures``, ``bench`` and ``bench-methods``
commands) calls it, and a script may call it too.
"""
import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3     # mallopt parameter numbers, from glibc's <malloc.h>
MMAP_THRESHOLD = 32 * 2 ** 20                   # glibc's largest allowed value on 64-bit systems
TRIM_THRESHOLD = 2 ** 31 - 1                    # never trim the heap during the run


def retain_freed_memory():
    """On Linux with glibc, keep freed heap memory for the process's next allocations and serve
    blocks up to 32 MiB from the heap; return True if applied, False where it does not apply
    (other platforms or C libraries). Resident memory then stays at its peak instead of shrinking
    between steps, which is what a training loop reaches anyway."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):           # musl and others: no mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))


BLAS_THREADS_ENV = "MINISPARSE_BLAS_THREADS"
DEFAULT_BLAS_THREADS = 1


def blas_threads(requested=None):
    """The BLAS thread count the entry points use: ``requested``, else $MINISPARSE_BLAS_THREADS, else 1.

    Why 1 by default: minisparse's products are SciPy sparse kernels, which run on one thread
    whatever BLAS is allowed; BLAS serves only the dense parts (dense gradients, dense baselines,
    CTRE's similarity), and on a shared two-core machine a second BLAS thread that has to wait for a
    busy core slows everything down (measured: README, "Speed that does not depend on the load").
    Process-level parallelism (MINISPARSE_WORKERS) is the better use of more cores.
    """
    value = requested if requested is not None else os.environ.get(BLAS_THREADS_ENV, DEFAULT_BLAS_THREADS)
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"BLAS threads must be a positive integer (--blas-threads or ${BLAS_THREADS_ENV}), "
                         f"got {value!r}") from None
    if n < 1:
        raise ValueError(f"BLAS threads must be a positive integer (--blas-threads or ${BLAS_THREADS_ENV}), got {n}")
    return n


def limit_blas_threads(requested=None):
    """Let BLAS use :func:`blas_threads` threads from now on in this process (threadpoolctl, which the
    ``figures`` and ``test`` extras install); returns the count applied, or None without threadpoolctl
    (then OPENBLAS_NUM_THREADS, set before Python starts, is the way)."""
    n = blas_threads(requested)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    threadpool_limits(limits=n, user_api="blas")
    return n
