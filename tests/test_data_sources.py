"""Dataset sources: embedded digits, IDX (MNIST family) and CIFAR-10 files, errors.

Never touches the network (sockets are disabled) and never needs the real datasets,
except `test_real_mnist`, skipped when /work/shared/datasets/mnist is absent.
"""

import gzip
import hashlib
import io
import os
import pickle
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from jaxdl import data
from jaxdl.data import cifar, files, sources

from tests.data_fakes import fake_idx_dataset, idx_bytes, no_network, sha  # noqa: F401

REAL_MNIST = Path(os.environ.get("JAXDL_MNIST_DIR") or
                  Path(__file__).resolve().parents[2] / "shared/datasets/mnist")


# --- digits -------------------------------------------------------------------------------

def test_digits_is_the_real_scikit_learn_data():
    ds = data.load()
    assert ds.info.name == "digits" and len(ds) == 1797
    assert ds.x.shape == (1797, 8, 8, 1) and ds.x.dtype == np.float32
    assert ds.y.dtype == np.int32 and ds.y[:10].tolist() == list(range(10))
    pixels = ds.x * 16
    np.testing.assert_allclose(pixels, np.round(pixels), atol=1e-5)
    assert ds.x.min() == 0.0 and ds.x.max() == 1.0
    assert np.bincount(ds.y).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    # the first image is the famous "0": its top row is 0 0 5 13 9 1 0 0
    assert (pixels[0, 0, :, 0].round().astype(int).tolist() == [0, 0, 5, 13, 9, 1, 0, 0])
    assert ds.info.classes == tuple("0123456789") and ds.info.input_shape == (8, 8, 1)
    assert ds.info.split_sizes == {"all": 1797} and "scikit-learn" in ds.info.source


def test_digits_matches_sklearn_loader_when_its_csv_is_not_found(monkeypatch):
    fast = data.load("digits")
    monkeypatch.setattr(sources, "_sklearn_digits_csv", lambda: None)
    slow = data.load("digits")
    np.testing.assert_array_equal(fast.x, slow.x)
    np.testing.assert_array_equal(fast.y, slow.y)


def test_import_and_digits_load_import_neither_sklearn_nor_tfds():
    code = ("import sys, jaxdl.data as d; d.load('digits'); "
            "print('sklearn' in sys.modules, 'tensorflow_datasets' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "False"]


def test_load_rejects_unknown_name_and_split():
    with pytest.raises(ValueError, match="name must be one of"):
        data.load("imagenet")
    with pytest.raises(ValueError, match="split must be one of"):
        data.load("digits", split="test")
    with pytest.raises(ValueError, match="split must be one of"):
        data.load("mnist", split="validation")


# --- IDX parsing --------------------------------------------------------------------------

def test_parse_idx_reads_shape_and_values():
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(data.parse_idx(idx_bytes(images)), images)
    labels = np.array([3, 1, 4], np.uint8)
    content = idx_bytes(labels)
    assert int.from_bytes(content[:4], "big") == 2049
    assert int.from_bytes(idx_bytes(images)[:4], "big") == 2051
    np.testing.assert_array_equal(data.parse_idx(content), labels)


@pytest.mark.parametrize("mutate, message", [
    (lambda b: b"\x00\x00\x0d" + b[3:], "magic number 3331"),      # float32 type code
    (lambda b: b"\x01" + b[1:], "magic number"),
    (lambda b: b[:2], "too short"),
    (lambda b: b[:9], "truncated header"),
    (lambda b: b[:-5], "truncated"),
    (lambda b: b + b"\x00", "trailing data"),
])
def test_parse_idx_rejects_bad_files(mutate, message):
    content = idx_bytes(np.zeros((2, 3, 3), np.uint8))
    with pytest.raises(data.CorruptDataError, match=message) as err:
        data.parse_idx(mutate(content), "some/file")
    assert "some/file" in str(err.value)


# --- MNIST family from files --------------------------------------------------------------

def test_mnist_from_gz_files_verified_and_scaled(tmp_path, monkeypatch):
    arrays = fake_idx_dataset(tmp_path, monkeypatch)
    ds = data.load("mnist", data_dir=tmp_path)
    assert ds.x.shape == (30, 28, 28, 1) and ds.x.dtype == np.float32
    assert ds.info.split_sizes == {"train": 20, "test": 10}
    assert ds.info.source == str(tmp_path) and ds.info.input_shape == (28, 28, 1)
    expected = np.concatenate([arrays["train-images-idx3-ubyte.gz"],
                               arrays["t10k-images-idx3-ubyte.gz"]])[..., None] / 255.0
    np.testing.assert_allclose(ds.x, expected, rtol=1e-6)
    np.testing.assert_array_equal(ds.y[:20], arrays["train-labels-idx1-ubyte.gz"])
    test = data.load("mnist", split="test", data_dir=tmp_path)
    np.testing.assert_array_equal(test.y, arrays["t10k-labels-idx1-ubyte.gz"])
    assert test.info.split_sizes == {"test": 10}


def test_data_dir_from_env_and_name_subdirectory(tmp_path, monkeypatch):
    fake_idx_dataset(tmp_path / "fashion_mnist", monkeypatch, name="fashion_mnist")
    monkeypatch.setenv(files.ENV_VAR, str(tmp_path))
    ds = data.load("fashion_mnist", split="train")
    assert len(ds) == 20 and ds.info.classes[0] == "T-shirt/top"
    assert data.data_root() == tmp_path


def test_default_data_dir_is_the_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert data.data_root() == tmp_path / "jaxdl" / "datasets"
    assert data.data_root("~/x") == Path.home() / "x"


def test_recompressed_gz_verifies_through_its_content(tmp_path, monkeypatch):
    fake_idx_dataset(tmp_path, monkeypatch)
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes()), compresslevel=1,
                                   mtime=12345))
    assert len(data.load("mnist", split="train", data_dir=tmp_path)) == 20


