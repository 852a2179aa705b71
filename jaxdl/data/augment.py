"""Data augmentation: pure, keyed functions `fn(key, images) -> images` on a batch.

`images` is (N, H, W, C). Example i draws its randomness from `fold_in(key, i)` alone, so
its result does not depend on the batch size or on the other examples; `compose` gives
its j-th function `fold_in(key, j)`. Every function is jit-able and vmap-able (e.g. over
an ensemble's member axis). A disabled augmentation (probability/size 0 or None) is the
identity. Use them inside the training step on the gathered mini-batch.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from jax.scipy import ndimage

from jaxdl._checks import check_positive_int, check_range, concrete_values

Augmentation = Callable[[jax.Array, jax.Array], jax.Array]


def identity(key, images):
    """No augmentation."""
    del key
    return images


def _disabled(value) -> bool:
    """None, or a concrete zero (a traced value is never treated as disabled)."""
    if value is None:
        return True
    values = concrete_values(value)
    return values is not None and bool((values == 0).all())


def per_example(fn) -> Augmentation:
    """Lift `fn(key, image)` on one (H, W, C) image to a batch; example i gets fold_in(key, i).

    The result is jitted (one compilation per batch shape when called eagerly; inlined
    when called inside a jitted training step).
    """
    @jax.jit
    def batched(key, images):
        keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(images.shape[0]))
        return jax.vmap(fn)(keys, images)
    return batched


def random_flip(prob=0.5) -> Augmentation:
    """Mirror left-right (x[:, ::-1]) with probability `prob` per image."""
    if _disabled(prob):
        return identity
    check_range("random_flip", "prob", prob, low=0.0, high=1.0)

    def flip(key, image):
        return jnp.where(jax.random.bernoulli(key, prob), image[:, ::-1, :], image)
    return per_example(flip)


def random_shift(max_shift: int = 2, *, fill=0.0) -> Augmentation:
    """Pad by `max_shift` pixels of `fill` on each side, crop H x W at a random offset:
    a shift (dy, dx) uniform on {-k..k}^2 (the classic pad-and-random-crop)."""
    k = check_positive_int("random_shift", "max_shift", max_shift, minimum=0)
    if k == 0:
        return identity

    def shift(key, image):
        padded = jnp.pad(image, ((k, k), (k, k), (0, 0)), constant_values=fill)
        dy, dx = jax.random.randint(key, (2,), 0, 2 * k + 1)
        return jax.lax.dynamic_slice(padded, (dy, dx, 0), image.shape)
    return per_example(shift)


def rotate(image, degrees, *, fill=0.0):
    """Rotate one (H, W, C) image counterclockwise by `degrees` about its centre (90 equals
    np.rot90 on a square image); bilinear interpolation, pixels from outside are `fill`.
    Output pixel (y, x) = c + d reads the source c + (cos t d_y + sin t d_x,
    -sin t d_y + cos t d_x)."""
    h, w = image.shape[0], image.shape[1]
    theta = jnp.deg2rad(degrees)
    cos, sin = jnp.cos(theta), jnp.sin(theta)
    dy, dx = jnp.meshgrid(jnp.arange(h) - (h - 1) / 2, jnp.arange(w) - (w - 1) / 2,
                          indexing="ij")
    coords = [(h - 1) / 2 + cos * dy + sin * dx, (w - 1) / 2 - sin * dy + cos * dx]

    def channel(plane):
        return ndimage.map_coordinates(plane, coords, order=1, mode="constant", cval=fill)
    return jax.vmap(channel, in_axes=-1, out_axes=-1)(image)


def random_rotation(max_degrees=10.0, *, fill=0.0) -> Augmentation:
    """Rotate each image by an angle uniform in [-max_degrees, max_degrees] (see `rotate`)."""
    if _disabled(max_degrees):
        return identity
    check_range("random_rotation", "max_degrees", max_degrees, low=0.0, high=180.0)

    def rotation(key, image):
        angle = jax.random.uniform(key, (), minval=-max_degrees, maxval=max_degrees)
        return rotate(image, angle, fill=fill)
    return per_example(rotation)


def random_noise(std=0.05, *, clip=None) -> Augmentation:
    """Add Gaussian noise N(0, std^2) per pixel; `clip=(low, high)` clips the result."""
    if _disabled(std):
        return identity
    check_range("random_noise", "std", std, low=0.0)

    def noise(key, image):
        noisy = image + std * jax.random.normal(key, image.shape, image.dtype)
        return noisy if clip is None else jnp.clip(noisy, *clip)
    return per_example(noise)


def compose(*augmentations) -> Augmentation:
    """Apply the augmentations in order (None entries skipped); the j-th uses fold_in(key, j).

    Jitted as a whole (one compilation per batch shape when called eagerly)."""
    fns = [(j, fn) for j, fn in enumerate(augmentations) if fn is not None and fn is not identity]
    if not fns:
        return identity

    @jax.jit
    def composed(key, images):
        for j, fn in fns:
            images = fn(jax.random.fold_in(key, j), images)
        return images
    return composed
