"""Schedules worked out by hand; update steps never fire off schedule."""
import math

import pytest
from hypothesis import given, strategies as st

from minisparse.sparse_training.schedules import (constant_fraction, cosine_annealing, cosine_decay, is_epoch_update,
                                  is_update_step, sparse_momentum_prune_rate)


def test_constant_fraction():
    f = constant_fraction(0.3)
    assert f(0) == f(17) == f(10**6) == 0.3
    with pytest.raises(ValueError):
        constant_fraction(1.5)


def test_rigl_cosine_decay_by_hand():
    # α = 0.3, T_end = 750: f = 0.15·(1 + cos(π t/750))
    assert cosine_decay(0, 0.3, 750) == pytest.approx(0.3)                 # 0.15·(1 + 1)
    assert cosine_decay(375, 0.3, 750) == pytest.approx(0.15)              # 0.15·(1 + 0)
    assert cosine_decay(187.5, 0.3, 750) == pytest.approx(0.15 * (1 + math.sqrt(0.5)))   # 0.2561
    assert cosine_decay(750, 0.3, 750) == 0.0                              # 0.15·(1 − 1)
    assert cosine_decay(751, 0.3, 750) == cosine_decay(10**6, 0.3, 750) == 0.0
    with pytest.raises(ValueError):
        cosine_decay(-1, 0.3, 750)


def test_sparse_momentum_prune_rate_by_hand():
    # p = 0.005 + 0.495/2·(1 + cos(π e/E)), E = 100 epochs
    assert sparse_momentum_prune_rate(0, 100) == pytest.approx(0.5)
    assert sparse_momentum_prune_rate(50, 100) == pytest.approx(0.2525)   # 0.005 + 0.2475
    assert sparse_momentum_prune_rate(100, 100) == pytest.approx(0.005)
    assert sparse_momentum_prune_rate(1, 100) == pytest.approx(0.005 + 0.2475 * (1 + math.cos(math.pi / 100)))
    assert sparse_momentum_prune_rate(1, 100) < 0.5                        # the first update is already decayed
    assert sparse_momentum_prune_rate(150, 100) == pytest.approx(0.005)    # stays at the floor
    # per batch or per epoch: the same value at the end of an epoch
    assert cosine_annealing(3 * 468, 10 * 468, 0.5, 0.005) == pytest.approx(sparse_momentum_prune_rate(3, 10))
    with pytest.raises(ValueError):
        cosine_annealing(1, 10, 0.1, 0.5)


@given(period=st.integers(1, 200), t_end=st.integers(0, 2000), step=st.integers(0, 3000))
def test_update_steps_only_on_schedule(period, t_end, step):
    on = is_update_step(step, period, t_end)
    assert on == (step > 0 and step % period == 0 and step < t_end)
    if step % period or step >= t_end or step == 0:
        assert not on


def test_rigl_update_steps_by_hand():
    # ΔT = 100, T_end = 750: updates at 100, 200, …, 700 — seven of them
    fired = [s for s in range(0, 1001) if is_update_step(s, 100, 750)]
    assert fired == [100, 200, 300, 400, 500, 600, 700]
    assert not is_update_step(800, 100, 800)                               # strictly before T_end
    with pytest.raises(ValueError):
        is_update_step(5, 0, 10)


def test_epoch_updates_after_every_epoch_but_the_last():
    assert [e for e in range(0, 7) if is_epoch_update(e, 5)] == [1, 2, 3, 4]
    assert not any(is_epoch_update(e, 1) for e in range(0, 3))
    with pytest.raises(ValueError):
        is_epoch_update(1, 0)
