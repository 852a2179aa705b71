"""IDX files (the MNIST family's original format), parsed and validated by jaxdl.

IDX layout: magic = 0x00 0x00 <type code> <ndim>, then ndim big-endian uint32 sizes, then
the values row-major. MNIST uses type 0x08 (uint8): images magic 2051 (0x00000803,
N x 28 x 28), labels magic 2049 (0x00000801, N).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from jaxdl.data import files
from jaxdl.data.dataset import DatasetInfo, concatenate, Dataset

UBYTE = 0x08

CLASSES = {
    "mnist": tuple(str(d) for d in range(10)),
    "fashion_mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                      "Shirt", "Sneaker", "Bag", "Ankle boot"),
}
PARTS = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
         "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}


def parse_idx(content: bytes, where: str = "IDX data") -> np.ndarray:
    """A uint8 IDX file's array (read-only view of `content`); errors name `where`."""
    if len(content) < 4:
        raise files.CorruptDataError(f"{where}: {len(content)} bytes, too short for an "
                                     "IDX header (expected at least 4)")
    zero, code, ndim = int.from_bytes(content[:2], "big"), content[2], content[3]
    if zero != 0 or code != UBYTE or ndim == 0:
        magic = int.from_bytes(content[:4], "big")
        raise files.CorruptDataError(
            f"{where}: magic number {magic} (0x{magic:08x}) is not that of a uint8 IDX "
            f"file: expected 0x000008NN (2049 for labels, 2051 for images)")
    header = 4 + 4 * ndim
    if len(content) < header:
        raise files.CorruptDataError(f"{where}: truncated header: {len(content)} bytes, "
                                     f"expected at least {header} for {ndim} dimensions")
    shape = tuple(int(d) for d in np.frombuffer(content, ">u4", ndim, 4))
    expected = header + int(np.prod(shape, dtype=np.int64))
    if len(content) != expected:
        raise files.CorruptDataError(
            f"{where}: {len(content)} bytes, expected {expected} for an array of shape "
            f"{shape} ({'truncated' if len(content) < expected else 'trailing data'})")
    return np.frombuffer(content, np.uint8, offset=header).reshape(shape)


def read_array(name: str, spec: files.FileSpec, data_dir=None) -> tuple[np.ndarray, Path]:
    """Read, verify and parse one IDX file of `name`; check it has `spec.shape`."""
    content, path = files.read_verified(name, spec, data_dir)
    array = parse_idx(content, f"{name}: {path}")
    if spec.shape and array.shape != spec.shape:
        raise files.CorruptDataError(
            f"{name}: {path}: array of shape {array.shape}, expected {spec.shape}. "
            f"{files.how_to_obtain(name, data_dir)}")
    return array, path


def load_part(name: str, part: str, data_dir=None) -> Dataset:
    """Official part "train" or "test" of an IDX dataset (`mnist`, `fashion_mnist`)."""
    by_name = {spec.name: spec for spec in files.REMOTE_FILES[name]}
    images_spec, labels_spec = (by_name[f] for f in PARTS[part])
    images, path = read_array(name, images_spec, data_dir)
    labels, labels_path = read_array(name, labels_spec, data_dir)
    if len(images) != len(labels):
        raise files.CorruptDataError(f"{name}: {path} holds {len(images)} images but "
                                     f"{labels_path} {len(labels)} labels")
    classes = CLASSES[name]
    if labels.size and labels.max() >= len(classes):
        raise files.CorruptDataError(f"{name}: {labels_path}: label {labels.max()} out of "
                                     f"range, expected 0..{len(classes) - 1}")
    x = np.true_divide(images[..., None], np.float32(255), dtype=np.float32)
    info = DatasetInfo(name, classes, x.shape[1:], str(path.parent), {part: len(labels)})
    return Dataset(x, labels.astype(np.int32), info)


def load(name: str, split=None, data_dir=None) -> Dataset:
    """`split` "train"/"test", or None for both (train first) with their sizes in info."""
    parts = PARTS if split is None else (split,)
    return concatenate({part: load_part(name, part, data_dir) for part in parts})
