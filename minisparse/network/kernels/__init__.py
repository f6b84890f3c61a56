"""The three products of a sparse layer, each in a reference form and a fast form.

For a layer with weights W (n_in, n_out, CSR, stored entries k at positions (i_k, j_k)) and a batch
of B rows:

    forward product         Z = A_prev @ W                                   (B, n_out)
    sampled product         dW_k = Σ_b A_prev[b, i_k] · dZ[b, j_k]           (nnz,)
    input-gradient product  dA_prev = dZ @ Wᵀ                                (B, n_in)

Each costs B·nnz multiply-adds. :mod:`.reference` writes each as the one-line SciPy / NumPy
expression; :mod:`.fast` computes the same numbers by walking W's entries in a cache-friendly order
(row-major, column-major or panels) with cached copies of the pattern. The reference forms are the
fast forms' test oracle (``tests/test_kernels.py``).

The fast forms are the default. To step through the equations in a debugger, switch to the reference
forms for a block of code::

    with minisparse.reference_kernels():
        loss, grads = model.loss_and_grads(X, y)     # every product is its one-line formula

or for a whole process, with the environment variable ``MINISPARSE_KERNELS=reference`` (read at
import). The reference forms gather (B, nnz) arrays, so they are for small layers.

A layer whose input comes from a k-WTA layer (``layer.input_fraction`` = k/n_in) has a third form,
:mod:`.active_units`, which works from the active inputs only (B·k·nnz/n_in MACs): the fast path uses it
when :func:`uses_active` says so (``layer.input_kernels``: 'auto', the default, below
``active_units.ACTIVE_FRACTION_MAX``; 'active'; 'dense'). Its oracle is the same reference form.
"""
import contextlib
import contextvars
import os

from . import active_units
from . import fast, reference

KINDS = ("fast", "reference")


def _kind_from_environment():
    kind = os.environ.get("MINISPARSE_KERNELS", "fast")
    if kind not in KINDS:
        raise ValueError(f"MINISPARSE_KERNELS={kind!r}: expected one of {KINDS}")
    return kind


_KIND = contextvars.ContextVar("minisparse_kernels", default=_kind_from_environment())


def active():
    """'fast' or 'reference': which forms the products use here and now."""
    return _KIND.get()


@contextlib.contextmanager
def reference_kernels(on=True):
    """Within the ``with`` block every layer product uses its reference form (``on=False``: the fast one)."""
    token = _KIND.set("reference" if on else "fast")
    try:
        yield
    finally:
        _KIND.reset(token)


INPUT_KERNELS = ("auto", "active", "dense")


def uses_active(layer):
    """True when the layer's fast products should work from its active inputs only: its input comes
    from a k-WTA layer and ``layer.input_kernels`` is 'active', or 'auto' with input_fraction ≤
    ACTIVE_FRACTION_MAX."""
    fraction, mode = layer.input_fraction, getattr(layer, "input_kernels", "auto")
    if mode not in INPUT_KERNELS:
        raise ValueError(f"layer.input_kernels must be one of {INPUT_KERNELS}, got {mode!r}")
    if fraction is None or mode == "dense":
        return False
    return mode == "active" or fraction <= active_units.ACTIVE_FRACTION_MAX


def forward_product(layer, A_prev):
    """Z = A_prev @ W.   # (B, n_out), a fresh array"""
    if _KIND.get() == "reference":
        return reference.forward_product(layer.W, A_prev)
    if uses_active(layer):
        return active_units.forward_product(layer.W, active_units.cached_active_rows(layer, A_prev))
    return fast.forward_product(layer.walks, A_prev)


def sampled_product(layer, A_prev, dZ):
    """dW_k = Σ_b A_prev[b, i_k] · dZ[b, j_k] at W's stored entries, aligned with W.data.   # (nnz,)"""
    if _KIND.get() == "reference":
        return reference.sampled_product(layer.W, A_prev, dZ)
    if uses_active(layer):
        return active_units.sampled_product(layer.W, active_units.cached_active_rows(layer, A_prev), dZ,
                                            layer.rows)
    return fast.sampled_product(layer.walks, A_prev, dZ)


def input_gradient_product(layer, dZ, A_prev=None):
    """dA_prev = dZ @ Wᵀ (with a k-WTA input on the active-unit path: only at A_prev's active
    positions, the only ones the k-WTA derivative lets through).   # (B, n_in)"""
    if _KIND.get() == "reference":
        return reference.input_gradient_product(layer.W, dZ)
    if A_prev is not None and uses_active(layer):
        return active_units.input_gradient_product(layer.W, active_units.cached_active_rows(layer, A_prev), dZ)
    return fast.input_gradient_product(layer.walks, dZ)