def test_decompressed_files_are_accepted(tmp_path, monkeypatch):
    fake_idx_dataset(tmp_path, monkeypatch, compress=False)
    assert len(data.load("mnist", data_dir=tmp_path)) == 30


def test_missing_file_error_names_file_places_and_remedy(tmp_path, monkeypatch):
    fake_idx_dataset(tmp_path, monkeypatch)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(data.MissingDataError) as err:
        data.load("mnist", data_dir=tmp_path)
    message = str(err.value)
    assert "t10k-labels-idx1-ubyte[.gz]" in message and str(tmp_path) in message
    assert "jaxdl data download mnist" in message and "https://example.invalid/" in message
    assert isinstance(err.value, FileNotFoundError)


def test_checksum_mismatch_names_file_and_both_digests(tmp_path, monkeypatch):
    arrays = fake_idx_dataset(tmp_path, monkeypatch)
    images = arrays["train-images-idx3-ubyte.gz"].copy()
    images[0, 0, 0] ^= 1  # one flipped bit, still a well-formed IDX file
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(images)))
    with pytest.raises(data.CorruptDataError) as err:
        data.load("mnist", data_dir=tmp_path)
    message = str(err.value)
    spec = files.REMOTE_FILES["mnist"][0]
    assert str(path) in message and spec.content_sha256 in message
    assert sha(idx_bytes(images)) in message and "download" in message


def test_truncated_gzip_is_reported(tmp_path, monkeypatch):
    fake_idx_dataset(tmp_path, monkeypatch)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(data.CorruptDataError, match="not a complete gzip file") as err:
        data.load("mnist", data_dir=tmp_path)
    assert str(path) in str(err.value)


def test_unpublished_content_digest_checks_archive_then_format(tmp_path, monkeypatch):
    # Fashion-MNIST publishes digests of its .gz downloads only.
    fake_idx_dataset(tmp_path, monkeypatch, name="fashion_mnist", content_known=False)
    assert len(data.load("fashion_mnist", data_dir=tmp_path)) == 30
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes()), mtime=1))
    with pytest.raises(data.CorruptDataError, match="SHA-256 is [0-9a-f]{64}, expected"):
        data.load("fashion_mnist", data_dir=tmp_path)


def test_decompressed_file_without_digest_gets_format_checks(tmp_path, monkeypatch):
    fake_idx_dataset(tmp_path, monkeypatch, name="fashion_mnist", content_known=False,
                     compress=False)
    path = tmp_path / "train-images-idx3-ubyte"
    content = path.read_bytes()
    path.write_bytes(b"\x00\x00\x08\x01" + content[4:])
    with pytest.raises(data.CorruptDataError) as err:
        data.load("fashion_mnist", data_dir=tmp_path)
    assert str(path) in str(err.value) and "shape" in str(err.value)
    path.write_bytes(content[:-1])
    with pytest.raises(data.CorruptDataError, match="truncated"):
        data.load("fashion_mnist", data_dir=tmp_path)


