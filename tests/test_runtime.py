"""The allocator setting applies on glibc Linux, is refused politely elsewhere, and changes no result."""
import sys

import numpy as np

from minisparse import SGD, SparseMLP, runtime
from minisparse.network.train import train_step


def test_retain_freed_memory_applies_on_linux_and_changes_no_number():
    def three_steps():
        model = SparseMLP.random([30, 40, 5], density=0.2, rng=0, dtype=np.float32)
        opt, rng = SGD(model, lr=0.05), np.random.default_rng(0)
        X, y = rng.standard_normal((16, 30)).astype(np.float32), rng.integers(0, 5, 16)
        return [train_step(model, opt, X, y)[0] for _ in range(3)], model.layers[0].W.data.copy()
    before = three_steps()
    applied = runtime.retain_freed_memory()
    assert isinstance(applied, bool)
    if sys.platform.startswith("linux") and "glibc" in " ".join(__import__("platform").libc_ver()):
        assert applied
    after = three_steps()
    assert before[0] == after[0] and np.array_equal(before[1], after[1])


def test_other_platforms_are_left_alone(monkeypatch):
    monkeypatch.setattr(runtime.sys, "platform", "darwin")
    assert runtime.retain_freed_memory() is False
