"""Shared fixtures: small generated datasets (tests never need the network or real data)."""

import tempfile
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxdl import data

# Many tests build the same small programs; JAX's persistent compilation cache lets them
# share one XLA compilation (it changes no result, only skips recompiling identical HLO).
jax.config.update("jax_compilation_cache_dir",
                  str(Path(tempfile.gettempdir()) / "jaxdl-tests-xla-cache"))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def blobs(n: int, *, seed: int = 0, classes: int = 3, features: int = 4, spread: float = 0.7,
          label_noise: float = 0.0) -> data.Dataset:
    """Gaussian blobs around well-separated class centres; optional random label flips."""
    key = jax.random.key(seed)
    y = np.asarray(jax.random.randint(jax.random.fold_in(key, 0), (n,), 0, classes))
    centres = 2.0 * np.eye(classes, features)
    noise = np.asarray(jax.random.normal(jax.random.fold_in(key, 1), (n, features)))
    x = centres[y] + spread * noise
    if label_noise:
        flip = np.asarray(jax.random.bernoulli(jax.random.fold_in(key, 2), label_noise, (n,)))
        y = np.where(flip, (y + 1) % classes, y)
    return data.from_arrays(x, y, name="blobs")


@pytest.fixture(scope="session")
def blob_splits() -> data.Splits:
    """train 120 / dev 40 / test 40 examples of 3 separable classes in 4 features."""
    return data.Splits(blobs(120, seed=0), blobs(40, seed=1), blobs(40, seed=2))
