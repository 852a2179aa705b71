"""`Dataset`: arrays plus metadata, immutable, a pytree; `Splits`: (train, dev, test).

Images keep their (N, H, W, C) layout scaled to [0, 1]; labels are int32 class indices.
Models for flat inputs start with `nn.flatten`. A `Dataset` is registered as a pytree
with `x` and `y` as leaves and `info` as static metadata, so `jax.device_put(ds)` moves
it to the device and a jitted function may take it as an argument.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, NamedTuple

import jax
import numpy as np


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """Metadata of a dataset.

    `name`: registry name ("digits", "mnist", "tfds:emnist", ...); `classes`: class names,
    index i names label i; `input_shape`: shape of one example (no batch axis);
    `source`: where the arrays came from (a path, "scikit-learn", "tfds:<name>");
    `split_sizes`: the official parts this dataset holds, in storage order, e.g.
    {"train": 60000, "test": 10000} for `load("mnist")`, {"train": 60000} for
    `load("mnist", split="train")`, {"all": n} for a source without an official split.
    Subsets made by `take`/`split` keep the info of the dataset they came from.
    """

    name: str
    classes: tuple[str, ...]
    input_shape: tuple[int, ...]
    source: str
    split_sizes: Mapping[str, int]

    def __post_init__(self):
        object.__setattr__(self, "classes", tuple(str(c) for c in self.classes))
        object.__setattr__(self, "input_shape", tuple(int(d) for d in self.input_shape))
        object.__setattr__(self, "split_sizes",
                           {str(k): int(v) for k, v in dict(self.split_sizes).items()})

    def __hash__(self):  # hashable: it is the static part of the Dataset pytree
        return hash((self.name, self.classes, self.input_shape, self.source,
                     tuple(self.split_sizes.items())))

    @property
    def num_classes(self) -> int:
        return len(self.classes)


@dataclasses.dataclass(frozen=True)
class Dataset:
    """`x` (N, *input_shape) float32, `y` (N,) int32 class indices, `info` (DatasetInfo).

    `len(ds)` is N; `ds.take(indices)` and `ds[indices]` (an index array, a boolean mask or
    a slice) return a Dataset with those rows; `ds[i]` for an integer i returns the pair
    (x[i], y[i]).
    """

    x: np.ndarray
    y: np.ndarray
    info: DatasetInfo

    def __post_init__(self):
        dtype = getattr(self.y, "dtype", None)
        dtype = np.asarray(self.y).dtype if dtype is None else np.dtype(dtype)
        if dtype.kind not in "iuf":
            raise TypeError(f"Dataset {self.info.name!r}: labels y must be integer class "
                            f"indices, got dtype {dtype}{_label_hint(dtype)}")
        if len(self.x) != len(self.y):
            raise ValueError(f"Dataset {self.info.name!r}: x has {len(self.x)} examples "
                             f"but y has {len(self.y)}")

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, index):
        if isinstance(index, (int, np.integer)):
            return self.x[index], self.y[index]
        return self.take(index)

    def __repr__(self) -> str:
        return (f"Dataset(name={self.info.name!r}, n={len(self)}, "
                f"x={tuple(self.x.shape)} {self.x.dtype}, classes={self.info.num_classes}, "
                f"source={self.info.source!r})")

    def take(self, indices) -> "Dataset":
        """The rows `indices` (an integer array, a boolean mask of length N, or a slice)."""
        if not isinstance(indices, slice):
            indices = np.asarray(indices)
            if indices.dtype == np.bool_ and indices.shape == (len(self),):
                indices = np.flatnonzero(indices)
            if indices.dtype.kind not in "iu":
                raise TypeError(f"Dataset.take: indices must be integers or a boolean mask "
                                f"of length {len(self)}, got {indices.dtype} {indices.shape}")
        return Dataset(self.x[indices], self.y[indices], self.info)

    def with_x(self, x) -> "Dataset":
        """The same examples with new inputs `x` (e.g. preprocessed); updates input_shape."""
        info = dataclasses.replace(self.info, input_shape=tuple(x.shape[1:]))
        return Dataset(x, self.y, info)

    @property
    def num_classes(self) -> int:
        return self.info.num_classes


def _flatten(ds: Dataset):
    return (ds.x, ds.y), ds.info


def _unflatten(info: DatasetInfo, leaves) -> Dataset:
    # Bypass __init__: JAX rebuilds pytrees with placeholder leaves (None, tracers, specs).
    ds = object.__new__(Dataset)
    object.__setattr__(ds, "x", leaves[0])
    object.__setattr__(ds, "y", leaves[1])
    object.__setattr__(ds, "info", info)
    return ds


jax.tree_util.register_pytree_node(Dataset, _flatten, _unflatten)


class Splits(NamedTuple):
    """Train / dev (validation) / test Datasets; `test` is None for a two-way split."""

    train: Dataset
    dev: Dataset
    test: Dataset | None = None


def _label_hint(dtype: np.dtype) -> str:
    """How to turn labels of `dtype` into class indices (for an error message)."""
    if dtype.kind == "b":
        return " (bool); use y.astype(np.int32), or data.from_arrays, which maps False/True to 0/1"
    if dtype.kind in "USO":
        return (" (strings or objects); map them to indices first: "
                "classes, y = np.unique(y, return_inverse=True), then "
                "data.from_arrays(x, y, classes=classes)")
    return ""


def from_arrays(x, y, *, name: str = "arrays", classes=None, source: str = "arrays",
                split_sizes: Mapping[str, int] | None = None) -> Dataset:
    """A Dataset from arrays: x as float32, y as int32; classes default to "0".."K-1".
    Float y are regression targets (N,) or (N, ...), kept as float32, with no classes.

    Bool labels become classes 0 and 1 (named "False" and "True" unless `classes` is
    given); string labels are refused with a TypeError saying how to map them to indices.
    """
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y)
    if y.dtype.kind in "USOV":
        raise TypeError(f"from_arrays: y must hold integer class indices, got dtype "
                        f"{y.dtype}{_label_hint(y.dtype)}")
    if y.dtype.kind == "f":  # regression targets (N,) or (N, ...): no classes
        if y.ndim < 1 or len(y) != len(x):
            raise ValueError(f"from_arrays: float targets y must have one row per example "
                             f"({len(x)}), got shape {y.shape}")
        info = DatasetInfo(name, tuple(classes or ()), x.shape[1:], source,
                           split_sizes if split_sizes is not None else {"all": len(y)})
        return Dataset(x, y.astype(np.float32), info)
    if y.dtype.kind == "b":
        y = y.astype(np.int32)
        classes = ("False", "True") if classes is None else classes
    if y.ndim != 1 or (y.size and (y.dtype.kind not in "iu" or y.min() < 0)):
        raise ValueError(f"from_arrays: y must be a 1-D array of non-negative integer class "
                         f"indices, got shape {y.shape} dtype {y.dtype}")
    y = y.astype(np.int32)
    if classes is None:
        classes = tuple(str(c) for c in range(int(y.max()) + 1 if y.size else 0))
    elif y.size and y.max() >= len(classes):
        raise ValueError(f"from_arrays: label {int(y.max())} out of range for "
                         f"{len(classes)} classes")
    info = DatasetInfo(name, tuple(classes), x.shape[1:], source,
                       split_sizes if split_sizes is not None else {"all": len(y)})
    return Dataset(x, y, info)


def concatenate(parts: Mapping[str, Dataset], info: DatasetInfo | None = None) -> Dataset:
    """Concatenate named parts in order; `info.split_sizes` records each part's size."""
    parts = dict(parts)
    first = next(iter(parts.values()))
    sizes = {name: len(ds) for name, ds in parts.items()}
    info = dataclasses.replace(info or first.info, split_sizes=sizes)
    if len(parts) == 1:
        return Dataset(first.x, first.y, info)
    x = np.concatenate([ds.x for ds in parts.values()])
    y = np.concatenate([ds.y for ds in parts.values()])
    return Dataset(x, y, info)


def official_part(ds: Dataset, part: str) -> Dataset:
    """The rows of official part `part` ("train", "test", ...) per `ds.info.split_sizes`.

    Valid on a dataset as returned by `load(name)` (parts concatenated in storage order).
    """
    sizes = ds.info.split_sizes
    if part not in sizes:
        raise ValueError(f"{ds.info.name}: no official part {part!r}; parts are "
                         f"{', '.join(map(repr, sizes))}")
    if sum(sizes.values()) != len(ds):
        raise ValueError(f"{ds.info.name}: split_sizes {sizes} do not add up to the "
                         f"{len(ds)} examples; use the dataset as returned by load()")
    start = 0
    for name, size in sizes.items():
        if name == part:
            return ds.take(slice(start, start + size))
        start += size
    raise AssertionError("unreachable")
