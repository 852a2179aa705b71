"""Shared fakes for the data tests: a network guard and tiny IDX datasets.

Import the `no_network` fixture into a test module to make it autouse there.
"""

import gzip
import hashlib
import socket
from pathlib import Path

import numpy as np
import pytest

from jaxdl.data import files


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Fail any test that opens a socket; also ignore the user's $JAXDL_DATA_DIR."""
    def refuse(*args, **kwargs):
        raise AssertionError("a data test tried to open a network connection")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.delenv(files.ENV_VAR, raising=False)


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file (type uint8) holding `array`."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


IDX_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def fake_idx_dataset(directory: Path, monkeypatch, name="mnist", n_train=20, n_test=10,
                     seed=0, content_known=True, compress=True, urls=None):
    """Write the four IDX files of a tiny `name` into `directory` and register matching
    checksums in REMOTE_FILES (restored by monkeypatch). Returns {file name: array}.
    `urls(filename)` gives each file's mirrors (default: an unreachable placeholder)."""
    rng = np.random.default_rng(seed)
    arrays = dict(zip(IDX_FILES, (
        rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, n_train).astype(np.uint8),
        rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, n_test).astype(np.uint8))))
    directory.mkdir(parents=True, exist_ok=True)
    specs = []
    for filename, array in arrays.items():
        content = idx_bytes(array)
        packed = gzip.compress(content, mtime=0)
        if compress:
            (directory / filename).write_bytes(packed)
        else:
            (directory / filename[:-3]).write_bytes(content)
        mirrors = urls(filename) if urls else (f"https://example.invalid/{filename}",)
        specs.append(files.FileSpec(filename, mirrors, sha(packed), len(packed),
                                    sha(content) if content_known else None, array.shape))
    monkeypatch.setitem(files.REMOTE_FILES, name, tuple(specs))
    return arrays
