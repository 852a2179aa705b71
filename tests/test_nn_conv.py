"""Convolution and pooling layers against numpy loops and direct lax calls; the new layers
under jit and vmap; a small CNN in fit, ensemble.fit, the gradient checker and the monitors."""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxdl import data, diagnostics, ensemble, initializers, losses, nn, optim, train

KEY = jax.random.key(0)


def normal(shape, seed=1):
    return np.asarray(jax.random.normal(jax.random.key(seed), shape))


def same_pads(sizes, window, strides, dilation):
    """TensorFlow's SAME rule: output ceil(n / s), the total padding split low = total // 2."""
    pads = []
    for n, k, s, d in zip(sizes, window, strides, dilation):
        extent = (k - 1) * d + 1
        total = max((math.ceil(n / s) - 1) * s + extent - n, 0)
        pads.append((total // 2, total - total // 2))
    return pads


def numpy_conv(x, w, strides, pads, dilation, groups):
    """y[n, p, o] = sum_{k, i} x_padded[n, p * s + k * d, i] w[k, i, o], per channel group."""
    rank = x.ndim - 2
    x = np.pad(x, [(0, 0), *pads, (0, 0)])
    kernel, group_in, out = w.shape[:rank], w.shape[-2], w.shape[-1]
    group_out = out // groups
    sizes = [(x.shape[1 + i] - (kernel[i] - 1) * dilation[i] - 1) // strides[i] + 1
             for i in range(rank)]
    y = np.zeros((x.shape[0], *sizes, out))
    for position in itertools.product(*map(range, sizes)):
        for offset in itertools.product(*map(range, kernel)):
            index = tuple(p * s + k * d for p, s, k, d in zip(position, strides, offset, dilation))
            patch = x[(slice(None), *index)]
            for g in range(groups):
                outs = slice(g * group_out, (g + 1) * group_out)
                y[(slice(None), *position, outs)] += (
                    patch[:, g * group_in:(g + 1) * group_in] @ w[offset][:, outs])
    return y


def numpy_pool(x, window, strides, pads, kind):
    """Max (padding never wins) or mean over the real entries of each window."""
    rank = x.ndim - 2
    fill = -np.inf if kind == "max" else np.nan
    x = np.pad(x, [(0, 0), *pads, (0, 0)], constant_values=fill)
    sizes = [(x.shape[1 + i] - window[i]) // strides[i] + 1 for i in range(rank)]
    y = np.zeros((x.shape[0], *sizes, x.shape[-1]))
    for position in itertools.product(*map(range, sizes)):
        block = x[(slice(None), *(slice(p * s, p * s + k)
                                  for p, s, k in zip(position, strides, window)))]
        axes = tuple(range(1, rank + 1))
        y[(slice(None), *position)] = (np.max(block, axis=axes) if kind == "max"
                                       else np.nanmean(block, axis=axes))
    return y


# (input shape, features, kernel, strides, padding, dilation, groups)
CONV_CASES = [
    ((9, 2), 3, 3, 1, "VALID", 1, 1),                  # 1-D
    ((10, 4), 4, (4,), 3, "SAME", 1, 2),               # 1-D, stride 3, groups
    ((6, 7, 3), 5, 3, 1, "SAME", 1, 1),                # 2-D
    ((7, 8, 4), 6, (3, 2), (2, 1), ((1, 2), (0, 1)), 1, 2),  # explicit pairs, groups
    ((8, 8, 2), 4, 3, 1, "SAME", 2, 1),                # dilation
    ((7, 6, 4), 4, 2, 2, 1, (1, 2), 4),                # int padding, depthwise (groups=C)
    ((4, 5, 4, 2), 3, 2, (1, 2, 1), "SAME", 1, 1),     # 3-D
]


def _explicit(case):
    shape, _, kernel, strides, padding, dilation, _ = case
    rank = len(shape) - 1
    tup = lambda v: (v,) * rank if isinstance(v, int) else tuple(v)  # noqa: E731
    kernel, strides, dilation = tup(kernel), tup(strides), tup(dilation)
    if padding == "SAME":
        pads = same_pads(shape[:-1], kernel, strides, dilation)
    elif padding == "VALID":
        pads = [(0, 0)] * rank
    elif isinstance(padding, int):
        pads = [(padding, padding)] * rank
    else:
        pads = [tuple(p) for p in padding]
    return kernel, strides, pads, dilation


@pytest.mark.parity
@pytest.mark.parametrize("case", CONV_CASES, ids=str)
def test_conv_matches_a_numpy_loop_and_a_direct_lax_call(case):
    shape, features, kernel, strides, padding, dilation, groups = case
    layer = nn.conv(features, kernel, strides=strides, padding=padding, dilation=dilation,
                    groups=groups)
    params, state, out_shape = layer.init(KEY, shape)
    params = {"w": params["w"], "b": jnp.asarray(normal((features,), seed=5))}
    x = normal((3, *shape))
    y, _ = layer.apply(params, state, jnp.asarray(x))
    kernel, strides, pads, dilation = _explicit(case)
    assert params["w"].shape == (*kernel, shape[-1] // groups, features)
    expected = numpy_conv(x, np.asarray(params["w"], np.float64), strides, pads, dilation,
                          groups) + np.asarray(params["b"])
    assert y.shape == (3, *out_shape) == expected.shape
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)

    spatial = {1: "W", 2: "HW", 3: "DHW"}[len(shape) - 1]

    def direct(w, b, x):
        return jax.lax.conv_general_dilated(
            x, w, strides, pads, rhs_dilation=dilation, feature_group_count=groups,
            dimension_numbers=(f"N{spatial}C", f"{spatial}IO", f"N{spatial}C")) + b

    np.testing.assert_allclose(y, direct(params["w"], params["b"], jnp.asarray(x)),
                               rtol=1e-5, atol=1e-5)
    # gradients with respect to kernel, bias and input
    probe = jnp.asarray(normal(y.shape, seed=7))
    ours = jax.jit(jax.grad(lambda p, x: jnp.sum(layer.apply(p, {}, x)[0] * probe),
                            argnums=(0, 1)))(params, jnp.asarray(x))
    theirs = jax.jit(jax.grad(lambda w, b, x: jnp.sum(direct(w, b, x) * probe),
                              argnums=(0, 1, 2)))(params["w"], params["b"], jnp.asarray(x))
    np.testing.assert_allclose(ours[0]["w"], theirs[0], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ours[0]["b"], theirs[1], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ours[1], theirs[2], rtol=1e-4, atol=1e-4)


def test_conv_output_sizes_same_valid_and_dilated():
    assert nn.conv(8, 3, strides=2).init(KEY, (28, 28, 1))[2] == (14, 14, 8)   # ceil(28/2)
    assert nn.conv(8, 3, strides=2).init(KEY, (27, 27, 1))[2] == (14, 14, 8)   # ceil(27/2)
    assert nn.conv(8, 5, padding="VALID").init(KEY, (28, 28, 1))[2] == (24, 24, 8)
    assert nn.conv(8, 3, padding="VALID", dilation=2).init(KEY, (9, 9, 1))[2] == (5, 5, 8)
    assert nn.conv(2, 3, padding="valid").init(KEY, (5, 3))[2] == (3, 2)


def test_conv_without_bias_and_with_given_initializers():
    layer = nn.conv(3, 2, use_bias=False, w_init=initializers.constant(0.5))
    params, _, _ = layer.init(KEY, (4, 4, 2))
    assert set(params) == {"w"} and nn.weights_only(params) == {"w": True}
    y, _ = layer.apply(params, {}, jnp.ones((1, 4, 4, 2)))
    assert float(y[0, 0, 0, 0]) == pytest.approx(0.5 * 2 * 2 * 2)  # a full 2x2x2 window
    assert float(y[0, 3, 3, 0]) == pytest.approx(0.5 * 2)  # SAME pads high: 1x1 window left


@pytest.mark.parametrize("w_init, numerator, fan", [
    (None, 1.0, "in"), (initializers.he_normal(), 2.0, "in"),
    (initializers.xavier_normal(), 2.0, "avg")])
@pytest.mark.parametrize("groups", [1, 4])
def test_conv_kernel_variance_uses_the_receptive_field_fans(w_init, numerator, fan, groups):
    layer = nn.conv(128, (3, 3), w_init=w_init, groups=groups)
    w = np.asarray(layer.init(KEY, (8, 8, 64))[0]["w"])
    fan_in, fan_out = 3 * 3 * 64 // groups, 3 * 3 * 128  # (*spatial, in // groups, out)
    expected = numerator / (fan_in if fan == "in" else fan_in + fan_out)
    assert abs(w.var() / expected - 1) < 0.03, (w.var(), expected)  # >= 18k draws


def test_conv_errors_name_the_layer_and_shapes():
    with pytest.raises(nn.ShapeError, match=r"conv\(4, 3\): input channels \(3\) .* groups \(2\)"):
        nn.conv(4, 3, groups=2).init(KEY, (8, 8, 3))
    with pytest.raises(ValueError, match=r"features \(5\) must be divisible by groups \(2\)"):
        nn.conv(5, 3, groups=2)
    with pytest.raises(nn.ShapeError, match=r"2 spatial sizes \(3, 3\) for an input with 1 "):
        nn.conv(4, (3, 3)).init(KEY, (8, 2))
    with pytest.raises(nn.ShapeError, match=r"expected input shape \(W, C\), \(H, W, C\)"):
        nn.conv(4, 3).init(KEY, (8,))
    with pytest.raises(nn.ShapeError, match=r"gives an empty output"):
        nn.conv(4, 5, padding="VALID").init(KEY, (3, 3, 1))
    with pytest.raises(ValueError, match="padding must be 'SAME', 'VALID'"):
        nn.conv(4, 3, padding="FULL")
    with pytest.raises(ValueError, match="conv: kernel_size must be an integer >= 1"):
        nn.conv(4, 0)
    with pytest.raises(TypeError, match="conv: strides must be an int or a tuple"):
        nn.conv(4, 3, strides=None)
    params, state, _ = nn.conv(4, 3).init(KEY, (8, 8, 3))
    with pytest.raises(nn.ShapeError, match=r"expected input of shape \(batch, \?, \?, 3\), "
                                            r"got \(2, 8, 8, 1\)"):
        nn.conv(4, 3).apply(params, state, jnp.ones((2, 8, 8, 1)))


# (input shape, window, strides, padding)
POOL_CASES = [
    ((8, 3), 2, None, "VALID"),
    ((9, 2), 3, 2, "SAME"),
    ((6, 6, 2), 2, None, "VALID"),
    ((7, 7, 3), 3, 2, "SAME"),
    ((7, 5, 1), (3, 2), (2, 1), ((1, 1), (0, 1))),
    ((4, 4, 4, 2), 2, None, "VALID"),
]


@pytest.mark.parity
@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("case", POOL_CASES, ids=str)
def test_pooling_matches_numpy(kind, case):
    shape, window, strides, padding = case
    layer = (nn.max_pool if kind == "max" else nn.avg_pool)(window, strides, padding)
    _, _, out_shape = layer.init(None, shape)
    x = normal((2, *shape))
    y, _ = layer.apply({}, {}, jnp.asarray(x))
    rank = len(shape) - 1
    window = (window,) * rank if isinstance(window, int) else window
    strides = window if strides is None else (
        (strides,) * rank if isinstance(strides, int) else strides)
    pads = (same_pads(shape[:-1], window, strides, (1,) * rank) if padding == "SAME"
            else [(0, 0)] * rank if padding == "VALID" else list(padding))
    expected = numpy_pool(x, window, strides, pads, kind)
    assert y.shape == (2, *out_shape) == expected.shape
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)


def test_avg_pool_same_padding_averages_real_entries_only():
    x = jnp.arange(1.0, 5.0).reshape(1, 4, 1)  # [1, 2, 3, 4]
    y, _ = nn.avg_pool(3, 1, "SAME").apply({}, {}, x)
    np.testing.assert_allclose(y[0, :, 0], [1.5, 2.0, 3.0, 3.5])  # edges: 2 real entries
    y, _ = nn.max_pool(3, 1, "SAME").apply({}, {}, -x)
    np.testing.assert_allclose(y[0, :, 0], [-1.0, -1.0, -2.0, -3.0])  # padding never wins


def test_global_pools_reduce_every_spatial_axis():
    x = normal((3, 4, 5, 2))
    assert nn.global_avg_pool.init(None, (4, 5, 2))[2] == (2,)
    np.testing.assert_allclose(nn.global_avg_pool.apply({}, {}, jnp.asarray(x))[0],
                               x.mean(axis=(1, 2)), rtol=1e-5)
    np.testing.assert_allclose(nn.global_max_pool.apply({}, {}, jnp.asarray(x))[0],
                               x.max(axis=(1, 2)))
    np.testing.assert_allclose(nn.global_max_pool.apply({}, {}, jnp.asarray(x[:, 0]))[0],
                               x[:, 0].max(axis=1))  # 1-D
    with pytest.raises(nn.ShapeError, match="global_avg_pool: expected input shape"):
        nn.global_avg_pool.init(None, (5,))
    with pytest.raises(nn.ShapeError, match=r"max_pool\(2\): input shape \(1, 1, 3\) gives an "
                                            "empty output"):
        nn.max_pool(2).init(None, (1, 1, 3))


# --- every new layer under jit and under vmap over stacked params ---
NEW_LAYERS = {
    "conv1d": (nn.conv(3, 3, strides=2), (7, 2), jnp.float32),
    "conv2d_groups": (nn.conv(4, (3, 2), groups=2, dilation=(1, 2)), (6, 6, 2), jnp.float32),
    "conv3d": (nn.conv(2, 2, padding="VALID"), (3, 3, 3, 1), jnp.float32),
    "max_pool": (nn.max_pool(2), (4, 4, 3), jnp.float32),
    "avg_pool": (nn.avg_pool(3, 2, "SAME"), (5, 5, 3), jnp.float32),
    "global_avg_pool": (nn.global_avg_pool, (4, 4, 3), jnp.float32),
    "global_max_pool": (nn.global_max_pool, (4, 3), jnp.float32),
    "layernorm": (nn.layernorm(), (4, 3), jnp.float32),
    "dropout_per_channel": (nn.dropout(0.6, per_channel=True), (4, 4, 3), jnp.float32),
    "dense_sequence": (nn.dense(3), (5, 2), jnp.float32),
    "embedding": (nn.embedding(7, 3), (5,), jnp.int32),
    "rnn": (nn.rnn(4, return_sequences=True), (5, 2), jnp.float32),
    "gru": (nn.gru(4), (5, 2), jnp.float32),
    "lstm": (nn.lstm(4), (5, 2), jnp.float32),
    "masked_gru": (nn.serial(nn.embedding(7, 3, pad_id=0), nn.gru(4)), (5,), jnp.int32),
    "cnn": (nn.serial(nn.conv(4, 3), nn.batchnorm(), nn.relu, nn.max_pool(2), nn.flatten,
                      nn.dense(2)), (6, 6, 1), jnp.float32),
}


@pytest.mark.parametrize("name", sorted(NEW_LAYERS))
@pytest.mark.parametrize("training", [False, True])
def test_new_layers_under_jit_and_vmap_over_stacked_params(name, training):
    layer, shape, dtype = NEW_LAYERS[name]
    if dtype == jnp.int32:
        x = jax.random.randint(jax.random.key(1), (4, *shape), 0, 7)
    else:
        x = jax.random.normal(jax.random.key(1), (4, *shape))
    keys = jnp.stack([jax.random.fold_in(KEY, i) for i in range(2)])
    params, state = jax.vmap(lambda k: layer.init(k, shape)[:2])(keys)
    apply = lambda p, s, k: layer.apply(p, s, x, key=k, train=training)  # noqa: E731
    stacked_y, stacked_state = jax.jit(jax.vmap(apply))(params, state, keys)
    for i in range(2):
        member = jax.tree.map(lambda a: a[i], (params, state))
        y, new_state = layer.apply(*member, x, key=keys[i], train=training)
        np.testing.assert_allclose(stacked_y[i], y, rtol=1e-5, atol=1e-5)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a[i], b, rtol=1e-5, atol=1e-6),
                     stacked_state, new_state)
    assert stacked_y.shape == (2, 4, *layer.init(KEY, shape)[2])
    if layer.uses_key and jax.tree.leaves(params):  # members drew different parameters
        assert any(not np.array_equal(a[0], a[1]) for a in jax.tree.leaves(params))


