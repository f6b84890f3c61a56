"""Why does k-WTA not make the MLP more robust to noise here? Variations of one cell of the kwta figure
(dense weights, k-WTA 10 %, seed 0; the figure's ReLU net alongside): k at inference equal to k in
training, a 2.5× larger learning rate, twice the epochs, and training accuracy for each.

    OPENBLAS_NUM_THREADS=1 python minisparse/lab/studies/kwta_noise_checks.py > minisparse/lab/studies/kwta_noise_checks.txt
"""
import numpy as np

from minisparse.lab import fig_kwta
from minisparse.lab.common import mnist_split
from minisparse.network.kwta import use_kwinners
from minisparse.network.mlp import SparseMLP
from minisparse.network.optim import SGD
from minisparse.network.train import evaluate, run_epoch


def run(name, kwta, lr=0.02, epochs=20, k_inference_factor=1.5, seed=0):
    data = mnist_split(None, seed)
    model = SparseMLP.random([784, 500, 500, 10], density=1.0, topology="dense", rng=seed)
    if kwta:
        use_kwinners(model, percent_on=0.1, **dict(fig_kwta.BOOST, k_inference_factor=k_inference_factor))
    rng, opt = np.random.default_rng(seed + 1000), SGD(model, lr=lr, momentum=0.9)
    for _ in range(epochs):
        run_epoch(model, opt, data.X_train, data.y_train, 64, rng)
        model.end_epoch()
    noise_rng = np.random.default_rng(seed + 7)
    curve = [evaluate(model, fig_kwta.add_noise(data.X_test, lv, noise_rng), data.y_test)[1] for lv in fig_kwta.NOISE_LEVELS]
    print(f"{name:38s} train {evaluate(model, data.X_train, data.y_train)[1]:.3f}  test {curve[0]:.3f}  "
          f"noise score {np.mean(curve):.3f}  at 50 % noise {curve[-1]:.3f}", flush=True)


if __name__ == "__main__":
    run("ReLU (the figure's setting)", False)
    run("k-WTA 10 % (the figure's setting)", True)
    run("k-WTA 10 %, k_inference = k", True, k_inference_factor=1.0)
    run("k-WTA 10 %, lr 0.05", True, lr=0.05)
    run("k-WTA 10 %, 40 epochs", True, epochs=40)
    run("ReLU, 40 epochs", False, epochs=40)
