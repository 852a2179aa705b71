"""Augmentation: shapes, ranges, keyed reproducibility, identity when disabled, jit/vmap.

XLA compiles are slow on small CPUs, so the tests reuse a few functions and batch shapes.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import data

KEY = jax.random.key(0)
IMAGES = jax.random.uniform(jax.random.key(1), (6, 8, 8, 3))

AUGMENTATIONS = {
    "flip": data.random_flip(0.5),
    "shift": data.random_shift(2),
    "rotation": data.random_rotation(15.0),
    "noise": data.random_noise(0.1, clip=(0.0, 1.0)),
    "shear": data.random_shear(0.5),
    "elastic": data.random_elastic(8.0, 2.0),
}


@pytest.mark.parametrize("name", AUGMENTATIONS)
def test_shape_range_reproducible_and_keyed(name):
    fn = AUGMENTATIONS[name]
    out = fn(KEY, IMAGES)
    assert out.shape == IMAGES.shape and out.dtype == IMAGES.dtype
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    np.testing.assert_array_equal(out, fn(KEY, IMAGES))
    others = [fn(jax.random.key(s), IMAGES) for s in (2, 3)]
    assert any(not np.array_equal(out, o) for o in others)
    assert not np.array_equal(out, IMAGES)


def test_compose_applies_in_order_with_folded_keys():
    flip, shift = AUGMENTATIONS["flip"], AUGMENTATIONS["shift"]
    composed = data.compose(flip, None, shift)
    expected = shift(jax.random.fold_in(KEY, 2), flip(jax.random.fold_in(KEY, 0), IMAGES))
    np.testing.assert_allclose(composed(KEY, IMAGES), expected, atol=1e-6)


def test_vmap_over_members_matches_member_by_member():
    fn = AUGMENTATIONS["rotation"]
    keys = jax.random.split(KEY, 3)
    stacked = jnp.stack([IMAGES, IMAGES[::-1], IMAGES * 0.5])
    out = jax.vmap(fn)(keys, stacked)
    for m in range(3):
        np.testing.assert_allclose(out[m], fn(keys[m], stacked[m]), atol=1e-5)


def test_example_depends_only_on_its_own_index():
    fn = AUGMENTATIONS["shift"]
    np.testing.assert_array_equal(fn(KEY, IMAGES[:2]), fn(KEY, IMAGES)[:2])


@pytest.mark.parametrize("fn", [data.random_flip(0.0), data.random_flip(None),
                                data.random_shift(0), data.random_rotation(0.0),
                                data.random_noise(0), data.random_noise(None), data.compose(),
                                data.random_shear(0.0), data.random_elastic(0.0),
                                data.compose(None, data.random_flip(0))])
def test_disabled_is_identity(fn):
    assert fn is data.identity
    assert fn(KEY, IMAGES) is IMAGES


def test_flip_mirrors_about_half_of_the_images():
    many = np.tile(np.asarray(IMAGES), (20, 1, 1, 1))
    out = np.asarray(AUGMENTATIONS["flip"](KEY, many))
    flipped = [np.array_equal(a, b[:, ::-1]) for a, b in zip(out, many)]
    kept = [np.array_equal(a, b) for a, b in zip(out, many)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert 40 < sum(flipped) < 80  # about half of 120


def test_shift_moves_content_by_at_most_max_shift_and_pads_with_fill():
    image = np.zeros((40, 9, 9, 1), np.float32)
    image[:, 4, 4, 0] = 1.0
    shifts = []
    for out in np.asarray(AUGMENTATIONS["shift"](KEY, image))[..., 0]:
        assert out.sum() == 1.0
        (row,), (col,) = np.nonzero(out)
        shifts.append((row - 4, col - 4))
    assert {abs(dy) for dy, _ in shifts} | {abs(dx) for _, dx in shifts} == {0, 1, 2}
    ones = np.asarray(AUGMENTATIONS["shift"](KEY, np.ones_like(image)))
    moved = [s != (0, 0) for s in shifts]
    assert all((o.min() == 0.0) == m for o, m in zip(ones, moved))  # zero padding came in


def test_rotate_geometry():
    rotate = jax.jit(data.rotate)
    image = jax.random.uniform(jax.random.key(4), (7, 7, 2))
    np.testing.assert_allclose(rotate(image, 0.0), image, atol=1e-6)
    np.testing.assert_allclose(rotate(image, 90.0), np.rot90(image), atol=1e-5)
    np.testing.assert_allclose(rotate(image, 180.0), image[::-1, ::-1], atol=1e-5)
    corner = rotate(jnp.ones((7, 7, 2)), 45.0)
    assert float(corner[0, 0, 0]) == 0.0 and float(corner[3, 3, 1]) == 1.0


def test_noise_statistics():
    out = np.asarray(AUGMENTATIONS["noise"](KEY, np.full(IMAGES.shape, 0.5, np.float32))) - 0.5
    assert abs(out.mean()) < 0.01 and abs(out.std() - 0.1) < 0.01


def test_traced_parameters_vmap_over_a_sweep():
    def augment(prob, key):
        return data.random_flip(prob)(key, IMAGES)
    out = jax.vmap(augment, in_axes=(0, None))(jnp.array([0.0, 1.0]), KEY)
    np.testing.assert_array_equal(out[0], IMAGES)
    np.testing.assert_array_equal(out[1], IMAGES[:, :, ::-1])


def test_bad_parameters_are_rejected():
    with pytest.raises(ValueError, match=r"prob must be in \[0, 1\]"):
        data.random_flip(1.5)
    with pytest.raises(ValueError, match="max_shift must be an integer >= 0"):
        data.random_shift(-1)
    with pytest.raises(TypeError, match="max_shift must be an integer"):
        data.random_shift(1.5)


# ------------------------------------------------------------- shear (skew) and elastic

displacement = jax.jit(data.elastic_displacement, static_argnums=(1, 3))  # (eager: slow)


def test_shear_of_a_vertical_line_by_hand():
    image = np.zeros((7, 7, 1), np.float32)
    image[:, 3, 0] = 1.0
    # factor 1: row y reads column x + (y - 3), so the line lands at x = 6 - y (italic)
    np.testing.assert_array_equal(data.shear(image, 1.0)[..., 0], np.eye(7)[:, ::-1])
    half = np.asarray(data.shear(image, 0.5))[..., 0]
    np.testing.assert_allclose(half[1], [0, 0, 0, 0, 1, 0, 0])          # y - 3 = -2: x = 4
    np.testing.assert_allclose(half[2], [0, 0, 0, 0.5, 0.5, 0, 0])      # x = 3.5: split
    np.testing.assert_array_equal(data.shear(IMAGES[0], 0.0), IMAGES[0])


@pytest.mark.parity
def test_shear_matches_scipy_affine_transform():
    from scipy import ndimage
    image = np.asarray(jax.random.uniform(jax.random.key(5), (9, 7, 2)), np.float64)
    factor, centre = 0.37, (9 - 1) / 2
    # output (y, x) reads source (y, x + f (y - c)) = [[1, 0], [f, 1]] (y, x) + (0, -f c)
    expected = np.stack([ndimage.affine_transform(image[..., c], [[1, 0], [factor, 1]],
                                                  offset=(0, -factor * centre), order=1,
                                                  mode="grid-constant", cval=0.0)
                         for c in range(2)], axis=-1)
    np.testing.assert_allclose(data.shear(image.astype(np.float32), factor), expected,
                               atol=1e-5)


@pytest.mark.parity
def test_elastic_displacement_is_gaussian_smoothed_uniform_noise_times_alpha():
    from scipy import ndimage
    key, alpha, sigma = jax.random.key(6), 3.0, 1.5
    field = np.asarray(displacement(key, (12, 10), alpha, sigma))
    noise = np.asarray(jax.random.uniform(key, (2, 12, 10), minval=-1.0, maxval=1.0),
                       np.float64)
    expected = alpha * np.stack([ndimage.gaussian_filter(n, sigma, mode="constant")
                                 for n in noise])
    assert field.shape == (2, 12, 10) and noise.min() < -0.9 and noise.max() > 0.9
    np.testing.assert_allclose(field, expected, atol=1e-6)
    small = np.asarray(displacement(key, (12, 10), alpha, 4.0))  # kernel > image
    assert np.abs(small).max() < np.abs(field).max()       # a wider Gaussian smooths more


@pytest.mark.parity
def test_elastic_warp_matches_scipy_map_coordinates():
    from scipy import ndimage
    image = np.asarray(jax.random.uniform(jax.random.key(7), (8, 9, 2)))
    field = np.asarray(displacement(jax.random.key(8), (8, 9), 4.0, 1.0))
    rows, cols = np.meshgrid(np.arange(8), np.arange(9), indexing="ij")
    expected = np.stack([ndimage.map_coordinates(image[..., c].astype(np.float64),
                                                 [rows + field[0], cols + field[1]],
                                                 order=1, mode="grid-constant", cval=0.0)
                         for c in range(2)], axis=-1)
    assert np.abs(field).max() > 0.5                       # a real distortion
    np.testing.assert_allclose(jax.jit(data.elastic)(image, field), expected, atol=1e-5)


def test_shear_and_elastic_traced_under_jit_and_vmap():
    @jax.jit
    def sweep(amounts, key):
        return (jax.vmap(lambda a: data.random_elastic(a, 2.0)(key, IMAGES))(amounts),
                jax.vmap(lambda a: data.random_shear(a)(key, IMAGES))(amounts))
    elastic, sheared = sweep(jnp.array([0.0, 8.0]), KEY)
    np.testing.assert_allclose(elastic[0], IMAGES, atol=1e-6)     # alpha = 0: identity
    np.testing.assert_allclose(sheared[0], IMAGES, atol=1e-6)     # factor 0: identity
    assert np.abs(elastic[1] - IMAGES).max() > 0.1 and np.abs(sheared[1] - IMAGES).max() > 0.1
    np.testing.assert_allclose(elastic[1], data.random_elastic(8.0, 2.0)(KEY, IMAGES),
                               atol=1e-5)


def test_shear_and_elastic_bad_parameters_are_rejected():
    with pytest.raises(ValueError, match="max_factor must be in"):
        data.random_shear(-0.1)
    with pytest.raises(ValueError, match="alpha must be in"):
        data.random_elastic(-1.0)
    with pytest.raises(ValueError, match=r"sigma must be in \(0, inf\)"):
        data.random_elastic(34.0, 0.0)