def test_wrong_count_against_expected_shape(tmp_path, monkeypatch):
    fake_idx_dataset(tmp_path, monkeypatch)
    specs = list(files.REMOTE_FILES["mnist"])
    specs[1] = files.FileSpec(specs[1].name, specs[1].urls, specs[1].sha256, specs[1].size,
                              specs[1].content_sha256, (60000,))
    monkeypatch.setitem(files.REMOTE_FILES, "mnist", tuple(specs))
    with pytest.raises(data.CorruptDataError, match=r"shape \(20,\), expected \(60000,\)"):
        data.load("mnist", data_dir=tmp_path)


def test_canonical_mnist_checksums_are_the_published_ones():
    specs = {s.name: s for s in files.REMOTE_FILES["mnist"]}
    assert specs["train-images-idx3-ubyte.gz"].content_sha256 == (
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db")
    assert specs["t10k-labels-idx1-ubyte.gz"].size == 4542
    assert all(len(s.sha256) == 64 for ss in files.REMOTE_FILES.values() for s in ss)
    sums = REAL_MNIST / "SHA256SUMS.decompressed"
    if sums.exists():
        for line in sums.read_text().splitlines():
            digest, name = line.split()
            assert specs[name + ".gz"].content_sha256 == digest


@pytest.mark.skipif(not REAL_MNIST.is_dir(), reason=f"real MNIST not found at {REAL_MNIST}")
def test_real_mnist():
    ds = data.load("mnist", data_dir=REAL_MNIST)
    assert ds.x.shape == (70000, 28, 28, 1) and ds.info.split_sizes == {"train": 60000,
                                                                        "test": 10000}
    assert ds.y[:8].tolist() == [5, 0, 4, 1, 9, 2, 1, 3]
    assert np.bincount(ds.y[:60000]).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918,
                                                  6265, 5851, 5949]
    assert 0.13 < float(ds.x[:60000].mean()) < 0.131  # the classic 0.1307
    import jax
    splits = data.load_splits("mnist", key=jax.random.key(0), data_dir=REAL_MNIST)
    assert [len(p) for p in splits] == [55000, 5000, 10000]


# --- CIFAR-10 -----------------------------------------------------------------------------

def fake_cifar(monkeypatch, per_batch=4, seed=0):
    """Tiny CIFAR-10 batches: {batch name: (pixels (n, 3072), labels)}; checks patched."""
    rng = np.random.default_rng(seed)
    batches = {b: (rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
                   rng.integers(0, 10, per_batch))
               for b in cifar.BATCHES["train"] + cifar.BATCHES["test"]}
    monkeypatch.setattr(cifar, "EXPECTED", {"train": 5 * per_batch, "test": per_batch})
    return batches


def python_batch(pixels, labels) -> bytes:
    return pickle.dumps({b"batch_label": b"x", b"labels": labels.tolist(), b"data": pixels},
                        protocol=2)


def write_python_dir(directory: Path, batches, monkeypatch) -> None:
    directory.mkdir(parents=True)
    md5 = {}
    for name, (pixels, labels) in batches.items():
        content = python_batch(pixels, labels)
        (directory / name).write_bytes(content)
        md5[name] = hashlib.md5(content).hexdigest()
    monkeypatch.setattr(cifar, "BATCH_MD5", md5)


def check_cifar(ds, batches):
    order = cifar.BATCHES["train"] + cifar.BATCHES["test"]
    pixels = np.concatenate([batches[b][0] for b in order])
    assert ds.x.shape == (len(pixels), 32, 32, 3) and ds.x.dtype == np.float32
    # channel-first storage: pixel (row 2, col 5) of channel 1 is at 1*1024 + 2*32 + 5
    np.testing.assert_allclose(ds.x[:, 2, 5, 1], pixels[:, 1024 + 2 * 32 + 5] / 255.0)
    np.testing.assert_array_equal(ds.y, np.concatenate([batches[b][1] for b in order]))
    assert ds.info.classes[0] == "airplane" and ds.info.input_shape == (32, 32, 3)


def test_cifar10_python_batches_directory(tmp_path, monkeypatch):
    batches = fake_cifar(monkeypatch)
    write_python_dir(tmp_path / "cifar10" / "cifar-10-batches-py", batches, monkeypatch)
    ds = data.load("cifar10", data_dir=tmp_path)
    check_cifar(ds, batches)
    assert ds.info.split_sizes == {"train": 20, "test": 4}
    assert len(data.load("cifar10", split="test", data_dir=tmp_path)) == 4


