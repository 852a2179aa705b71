"""Preprocessing: values against numpy, fit on train only, whitening, running statistics."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import data


def correlated(n=2000, d=5, seed=0):
    """Gaussian data with a known, far-from-identity covariance (eigenvalues >> eps)."""
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(d, d)) + 2 * np.eye(d)
    return (rng.normal(size=(n, d)) @ mixing + np.arange(d) * 3).astype(np.float32)


def test_standardize_matches_numpy_per_pixel():
    x = np.random.default_rng(1).uniform(size=(50, 4, 4, 3)).astype(np.float32)
    x[:, 0, 0, 0] = 0.25  # a constant pixel: centred, not divided by zero
    stats = data.standardize_fit(x)
    assert stats.mean.shape == (4, 4, 3)
    out = np.asarray(data.standardize_apply(stats, x))
    std = x.std(axis=0)
    std[0, 0, 0] = 1.0
    np.testing.assert_allclose(out, (x - x.mean(axis=0)) / std, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=0)[1:], 1, rtol=1e-4)
    assert np.all(out[:, 0, 0, 0] == 0)


def test_standardize_per_channel():
    x = np.random.default_rng(2).normal(size=(30, 5, 5, 3)).astype(np.float32) * [1, 2, 3]
    stats = data.standardize_fit(x, per_channel=True)
    assert stats.mean.shape == (3,)
    np.testing.assert_allclose(stats.std, x.std(axis=(0, 1, 2)), rtol=1e-4)


def test_splits_are_transformed_with_training_statistics_only():
    rng = np.random.default_rng(3)
    train = data.from_arrays(rng.normal(5.0, 2.0, (100, 3)), rng.integers(0, 2, 100))
    dev = data.from_arrays(rng.normal(-7.0, 0.5, (40, 3)), rng.integers(0, 2, 40))
    test = data.from_arrays(rng.normal(1.0, 9.0, (30, 3)), rng.integers(0, 2, 30))
    out = data.standardize_splits(data.Splits(train, dev, test))
    mean, std = train.x.mean(axis=0), train.x.std(axis=0)
    for before, after in zip((train, dev, test), out):
        assert isinstance(after.x, np.ndarray) and after.x.dtype == np.float32
        np.testing.assert_allclose(after.x, (before.x - mean) / std, rtol=1e-4, atol=1e-4)
        np.testing.assert_array_equal(after.y, before.y)
    assert abs(out.dev.x.mean()) > 5  # dev was not standardized with its own statistics
    two_way, _ = data.preprocess_splits(data.Splits(train, dev), "minmax")
    assert two_way.test is None and two_way.train.x.min() == 0 and two_way.train.x.max() == 1


def test_minmax_matches_formula_and_range():
    x = np.random.default_rng(4).uniform(-3, 8, (60, 4)).astype(np.float32)
    x[:, 2] = 1.5
    stats = data.minmax_fit(x, feature_range=(-1.0, 1.0))
    out = np.asarray(data.minmax_apply(stats, x))
    lo, hi = x.min(axis=0), x.max(axis=0)
    expected = -1 + (x - lo) * 2 / np.where(hi > lo, hi - lo, 1)
    expected[:, 2] = -1
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    assert out.min() == -1 and out.max() == pytest.approx(1)


def test_pca_whitening_gives_identity_covariance():
    x = correlated()
    stats = data.pca_whiten_fit(x, eps=1e-6)
    white = np.asarray(data.pca_whiten_apply(stats, x), np.float64)
    np.testing.assert_allclose(white.mean(axis=0), 0, atol=1e-3)
    np.testing.assert_allclose(np.cov(white.T, bias=True), np.eye(5), atol=2e-3)
    cov = np.cov(x.T, bias=True)
    np.testing.assert_allclose(np.sort(stats.eigvals), np.linalg.eigvalsh(cov), rtol=1e-3)
    assert (np.diff(stats.eigvals) <= 0).all()  # principal axes by decreasing variance
    reduced = data.pca_whiten_apply(stats, x, num_components=2)
    np.testing.assert_allclose(reduced, white[:, :2], rtol=1e-5, atol=1e-5)


def test_zca_is_pca_rotated_back_and_closest_to_the_input():
    x = correlated(d=4)
    stats = data.zca_whiten_fit(x, eps=1e-6)
    pca = np.asarray(data.pca_whiten_apply(stats, x))
    zca = np.asarray(data.zca_whiten_apply(stats, x))
    np.testing.assert_allclose(zca, pca @ np.asarray(stats.eigvecs).T, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.cov(zca.T, bias=True), np.eye(4), atol=2e-3)
    # ZCA's matrix W = C^(-1/2) is symmetric: compare with numpy's inverse square root
    cov = np.cov(x.T, bias=True)
    w, v = np.linalg.eigh(cov)
    inv_sqrt = v @ np.diag(1 / np.sqrt(w + 1e-6)) @ v.T
    np.testing.assert_allclose(zca, (x - x.mean(axis=0)) @ inv_sqrt, rtol=1e-3, atol=1e-3)


def test_zca_keeps_image_shape_and_eps_damps_small_directions():
    x = np.random.default_rng(5).uniform(size=(200, 3, 3, 1)).astype(np.float32)
    stats = data.whiten_fit(x, eps=0.1)
    out = data.zca_whiten_apply(stats, x)
    assert out.shape == x.shape
    variances = np.asarray(data.pca_whiten_apply(stats, x)).var(axis=0)
    np.testing.assert_allclose(variances, stats.eigvals / (stats.eigvals + 0.1), rtol=1e-3)


def test_preprocessing_is_jittable():
    x = correlated(n=100, d=3)
    for fit, apply in data.PREPROCESSORS.values():
        stats = jax.jit(fit)(x)
        np.testing.assert_allclose(jax.jit(apply)(stats, x), apply(fit(x), x),
                                   rtol=1e-4, atol=1e-4)


def test_running_stats_follow_the_documented_rule():
    rng = np.random.default_rng(6)
    batches = [rng.normal(i, 1 + i, (16, 3)).astype(np.float32) for i in range(5)]
    rho = 0.9
    stats = data.running_init((3,))
    mean, var = np.zeros(3), np.zeros(3)
    for b in batches:
        stats = data.running_update(stats, b, momentum=rho)
        mean = rho * mean + (1 - rho) * b.mean(axis=0)
        var = rho * var + (1 - rho) * b.var(axis=0)
    assert int(stats.count) == 5
    np.testing.assert_allclose(stats.mean, mean, rtol=1e-5)
    np.testing.assert_allclose(stats.var, var, rtol=1e-5)
    final = data.running_finalize(stats, momentum=rho)
    np.testing.assert_allclose(final.mean, mean / (1 - rho ** 5), rtol=1e-5)
    np.testing.assert_allclose(final.std, np.sqrt(var / (1 - rho ** 5)), rtol=1e-5)


def test_running_stats_bias_correction_is_exact_on_a_stationary_stream():
    batch = np.random.default_rng(7).normal(3.0, 2.0, (64, 2)).astype(np.float32)
    update = jax.jit(lambda s, b: data.running_update(s, b, momentum=0.99))
    stats = data.running_init((2,))
    for _ in range(3):
        stats = update(stats, batch)
    final = data.running_finalize(stats, momentum=0.99)
    np.testing.assert_allclose(final.mean, batch.mean(axis=0), rtol=1e-4)
    np.testing.assert_allclose(final.std, batch.std(axis=0), rtol=1e-4)
    out = data.standardize_apply(final, batch)
    np.testing.assert_allclose(jnp.mean(out, axis=0), 0, atol=1e-4)


def test_bad_hyperparameters_are_rejected():
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\)"):
        data.running_update(data.running_init((2,)), np.zeros((3, 2)), momentum=1.0)
    with pytest.raises(ValueError, match="method must be one of"):
        data.preprocess_splits(data.Splits(None, None), "pca")


def test_non_finite_inputs_are_named_instead_of_giving_nan_statistics():
    from jaxdl import data
    x = np.ones((6, 3), np.float32)
    x[4, 1] = np.nan
    good = data.from_arrays(np.ones((6, 3)), np.zeros(6, int))
    bad = data.from_arrays(x, np.zeros(6, int))
    with pytest.raises(ValueError, match=r"^preprocess_splits: dev x has 1 non-finite value "
                                         r"\(NaN or inf\), first at example 4 \(value nan\)$"):
        data.preprocess_splits(data.Splits(good, bad), "standardize")


# ------------------------------------------------------ centring only, and a std floor


def test_center_subtracts_the_mean_and_keeps_the_scale():
    x = np.random.default_rng(4).uniform(size=(40, 3, 3, 2)).astype(np.float32) * [1, 5]
    for scope, mean in (("pixel", x.mean(axis=0)), ("channel", x.mean(axis=(0, 1, 2))),
                        ("global", x.mean())):
        stats = data.center_fit(x, scope=scope)
        assert stats.mean.shape == np.shape(mean)
        out = np.asarray(data.center_apply(stats, x))
        np.testing.assert_allclose(out, x - mean, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(out.std(), (x - mean).std(), rtol=1e-5)  # no scaling
    per_pixel = np.asarray(data.center_apply(data.center_fit(x), x))
    np.testing.assert_allclose(per_pixel.mean(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(per_pixel.std(axis=0), x.std(axis=0), rtol=1e-5)
    with pytest.raises(ValueError, match="scope must be one of"):
        data.center_fit(x, scope="row")


def test_center_through_preprocess_splits_uses_the_training_mean():
    rng = np.random.default_rng(5)
    train = data.from_arrays(rng.uniform(size=(30, 4)) + 2.0, rng.integers(0, 2, 30))
    dev = data.from_arrays(rng.uniform(size=(10, 4)), rng.integers(0, 2, 10))
    out, stats = data.preprocess_splits(data.Splits(train, dev), "center", scope="global")
    assert stats.mean.shape == () and float(stats.mean) == pytest.approx(train.x.mean(), rel=1e-5)
    np.testing.assert_allclose(out.dev.x, dev.x - train.x.mean(), rtol=1e-5, atol=1e-6)


def rare_pixel_images(n: int = 6000, seed: int = 0) -> np.ndarray:
    """8x8 "digits": a uniform 4x4 stroke in the middle, a border pixel on in 1 example of n
    (MNIST's rare pixels), another always off."""
    x = np.zeros((n, 8, 8, 1), np.float32)
    x[:, 2:6, 2:6, 0] = np.random.default_rng(seed).uniform(size=(n, 4, 4))
    x[17, 0, 0, 0] = 1.0
    return x


def test_std_floor_against_numpy_and_the_rare_pixel_blow_up():
    x = rare_pixel_images()
    plain = np.abs(np.asarray(data.standardize_apply(data.standardize_fit(x), x)))
    # the rare pixel: mean 1/n, std sqrt(n - 1)/n, so its z is (1 - 1/n) n / sqrt(n - 1)
    assert plain.max() == pytest.approx(np.sqrt(6000 - 1), rel=1e-3)      # 77.5
    stats = data.standardize_fit(x, std_floor=0.1)
    std = x.std(axis=0)
    expected = np.where(std <= 1e-6, 1.0, np.maximum(std, 0.1 * x.std()))
    np.testing.assert_allclose(stats.std, expected, rtol=1e-4)
    floored = np.abs(np.asarray(data.standardize_apply(stats, x)))
    rare = (1 - 1 / 6000) / (0.1 * x.std())                               # 38.4
    assert floored.max() == pytest.approx(rare, rel=1e-3)
    assert stats.std[0, 7, 0] == 1.0                                       # constant: 1
    np.testing.assert_allclose(stats.std[3, 3, 0], std[3, 3, 0], rtol=1e-5)  # a stroke pixel
    assert np.abs(np.asarray(data.standardize_apply(
        data.standardize_fit(x, std_floor=1.0), x))).max() < 4.0
    with pytest.raises(ValueError, match="std_floor must be in"):
        data.standardize_fit(x, std_floor=-0.1)
