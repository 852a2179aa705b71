"""Splits by ratios, k-fold and the standard splits: disjoint, covering, keyed, stratified."""

import jax
import numpy as np
import pytest

from jaxdl import data

from tests.data_fakes import fake_idx_dataset, no_network  # noqa: F401

KEY = jax.random.key(0)


@pytest.fixture(scope="module")
def digits():
    return data.load("digits")


def ids(ds):
    """The examples as a sorted list of (pixels + label) bytes: a multiset of rows."""
    return sorted(x.tobytes() + bytes([y]) for x, y in zip(ds.x, ds.y))


def test_dataset_rows_are_nearly_unique(digits):
    # so comparing `ids` multisets below detects a row that is lost or duplicated
    assert len(set(ids(digits))) > 1780


@pytest.mark.parametrize("ratios", [(0.8, 0.1, 0.1), (0.6, 0.2, 0.2), (0.98, 0.01, 0.01)])
def test_split_sizes_disjoint_covering_stratified(digits, ratios):
    splits = data.split(digits, ratios, key=KEY)
    n = len(digits)
    expected = data.sizes_from_ratios(n, ratios)
    assert [len(p) for p in splits] == expected and sum(expected) == n
    assert all(abs(size - r * n) < 1 for size, r in zip(expected, ratios))
    merged = sorted(ids(splits.train) + ids(splits.dev) + ids(splits.test))
    assert merged == ids(digits)  # covering, and disjoint (no row twice)
    counts = np.bincount(digits.y)
    for part, ratio in zip(splits, ratios):
        per_class = np.bincount(part.y, minlength=10)
        assert np.abs(per_class - ratio * counts).max() < 2, (ratio, per_class)


def test_split_indices_are_disjoint_and_cover(digits):
    tagged = data.from_arrays(np.arange(len(digits), dtype=np.float32)[:, None], digits.y)
    splits = data.split(tagged, (0.6, 0.2, 0.2), key=KEY)
    rows = [p.x[:, 0].astype(int) for p in splits]
    allrows = np.concatenate(rows)
    assert len(np.unique(allrows)) == len(allrows) == len(digits)
    for part in rows:  # and each part is returned in index order
        assert (np.diff(part) > 0).all()
    for part, r in zip(splits, rows):
        np.testing.assert_array_equal(part.y, digits.y[r])


def test_split_is_reproducible_from_the_key(digits):
    a = data.split(digits, (0.8, 0.1, 0.1), key=jax.random.key(7))
    b = data.split(digits, (0.8, 0.1, 0.1), key=jax.random.key(7))
    c = data.split(digits, (0.8, 0.1, 0.1), key=jax.random.key(8))
    for pa, pb in zip(a, b):
        np.testing.assert_array_equal(pa.x, pb.x)
    assert not np.array_equal(a.dev.x, c.dev.x)


def test_unstratified_split_and_two_way_split(digits):
    splits = data.split(digits, (0.7, 0.3), key=KEY, stratify=False)
    assert splits.test is None and [len(splits.train), len(splits.dev)] == [1258, 539]
    assert sorted(ids(splits.train) + ids(splits.dev)) == ids(digits)


def test_stratification_matters_on_imbalanced_labels():
    y = np.array([0] * 95 + [1] * 5)
    ds = data.from_arrays(np.zeros((100, 1)), y)
    for seed in range(20):
        dev = data.split(ds, (0.8, 0.2), key=jax.random.key(seed)).dev
        assert np.bincount(dev.y, minlength=2).tolist() == [19, 1]


@pytest.mark.parametrize("ratios, message", [
    ((0.8, 0.1), "sum to 1"), ((0.5, 0.6, -0.1), r"ratios must be in \(0, 1\]"),
    ((1.0,), "2 \\(train, dev\\) or 3"), ((0.9995, 0.0003, 0.0002), "leave a part empty"),
])
def test_split_rejects_bad_ratios(digits, ratios, message):
    with pytest.raises(ValueError, match=message):
        data.split(digits, ratios, key=KEY)


