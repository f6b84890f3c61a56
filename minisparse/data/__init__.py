"""Data: the bundled MNIST-5k, synthetic generators, CTRE's stand-ins, splits, and MNIST downloads.

- :mod:`~.datasets` — ``load_dataset(name)`` and the generators behind it; ``Split``.
- :mod:`~.download` — full MNIST / Fashion-MNIST, fetched once, verified and cached (never in tests).
"""
from . import datasets, download
from .datasets import DATASETS, Split, load_dataset, stratified_split
