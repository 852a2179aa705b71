"""Model selection splits: train/dev/test by ratios, k-fold, and the standard splits.

All randomness comes from the JAX key (`jax.random`): the same key and data give the same
split on every run. Stratified ordering (systematic sampling per class): example j of
class c, in a key-drawn random order within its class, gets the position (j + u_c) / n_c
with u_c ~ U[0, 1) per class; sorting all examples by position interleaves the classes
evenly: a contiguous cut holding a fraction f of the data holds n_c * f examples of each
class c, give or take one or two. Cutting that order into consecutive parts of the
requested sizes makes the parts disjoint and covering by construction. Each part's
indices are returned sorted.

`ds` may also be a plain `(x, y)` pair of arrays: it is read as `from_arrays(x, y)`
(see `as_dataset`), and the parts are Datasets.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl._checks import check_key, check_positive_int, check_range
from jaxdl.data import sources
from jaxdl.data.dataset import Dataset, Splits, from_arrays, official_part

DEFAULT_DEV_SIZE = {"mnist": 5000, "fashion_mnist": 5000, "cifar10": 5000}
BLOCK = 4096


@jax.jit
def _block_bits(key, block):
    return jax.random.bits(jax.random.fold_in(key, block), (BLOCK,), jnp.uint32)


def random_bits(key, n: int) -> np.ndarray:
    """n random uint32 from `key`: block b (of 4096) is bits(fold_in(key, b)). Fixed-size
    blocks compile once per process, whatever n (one XLA compile is ~0.3 s on a small CPU)."""
    blocks = [np.asarray(_block_bits(key, b)) for b in range(-(-n // BLOCK))]
    return np.concatenate(blocks)[:n] if blocks else np.zeros(0, np.uint32)


def _order(key, y: np.ndarray, stratify: bool) -> np.ndarray:
    """A key-drawn permutation of range(len(y)), class-interleaved when `stratify`.

    One draw of n + K random uint32 from `key` (K classes, `random_bits`): the permutation
    sorts the first n, the last K give the per-class offsets u_c = bits / 2^32.
    """
    y = np.asarray(y)
    stratify = stratify and y.ndim == 1 and y.dtype.kind in "iu"  # class labels only
    classes, cls = np.unique(y, return_inverse=True)
    n, num_classes = len(y), len(classes) if stratify else 0
    bits = random_bits(key, n + num_classes)
    perm = np.argsort(bits[:n], kind="stable")
    if not stratify:
        return perm
    grouped = perm[np.argsort(cls[perm], kind="stable")]  # by class, random within class
    counts = np.bincount(cls, minlength=num_classes)
    starts = np.cumsum(counts) - counts
    offsets = bits[n:] / np.float64(2 ** 32)
    c = cls[grouped]
    position = (np.arange(n) - starts[c] + offsets[c]) / counts[c]
    return grouped[np.argsort(position, kind="stable")]


def sizes_from_ratios(n: int, ratios: Sequence[float], where: str = "data.split") -> list[int]:
    """Part sizes summing to n: floor(n r_i), the remainder to the largest fractional parts.

    Ratios must be positive and sum to 1; every part must get at least one example.
    """
    ratios = [float(check_range(where, "ratios", r, low=0.0, high=1.0, low_open=True))
              for r in ratios]
    if abs(sum(ratios) - 1.0) > 1e-6:
        raise ValueError(f"{where}: ratios must sum to 1, got {ratios} (sum {sum(ratios):g})")
    exact = np.asarray(ratios) * n
    sizes = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - sizes), kind="stable")[: n - sizes.sum()]:
        sizes[i] += 1
    if (sizes == 0).any():
        raise ValueError(f"{where}: ratios {ratios} of {n} examples leave a part empty "
                         f"(sizes {sizes.tolist()}); use larger ratios or more data")
    return sizes.tolist()


def as_dataset(where: str, ds) -> Dataset:
    """`ds` itself if it is a Dataset; a plain `(x, y)` pair of arrays as
    `from_arrays(x, y)` (x float32, y int32 class indices); else a TypeError."""
    if isinstance(ds, Dataset):
        return ds
    if isinstance(ds, (tuple, list)) and len(ds) == 2 \
            and all(hasattr(a, "__len__") and np.ndim(a) >= 1 for a in ds):
        try:
            return from_arrays(*ds)
        except (TypeError, ValueError) as error:
            raise type(error)(f"{where}: the (x, y) pair is not a dataset: {error}") from None
    raise TypeError(f"{where}: ds must be a data.Dataset or an (x, y) pair of arrays, "
                    f"got {type(ds).__name__}")


def partition(ds: Dataset, sizes: Sequence[int], *, key, stratify: bool = True) -> list[Dataset]:
    """Disjoint, covering parts of `ds` with exactly `sizes` examples (sum = len(ds))."""
    ds = as_dataset("data.partition", ds)
    if sum(sizes) != len(ds) or min(sizes) < 0:
        raise ValueError(f"data.partition: sizes {list(sizes)} must be non-negative and sum "
                         f"to the {len(ds)} examples")
    order = _order(check_key("data.partition", key), ds.y, stratify)
    bounds = np.cumsum([0, *sizes])
    return [ds.take(np.sort(order[a:b])) for a, b in zip(bounds[:-1], bounds[1:])]


def split(ds: Dataset, ratios: Sequence[float], *, key, stratify: bool = True) -> Splits:
    """Split `ds` by 2 ratios -> Splits(train, dev, None), or 3 -> Splits(train, dev, test).

    Sizes: `sizes_from_ratios`; with `stratify` each part keeps the class proportions
    (fewer than 2 examples off per class). Reproducible from `key`.
    """
    check_key("data.split", key)
    ds = as_dataset("data.split", ds)
    if len(ratios) not in (2, 3):
        raise ValueError(f"data.split: ratios must have 2 (train, dev) or 3 (train, dev, "
                         f"test) entries, got {len(ratios)}: {tuple(ratios)}")
    parts = partition(ds, sizes_from_ratios(len(ds), ratios), key=key, stratify=stratify)
    return Splits(*parts) if len(parts) == 3 else Splits(parts[0], parts[1], None)


def kfold_indices(ds: Dataset, k: int, *, key, stratify: bool = True,
                  where: str = "data.kfold") -> list[tuple[np.ndarray, np.ndarray]]:
    """The k (train rows, validation rows) index pairs of `kfold`, each sorted."""
    k = check_positive_int(where, "k", k, minimum=2)
    ds = as_dataset(where, ds)
    if k > len(ds):
        raise ValueError(f"{where}: k must be <= the {len(ds)} examples, got {k}")
    folds = np.array_split(_order(check_key(where, key), ds.y, stratify), k)
    return [(np.sort(np.concatenate(folds[:i] + folds[i + 1:])), np.sort(folds[i]))
            for i in range(k)]


def kfold(ds: Dataset, k: int, *, key, stratify: bool = True) -> Iterator[tuple[Dataset, Dataset]]:
    """Yield k (train, validation) pairs; the k validation folds are disjoint and cover
    `ds` (sizes differ by at most one), so every example is validated exactly once.
    Arguments are checked at the call; the pairs are built one at a time."""
    ds = as_dataset("data.kfold", ds)
    indices = kfold_indices(ds, k, key=key, stratify=stratify)
    return ((ds.take(train), ds.take(validation)) for train, validation in indices)


def load_splits(name: str = sources.DEFAULT, *, key, ratios=(0.8, 0.1, 0.1), dev_size=None,
                data_dir=None) -> Splits:
    """The standard train/dev/test splits of dataset `name`.

    With an official test set (mnist, fashion_mnist, cifar10, TFDS datasets with "test"):
    test is that set and dev is carved (stratified) from the official train set, `dev_size`
    examples (default 5000 for the MNIST family and CIFAR-10, so 55000/5000/10000 for MNIST;
    for TFDS datasets the official "validation" split when there is one, else the share
    ratios[1] / (ratios[0] + ratios[1]) of train). Without one (digits): `split(ds, ratios)`,
    or, given `dev_size`, a dev part of exactly that size and a test part of share ratios[2].
    """
    ds = sources.load(name, data_dir=data_dir)
    parts = ds.info.split_sizes
    if "test" not in parts:
        if dev_size is None:
            return split(ds, ratios, key=key)
        n = len(ds)
        test = sizes_from_ratios(n, ratios, "data.load_splits")[2] if len(ratios) == 3 else 0
        dev = check_positive_int("data.load_splits", "dev_size", dev_size)
        if dev + test >= n:
            raise ValueError(f"data.load_splits: dev_size {dev} leaves no training data "
                             f"among {n} examples (test takes {test})")
        pieces = partition(ds, [n - dev - test, dev, test], key=key)
        return Splits(pieces[0], pieces[1], pieces[2] if test else None)
    test = official_part(ds, "test")
    train = official_part(ds, "train")
    if dev_size is None and "validation" in parts:
        return Splits(train, official_part(ds, "validation"), test)
    if dev_size is None:
        dev_size = DEFAULT_DEV_SIZE.get(name)
    if dev_size is None:
        share = ratios[1] / (ratios[0] + ratios[1])
        dev_size = max(1, round(len(train) * share))
    dev_size = check_positive_int("data.load_splits", "dev_size", dev_size)
    if dev_size >= len(train):
        raise ValueError(f"data.load_splits: dev_size must be < the {len(train)} official "
                         f"training examples of {name}, got {dev_size}")
    train, dev = partition(train, [len(train) - dev_size, dev_size], key=key)
    return Splits(train, dev, test)
