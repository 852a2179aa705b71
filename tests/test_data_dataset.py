"""The Dataset container: indexing, metadata, pytree behaviour, official parts."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import data


def small():
    return data.from_arrays(np.arange(12, dtype=np.float64).reshape(6, 2), [0, 1, 2, 0, 1, 2],
                            name="toy", classes=("a", "b", "c"))


def test_from_arrays_types_and_info():
    ds = small()
    assert ds.x.dtype == np.float32 and ds.y.dtype == np.int32 and len(ds) == 6
    assert ds.info == data.DatasetInfo("toy", ("a", "b", "c"), (2,), "arrays", {"all": 6})
    assert ds.num_classes == 3 and "toy" in repr(ds) and "n=6" in repr(ds)
    assert data.from_arrays(np.zeros((3, 1)), [0, 4, 1]).info.classes == tuple("01234")


def test_take_and_indexing():
    ds = small()
    sub = ds.take(np.array([4, 1]))
    np.testing.assert_array_equal(sub.x, [[8, 9], [2, 3]])
    np.testing.assert_array_equal(sub.y, [1, 1])
    assert sub.info is ds.info
    np.testing.assert_array_equal(ds[1:3].y, [1, 2])
    x, y = ds[5]
    np.testing.assert_array_equal(x, [10, 11])
    assert y == 2
    np.testing.assert_array_equal(ds[ds.y == 2].x, [[4, 5], [10, 11]])
    with pytest.raises(TypeError, match="indices must be integers"):
        ds.take(np.array([0.5]))


def test_immutable_and_validated():
    ds = small()
    with pytest.raises(dataclasses.FrozenInstanceError):
        ds.x = np.zeros(3)
    with pytest.raises(ValueError, match="x has 3 examples but y has 2"):
        data.Dataset(np.zeros((3, 1)), np.zeros(2, np.int32), ds.info)
    with pytest.raises(ValueError, match="label 3 out of range for 3 classes"):
        data.from_arrays(np.zeros((2, 1)), [0, 3], classes=("a", "b", "c"))
    with pytest.raises(ValueError, match="non-negative integer class indices"):
        data.from_arrays(np.zeros((2, 1)), [-1, 1])
    assert data.from_arrays(np.zeros((2, 1)), [0.5, 1.0]).y.dtype == np.float32  # regression


def test_dataset_is_a_pytree_usable_under_jit():
    ds = small()
    leaves, treedef = jax.tree_util.tree_flatten(ds)
    assert len(leaves) == 2
    on_device = jax.device_put(ds)
    assert isinstance(on_device.x, jax.Array) and on_device.info == ds.info

    @jax.jit
    def class_means(d):
        onehot = jax.nn.one_hot(d.y, d.num_classes)
        return onehot.T @ d.x / onehot.sum(axis=0)[:, None]
    np.testing.assert_allclose(class_means(ds), [[3, 4], [5, 6], [7, 8]])
    doubled = jax.tree_util.tree_map(lambda a: a * 2, ds)
    np.testing.assert_array_equal(doubled.y, ds.y * 2)
    splits = data.Splits(ds, ds)
    assert len(jax.tree_util.tree_leaves(splits)) == 4  # test=None has no leaves


def test_concatenate_and_official_part():
    a, b = small(), small().take(np.arange(2))
    whole = data.concatenate({"train": a, "test": b})
    assert whole.info.split_sizes == {"train": 6, "test": 2} and len(whole) == 8
    np.testing.assert_array_equal(data.official_part(whole, "test").x, b.x)
    np.testing.assert_array_equal(data.official_part(whole, "train").y, a.y)
    with pytest.raises(ValueError, match="no official part 'validation'"):
        data.official_part(whole, "validation")
    with pytest.raises(ValueError, match="do not add up"):
        data.official_part(whole.take(np.arange(3)), "train")


def test_with_x_updates_input_shape():
    ds = small()
    flat = ds.with_x(jnp.ones((6, 5)))
    assert flat.info.input_shape == (5,) and flat.info.name == "toy"
    np.testing.assert_array_equal(flat.y, ds.y)


def test_string_and_bool_labels_are_refused_by_dtype_with_the_fix():
    info = data.DatasetInfo("t", ("a", "b"), (1,), "test", {"all": 2})
    with pytest.raises(TypeError, match=r"^Dataset 't': labels y must be integer class "
                                        r"indices, got dtype <U1 \(strings or objects\); "
                                        r"map them to indices first: .*np\.unique"):
        data.Dataset(np.zeros((2, 1)), np.array(["a", "b"]), info)
    with pytest.raises(TypeError, match=r"got dtype bool \(bool\); use y\.astype"):
        data.Dataset(np.zeros((2, 1)), np.array([True, False]), info)
    with pytest.raises(TypeError, match=r"^from_arrays: y must hold integer class indices, "
                                        r"got dtype object"):
        data.from_arrays(np.zeros((2, 1)), np.array(["a", None], dtype=object))


def test_from_arrays_reads_bool_labels_as_classes_0_and_1():
    ds = data.from_arrays(np.zeros((3, 1)), np.array([True, False, True]))
    assert ds.y.dtype == np.int32 and ds.y.tolist() == [1, 0, 1]
    assert ds.info.classes == ("False", "True")
    named = data.from_arrays(np.zeros((2, 1)), [False, True], classes=("no", "yes"))
    assert named.info.classes == ("no", "yes")
