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


def _resample(image, coords, fill):
    """Bilinear resampling of each channel of `image` (H, W, C) at source `coords` (two
    (H, W) arrays of row and column positions); positions outside read `fill`."""
    def channel(plane):
        return ndimage.map_coordinates(plane, coords, order=1, mode="constant", cval=fill)
    return jax.vmap(channel, in_axes=-1, out_axes=-1)(image)


def _centred_grid(image):
    """(dy, dx): each pixel's offset from the image centre ((H - 1) / 2, (W - 1) / 2)."""
    h, w = image.shape[0], image.shape[1]
    return jnp.meshgrid(jnp.arange(h) - (h - 1) / 2, jnp.arange(w) - (w - 1) / 2,
                        indexing="ij")


def rotate(image, degrees, *, fill=0.0):
    """Rotate one (H, W, C) image counterclockwise by `degrees` about its centre (90 equals
    np.rot90 on a square image); bilinear interpolation, pixels from outside are `fill`.
    Output pixel (y, x) = c + d reads the source c + (cos t d_y + sin t d_x,
    -sin t d_y + cos t d_x)."""
    h, w = image.shape[0], image.shape[1]
    theta = jnp.deg2rad(degrees)
    cos, sin = jnp.cos(theta), jnp.sin(theta)
    dy, dx = _centred_grid(image)
    coords = [(h - 1) / 2 + cos * dy + sin * dx, (w - 1) / 2 - sin * dy + cos * dx]
    return _resample(image, coords, fill)


def random_rotation(max_degrees=10.0, *, fill=0.0) -> Augmentation:
    """Rotate each image by an angle uniform in [-max_degrees, max_degrees] (see `rotate`)."""
    if _disabled(max_degrees):
        return identity
    check_range("random_rotation", "max_degrees", max_degrees, low=0.0, high=180.0)

    def rotation(key, image):
        angle = jax.random.uniform(key, (), minval=-max_degrees, maxval=max_degrees)
        return rotate(image, angle, fill=fill)
    return per_example(rotation)


def shear(image, factor, *, fill=0.0):
    """Skew one (H, W, C) image horizontally about its centre row: output (y, x) reads the
    source (y, x + factor (y - (H - 1) / 2)), bilinear, `fill` from outside; factor > 0
    leans the top to the right (italic), 0 is the identity; `factor` may be traced."""
    h, w = image.shape[0], image.shape[1]
    dy, _ = _centred_grid(image)
    rows, cols = jnp.meshgrid(jnp.arange(h), jnp.arange(w), indexing="ij")
    return _resample(image, [rows, cols + factor * dy], fill)


def random_shear(max_factor=0.3, *, fill=0.0) -> Augmentation:
    """Skew each image by a factor uniform in [-max_factor, max_factor] (see `shear`): the
    tutorial's "skew the images"."""
    if _disabled(max_factor):
        return identity
    check_range("random_shear", "max_factor", max_factor, low=0.0)

    def skew(key, image):
        factor = jax.random.uniform(key, (), minval=-max_factor, maxval=max_factor)
        return shear(image, factor, fill=fill)
    return per_example(skew)


def _gaussian_kernel(sigma: float) -> jax.Array:
    """exp(-t^2 / (2 sigma^2)) on t = -r..r, r = int(4 sigma + 0.5), normalized to sum 1
    (scipy.ndimage.gaussian_filter's kernel)."""
    radius = int(4 * sigma + 0.5)
    t = jnp.arange(-radius, radius + 1, dtype=jnp.float32)
    kernel = jnp.exp(-t ** 2 / (2 * sigma ** 2))
    return kernel / kernel.sum()


def _smooth(field, kernel):
    """Separable Gaussian smoothing of a 2-D `field` with zeros beyond its border."""
    radius = (kernel.shape[0] - 1) // 2

    def along(vector):
        return jnp.convolve(jnp.pad(vector, radius), kernel, mode="valid")
    field = jax.vmap(along, in_axes=1, out_axes=1)(field)
    return jax.vmap(along)(field)


def elastic_displacement(key, shape, alpha, sigma: float):
    """The displacement field (2, H, W) of Simard et al. (2003): uniform noise in [-1, 1]
    per pixel and direction, smoothed by a Gaussian of std `sigma` pixels (zeros beyond
    the border), times `alpha` (may be traced; `sigma` sets the kernel size, a number)."""
    kernel = _gaussian_kernel(sigma)
    noise = jax.random.uniform(key, (2, *shape), minval=-1.0, maxval=1.0)
    return alpha * jax.vmap(_smooth, in_axes=(0, None))(noise, kernel)


def elastic(image, displacement, *, fill=0.0):
    """Warp one (H, W, C) image by `displacement` (2, H, W): output (y, x) reads the source
    (y + d_y, x + d_x), bilinear, `fill` from outside; every channel moves alike."""
    rows, cols = jnp.meshgrid(jnp.arange(image.shape[0]), jnp.arange(image.shape[1]),
                              indexing="ij")
    return _resample(image, [rows + displacement[0], cols + displacement[1]], fill)


def random_elastic(alpha=34.0, sigma=4.0, *, fill=0.0) -> Augmentation:
    """Elastic distortion (Simard et al. 2003, the OCR case; their MNIST values alpha=34,
    sigma=4): a fresh `elastic_displacement` field per image. alpha=0 is the identity."""
    if _disabled(alpha):
        return identity
    check_range("random_elastic", "alpha", alpha, low=0.0)
    if concrete_values(sigma) is None:
        raise TypeError("random_elastic: sigma must be a number (it sets the kernel size)")
    check_range("random_elastic", "sigma", sigma, low=0.0, low_open=True)
    sigma = float(sigma)

    def distort(key, image):
        return elastic(image, elastic_displacement(key, image.shape[:2], alpha, sigma),
                       fill=fill)
    return per_example(distort)


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
