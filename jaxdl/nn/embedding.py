"""Embedding: integer token ids -> learned vectors, y[..., :] = W[id] (a one-hot row times W)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxdl import initializers
from jaxdl._checks import check_positive_int
from jaxdl.nn.layer import Layer, as_shape


def embedding(vocab: int, features: int, *, w_init=None, pad_id: int | None = None) -> Layer:
    """y = W[ids] with W of shape (vocab, features): input (batch, steps) of ids in
    [0, vocab), output (batch, steps, features).

    The ids may be integers or whole-number floats (`data.Dataset` stores inputs as
    float32). `w_init` defaults to N(0, 1) per entry (as flax and PyTorch). An id outside
    [0, vocab) or not whole gives a row of NaN (so the loss turns NaN and `fit` stops)
    instead of a silent clamp.
    With `pad_id`, the layer returns the pair (vectors, mask), mask = ids != pad_id, which
    the recurrent layers take to skip the padding of shorter sequences. The table is named
    "w": weight decay and the gradient monitors treat it as a weight.
    """
    vocab = check_positive_int("embedding", "vocab", vocab)
    features = check_positive_int("embedding", "features", features)
    if pad_id is not None:
        pad_id = check_positive_int("embedding", "pad_id", pad_id, minimum=0)
        if pad_id >= vocab:
            raise ValueError(f"embedding: pad_id must be in [0, vocab={vocab}), got {pad_id}")
    w_init = initializers.normal(std=1.0) if w_init is None else w_init
    name = f"embedding({vocab}, {features})"

    def init(key, input_shape):
        shape = as_shape(name, input_shape)
        params = {"w": w_init(jax.random.fold_in(key, 0), (vocab, features))}
        out_shape = (*shape, features)
        return params, {}, out_shape if pad_id is None else (out_shape, shape)

    def apply(params, state, x, *, key=None, train=False):
        if not jnp.issubdtype(x.dtype, jnp.integer) and not jnp.issubdtype(x.dtype,
                                                                           jnp.floating):
            raise TypeError(f"{name}: expected integer token ids, got an array of dtype "
                            f"{x.dtype}")
        # out of range or (for float ids, as data.Dataset stores them) not a whole number:
        # vocab, which `take` fills with NaN (it would wrap negative ids around)
        valid = (x >= 0) & (x < vocab) & (x == jnp.floor(x))
        ids = jnp.where(valid, x, vocab).astype(jnp.int32)
        y = jnp.take(params["w"], ids, axis=0, mode="fill", fill_value=jnp.nan)
        return (y if pad_id is None else (y, x != pad_id)), state

    return Layer(init, apply, name)
