"""Mini-batches: on-device index plans for `lax.scan`, and a host iterator for big data.

On device (small data): `epoch_batches(key, n, batch_size)` returns an (num_batches,
batch_size) index matrix and a mask; the training scan gathers `x[indices[b]]` per step,
with no host round trip. Partial last batch, `drop_remainder=False` (default): it is
filled up with indices wrapped from the start of the permutation and those slots are
masked False, so the mask==True entries hold every example exactly once per epoch (weight
per-example losses by the mask, divide by mask.sum()); `drop_remainder=True`: it is
dropped (n mod batch_size examples unseen this epoch) and the mask is all True.

On the host (data that does not fit, e.g. a TFDS source): `host_batches` applies the
same plan and decodes batches in a background thread, `prefetch` batches ahead.
"""

from __future__ import annotations

import queue
import threading
from typing import Iterable, Iterator, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl._checks import check_positive_int


class Batch(NamedTuple):
    x: np.ndarray
    y: np.ndarray
    mask: np.ndarray


def num_batches(num_examples: int, batch_size: int, drop_remainder: bool = False) -> int:
    """ceil(n / batch_size), or floor(n / batch_size) when dropping the remainder."""
    n = check_positive_int("num_batches", "num_examples", num_examples)
    b = check_positive_int("num_batches", "batch_size", batch_size)
    return n // b if drop_remainder else -(-n // b)


def epoch_batches(key, num_examples: int, batch_size: int, *, shuffle: bool = True,
                  drop_remainder: bool = False):
    """(indices, mask), both (num_batches, batch_size): indices int32, mask bool.

    The order is `jax.random.permutation(key, n)` (or 0..n-1 when not shuffling; `key`
    may then be None). `num_examples`, `batch_size`, `shuffle` and `drop_remainder` must be
    static under `jit`. batch_size = n gives one batch (batch gradient descent), 1 gives
    n batches (stochastic); batch_size > n without dropping gives one padded batch.
    """
    count = num_batches(num_examples, batch_size, drop_remainder)
    if count == 0:
        raise ValueError(f"epoch_batches: batch_size {batch_size} > num_examples "
                         f"{num_examples} with drop_remainder=True leaves no batch")
    order = (jax.random.permutation(key, num_examples) if shuffle
             else jnp.arange(num_examples)).astype(jnp.int32)
    slots = jnp.arange(count * batch_size)
    indices = order[slots % num_examples]  # padding wraps around to the start
    mask = slots < num_examples
    return indices.reshape(count, batch_size), mask.reshape(count, batch_size)


_DONE = object()


def prefetch(iterable: Iterable, size: int = 2) -> Iterator:
    """Iterate `iterable` in a background thread, at most `size` items ahead.

    Exceptions in the producer are raised in the consumer; closing the generator early
    stops the producer.
    """
    size = check_positive_int("prefetch", "size", size)
    items: queue.Queue = queue.Queue(maxsize=size)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        try:
            for item in iterable:
                if not put((item, None)):
                    return
        except BaseException as err:  # noqa: BLE001 - handed to the consumer
            put((_DONE, err))
            return
        put((_DONE, None))

    thread = threading.Thread(target=produce, daemon=True, name="jaxdl-prefetch")
    thread.start()
    try:
        while True:
            item, err = items.get()
            if item is _DONE:
                if err is not None:
                    raise err
                return
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


def host_batches(source, batch_size: int, *, key=None, shuffle: bool = True,
                 drop_remainder: bool = False, prefetch_size: int = 2) -> Iterator[Batch]:
    """One epoch of `Batch(x, y, mask)` numpy batches of fixed shape from `source`.

    `source`: anything with `len()` and `take(indices) -> Dataset` (a `Dataset`, a
    `TFDSSource`). The plan is `epoch_batches(key, len(source), batch_size, ...)`, so the
    masking rule is the same as on device; batches are decoded `prefetch_size` ahead in a
    background thread.
    """
    indices, mask = (np.asarray(a) for a in epoch_batches(
        key, len(source), batch_size, shuffle=shuffle, drop_remainder=drop_remainder))

    def batches():
        for rows, valid in zip(indices, mask):
            part = source.take(rows)
            yield Batch(np.asarray(part.x), np.asarray(part.y), valid)
    return prefetch(batches(), prefetch_size)
