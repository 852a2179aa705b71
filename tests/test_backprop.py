"""The lecture's backpropagation by hand (numpy) equals jax.grad of the same jaxdl MLP."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import losses, nn
from jaxdl.diagnostics import backprop

KEY = jax.random.key(0)


def _mlp(activation):
    g = nn.activation(activation)
    return nn.serial(nn.dense(6), g, nn.dense(5), g, nn.dense(3))


@pytest.mark.parity
@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "linear"])
def test_mlp_backprop_equals_jax_grad_in_float64(activation):
    model = _mlp(activation)
    with jax.enable_x64(True):
        params, state, _ = model.init(KEY, (4,))
        params = jax.tree.map(lambda p: p.astype(jnp.float64) + 0.1, params)  # nonzero biases
        x = jax.random.normal(jax.random.fold_in(KEY, 1), (7, 4), jnp.float64)
        y = jnp.array([0, 1, 2, 0, 1, 2, 2])

        def loss(p):
            return losses.softmax_cross_entropy(model.apply(p, state, x)[0], y)

        value, grads = jax.value_and_grad(loss)(params)
    ours = backprop.mlp_backprop(params, np.asarray(x), np.asarray(y), activation=activation)
    assert ours.loss == pytest.approx(float(value), rel=1e-13)
    assert [sorted(layer) for layer in ours.grads] == [sorted(layer) for layer in grads]
    for mine, theirs in zip(ours.grads, grads):
        for name in mine:
            assert mine[name].shape == theirs[name].shape
            np.testing.assert_allclose(mine[name], theirs[name], rtol=1e-10, atol=1e-14)
    assert any(np.abs(layer["w"]).max() > 1e-3 for layer in ours.grads if layer)  # not trivial


def test_output_gradient_is_minus_e_y_minus_f():
    # one dense layer: grad a = -(e(y) - softmax(a)) / N, grad W = x^T grad a, grad b = sum
    params = [{"w": np.array([[1.0, -1.0, 0.0]]), "b": np.zeros(3)}]
    x, y = np.array([[2.0], [0.0]]), np.array([0, 2])
    f = np.exp([[2.0, -2.0, 0.0], [0.0, 0.0, 0.0]])
    f /= f.sum(axis=1, keepdims=True)
    grad_a = -(np.eye(3)[y] - f) / 2
    result = backprop.mlp_backprop(params, x, y)
    np.testing.assert_allclose(result.grads[0]["b"], grad_a.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(result.grads[0]["w"], x.T @ grad_a, rtol=1e-12)
    np.testing.assert_allclose(result.grads[0]["b"][2], (f[0, 2] + f[1, 2] - 1) / 2, rtol=1e-12)
    assert result.loss == pytest.approx(-(np.log(f[0, 0]) + np.log(f[1, 2])) / 2, rel=1e-12)


@pytest.mark.parity
@pytest.mark.parametrize("name", ["linear", "sigmoid", "tanh", "relu"])
def test_closed_form_activation_derivatives_equal_jax_grad(name):
    z = np.array([-5.0, -1.0, -1e-3, 0.0, 1e-3, 0.7, 4.0])
    fn = getattr(nn.functional, name)
    with jax.enable_x64(True):
        expected = np.asarray(jax.vmap(jax.grad(fn))(jnp.asarray(z, jnp.float64)))
    np.testing.assert_allclose(backprop.activation_derivative(name, z), expected,
                               rtol=1e-12, atol=1e-15)


def test_closed_form_hand_values():
    s = 1 / (1 + np.exp(-0.5))
    np.testing.assert_allclose(backprop.activation_derivative("sigmoid", [0.0, 0.5]),
                               [0.25, s * (1 - s)], rtol=1e-12)
    np.testing.assert_allclose(backprop.activation_derivative("tanh", [0.0, 1.0]),
                               [1.0, 1 - np.tanh(1.0) ** 2], rtol=1e-12)
    np.testing.assert_array_equal(backprop.activation_derivative("relu", [-2.0, 0.0, 3.0]),
                                  [0.0, 0.0, 1.0])


def test_bad_inputs_are_named():
    params = [{"w": np.ones((2, 3)), "b": np.zeros(3)}]
    with pytest.raises(ValueError, match="mlp_backprop: activation must be one of"):
        backprop.mlp_backprop(params, np.ones((1, 2)), np.array([0]), activation="elu")
    with pytest.raises(ValueError, match=r"mlp_backprop: y must be integer class indices"):
        backprop.mlp_backprop(params, np.ones((2, 2)), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"mlp_backprop: params\[1\] must be a dense layer"):
        backprop.mlp_backprop(params + [{"gamma": np.ones(3)}], np.ones((1, 2)), np.array([0]))