# --- a small CNN end to end ---


def stripes(n, seed=0, size=8):
    """Images with a horizontal (class 0) or vertical (class 1) bright stripe, plus noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    where = rng.integers(1, size - 1, n)
    line = (np.arange(size) == where[:, None]).astype(np.float32)  # (n, size)
    stripe = np.where(y[:, None, None] == 1, line[:, None, :], line[:, :, None])
    x = 0.3 * rng.normal(size=(n, size, size)) + stripe
    return data.from_arrays(x[..., None].astype(np.float32), y, name="stripes")


def small_cnn():
    he = initializers.he_normal()
    return nn.serial(nn.conv(8, 3, w_init=he), nn.relu, nn.max_pool(2),
                     nn.conv(8, 3, w_init=he), nn.relu, nn.global_avg_pool, nn.dense(2))


@pytest.fixture(scope="module")
def stripe_splits():
    return data.Splits(stripes(256, seed=0), stripes(64, seed=1), stripes(64, seed=2))


def test_small_cnn_trains_with_fit(stripe_splits):
    result = train.fit(small_cnn(), optim.adam(1e-2), losses.softmax_cross_entropy,
                       stripe_splits, key=KEY, epochs=8, batch_size=32, verbose=False)
    loss = result.history["train_loss"]
    assert result.stopped == "completed"
    assert loss[-1] < 0.5 * loss[0], loss
    assert result.final["test"]["accuracy"] > 0.9, result.final


def test_small_cnn_in_ensemble_fit(stripe_splits):
    result = ensemble.fit(small_cnn(), optim.adam(1e-2), losses.softmax_cross_entropy,
                          stripe_splits, key=KEY, members=2, epochs=4, batch_size=32,
                          verbose=False)
    w = result.params[0]["w"]
    assert w.shape == (2, 3, 3, 1, 8) and not np.array_equal(w[0], w[1])
    history = np.asarray(result.history["train_loss"])  # (epochs, members)
    assert history.shape == (4, 2) and np.all(history[-1] < 0.5 * history[0]), history


def test_gradient_check_passes_for_conv_pool_layernorm_in_float64():
    cnn = nn.serial(nn.conv(3, 3, strides=(1, 2)), nn.tanh, nn.avg_pool(2, padding="SAME"),
                    nn.conv(2, 2, groups=1, dilation=2), nn.max_pool(2), nn.layernorm(),
                    nn.flatten, nn.dense(3))
    x = jnp.asarray(normal((4, 7, 8, 2)))
    params, state, _ = cnn.init(KEY, (7, 8, 2))
    report = diagnostics.check_model_gradients(cnn, params, state, x, jnp.arange(4) % 3)
    assert report.verdict == "correct" and report.max_relative_error < 1e-7, report
    assert report.checked == report.total == 57 + 26 + 4 + (4 * 3 + 3)  # every parameter


def test_monitors_report_the_conv_layers(stripe_splits):
    model, opt = small_cnn(), optim.adam(1e-3)
    x, y = stripe_splits.train.x[:32], stripe_splits.train.y[:32]
    monitor = diagnostics.TrainingMonitor(model, losses.softmax_cross_entropy, x, y, opt=opt)
    state = train.init_state(model, opt, x.shape[1:], key=KEY)
    record = monitor(0, state, None)
    assert set(record["grad_norm"]) == {"0:conv(8, 3)/w", "3:conv(8, 3)/w", "6:dense(2)/w"}
    assert all(v > 0 for v in record["grad_norm"].values())
    assert 0 < record["update_ratio"]["0:conv(8, 3)/w"] < 1
    assert set(record["dead_relu_fraction"]) == {"1:relu", "4:relu"}
    # a channel is a unit: dead when it is 0 at every position of every example. Channel 0
    # is relu(x) (alive on half the pixels), channel 1 relu(-x) (dead everywhere): 1/2 of
    # the channels are dead (counting (pixel, channel) units would give 3/4).
    dead = nn.serial(nn.conv(2, 1, use_bias=False), nn.relu)
    probe = jax.jit(diagnostics.make_probe(dead, losses.mse))
    dead_state = train.init_state(dead, optax.sgd(0.1), (4, 4, 1), key=KEY)
    dead_state = dead_state._replace(params=({"w": jnp.array([[[[1.0, -1.0]]]])}, ()))
    x = jnp.tile((jnp.arange(16) % 2).reshape(1, 4, 4, 1).astype(jnp.float32), (3, 1, 1, 1))
    stats = probe(dead_state, x, jnp.zeros((3, 4, 4, 2)))
    assert float(stats["dead_relu_fraction"]["1:relu"]) == 0.5
