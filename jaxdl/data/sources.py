"""`load(name)`: every named dataset as a `Dataset`.

Names: `digits` (default; the real 8x8 handwritten digits shipped inside scikit-learn,
1797 examples, no network), `mnist`, `fashion_mnist` (the IDX files, see `idx`),
`cifar10` (the original batches, see `cifar`), and `tfds:<name>` (any tensorflow-datasets
dataset, see `tfds_adapter`). Inputs are float32 in (N, H, W, C) scaled to [0, 1]:
digits x / 16 as (N, 8, 8, 1), MNIST family x / 255 as (N, 28, 28, 1), CIFAR-10 x / 255
as (N, 32, 32, 3). Labels are int32 class indices.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from jaxdl._checks import check_choice
from jaxdl.data import cifar, idx
from jaxdl.data.dataset import Dataset, DatasetInfo

DEFAULT = "digits"
NAMES = ("digits", "mnist", "fashion_mnist", "cifar10")
OFFICIAL_SPLITS = {"digits": (None,), "mnist": (None, "train", "test"),
                   "fashion_mnist": (None, "train", "test"), "cifar10": (None, "train", "test")}
DIGITS_SHAPE = (1797, 65)  # 64 pixels in 0..16, then the label


def _sklearn_digits_csv() -> Path | None:
    """scikit-learn's packaged `digits.csv.gz`, located without importing scikit-learn."""
    spec = importlib.util.find_spec("sklearn")
    for location in (spec.submodule_search_locations or []) if spec else []:
        path = Path(location) / "datasets" / "data" / "digits.csv.gz"
        if path.is_file():
            return path
    return None


def load_digits() -> Dataset:
    """scikit-learn's 8x8 digits (the UCI test set): x (1797, 8, 8, 1) = pixels / 16."""
    path = _sklearn_digits_csv()
    if path is not None:
        table = np.loadtxt(path, delimiter=",", dtype=np.uint8, ndmin=2)
        source = f"scikit-learn ({path})"
    else:  # a scikit-learn whose data files moved: ask its own loader
        from sklearn.datasets import load_digits as sklearn_load_digits
        bunch = sklearn_load_digits()
        table = np.column_stack([bunch.data, bunch.target]).astype(np.uint8)
        source = "scikit-learn"
    if table.shape != DIGITS_SHAPE or table[:, :64].max() > 16 or table[:, 64].max() > 9:
        raise ValueError(f"digits: {source}: table of shape {table.shape} with pixel max "
                         f"{table[:, :64].max()}, expected {DIGITS_SHAPE} with pixels 0..16 "
                         "and labels 0..9; reinstall scikit-learn")
    x = np.true_divide(table[:, :64].reshape(-1, 8, 8, 1), np.float32(16), dtype=np.float32)
    info = DatasetInfo("digits", tuple(str(d) for d in range(10)), x.shape[1:], source,
                       {"all": len(table)})
    return Dataset(x, table[:, 64].astype(np.int32), info)


def load(name: str = DEFAULT, *, split: str | None = None, data_dir=None) -> Dataset:
    """The dataset `name`; `split` picks an official part ("train"/"test") where it has one.

    `split=None` returns all official parts concatenated (train first), with their sizes
    in `info.split_sizes`. `data_dir`: see `jaxdl.data.files` (argument, $JAXDL_DATA_DIR,
    cache dir). Missing or corrupt files raise an error naming the file and the fix.
    For `tfds:<name>`, `split` is any TFDS split string ("train", "test[:10%]", ...).
    """
    if isinstance(name, str) and name.startswith("tfds:"):
        from jaxdl.data import tfds_adapter
        return tfds_adapter.load(name[len("tfds:"):], split=split, data_dir=data_dir)
    check_choice("data.load", "name", name, NAMES + ("tfds:<name>",))
    check_choice(f"data.load({name!r})", "split", split, OFFICIAL_SPLITS[name])
    if name == "digits":
        return load_digits()
    if name == "cifar10":
        return cifar.load(split, data_dir)
    return idx.load(name, split, data_dir)