@pytest.mark.parametrize("k", [2, 5, 10])
def test_kfold_validates_every_example_once(digits, k):
    tagged = data.from_arrays(np.arange(len(digits), dtype=np.float32)[:, None], digits.y)
    folds = list(data.kfold(tagged, k, key=KEY))
    assert len(folds) == k
    validated = np.concatenate([val.x[:, 0] for _, val in folds]).astype(int)
    assert sorted(validated.tolist()) == list(range(len(digits)))
    sizes = [len(val) for _, val in folds]
    assert max(sizes) - min(sizes) <= 1
    for train, val in folds:
        assert len(train) + len(val) == len(digits)
        assert not set(train.x[:, 0].tolist()) & set(val.x[:, 0].tolist())
        per_class = np.bincount(val.y, minlength=10)
        assert np.abs(per_class - np.bincount(digits.y) / k).max() < 2


def test_kfold_rejects_bad_k(digits):
    with pytest.raises(ValueError, match="k must be an integer >= 2"):
        data.kfold(digits, 1, key=KEY)
    with pytest.raises(ValueError, match="k must be <="):
        data.kfold(digits.take(np.arange(3)), 4, key=KEY)


def test_load_splits_digits_by_ratios():
    splits = data.load_splits("digits", key=KEY)
    assert [len(p) for p in splits] == [1437, 180, 180]
    again = data.split(data.load("digits"), (0.8, 0.1, 0.1), key=KEY)
    np.testing.assert_array_equal(splits.dev.y, again.dev.y)
    sized = data.load_splits("digits", key=KEY, dev_size=300)
    assert [len(p) for p in sized] == [1317, 300, 180]  # test: 0.1 of 1797, as above


def test_load_splits_official_test_and_carved_dev(tmp_path, monkeypatch):
    fake_idx_dataset(tmp_path, monkeypatch, n_train=40, n_test=12)
    splits = data.load_splits("mnist", key=KEY, dev_size=8, data_dir=tmp_path)
    assert [len(p) for p in splits] == [32, 8, 12]
    official = data.load("mnist", data_dir=tmp_path)
    np.testing.assert_array_equal(splits.test.x, official.x[40:])
    train_ids = ids(splits.train) + ids(splits.dev)
    assert sorted(train_ids) == ids(official.take(np.arange(40)))
    with pytest.raises(ValueError, match="dev_size must be < the 40"):
        data.load_splits("mnist", key=KEY, dev_size=40, data_dir=tmp_path)
    from jaxdl.data import splits as splits_module  # noqa: PLC0415
    assert splits_module.DEFAULT_DEV_SIZE["mnist"] == 5000


@pytest.mark.parametrize("call", [
    lambda ds: data.split(ds, (0.8, 0.2), key=None),
    lambda ds: list(data.kfold(ds, 3, key=None)),
    lambda ds: data.partition(ds, [5, 5], key=3),
])
def test_a_missing_key_is_named(call):
    ds = data.from_arrays(np.ones((10, 2)), np.arange(10) % 2)
    with pytest.raises(TypeError, match=r"^data\.(split|kfold|partition): key must be a JAX "
                                        r"random key \(e.g. jax.random.key\(0\)\), got"):
        call(ds)


def test_a_plain_x_y_pair_splits_like_the_dataset_it_makes():
    x = np.arange(40, dtype=np.float32).reshape(20, 2)
    y = np.arange(20) % 2
    from_pair = data.split((x, y), (0.8, 0.2), key=KEY)  # was: "of 2 examples leave a part"
    from_dataset = data.split(data.from_arrays(x, y), (0.8, 0.2), key=KEY)
    assert [len(p) for p in from_pair[:2]] == [16, 4] and from_pair.test is None
    for a, b in zip(from_pair[:2], from_dataset[:2]):
        np.testing.assert_array_equal(a.x, b.x)
        np.testing.assert_array_equal(a.y, b.y)
    folds = list(data.kfold([x, y], 4, key=KEY))
    assert len(folds) == 4 and sorted(np.concatenate([v.x[:, 0] for _, v in folds])) == \
        list(x[:, 0])
    assert [len(p) for p in data.partition((x, y), [15, 5], key=KEY)] == [15, 5]


@pytest.mark.parametrize("ds, message", [
    (np.zeros((20, 2)), r"^data\.split: ds must be a data\.Dataset or an \(x, y\) pair of "
                        r"arrays, got ndarray$"),
    ((np.zeros((20, 2)), np.array(["a", "b"] * 10)),
     r"^data\.split: the \(x, y\) pair is not a dataset: from_arrays: y must hold integer "
     r"class indices, got dtype <U1"),
])
def test_what_is_not_a_dataset_is_named(ds, message):
    with pytest.raises(TypeError, match=message):
        data.split(ds, (0.8, 0.2), key=KEY)
