"""Batching: keyed index plans (every example once per epoch), jit, scan, host iterator."""

import functools
import threading

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import data

KEY = jax.random.key(0)
plan = jax.jit(data.epoch_batches, static_argnums=(1, 2),
               static_argnames=("shuffle", "drop_remainder"))


@pytest.mark.parametrize("n, batch_size", [(10, 1), (10, 3), (10, 5), (10, 10), (10, 16),
                                           (7, 7), (1, 1)])
def test_every_example_once_per_epoch_when_not_dropping(n, batch_size):
    indices, mask = plan(KEY, n, batch_size)
    count = data.num_batches(n, batch_size)
    assert count == -(-n // batch_size)
    assert indices.shape == mask.shape == (count, batch_size)
    assert indices.dtype == jnp.int32 and mask.dtype == jnp.bool_
    seen = np.asarray(indices)[np.asarray(mask)]
    assert sorted(seen.tolist()) == list(range(n))
    assert int(mask.sum()) == n and bool(mask[:-1].all())  # padding only in the last batch
    assert ((0 <= np.asarray(indices)) & (np.asarray(indices) < n)).all()


@pytest.mark.parametrize("n, batch_size", [(10, 3), (10, 5), (10, 10), (10, 1)])
def test_drop_remainder_omits_the_partial_batch(n, batch_size):
    indices, mask = plan(KEY, n, batch_size, drop_remainder=True)
    assert indices.shape == (n // batch_size, batch_size) and bool(mask.all())
    flat = np.asarray(indices).ravel()
    assert len(set(flat.tolist())) == len(flat) == (n // batch_size) * batch_size


def test_drop_remainder_with_batch_larger_than_data_is_an_error():
    with pytest.raises(ValueError, match="leaves no batch"):
        data.epoch_batches(KEY, 3, 4, drop_remainder=True)
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        data.num_batches(10, 0)


def test_padding_wraps_around_the_permutation():
    indices, mask = plan(KEY, 10, 4)
    flat = np.asarray(indices).ravel()
    np.testing.assert_array_equal(flat[10:], flat[:2])
    assert np.asarray(mask).ravel().tolist() == [True] * 10 + [False] * 2


def test_keyed_permutation_reproducible_and_unshuffled_order():
    a, _ = plan(KEY, 50, 10)
    b, _ = plan(KEY, 50, 10)
    c, _ = plan(jax.random.key(1), 50, 10)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    np.testing.assert_array_equal(np.asarray(a).ravel(),
                                  np.asarray(jax.random.permutation(KEY, 50)))
    ordered, _ = data.epoch_batches(None, 50, 10, shuffle=False)
    np.testing.assert_array_equal(np.asarray(ordered).ravel(), np.arange(50))


def test_masked_mean_over_an_epoch_in_a_scan_equals_the_full_mean():
    x = jnp.arange(23, dtype=jnp.float32) ** 2

    @functools.partial(jax.jit, static_argnums=1)
    def epoch_sum(key, batch_size):
        indices, mask = data.epoch_batches(key, x.shape[0], batch_size)

        def step(total, batch):
            idx, m = batch
            return total + jnp.sum(jnp.where(m, x[idx], 0.0)), jnp.sum(m)
        total, counts = jax.lax.scan(step, 0.0, (indices, mask))
        return total, counts

    for batch_size in (1, 5, 23):
        total, counts = epoch_sum(KEY, batch_size)
        assert float(total) == float(x.sum()) and int(counts.sum()) == 23


def test_vmap_over_member_keys():
    indices, mask = jax.vmap(lambda k: data.epoch_batches(k, 12, 5))(jax.random.split(KEY, 4))
    assert indices.shape == (4, 3, 5)
    for member in range(4):
        assert sorted(np.asarray(indices[member])[np.asarray(mask[member])].tolist()) == \
            list(range(12))
    assert not np.array_equal(indices[0], indices[1])


def test_host_batches_follow_the_same_plan():
    ds = data.from_arrays(np.arange(11, dtype=np.float32)[:, None], np.arange(11) % 3)
    batches = list(data.host_batches(ds, 4, key=KEY))
    indices, mask = data.epoch_batches(KEY, 11, 4)
    assert len(batches) == 3
    for batch, idx, m in zip(batches, np.asarray(indices), np.asarray(mask)):
        np.testing.assert_array_equal(batch.x[:, 0], idx)
        np.testing.assert_array_equal(batch.y, idx % 3)
        np.testing.assert_array_equal(batch.mask, m)
    dropped = list(data.host_batches(ds, 4, key=KEY, drop_remainder=True))
    assert len(dropped) == 2 and all(b.mask.all() for b in dropped)


def test_prefetch_runs_ahead_in_a_thread_and_forwards_errors():
    produced = []

    def items():
        for i in range(5):
            produced.append((i, threading.current_thread().name))
            yield i
        raise RuntimeError("source failed")

    it = data.prefetch(items(), size=2)
    assert next(it) == 0
    with pytest.raises(RuntimeError, match="source failed"):
        list(it)
    assert [i for i, _ in produced] == [0, 1, 2, 3, 4]
    assert all(name == "jaxdl-prefetch" for _, name in produced)


def test_prefetch_stops_its_thread_when_closed_early():
    def endless():
        i = 0
        while True:
            yield i
            i += 1
    it = data.prefetch(endless(), size=3)
    assert [next(it) for _ in range(4)] == [0, 1, 2, 3]
    it.close()
    assert not any(t.name == "jaxdl-prefetch" and t.is_alive() for t in threading.enumerate())
