"""Test-session settings: Hypothesis profiles, and one BLAS thread (as the command-line entry points use:
on a shared two-core machine a second BLAS thread slows the suite several times; see README)."""
import os

from hypothesis import settings

settings.register_profile("ci", max_examples=60, deadline=None)
settings.register_profile("dev", max_examples=25, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

from minisparse.runtime import limit_blas_threads  # noqa: E402

limit_blas_threads()
