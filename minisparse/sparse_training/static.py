"""Static sparse training from scratch (article 001): a fixed random mask, only active weights train.

The article's experiment: an MLP 100-256-256-10 whose three layers each keep 20 % of their weights
(sparsity 0.8), on 2,048 random Gaussian inputs with random labels, trained full-batch with Adam
(η = 1e-3) for 20 epochs, sparsity measured before and after. The article's PyTorch layer multiplies
a dense weight by a mask at every forward pass; here the weights *are* the CSR matrix, so inactive
weights do not exist to be updated. One difference, on purpose: the article initialises weights as
0.01·N(0, 1); here they are scaled by the sparse fan-in (see ``minisparse.init.init_weights``).
"""
from ..network.checks import check_density
from ..data.datasets import Split, make_random_data
from ..network.mlp import SparseMLP
from ..network.optim import Adam
from ..network.train import fit


def sparsity(model):
    """1 − Σ nnz_l / Σ n_in·n_out: the fraction of absent connections (stored zeros count as present)."""
    return 1.0 - model.density


def train_static(sizes, sparsity_level, data, epochs=20, batch_size=None, lr=1e-3, rng=0,
                 verbose=False, dtype=None):
    """Train an MLP with a fixed uniform random mask of the given sparsity with Adam.

    ``sparsity_level`` = 1 − density (0 gives the dense baseline). ``batch_size=None`` is full batch,
    as in the article. Returns ``(model, history, sparsity_before, sparsity_after)``.
    """
    density = check_density(1.0 - sparsity_level, "1 - sparsity")
    kwargs = {} if dtype is None else {"dtype": dtype}
    model = SparseMLP.random(sizes, density=density, rng=rng, **kwargs)
    before = sparsity(model)
    history = fit(model, Adam(model, lr=lr), data, epochs,
                  batch_size=batch_size or len(data.y_train), rng=rng, verbose=verbose)
    return model, history, before, sparsity(model)


def article_experiment(sparsity_level=0.8, epochs=20, rng=0, verbose=True):
    """Article 001, section 5: 100-256-256-10 at 80 % sparsity on its random data, full-batch Adam.

    The labels are random, so the falling loss measures memorisation, not generalisation.
    """
    X, y = make_random_data(n=2048, input_dim=100, num_classes=10, rng=rng)
    data = Split(X, y, X[:0], y[:0], X[:0], y[:0])
    model, history, before, after = train_static([100, 256, 256, 10], sparsity_level, data,
                                                 epochs=epochs, rng=rng, verbose=verbose)
    if verbose:
        print(f"Final loss (sparse from scratch): {history['loss'][-1]:.4f}")
        print(f"Model sparsity before training: {before:.4f}, after: {after:.4f}")
    return model, history, before, after
