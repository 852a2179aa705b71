"""jaxdl: a functional deep-learning training library on JAX."""

__version__ = "0.1.0"

from jaxdl import initializers, losses, nn, regularizers  # noqa: E402

__all__ = ["__version__", "initializers", "losses", "nn", "regularizers"]
