"""Tests for minisparse.data.download against tiny synthetic IDX files served from 127.0.0.1 or file://.

Nothing here touches the internet: every URL points at a loopback server or a local directory.
"""
import functools
import gzip
import hashlib
import http.server
import socket
import threading

import numpy as np
import pytest

from minisparse.data import download
from minisparse.data.datasets import load_dataset
from minisparse.data.download import CHECKSUMS, FILES, default_cache_dir, load_mnist, read_idx

N_TRAIN, N_TEST = 20, 10


def idx_bytes(array):
    """IDX encoding of a uint8 array: magic 0x0000 08 ndim, sizes as big-endian uint32, raw data."""
    array = np.asarray(array, dtype=np.uint8)
    header = (0x0800 + array.ndim).to_bytes(4, "big")
    header += b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.tobytes()


def write_gz(path, payload):
    path.write_bytes(gzip.compress(payload, mtime=0))
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def fake_mnist(tmp_path):
    """A directory with the four gzip IDX files of a 20 + 10 image MNIST, their MD5s and contents."""
    rng = np.random.default_rng(0)
    arrays = {
        "train_images": rng.integers(0, 256, (N_TRAIN, 28, 28), dtype=np.uint8),
        "train_labels": np.arange(N_TRAIN, dtype=np.uint8) % 10,
        "test_images": rng.integers(0, 256, (N_TEST, 28, 28), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, N_TEST, dtype=np.uint8),
    }
    served = tmp_path / "served"
    served.mkdir()
    checksums = {FILES[part]: write_gz(served / FILES[part], idx_bytes(a)) for part, a in arrays.items()}
    return served, checksums, arrays


@pytest.fixture
def server(fake_mnist):
    """An HTTP server on 127.0.0.1 serving ``fake_mnist``; yields (base_url, list of paths requested)."""
    served, _, _ = fake_mnist
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

        def log_message(self, *args):  # keep the test output clean
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                            functools.partial(Handler, directory=str(served)))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", requests
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def assert_matches(result, arrays):
    X_train, y_train, X_test, y_test = result
    assert X_train.shape == (N_TRAIN, 784) and X_test.shape == (N_TEST, 784)
    np.testing.assert_array_equal(X_train, arrays["train_images"].reshape(N_TRAIN, -1) / 255.0)
    np.testing.assert_array_equal(X_test, arrays["test_images"].reshape(N_TEST, -1) / 255.0)
    assert y_train.dtype == np.int64 and np.array_equal(y_train, arrays["train_labels"])
    assert np.array_equal(y_test, arrays["test_labels"])


def test_download_once_then_cached(tmp_path, fake_mnist, server, capsys):
    _, checksums, arrays = fake_mnist
    base_url, requests = server
    cache = tmp_path / "cache"
    assert_matches(load_mnist(cache_dir=cache, base_url=base_url, checksums=checksums), arrays)
    assert sorted(requests) == sorted("/" + name for name in FILES.values())
    assert len(capsys.readouterr().err.strip().splitlines()) == 4  # one line per file downloaded
    assert sorted(p.name for p in cache.iterdir()) == sorted(FILES.values())

    assert_matches(load_mnist(cache_dir=cache, base_url=base_url, checksums=checksums), arrays)
    assert len(requests) == 4  # no new request: every file came from the cache
    assert capsys.readouterr().err == ""


def test_float32(tmp_path, fake_mnist, server):
    _, checksums, _ = fake_mnist
    X_train, _, X_test, _ = load_mnist(cache_dir=tmp_path / "c", base_url=server[0],
                                       checksums=checksums, dtype=np.float32)
    assert X_train.dtype == X_test.dtype == np.float32 and X_train.max() <= 1.0


def test_wrong_checksum_raises_and_leaves_nothing(tmp_path, fake_mnist, server):
    _, checksums, _ = fake_mnist
    name = FILES["train_images"]  # fetched first, so the cache must end up empty
    bad = {**checksums, name: "0" * 32}
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match=f"{name}.*expected MD5 0{{32}}, received {checksums[name]}"):
        load_mnist(cache_dir=cache, base_url=server[0], checksums=bad)
    assert not cache.exists()                      # no partial file, and no empty folder either


def test_corrupt_cached_file_is_downloaded_again(tmp_path, fake_mnist, server):
    _, checksums, arrays = fake_mnist
    base_url, requests = server
    cache = tmp_path / "cache"
    load_mnist(cache_dir=cache, base_url=base_url, checksums=checksums)
    (cache / FILES["test_labels"]).write_bytes(b"corrupted")
    assert_matches(load_mnist(cache_dir=cache, base_url=base_url, checksums=checksums), arrays)
    assert len(requests) == 5 and requests[-1] == "/" + FILES["test_labels"]


