"""Layer norm, batch norm on conv feature maps and per-channel dropout, against numpy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import initializers, nn

KEY = jax.random.key(0)


def normal(shape, seed=1):
    return np.asarray(jax.random.normal(jax.random.key(seed), shape))


@pytest.mark.parity
@pytest.mark.parametrize("shape", [(5,), (4, 6), (3, 3, 4)])
def test_layernorm_matches_numpy(shape):
    layer = nn.layernorm(eps=1e-3)
    params, state, out = layer.init(KEY, shape)
    assert out == shape and state == {} and not layer.uses_key
    np.testing.assert_array_equal(params["gamma"], np.ones(shape[-1]))
    np.testing.assert_array_equal(params["beta"], np.zeros(shape[-1]))
    params = {"gamma": jnp.asarray(normal(shape[-1:], seed=2)),
              "beta": jnp.asarray(normal(shape[-1:], seed=3))}
    x = 2.0 + 3.0 * normal((7, *shape))
    y, _ = layer.apply(params, state, jnp.asarray(x), train=True)
    mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    expected = np.asarray(params["gamma"]) * (x - mu) / np.sqrt(var + 1e-3) + np.asarray(
        params["beta"])
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    # independent of the batch: the same in eval mode and for one example alone
    y_eval, _ = layer.apply(params, state, jnp.asarray(x), train=False)
    np.testing.assert_array_equal(y, y_eval)
    np.testing.assert_allclose(layer.apply(params, state, jnp.asarray(x[:1]))[0], y[:1],
                               rtol=1e-6, atol=1e-6)


def test_layernorm_textbook_value_and_errors():
    y, _ = nn.layernorm(eps=1e-12).apply({"gamma": jnp.ones(2), "beta": jnp.zeros(2)}, {},
                                         jnp.array([[1.0, 3.0]]))
    np.testing.assert_allclose(y, [[-1.0, 1.0]], rtol=1e-6)  # mean 2, std 1
    with pytest.raises(ValueError, match=r"layernorm: eps must be in \(0, inf\)"):
        nn.layernorm(eps=0.0)
    params, state, _ = nn.layernorm().init(KEY, (4, 3))
    with pytest.raises(nn.ShapeError, match=r"layernorm: expected input of shape "
                                            r"\(batch, \?, 3\), got \(2, 4, 2\)"):
        nn.layernorm().apply(params, state, jnp.ones((2, 4, 2)))
    assert nn.layernorm(gamma_init=initializers.normal(1.0)).uses_key


@pytest.mark.parity
@pytest.mark.parametrize("shape", [(6, 3), (5, 4, 3), (3, 2, 4, 3)])
def test_batchnorm_on_conv_outputs_uses_statistics_over_batch_and_space(shape):
    conv = nn.conv(3, 2)
    model = nn.serial(conv, nn.batchnorm(momentum=0.8, eps=1e-4))
    params, state, out = model.init(KEY, shape)
    bn_params = {"gamma": jnp.asarray(normal((3,), seed=2)),
                 "beta": jnp.asarray(normal((3,), seed=3))}
    params = (params[0], bn_params)
    x = jnp.asarray(1.0 + normal((8, *shape)))
    y, new_state = model.apply(params, state, x, train=True)
    h = np.asarray(conv.apply(params[0], {}, x)[0], np.float64)
    flat = h.reshape(-1, 3)  # every (example, position) is one sample of its channel
    mu, var = flat.mean(0), flat.var(0)
    expected = (np.asarray(bn_params["gamma"]) * (h - mu) / np.sqrt(var + 1e-4)
                + np.asarray(bn_params["beta"]))
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(new_state[1]["mean"], 0.2 * mu, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(new_state[1]["var"], 0.8 + 0.2 * var, rtol=1e-4)
    y_eval, _ = model.apply(params, new_state, x, train=False)
    running = new_state[1]
    np.testing.assert_allclose(
        y_eval, np.asarray(bn_params["gamma"]) * (h - np.asarray(running["mean"]))
        / np.sqrt(np.asarray(running["var"]) + 1e-4) + np.asarray(bn_params["beta"]),
        rtol=1e-4, atol=1e-4)


def test_dropout_per_channel_drops_whole_feature_maps():
    layer = nn.dropout(0.75, per_channel=True)
    assert layer.name == "dropout(keep_prob=0.75, per_channel=True)"
    drop = jax.jit(lambda inputs: layer.apply({}, {}, inputs, key=KEY, train=True)[0])
    x = jnp.ones((300, 3, 4, 8))
    y = np.asarray(drop(x))
    per_map = y.reshape(300, 12, 8)
    # each (example, channel) map is all kept (scaled by 1 / keep_prob) or all zero
    assert np.all((per_map == per_map[:, :1]).all(axis=1))
    np.testing.assert_allclose(np.unique(y), [0.0, 1 / 0.75], rtol=1e-6)
    assert abs((per_map[:, 0] != 0).mean() - 0.75) < 0.03  # 2400 maps
    assert abs(y.mean() - 1.0) < 0.04  # E[y] = x
    # entrywise dropout (the default) does not keep maps whole
    y_entry, _ = nn.dropout(0.75).apply({}, {}, x, key=KEY, train=True)
    entry_maps = np.asarray(y_entry).reshape(300, 12, 8)
    assert not np.all((entry_maps == entry_maps[:, :1]).all(axis=1))
    np.testing.assert_array_equal(layer.apply({}, {}, x, train=False)[0], x)
    # on (batch, features) one draw per entry, as plain dropout
    assert 0.7 < float(jnp.mean(drop(jnp.ones((1000, 10))) != 0)) < 0.8
    with pytest.raises(TypeError, match="dropout: per_channel must be True or False"):
        nn.dropout(0.5, per_channel="yes")
