"""CIFAR-10 from its original files, parsed and validated by jaxdl.

Accepted forms, looked up in this order (see `files.search_dirs`):
1. `cifar-10-batches-py/` (the extracted python version): `data_batch_1..5`, `test_batch`,
   each checked against its published MD5 (the values torchvision pins);
2. `cifar-10-python.tar.gz`, checked against its SHA-256, read without extracting;
3. `cifar-10-batches-bin/` (the extracted binary version): `data_batch_1..5.bin`,
   `test_batch.bin`; no per-file digest is published, so only the format is checked;
4. `cifar-10-binary.tar.gz`, checked against its SHA-256, read without extracting.
Python batches are pickles; they are read with an unpickler that admits numpy arrays and
plain containers only, never arbitrary code. Binary records are 1 label byte + 3072 pixel
bytes. Pixels are stored channel-first (3, 32, 32); jaxdl returns (N, 32, 32, 3) / 255.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import pickle
import tarfile
from pathlib import Path

import numpy as np

from jaxdl.data import files
from jaxdl.data.dataset import Dataset, DatasetInfo, concatenate

NAME = "cifar10"
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
           "truck")
BATCHES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}
EXPECTED = {"train": 50000, "test": 10000}
PIXELS = 3 * 32 * 32
BATCH_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
}


_RECONSTRUCT = np.zeros(0).__reduce__()[0]  # numpy's array rebuilder, wherever it lives


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, strings and numpy arrays; refuses every other global."""

    def find_class(self, module, name):
        if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name == "_reconstruct":
            return _RECONSTRUCT
        if module == "numpy" and name in ("ndarray", "dtype"):
            return getattr(np, name)
        if (module, name) == ("_codecs", "encode"):  # how protocol 2 stores bytes
            return codecs.encode
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR batch")


def _corrupt(where: str, problem: str) -> files.CorruptDataError:
    return files.CorruptDataError(f"{NAME}: {where}: {problem}. Delete it and fetch it again. "
                                  f"{files.how_to_obtain(NAME)}")


def parse_python_batch(content: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    """(pixels (n, 3072) uint8, labels (n,)) of one pickled python batch."""
    try:
        batch = _ArrayUnpickler(io.BytesIO(content), encoding="latin1").load()
    except Exception as err:  # noqa: BLE001 - any unpickling failure means a bad file
        raise _corrupt(where, f"not a CIFAR-10 python batch ({err})") from None
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in dict(batch).items()}
    if "data" not in batch or "labels" not in batch:
        raise _corrupt(where, f"keys {sorted(batch)}, expected 'data' and 'labels'")
    pixels = np.asarray(batch["data"])
    labels = np.asarray(batch["labels"])
    if pixels.dtype != np.uint8 or pixels.ndim != 2 or pixels.shape[1] != PIXELS \
            or labels.shape != (len(pixels),):
        raise _corrupt(where, f"data {pixels.shape} {pixels.dtype} and labels {labels.shape}, "
                              f"expected (n, {PIXELS}) uint8 and (n,)")
    return pixels, labels


def parse_binary_batch(content: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    """(pixels (n, 3072) uint8, labels (n,)) of one binary batch of 3073-byte records."""
    if len(content) % (PIXELS + 1):
        raise _corrupt(where, f"{len(content)} bytes, expected a multiple of the "
                              f"{PIXELS + 1}-byte record size")
    records = np.frombuffer(content, np.uint8).reshape(-1, PIXELS + 1)
    return records[:, 1:], records[:, 0]


def _read_dir(directory: Path, suffix: str, parse, part: str, verify: bool):
    for batch in BATCHES[part]:
        path = directory / (batch + suffix)
        if not path.is_file():
            raise files.MissingDataError(
                f"{NAME}: {path} not found: {directory} is an incomplete copy (expected "
                f"{', '.join(b + suffix for bs in BATCHES.values() for b in bs)}). "
                f"{files.how_to_obtain(NAME)}")
        content = path.read_bytes()
        if verify:
            files.check_digest(NAME, path, "MD5", hashlib.md5(content).hexdigest(),
                               BATCH_MD5[batch])
        yield parse(content, str(path))


def _read_tar(path: Path, spec: files.FileSpec, suffix: str, parse, part: str):
    files.check_digest(NAME, path, "SHA-256", files.file_sha256(path), spec.sha256)
    with tarfile.open(path, "r:gz") as tar:
        members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
        for batch in BATCHES[part]:
            member = members.get(batch + suffix)
            if member is None:
                raise _corrupt(str(path), f"no member {batch + suffix}")
            yield parse(tar.extractfile(member).read(), f"{path}:{member.name}")


def _sources(data_dir):
    """(where, reader) for the first CIFAR-10 form found, or a MissingDataError."""
    python_dir = files.find(NAME, ("cifar-10-batches-py",), data_dir)
    if python_dir is None:
        # The search directory itself may hold the extracted python batches.
        python_dir = files.find(NAME, ("data_batch_1",), data_dir)
        python_dir = python_dir.parent if python_dir is not None else None
    if python_dir is not None:
        return python_dir, lambda part: _read_dir(python_dir, "", parse_python_batch, part, True)
    spec = files.REMOTE_FILES[NAME][0]
    tar = files.find(NAME, (spec.name,), data_dir)
    if tar is not None:
        files.check_is_file(NAME, tar, data_dir)
        return tar, lambda part: _read_tar(tar, spec, "", parse_python_batch, part)
    binary_dir = files.find(NAME, ("cifar-10-batches-bin",), data_dir)
    if binary_dir is not None:
        return binary_dir, lambda part: _read_dir(binary_dir, ".bin", parse_binary_batch, part,
                                                  False)
    tar = files.find(NAME, (files.CIFAR10_BINARY.name,), data_dir)
    if tar is not None:
        files.check_is_file(NAME, tar, data_dir)
        return tar, lambda part: _read_tar(tar, files.CIFAR10_BINARY, ".bin",
                                           parse_binary_batch, part)
    raise files.missing(NAME, "cifar-10-batches-py/ (or cifar-10-python.tar.gz, "
                              "cifar-10-batches-bin/, cifar-10-binary.tar.gz)", data_dir)


def load(split=None, data_dir=None) -> Dataset:
    """`split` "train"/"test", or None for both (train first) with their sizes in info."""
    where, read = _sources(data_dir)
    parts = {}
    for part in (("train", "test") if split is None else (split,)):
        pixels, labels = (np.concatenate(a) for a in zip(*read(part)))
        if len(labels) != EXPECTED[part] or (labels.size and labels.max() >= len(CLASSES)):
            raise _corrupt(str(where), f"{part} part has {len(labels)} examples with labels "
                                       f"up to {labels.max()}, expected {EXPECTED[part]} "
                                       f"with labels 0..9")
        images = pixels.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        x = np.true_divide(images, np.float32(255), dtype=np.float32)
        info = DatasetInfo(NAME, CLASSES, x.shape[1:], str(where), {part: len(labels)})
        parts[part] = Dataset(x, labels.astype(np.int32), info)
    return concatenate(parts)