def test_missing_file_on_server_raises_oserror(tmp_path, fake_mnist, server):
    served, checksums, _ = fake_mnist
    (served / FILES["test_images"]).unlink()
    cache = tmp_path / "cache"
    with pytest.raises(OSError, match=f"could not download .*{FILES['test_images']}.*404"):
        load_mnist(cache_dir=cache, base_url=server[0], checksums=checksums)
    assert not any(p.suffix == ".part" for p in cache.iterdir())
    assert not (cache / FILES["test_images"]).exists()


def test_connection_refused_raises_oserror(tmp_path, fake_mnist):
    _, checksums, _ = fake_mnist
    with socket.socket() as s:  # find a port with nothing listening on it
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cache = tmp_path / "cache"
    with pytest.raises(OSError, match="could not download http://127.0.0.1"):
        load_mnist(cache_dir=cache, base_url=f"http://127.0.0.1:{port}/", checksums=checksums,
                   timeout=5)
    assert not cache.exists()                      # no partial file, and no empty folder either


def test_keyboard_interrupt_removes_temp_file(tmp_path, fake_mnist, monkeypatch):
    served, checksums, _ = fake_mnist

    class Interrupted:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self, size):
            raise KeyboardInterrupt

    monkeypatch.setattr(download.urllib.request, "urlopen", lambda url, timeout: Interrupted())
    cache = tmp_path / "cache"
    with pytest.raises(KeyboardInterrupt):
        load_mnist(cache_dir=cache, base_url=served.as_uri(), checksums=checksums)
    assert not cache.exists()                      # no partial file, and no empty folder either


def test_file_url(tmp_path, fake_mnist):
    served, checksums, arrays = fake_mnist
    result = load_mnist(cache_dir=tmp_path / "cache", base_url=served.as_uri(), checksums=checksums)
    assert_matches(result, arrays)


@pytest.mark.parametrize("payload, match", [
    (idx_bytes(np.zeros((3, 28, 28)))[:-100], "truncated"),
    (idx_bytes(np.zeros((3, 28, 28))) + b"extra", "malformed"),
    (idx_bytes(np.zeros(3)), "magic number 2049, expected 2051"),
    (b"\x00\x00", "too short"),
    (idx_bytes(np.zeros((3, 28, 28)))[:10], "too short"),
], ids=["truncated", "trailing-bytes", "labels-not-images", "no-magic", "short-header"])
def test_malformed_idx_raises(tmp_path, payload, match):
    path = tmp_path / "images.gz"
    write_gz(path, payload)
    with pytest.raises(ValueError, match=match):
        read_idx(path, 2051)


def test_not_gzip_raises(tmp_path):
    path = tmp_path / "images.gz"
    path.write_bytes(b"this is not a gzip file at all")
    with pytest.raises(ValueError, match="not a valid gzip file"):
        read_idx(path, 2051)


def test_garbage_file_with_matching_checksum_fails_on_parse(tmp_path, fake_mnist):
    served, checksums, _ = fake_mnist
    name = FILES["train_labels"]
    checksums = {**checksums, name: write_gz(served / name, b"\x00\x00\x08\x01\x00\x00\x00\x09abc")}
    with pytest.raises(ValueError, match=f"{name} is truncated"):
        load_mnist(cache_dir=tmp_path / "cache", base_url=served.as_uri(), checksums=checksums)


def test_unknown_kind():
    with pytest.raises(ValueError, match="kind must be one of"):
        load_mnist("cifar")


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("MINISPARSE_DATA", str(tmp_path))
    assert default_cache_dir("fashion") == tmp_path / "fashion"
    monkeypatch.delenv("MINISPARSE_DATA")
    assert default_cache_dir("mnist").parts[-3:] == (".cache", "minisparse", "mnist")


def test_known_checksums():
    """The MD5s published by torchvision, copied here once more to catch accidental edits."""
    assert CHECKSUMS == {
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


def test_load_dataset_mnist_keeps_official_test_set(tmp_path, fake_mnist):
    served, checksums, arrays = fake_mnist
    split = load_dataset("mnist", rng=0, val_fraction=0.5, cache_dir=tmp_path / "cache",
                         base_url=served.as_uri(), checksums=checksums)
    assert (len(split.y_train), len(split.y_val), len(split.y_test)) == (10, 10, N_TEST)
    assert np.array_equal(split.y_test, arrays["test_labels"])
    assert np.array_equal(np.bincount(split.y_val, minlength=10), np.ones(10))  # 1 of each 2 per class


def test_a_failed_download_leaves_no_empty_cache_folder(tmp_path):
    from minisparse.data import download
    cache = tmp_path / "never" / "mnist"
    with pytest.raises(OSError, match="could not download"):
        download.load_mnist(cache_dir=cache, base_url=(tmp_path / "nowhere").as_uri(), timeout=1)
    assert not cache.exists()