def test_cifar10_python_batch_md5_mismatch_and_missing_batch(tmp_path, monkeypatch):
    batches = fake_cifar(monkeypatch)
    directory = tmp_path / "cifar-10-batches-py"
    write_python_dir(directory, batches, monkeypatch)
    (directory / "data_batch_3").write_bytes(python_batch(batches["data_batch_4"][0],
                                                          batches["data_batch_4"][1]))
    with pytest.raises(data.CorruptDataError, match="data_batch_3: MD5 is") as err:
        data.load("cifar10", data_dir=tmp_path)
    assert cifar.BATCH_MD5["data_batch_3"] in str(err.value)
    (directory / "data_batch_3").unlink()
    with pytest.raises(data.MissingDataError, match="data_batch_3 not found"):
        data.load("cifar10", data_dir=tmp_path)


def test_cifar10_python_tarball_and_binary_forms_agree(tmp_path, monkeypatch):
    batches = fake_cifar(monkeypatch)
    python_tar = tmp_path / "py" / "cifar-10-python.tar.gz"
    binary_tar = tmp_path / "bin" / "cifar-10-binary.tar.gz"
    for path, folder, suffix, encode in (
            (python_tar, "cifar-10-batches-py", "", python_batch),
            (binary_tar, "cifar-10-batches-bin", ".bin",
             lambda p, l: np.column_stack([l.astype(np.uint8), p]).tobytes())):
        path.parent.mkdir()
        with tarfile.open(path, "w:gz") as tar:
            for name, (pixels, labels) in batches.items():
                content = encode(pixels, labels)
                member = tarfile.TarInfo(f"{folder}/{name}{suffix}")
                member.size = len(content)
                tar.addfile(member, io.BytesIO(content))
    archive = python_tar.read_bytes()
    monkeypatch.setitem(files.REMOTE_FILES, "cifar10", (files.FileSpec(
        python_tar.name, ("https://example.invalid/x",), sha(archive), len(archive)),))
    check_cifar(data.load("cifar10", data_dir=python_tar.parent), batches)
    monkeypatch.setattr(files, "CIFAR10_BINARY", files.FileSpec(
        binary_tar.name, ("https://example.invalid/y",), sha(binary_tar.read_bytes()), 0))
    check_cifar(data.load("cifar10", data_dir=binary_tar.parent), batches)
    monkeypatch.setattr(files, "CIFAR10_BINARY", files.FileSpec(
        binary_tar.name, ("https://example.invalid/y",), "0" * 64, 0))
    with pytest.raises(data.CorruptDataError, match="cifar-10-binary.tar.gz: SHA-256"):
        data.load("cifar10", data_dir=binary_tar.parent)


def test_cifar10_binary_directory_format_checks(tmp_path, monkeypatch):
    batches = fake_cifar(monkeypatch)
    directory = tmp_path / "cifar-10-batches-bin"
    directory.mkdir()
    for name, (pixels, labels) in batches.items():
        (directory / f"{name}.bin").write_bytes(
            np.column_stack([labels.astype(np.uint8), pixels]).tobytes())
    check_cifar(data.load("cifar10", data_dir=tmp_path), batches)
    path = directory / "test_batch.bin"
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(data.CorruptDataError, match="multiple of the 3073-byte record") as err:
        data.load("cifar10", data_dir=tmp_path)
    assert str(path) in str(err.value)


def test_cifar10_pickles_cannot_run_code(tmp_path, monkeypatch):
    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path}/pwned",))

    content = pickle.dumps({"data": Evil(), "labels": []}, protocol=2)
    with pytest.raises(data.CorruptDataError, match="not allowed"):
        cifar.parse_python_batch(content, "evil_batch")
    assert not (tmp_path / "pwned").exists()


def test_cifar10_missing_names_every_accepted_form(tmp_path):
    with pytest.raises(data.MissingDataError) as err:
        data.load("cifar10", data_dir=tmp_path)
    message = str(err.value)
    for form in ("cifar-10-batches-py", "cifar-10-python.tar.gz", "cifar-10-binary.tar.gz",
                 "jaxdl data download cifar10", "www.cs.toronto.edu"):
        assert form in message


def test_a_directory_in_the_place_of_a_dataset_file_is_named(tmp_path, monkeypatch):
    fake_idx_dataset(tmp_path, monkeypatch)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    (tmp_path / "t10k-labels-idx1-ubyte.gz").mkdir()
    with pytest.raises(data.CorruptDataError, match=r"t10k-labels-idx1-ubyte.gz is a "
                                                    r"directory, not the dataset file"):
        data.load("mnist", data_dir=tmp_path)
    (tmp_path / "cifar-10-python.tar.gz").mkdir()
    with pytest.raises(data.CorruptDataError, match=r"cifar-10-python.tar.gz is a directory") \
            as caught:
        data.load("cifar10", data_dir=tmp_path)
    assert f"into {tmp_path / 'cifar10'}" in str(caught.value)  # the fix names data_dir
