"""Download, verify, cache and parse MNIST and Fashion-MNIST (gzip IDX files), with the stdlib only.

Each file is fetched once into the cache directory, checked against its known MD5 and reused
afterwards. A download goes to a temporary file that replaces the cached one only once its checksum
matches, so the cache never holds a partial or corrupt file.
"""
import gzip
import hashlib
import os
import sys
import tempfile
import urllib.request
from pathlib import Path

import numpy as np

FILES = {  # part → file name, the same for both kinds
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
BASE_URLS = {
    "mnist": "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "fashion": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
}
CHECKSUMS = {  # MD5 of each gzip file, as in torchvision
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
}
IDX_MAGIC = {"labels": 2049, "images": 2051}  # 0x0801: uint8, 1-D; 0x0803: uint8, 3-D


def load_mnist(kind="mnist", cache_dir=None, base_url=None, checksums=None, timeout=30.0,
               dtype=np.float64):
    """X = images / 255 for MNIST or Fashion-MNIST, downloaded once and cached.

    Parameters
    ----------
    kind : {'mnist', 'fashion'}
    cache_dir : str or Path, optional; default ``default_cache_dir(kind)``
    base_url : str, optional; URL of the directory holding the four files (``http(s)://`` or
        ``file://``); default ``BASE_URLS[kind]``
    checksums : dict, optional; file name → MD5 hex digest; default ``CHECKSUMS[kind]``
    timeout : float, seconds to wait for the server
    dtype : float dtype of the images

    Returns
    -------
    X_train : ndarray, shape (60000, 784), values in [0, 1], in ``dtype``
    y_train : ndarray of int64, shape (60000,)
    X_test : ndarray, shape (10000, 784)
    y_test : ndarray of int64, shape (10000,)
    """
    if kind not in BASE_URLS:
        raise ValueError(f"kind must be one of {sorted(BASE_URLS)}, got {kind!r}")
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir(kind)
    base_url = (base_url or BASE_URLS[kind]).rstrip("/") + "/"
    checksums = CHECKSUMS[kind] if checksums is None else checksums
    missing = [name for name in FILES.values() if name not in checksums]
    if missing:
        raise ValueError(f"checksums has no MD5 for {missing[0]!r}")
    created = not cache_dir.exists()
    cache_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    try:
        for part, name in FILES.items():
            paths[part] = fetch(base_url + name, cache_dir / name, checksums[name], timeout)
    except BaseException:              # offline, say: leave no empty cache folder behind
        if created and not any(cache_dir.iterdir()):
            cache_dir.rmdir()
        raise
    X_train, y_train = _images_and_labels(paths["train_images"], paths["train_labels"], dtype)
    X_test, y_test = _images_and_labels(paths["test_images"], paths["test_labels"], dtype)
    return X_train, y_train, X_test, y_test


def default_cache_dir(kind):
    """``$MINISPARSE_DATA/<kind>`` if that variable is set, else ``~/.cache/minisparse/<kind>``."""
    root = os.environ.get("MINISPARSE_DATA")
    return Path(root) / kind if root else Path.home() / ".cache" / "minisparse" / kind


def fetch(url, path, md5, timeout=30.0):
    """Return ``path``, downloading ``url`` to it first unless it already holds a file with this MD5.

    A cached file with another MD5 is deleted and downloaded again (once).
    """
    path = Path(path)
    if path.exists():
        if file_md5(path) == md5:
            return path
        path.unlink()
    _download(url, path, md5, timeout)
    return path


def file_md5(path):
    """MD5 hex digest of the file at ``path``, read in chunks."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _download(url, path, md5, timeout):
    """Stream ``url`` into a temporary file beside ``path``; move it there only if its MD5 matches."""
    print(f"downloading {url} -> {path}", file=sys.stderr)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            received = _stream(url, f, timeout)
        if received != md5:
            raise ValueError(f"checksum mismatch for {path.name} from {url}: "
                             f"expected MD5 {md5}, received {received}")
        os.replace(tmp, path)
    except BaseException:  # also KeyboardInterrupt: never leave a partial file behind
        Path(tmp).unlink(missing_ok=True)
        raise


def _stream(url, f, timeout):
    """Copy the body at ``url`` into the open file ``f`` and return its MD5 hex digest.

    Network failures (refused, 404, timeout, cut connection) become an ``OSError`` naming the URL.
    """
    digest = hashlib.md5()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            for chunk in iter(lambda: response.read(1 << 16), b""):
                f.write(chunk)
                digest.update(chunk)
    except OSError as err:  # urllib.error.URLError and HTTPError are OSErrors
        raise OSError(f"could not download {url}: {err}") from err
    return digest.hexdigest()


def read_idx(path, magic):
    """The uint8 array stored in a gzip IDX file: header (magic, sizes as big-endian uint32), data.

    Raises ``ValueError`` if the file is not gzip, has another magic number, or is truncated.
    """
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as err:  # BadGzipFile is an OSError
        raise ValueError(f"{path} is not a valid gzip file: {err}") from err
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    found = int.from_bytes(raw[:4], "big")
    if len(raw) >= 4 and found != magic:
        raise ValueError(f"{path} has IDX magic number {found}, expected {magic}")
    if len(raw) < header:
        raise ValueError(f"{path} is too short ({len(raw)} bytes) for an IDX header")
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    data = np.frombuffer(raw, dtype=np.uint8, offset=header)
    if data.size != np.prod(shape):
        raise ValueError(f"{path} is truncated or malformed: header says shape {shape} "
                         f"({np.prod(shape)} bytes), found {data.size} bytes of data")
    return data.reshape(shape)


def _images_and_labels(images_path, labels_path, dtype):
    """X: (n, rows · cols) in [0, 1]; y: (n,) int64, from an images and a labels IDX file."""
    images = read_idx(images_path, IDX_MAGIC["images"])  # (n, 28, 28) uint8
    labels = read_idx(labels_path, IDX_MAGIC["labels"])  # (n,) uint8
    if len(images) != len(labels):
        raise ValueError(f"{images_path} holds {len(images)} images but {labels_path} "
                         f"holds {len(labels)} labels")
    X = images.reshape(len(images), -1).astype(dtype) / np.asarray(255, dtype=dtype)  # (n, 784)
    return X, labels.astype(np.int64)
