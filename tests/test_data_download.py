"""`data.download` against local fakes: file:// mirrors and a fake opener, never the network."""

import gzip
import io
import os
from pathlib import Path

import pytest

from jaxdl import data
from jaxdl.data import fetch, files

from tests.data_fakes import fake_idx_dataset, no_network  # noqa: F401


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """A local "mirror" of a tiny MNIST; REMOTE_FILES["mnist"] points at it via file://
    (after an unreachable first mirror)."""
    root = tmp_path / "mirror"
    fake_idx_dataset(root, monkeypatch, n_train=6, n_test=4, urls=lambda f: (
        "file://" + str(tmp_path / "nowhere" / f), (root / f).as_uri()))
    return root


def test_download_fetches_verifies_and_load_reads_it(tmp_path, mirror):
    target = tmp_path / "data"
    paths = data.download("mnist", target, progress=False)
    assert [p.name for p in paths] == [s.name for s in files.REMOTE_FILES["mnist"]]
    for path in paths:
        assert path.read_bytes() == (mirror / path.name).read_bytes()
    assert sorted(os.listdir(target)) == sorted(p.name for p in paths)  # no temp files left
    ds = data.load("mnist", data_dir=target)
    assert len(ds) == 10 and ds.info.split_sizes == {"train": 6, "test": 4}


def test_download_defaults_to_the_data_root(tmp_path, mirror, monkeypatch):
    monkeypatch.setenv(files.ENV_VAR, str(tmp_path / "root"))
    paths = data.download("mnist", None, progress=False)
    assert paths[0].parent == tmp_path / "root" / "mnist"
    assert len(data.load("mnist", split="test")) == 4


def test_verified_files_are_not_downloaded_again(tmp_path, mirror, monkeypatch):
    target = tmp_path / "data"
    data.download("mnist", target, progress=False)
    # a recompressed copy with the canonical content, and a decompressed one, also count
    recompressed = target / "train-labels-idx1-ubyte.gz"
    recompressed.write_bytes(gzip.compress(gzip.decompress(recompressed.read_bytes()),
                                           mtime=99))
    plain = target / "t10k-labels-idx1-ubyte"
    plain.write_bytes(gzip.decompress((target / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    (target / "t10k-labels-idx1-ubyte.gz").unlink()
    stamps = {p: p.stat().st_mtime_ns for p in target.iterdir()}

    def fail(*args, **kwargs):
        raise AssertionError("downloaded a verified file again")
    monkeypatch.setattr(fetch, "urlopen", fail)
    paths = data.download("mnist", target, progress=False)
    assert plain in paths and recompressed in paths
    assert {p: p.stat().st_mtime_ns for p in target.iterdir()} == stamps


def test_corrupt_existing_file_is_replaced(tmp_path, mirror):
    target = tmp_path / "data"
    target.mkdir()
    (target / "train-labels-idx1-ubyte.gz").write_bytes(b"garbage")
    data.download("mnist", target, progress=False)
    assert (target / "train-labels-idx1-ubyte.gz").read_bytes() == (
        mirror / "train-labels-idx1-ubyte.gz").read_bytes()


def test_checksum_mismatch_on_every_mirror_leaves_nothing(tmp_path, mirror):
    (mirror / "t10k-images-idx3-ubyte.gz").write_bytes(b"tampered")
    target = tmp_path / "data"
    with pytest.raises(data.DataFileError) as err:
        data.download("mnist", target, progress=False)
    message = str(err.value)
    assert "t10k-images-idx3-ubyte.gz" in message and "nowhere" in message
    assert "got 8 bytes with SHA-256" in message
    assert not (target / "t10k-images-idx3-ubyte.gz").exists()
    assert not [p for p in os.listdir(target) if p.endswith(".part")]


def test_interrupted_download_is_atomic(tmp_path, mirror, monkeypatch):
    class Broken(io.BytesIO):
        def read(self, n=-1):
            if self.tell() > 0:
                raise ConnectionResetError("connection dropped")
            return super().read(10)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    seen = []

    def opener(url, timeout):
        seen.append(url)
        return Broken(b"x" * 100)
    monkeypatch.setattr(fetch, "urlopen", opener)
    target = tmp_path / "data"
    with pytest.raises(data.DataFileError, match="connection dropped"):
        data.download("mnist", target, progress=False)
    assert os.listdir(target) == [] and len(seen) == 2  # both mirrors tried


def test_download_rejects_unknown_names(tmp_path):
    with pytest.raises(ValueError, match="name must be one of 'mnist', 'fashion_mnist', 'cifar10'"):
        data.download("digits", tmp_path)
    assert not Path(tmp_path / "digits").exists()
