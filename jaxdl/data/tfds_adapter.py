"""tensorflow-datasets adapter: any TFDS dataset as numpy arrays, with or without TensorFlow.

Without TensorFlow (jaxdl's default install) examples are read through
`tfds.data_source` (random access to the prepared ArrayRecord files, decoded with numpy);
with TensorFlow installed, `load` uses `tfds.load(..., batch_size=-1)` instead, and TFDS
downloads and prepares the dataset on first use (network) into `data_dir` (default: TFDS's
own, `~/tensorflow_datasets`); without TensorFlow only an already prepared dataset loads,
and anything else fails at once saying what to install. `tensorflow_datasets` is imported
only here, lazily.

Conversion: the input/label features are the dataset's `supervised_keys` (else "image"
and "label"); uint8 inputs (images) become float32 / 255, other inputs float32; labels
int32; class names come from the label's `ClassLabel`.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.util
from typing import Any, Mapping, Sequence

import numpy as np

from jaxdl.data.dataset import Dataset, DatasetInfo, concatenate

SPLIT_ORDER = ("train", "validation", "test")


def _tfds():
    import tensorflow_datasets as tfds  # slow import: only when a TFDS dataset is used
    return tfds


def has_tensorflow() -> bool:
    return importlib.util.find_spec("tensorflow") is not None


def _keys(dataset_info) -> tuple[str, str]:
    keys = dataset_info.supervised_keys
    if keys is None:
        return "image", "label"
    if len(keys) != 2 or not all(isinstance(k, str) for k in keys):
        raise ValueError(f"tfds:{dataset_info.name}: supervised keys {keys!r} are not a "
                         "flat (input, label) pair; jaxdl reads classification datasets only")
    return keys


def _info(name: str, dataset_info, label_key: str, input_shape, sizes) -> DatasetInfo:
    feature = dataset_info.features[label_key]
    names = getattr(feature, "names", None)
    if names is None:
        raise ValueError(f"tfds:{name}: label feature {label_key!r} is {type(feature).__name__},"
                         " not a ClassLabel; jaxdl reads classification datasets only")
    return DatasetInfo(f"tfds:{name}", tuple(names), input_shape, f"tfds:{name}", sizes)


def to_arrays(inputs, labels) -> tuple[np.ndarray, np.ndarray]:
    """Stacked inputs as float32 (uint8 scaled by 1/255) and labels as int32."""
    inputs = np.asarray(inputs)
    if inputs.dtype == np.uint8:
        x = np.true_divide(inputs, np.float32(255), dtype=np.float32)
    else:
        x = inputs.astype(np.float32)
    return x, np.asarray(labels).astype(np.int32)


@dataclasses.dataclass(frozen=True)
class TFDSSource:
    """Random access to one split of a TFDS dataset; `take(indices)` decodes a Dataset.

    For data that does not fit in memory: pass it to `host_batches`, which decodes one
    batch at a time in a background thread.
    """

    examples: Sequence[Mapping[str, Any]]
    info: DatasetInfo
    input_key: str
    label_key: str

    def __len__(self) -> int:
        return len(self.examples)

    def take(self, indices) -> Dataset:
        rows = [self.examples[int(i)] for i in np.asarray(indices).reshape(-1)]
        if not rows:
            raise ValueError(f"{self.info.name}: take() needs at least one index")
        x, y = to_arrays(np.stack([r[self.input_key] for r in rows]),
                         [r[self.label_key] for r in rows])
        return Dataset(x, y, self.info)


def _source(name: str, split: str, examples) -> TFDSSource:
    dataset_info = examples.dataset_info
    input_key, label_key = _keys(dataset_info)
    shape = dataset_info.features[input_key].shape
    info = _info(name, dataset_info, label_key, shape, {split: len(examples)})
    return TFDSSource(examples, info, input_key, label_key)


def _data_source(name: str, split, data_dir):
    """`tfds.data_source` of a prepared dataset, never downloading: without TensorFlow,
    TFDS's stock builders cannot prepare mnist/cifar10 after the download anyway, and an
    offline download hangs for minutes. Errors: an unknown name (with close matches), or
    a dataset that is not prepared (what to install, and jaxdl's offline path)."""
    from tensorflow_datasets.core.registered import DatasetNotFoundError
    tfds = _tfds()
    try:
        return tfds.data_source(name, split=split, data_dir=data_dir, download=False)
    except DatasetNotFoundError as error:  # its text lists every name, one per line
        known = [line.strip()[2:] for line in str(error).splitlines()
                 if line.strip().startswith("- ")]
        close = difflib.get_close_matches(name, known, n=3)
        raise ValueError(f"tfds:{name}: no such tensorflow-datasets dataset"
                         + (f" (did you mean {', '.join(close)}?)" if close else "")) from None
    except Exception as error:  # not prepared (TFDS raises assorted types for that)
        raise ValueError(
            f"tfds:{name} is not prepared in the TFDS data_dir ({data_dir or '~/tensorflow_datasets'}"
            f"; {type(error).__name__}) and preparing it needs TensorFlow, which jaxdl does not "
            "install: `pip install tensorflow` (with a network), or read the original files "
            "offline with data.load(NAME, data_dir=DIR) for mnist, fashion_mnist and cifar10 "
            "(`jaxdl data download NAME` fetches them)") from None


def open_source(name: str, split: str, *, data_dir=None) -> TFDSSource:
    """One split of TFDS dataset `name` through `tfds.data_source` (no TensorFlow needed)."""
    return _source(name, split, _data_source(name, split, data_dir))


def _ordered(splits: Mapping[str, Any]) -> dict[str, Any]:
    if not splits:
        raise ValueError("no splits found: the dataset is not prepared and TFDS could not "
                         "prepare it; pass split= explicitly or check the TFDS data_dir")
    first = [s for s in SPLIT_ORDER if s in splits]
    return {s: splits[s] for s in first + sorted(set(splits) - set(first))}


def _load_with_tensorflow(name: str, split, data_dir) -> Dataset:
    tfds = _tfds()
    builder = tfds.builder(name, data_dir=data_dir)
    input_key, label_key = _keys(builder.info)
    arrays = tfds.as_numpy(tfds.load(name, split=split, data_dir=data_dir, batch_size=-1))
    parts = _ordered(arrays if split is None else {split: arrays})
    datasets = {}
    for part, batch in parts.items():
        x, y = to_arrays(batch[input_key], batch[label_key])
        info = _info(name, builder.info, label_key, x.shape[1:], {part: len(y)})
        datasets[part] = Dataset(x, y, info)
    return concatenate(datasets)


def load(name: str, *, split=None, data_dir=None) -> Dataset:
    """TFDS dataset `name` as one Dataset; `split=None` concatenates every split in order
    train, validation, test, others (sizes in `info.split_sizes`)."""
    if has_tensorflow():
        return _load_with_tensorflow(name, split, data_dir)
    examples = _data_source(name, split, data_dir)
    try:
        parts = _ordered(examples if split is None else {split: examples})
    except ValueError as err:
        raise ValueError(f"tfds:{name}: {err}") from None
    return concatenate({part: (src := _source(name, part, ex)).take(np.arange(len(src)))
                        for part, ex in parts.items()})
