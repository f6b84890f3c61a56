"""Multiply-add accounting worked out by hand."""
from minisparse import SparseMLP
from minisparse.network.cost import epoch_macs, step_macs


def test_step_macs_by_hand():
    model = SparseMLP.random([6, 5, 3], density=0.5, rng=0)      # nnz 15 and 8 (round(7.5) = 8)
    assert [layer.nnz for layer in model.layers] == [15, 8]
    # first layer: forward + dW = 2·B·15; second: forward + dW + dA_prev = 3·B·8; B = 4 → 120 + 96
    assert step_macs(model, 4) == {"sparse": 216, "dense": 0}
    # the dense gradient of layer 1 adds B·n_in·n_out = 4·5·3 = 60
    assert step_macs(model, 4, dense_layers=[1]) == {"sparse": 216, "dense": 60}


def test_epoch_macs_counts_the_short_last_batch():
    model = SparseMLP.random([6, 5, 3], density=0.5, rng=0)
    # 10 rows in batches of 4: 4 + 4 + 2 rows → (2·15 + 3·8)·10 = 540
    assert epoch_macs(model, 10, 4) == {"sparse": 540, "dense": 0}
