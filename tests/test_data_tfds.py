"""The tensorflow-datasets adapter, on `tfds.testing.mock_data`: no network, no TensorFlow."""

import jax
import numpy as np
import pytest

from jaxdl import data
from jaxdl.data import tfds_adapter

from tests.data_fakes import no_network  # noqa: F401

tfds = pytest.importorskip("tensorflow_datasets")


@pytest.fixture
def mock():
    with tfds.testing.mock_data(num_examples=9, policy=tfds.testing.MockPolicy.USE_CODE):
        yield


def test_tensorflow_is_absent_so_data_source_is_used():
    assert not tfds_adapter.has_tensorflow()


def test_load_tfds_split_as_arrays(mock):
    ds = data.load("tfds:mnist", split="train")
    assert len(ds) == 9 and ds.x.shape == (9, 28, 28, 1) and ds.x.dtype == np.float32
    assert 0.0 <= ds.x.min() and ds.x.max() <= 1.0 and ds.x.max() > 0.5
    assert ds.y.dtype == np.int32 and 0 <= ds.y.min() and ds.y.max() < 10
    assert ds.info.name == "tfds:mnist" and ds.info.source == "tfds:mnist"
    assert ds.info.classes == tuple("0123456789") and ds.info.split_sizes == {"train": 9}
    # the same examples, read one by one through TFDS itself
    source = tfds.data_source("mnist", split="train")
    np.testing.assert_allclose(ds.x[3], source[3]["image"] / 255.0, rtol=1e-6)
    assert ds.y[3] == source[3]["label"]


def test_load_tfds_rgb_with_class_names(mock):
    ds = data.load("tfds:cifar10", split="test")
    assert ds.x.shape == (9, 32, 32, 3) and ds.info.input_shape == (32, 32, 3)
    assert len(ds.info.classes) == 10 and ds.info.split_sizes == {"test": 9}


def test_load_tfds_all_splits_in_order(tmp_path):
    # Split names come from metadata; write a dataset_info.json that lists train and test.
    with tfds.testing.mock_data(num_examples=5, policy=tfds.testing.MockPolicy.USE_CODE):
        builder = tfds.builder("mnist", file_format="array_record")
        builder.info.set_splits(tfds.core.SplitDict([
            tfds.core.SplitInfo(name="test", shard_lengths=[4], num_bytes=0),
            tfds.core.SplitInfo(name="train", shard_lengths=[6], num_bytes=0)]))
        directory = tmp_path / "mnist" / str(builder.version)
        directory.mkdir(parents=True)
        builder.info.write_to_directory(directory)
    with tfds.testing.mock_data(num_examples=5, data_dir=str(tmp_path)):
        ds = data.load("tfds:mnist")
        assert list(ds.info.split_sizes) == ["train", "test"] and len(ds) == 10
        splits = data.load_splits("tfds:mnist", key=jax.random.key(0))
        assert [len(p) for p in splits] == [4, 1, 5]  # dev = 0.1/0.9 of train, rounded


def test_open_tfds_streams_masked_batches(mock):
    source = data.open_tfds("mnist", "train")
    assert len(source) == 9 and source.info.input_shape == (28, 28, 1)
    batches = list(data.host_batches(source, 4, key=jax.random.key(0)))
    assert len(batches) == 3 and all(b.x.shape == (4, 28, 28, 1) for b in batches)
    mask = np.concatenate([b.mask for b in batches])
    assert mask.sum() == 9 and mask.tolist() == [True] * 9 + [False] * 3
    full = data.load("tfds:mnist", split="train")
    seen = np.concatenate([b.x[b.mask] for b in batches])
    # every example exactly once: compare as a multiset of image sums
    np.testing.assert_allclose(np.sort(seen.sum(axis=(1, 2, 3))),
                               np.sort(full.x.sum(axis=(1, 2, 3))), rtol=1e-5)


def test_without_tensorflow_an_unprepared_dataset_fails_at_once_saying_what_to_install(
        tmp_path):
    with pytest.raises(ValueError, match=r"tfds:mnist is not prepared in the TFDS data_dir "
                                         r".*needs TensorFlow.*pip install tensorflow.*"
                                         r"data.load\(NAME, data_dir=DIR\)"):
        data.load("tfds:mnist", data_dir=str(tmp_path))


def test_an_unknown_tfds_name_is_one_line_with_close_matches():
    with pytest.raises(ValueError) as caught:
        data.load("tfds:mnistt")
    message = str(caught.value)
    assert message.startswith("tfds:mnistt: no such tensorflow-datasets dataset (did you mean")
    assert "mnist" in message and "\n" not in message
