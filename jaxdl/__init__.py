"""jaxdl: a functional deep-learning training library on JAX."""

__version__ = "0.1.0"

from jaxdl import (  # noqa: E402
    checkpoint,
    classic,
    data,
    diagnostics,
    ensemble,
    initializers,
    losses,
    metrics,
    nn,
    optim,
    recipes,
    regularizers,
    train,
    tune,
)
from jaxdl.compile_cache import enable_compilation_cache  # noqa: E402
from jaxdl.runs import load_run  # noqa: E402

__all__ = ["__version__", "checkpoint", "classic", "data", "diagnostics",
           "enable_compilation_cache", "ensemble", "initializers", "load_run", "losses",
           "metrics", "nn", "optim", "recipes", "regularizers", "train", "tune"]
