"""Data: sources, splits, preprocessing, augmentation and batching.

```python
ds = data.load("digits")                                  # embedded, no network
splits = data.split(ds, (0.8, 0.1, 0.1), key=key)         # or data.load_splits("mnist", key=key)
splits = data.standardize_splits(splits)                  # fit on train, apply to all
indices, mask = data.epoch_batches(key, len(splits.train), 100)   # inside the jitted scan
aug = data.compose(data.random_shift(2), data.random_rotation(10.0))
```
Nothing here imports tensorflow-datasets or scikit-learn until a dataset needs it.
"""

from jaxdl.data.augment import (compose, elastic, elastic_displacement, identity, per_example,
                                random_elastic, random_flip, random_noise, random_rotation,
                                random_shear, random_shift, rotate, shear)
from jaxdl.data.checks import (ClassBalance, Mismatch, PixelRange, auc, class_balance,
                               distribution_mismatch, pixel_range, standardized_differences)
from jaxdl.data.inspect import (Mistakes, Sample, first_layer_images, misclassified,
                                most_confident_mistakes, sample)
from jaxdl.data.batching import Batch, epoch_batches, host_batches, num_batches, prefetch
from jaxdl.data.dataset import (Dataset, DatasetInfo, Splits, concatenate, from_arrays,
                                official_part)
from jaxdl.data.fetch import download
from jaxdl.data.files import (ENV_VAR, CorruptDataError, DataFileError, MissingDataError,
                              data_root)
from jaxdl.data.idx import parse_idx
from jaxdl.data.preprocessing import (CENTER_SCOPES, PREPROCESSORS, CenterStats, MinMaxStats,
                                      Preprocessor, RunningStats, StandardizeStats,
                                      WhiteningStats, center_apply, center_fit, minmax_apply,
                                      minmax_fit, pca_whiten_apply, pca_whiten_fit,
                                      preprocess_splits, running_finalize, running_init,
                                      running_update, standardize_apply, standardize_fit,
                                      standardize_splits, whiten_fit, zca_whiten_apply,
                                      zca_whiten_fit)
from jaxdl.data.pseudo import PseudoLabels, pseudo_label
from jaxdl.data.sources import DEFAULT, NAMES, load
from jaxdl.data.splits import kfold, load_splits, partition, sizes_from_ratios, split
from jaxdl.data.tfds_adapter import TFDSSource, open_source as open_tfds

__all__ = [
    "ClassBalance", "Mismatch", "Mistakes", "PixelRange", "Sample", "auc", "class_balance",
    "distribution_mismatch", "elastic", "elastic_displacement", "first_layer_images",
    "misclassified", "most_confident_mistakes", "pixel_range", "random_elastic",
    "random_shear", "sample", "shear", "standardized_differences", "CENTER_SCOPES",
    "CenterStats", "center_apply", "center_fit",
    "DEFAULT", "ENV_VAR", "NAMES", "PREPROCESSORS", "Batch", "CorruptDataError",
    "DataFileError", "Dataset", "DatasetInfo", "MinMaxStats", "MissingDataError",
    "Preprocessor", "PseudoLabels", "RunningStats", "Splits", "StandardizeStats", "TFDSSource",
    "WhiteningStats", "compose", "concatenate", "data_root", "download", "epoch_batches",
    "from_arrays", "host_batches", "identity", "kfold", "load", "load_splits", "minmax_apply",
    "minmax_fit", "num_batches", "official_part", "open_tfds", "parse_idx", "partition",
    "pca_whiten_apply", "pca_whiten_fit", "per_example", "prefetch", "preprocess_splits",
    "pseudo_label",
    "random_flip", "random_noise", "random_rotation", "random_shift", "rotate",
    "running_finalize", "running_init", "running_update", "sizes_from_ratios", "split",
    "standardize_apply", "standardize_fit", "standardize_splits", "whiten_fit",
    "zca_whiten_apply", "zca_whiten_fit",
]
