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
"""
import contextlib
import contextvars
import os

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


def forward_product(layer, A_prev):
    """Z = A_prev @ W.   # (B, n_out), a fresh array"""
    if _KIND.get() == "reference":
        return reference.forward_product(layer.W, A_prev)
    return fast.forward_product(layer.walks, A_prev)


def sampled_product(layer, A_prev, dZ):
    """dW_k = Σ_b A_prev[b, i_k] · dZ[b, j_k] at W's stored entries, aligned with W.data.   # (nnz,)"""
    if _KIND.get() == "reference":
        return reference.sampled_product(layer.W, A_prev, dZ)
    return fast.sampled_product(layer.walks, A_prev, dZ)


def input_gradient_product(layer, dZ):
    """dA_prev = dZ @ Wᵀ.   # (B, n_in)"""
    if _KIND.get() == "reference":
        return reference.input_gradient_product(layer.W, dZ)
    return fast.input_gradient_product(layer.walks, dZ)
