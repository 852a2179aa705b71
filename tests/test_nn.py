"""Layers, combinators, keys and shape errors of jaxdl.nn."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from jaxdl import initializers, losses, nn

KEY = jax.random.key(0)


def init(layer, shape, key=KEY):
    params, state, out_shape = layer.init(key, shape)
    return params, state, out_shape


def batch(shape, n=6, seed=1):
    return jax.random.normal(jax.random.key(seed), (n, *shape))


# --- the layer zoo: one representative configuration per layer, with its input shape ---
LAYERS = {
    "dense": (nn.dense(4), (3,)),
    "maxout": (nn.maxout(4, k=3), (3,)),
    "linear": (nn.linear, (3,)),
    "sigmoid": (nn.sigmoid, (3,)),
    "tanh": (nn.tanh, (3,)),
    "relu": (nn.relu, (3,)),
    "leaky_relu": (nn.leaky_relu(0.1), (3,)),
    "step": (nn.step, (3,)),
    "sign": (nn.sign, (3,)),
    "softmax": (nn.softmax, (3,)),
    "log_softmax": (nn.log_softmax, (3,)),
    "dropout": (nn.dropout(0.7), (3,)),
    "batchnorm_2d": (nn.batchnorm(), (3,)),
    "batchnorm_4d": (nn.batchnorm(), (4, 4, 2)),
    "flatten": (nn.flatten, (2, 2, 2)),
    "serial": (nn.serial(nn.dense(5), nn.relu, nn.dense(2)), (3,)),
    "parallel": (nn.parallel(nn.dense(2), nn.dense(3), merge="concat"), (3,)),
    "residual": (nn.residual(nn.dense(3), nn.tanh), (3,)),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
@pytest.mark.parametrize("train", [False, True])
def test_every_layer_under_jit_and_vmap_over_stacked_params(name, train):
    layer, shape = LAYERS[name]
    x = batch(shape)
    keys = jnp.stack([jax.random.fold_in(KEY, i) for i in range(3)])
    params, state = jax.vmap(lambda k: layer.init(k, shape)[:2])(keys)

    def apply(p, s, k):
        return layer.apply(p, s, x, key=k, train=train)

    stacked_y, stacked_state = jax.jit(jax.vmap(apply))(params, state, keys)
    for i in range(3):
        member = jax.tree.map(lambda a: a[i], (params, state))
        y, new_state = layer.apply(*member, x, key=keys[i], train=train)
        np.testing.assert_allclose(stacked_y[i], y, rtol=1e-5, atol=1e-6)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a[i], b, rtol=1e-5, atol=1e-6),
                     stacked_state, new_state)
    out_shape = layer.init(KEY, shape)[2]
    assert stacked_y.shape == (3, x.shape[0], *out_shape)


def test_dense_is_affine_and_names_weights_and_biases():
    params, state, out = init(nn.dense(4), (3,))
    assert set(params) == {"w", "b"} and params["w"].shape == (3, 4) and out == (4,)
    assert state == {}
    x = batch((3,))
    y, _ = nn.dense(4).apply(params, state, x)
    np.testing.assert_allclose(y, np.asarray(x) @ np.asarray(params["w"]) + np.asarray(params["b"]),
                               rtol=1e-6)


def test_dense_uses_the_given_initializers():
    layer = nn.dense(2, w_init=initializers.constant(0.5), b_init=initializers.constant(-1.0))
    params, _, _ = init(layer, (3,))
    np.testing.assert_array_equal(params["w"], np.full((3, 2), 0.5))
    np.testing.assert_array_equal(params["b"], [-1.0, -1.0])


def test_maxout_takes_the_max_of_k_affine_pieces():
    layer = nn.maxout(4, k=3)
    params, state, out = init(layer, (5,))
    assert params["w"].shape == (3, 5, 4) and params["b"].shape == (3, 4) and out == (4,)
    params = {"w": params["w"], "b": jax.random.normal(KEY, (3, 4))}
    x = np.asarray(batch((5,)))
    y, _ = layer.apply(params, state, x)
    pieces = np.stack([x @ np.asarray(params["w"][j]) + np.asarray(params["b"][j])
                       for j in range(3)])
    np.testing.assert_allclose(y, pieces.max(axis=0), rtol=1e-5)
    assert not np.array_equal(params["w"][0], params["w"][1])  # pieces drawn independently


def test_activation_values_match_jax_nn():
    z = jnp.linspace(-6.0, 6.0, 25)
    np.testing.assert_allclose(nn.functional.sigmoid(z), jax.nn.sigmoid(z), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(nn.functional.tanh(z), np.tanh(z), rtol=1e-6)
    np.testing.assert_allclose(nn.functional.relu(z), np.maximum(z, 0))
    np.testing.assert_allclose(nn.functional.leaky_relu(z, 0.1), np.where(z > 0, z, 0.1 * z),
                               rtol=1e-6)
    np.testing.assert_array_equal(nn.functional.linear(z), z)


def test_relu_subgradient_at_zero_is_zero_as_jax_nn():
    z = jnp.array([-1.0, 0.0, 2.0])
    g = jax.vmap(jax.grad(nn.functional.relu))(z)
    np.testing.assert_array_equal(g, [0.0, 0.0, 1.0])  # jnp.maximum(z, 0) would give 0.5 at 0
    np.testing.assert_array_equal(g, jax.vmap(jax.grad(jax.nn.relu))(z))
    assert nn.functional.relu(jnp.bfloat16(-3.0)).dtype == jnp.bfloat16


def test_step_and_sign_are_the_threshold_units_and_have_zero_gradient():
    z = jnp.array([-2.0, -0.0, 0.0, 0.5, 3.0])
    np.testing.assert_array_equal(nn.functional.step(z), [0.0, 1.0, 1.0, 1.0, 1.0])  # 1 at z >= 0
    np.testing.assert_array_equal(nn.functional.sign(z), [-1.0, 0.0, 0.0, 1.0, 1.0])  # sign(0) = 0
    for fn in (nn.functional.step, nn.functional.sign):
        np.testing.assert_array_equal(jax.vmap(jax.grad(fn))(z), np.zeros(5))
    y, _ = nn.activation("step").apply({}, {}, jnp.array([[-1.0, 1.0]]))
    np.testing.assert_array_equal(y, [[0.0, 1.0]])
    y, _ = nn.activation("sign").apply({}, {}, jnp.array([[-4.0, 0.0]]))
    np.testing.assert_array_equal(y, [[-1.0, 0.0]])


def test_sigmoid_saturates_without_overflow():
    z = jnp.array([-1e4, -100.0, 0.0, 100.0, 1e4])
    s = nn.functional.sigmoid(z)
    np.testing.assert_allclose(s, [0.0, 0.0, 0.5, 1.0, 1.0], atol=1e-30)
    assert np.all(np.isfinite(jax.grad(lambda v: nn.functional.sigmoid(v).sum())(z)))


def test_softmax_textbook_value_and_stability():
    p, _ = nn.softmax.apply({}, {}, jnp.array([[3.2, 0.8, 0.0]]))
    np.testing.assert_allclose(p[0], [0.8838, 0.0802, 0.0360], atol=5e-5)
    big = nn.functional.softmax(jnp.array([1e4, 0.0, -1e4]))
    np.testing.assert_allclose(big, [1.0, 0.0, 0.0])
    log_p = nn.functional.log_softmax(jnp.array([1e4, 0.0]))
    np.testing.assert_allclose(log_p, [0.0, -1e4])
    np.testing.assert_allclose(nn.functional.softmax(jnp.arange(4.0) + 1000),
                               jax.nn.softmax(jnp.arange(4.0)), rtol=1e-6)


def test_dropout_is_inverted_and_keyed():
    layer = nn.dropout(0.8)
    x = jnp.ones((200, 500))
    y, _ = layer.apply({}, {}, x, key=KEY, train=True)
    kept = np.asarray(y) != 0
    assert abs(kept.mean() - 0.8) < 0.005
    np.testing.assert_allclose(np.asarray(y)[kept], 1 / 0.8, rtol=1e-6)
    assert abs(float(y.mean()) - 1.0) < 0.01  # E[y] = x
    y_again, _ = layer.apply({}, {}, x, key=KEY, train=True)
    np.testing.assert_array_equal(y, y_again)
    y_other, _ = layer.apply({}, {}, x, key=jax.random.key(9), train=True)
    assert not np.array_equal(y, y_other)
    y_eval, _ = layer.apply({}, {}, x, train=False)
    np.testing.assert_array_equal(y_eval, x)


def test_dropout_needs_a_key_in_training():
    with pytest.raises(ValueError, match="needs a PRNG key"):
        nn.dropout(0.5).apply({}, {}, jnp.ones((2, 3)), train=True)


@pytest.mark.parametrize("keep_prob", [0.0, -0.1, 1.5, float("nan")])
def test_dropout_rejects_keep_prob_outside_0_1(keep_prob):
    with pytest.raises(ValueError, match=r"keep_prob must be in \(0, 1\]"):
        nn.dropout(keep_prob)


def test_dropout_keep_prob_can_be_vmapped():
    x = jnp.ones((100, 100))

    def kept_fraction(keep_prob):
        y, _ = nn.dropout(keep_prob).apply({}, {}, x, key=KEY, train=True)
        return jnp.mean(y != 0)

    fractions = jax.jit(jax.vmap(kept_fraction))(jnp.array([0.2, 0.5, 1.0]))
    np.testing.assert_allclose(fractions, [0.2, 0.5, 1.0], atol=0.02)


@pytest.mark.parametrize("shape", [(5,), (4, 4, 3)])
def test_batchnorm_normalizes_in_training_and_tracks_running_stats(shape):
    layer = nn.batchnorm(momentum=0.9, eps=1e-5)
    params, state, out = init(layer, shape)
    assert out == shape
    np.testing.assert_array_equal(params["gamma"], np.ones(shape[-1]))
    np.testing.assert_array_equal(params["beta"], np.zeros(shape[-1]))
    x = 3.0 + 2.0 * batch(shape, n=64)
    y, new_state = layer.apply(params, state, x, train=True)
    axes = tuple(range(y.ndim - 1))
    np.testing.assert_allclose(y.mean(axis=axes), 0.0, atol=1e-5)
    np.testing.assert_allclose(y.var(axis=axes), 1.0, atol=1e-3)
    xs = np.asarray(x).reshape(-1, shape[-1])
    np.testing.assert_allclose(new_state["mean"], 0.1 * xs.mean(0), rtol=1e-5)
    np.testing.assert_allclose(new_state["var"], 0.9 + 0.1 * xs.var(0), rtol=1e-5)
    # evaluation uses the running statistics, not the batch
    y_eval, same_state = layer.apply(params, new_state, x, train=False)
    expected = (xs - np.asarray(new_state["mean"])) / np.sqrt(np.asarray(new_state["var"]) + 1e-5)
    np.testing.assert_allclose(np.asarray(y_eval).reshape(-1, shape[-1]), expected, rtol=1e-4)
    assert same_state is new_state


def test_batchnorm_applies_gamma_and_beta():
    layer = nn.batchnorm()
    _, state, _ = init(layer, (2,))
    params = {"gamma": jnp.array([2.0, 0.5]), "beta": jnp.array([1.0, -1.0])}
    x = jnp.array([[0.0, 0.0], [2.0, 4.0]])
    y, _ = layer.apply(params, state, x, train=True)
    x_hat = np.array([[-1.0, -1.0], [1.0, 1.0]]) * np.sqrt(np.array([1.0, 4.0]) /
                                                            (np.array([1.0, 4.0]) + 1e-5))
    np.testing.assert_allclose(y, x_hat * [2.0, 0.5] + [1.0, -1.0], rtol=1e-5)


def test_flatten():
    x = batch((2, 3, 4))
    y, _ = nn.flatten.apply({}, {}, x)
    assert nn.flatten.init(None, (2, 3, 4))[2] == (24,)
    np.testing.assert_array_equal(y, np.asarray(x).reshape(6, 24))


def test_serial_composes_in_order():
    model = nn.serial(nn.dense(4), nn.relu, nn.dense(2))
    params, state, out = init(model, (3,))
    assert out == (2,)
    x = batch((3,))
    h = np.maximum(np.asarray(x) @ params[0]["w"] + params[0]["b"], 0)
    y, _ = model.apply(params, state, x)
    np.testing.assert_allclose(y, h @ params[2]["w"] + params[2]["b"], rtol=1e-5)


def test_parallel_fans_out_and_merges():
    branches = (nn.dense(2), nn.dense(3))
    x = batch((4,))
    params, state, shapes = init(nn.parallel(*branches), (4,))
    assert shapes == ((2,), (3,))
    (a, b), _ = nn.parallel(*branches).apply(params, state, x)
    concat, _ = nn.parallel(*branches, merge="concat").apply(params, state, x)
    np.testing.assert_allclose(concat, np.concatenate([a, b], axis=-1))
    same = (nn.dense(3), nn.dense(3))
    p2, s2, shape2 = init(nn.parallel(*same, merge="sum"), (4,))
    assert shape2 == (3,)
    total, _ = nn.parallel(*same, merge="sum").apply(p2, s2, x)
    parts = [x @ p["w"] + p["b"] for p in p2]
    np.testing.assert_allclose(total, parts[0] + parts[1], rtol=1e-5)
    with pytest.raises(nn.ShapeError, match="branch output shapes differ"):
        init(nn.parallel(*branches, merge="sum"), (4,))


def test_residual_adds_the_bypass():
    model = nn.residual(nn.dense(3), nn.tanh)
    params, state, out = init(model, (3,))
    x = batch((3,))
    y, _ = model.apply(params, state, x)
    np.testing.assert_allclose(y, x + np.tanh(x @ params[0]["w"] + params[0]["b"]), rtol=1e-5)
    with pytest.raises(nn.ShapeError, match=r"maps shape \(3,\) to \(4,\)"):
        nn.residual(nn.dense(4)).init(KEY, (3,))


def test_inserting_deterministic_layers_keeps_other_layers_randomness():
    plain = nn.serial(nn.dense(5), nn.dropout(0.5), nn.dense(3))
    padded = nn.serial(nn.flatten, nn.dense(5), nn.relu, nn.batchnorm(), nn.dropout(0.5),
                       nn.linear, nn.dense(3))
    p_plain, _, _ = plain.init(KEY, (4,))
    p_pad, _, _ = padded.init(KEY, (4,))
    np.testing.assert_array_equal(p_plain[0]["w"], p_pad[1]["w"])
    np.testing.assert_array_equal(p_plain[2]["w"], p_pad[6]["w"])
    # the dropout mask does not move either: same outputs in training mode
    short = nn.serial(nn.dense(5), nn.dropout(0.5))
    long = nn.serial(nn.linear, nn.dense(5), nn.linear, nn.dropout(0.5), nn.linear)
    p_short, _, _ = short.init(KEY, (4,))
    p_long, s_long, _ = long.init(KEY, (4,))
    x = batch((4,), n=50)
    key = jax.random.key(3)
    y_short, _ = short.apply(p_short, ((), ()), x, key=key, train=True)
    y_long, _ = long.apply(p_long, s_long, x, key=key, train=True)
    np.testing.assert_array_equal(y_short, y_long)
    assert 0 < float(jnp.mean(y_short == 0)) < 1  # dropout really dropped something


def test_inserting_or_removing_dropout_leaves_every_other_init_unchanged():
    # issue 18: dropout draws only when applied, so it takes no init sub-key
    bare = nn.serial(nn.flatten, nn.dense(6), nn.relu, nn.dense(5), nn.dense(3))
    ablated = nn.serial(nn.dropout(0.8), nn.flatten, nn.dense(6), nn.relu, nn.dropout(0.5),
                        nn.dense(5), nn.dropout(0.5), nn.dense(3))
    p_bare, _, _ = bare.init(KEY, (4,))
    p_drop, _, _ = ablated.init(KEY, (4,))
    for i, j in ((1, 2), (3, 5), (4, 7)):
        np.testing.assert_array_equal(p_bare[i]["w"], p_drop[j]["w"])
    nested = nn.serial(nn.serial(nn.dropout(0.5)), nn.dense(5))
    np.testing.assert_array_equal(nested.init(KEY, (4,))[0][1]["w"],
                                  nn.serial(nn.dense(5)).init(KEY, (4,))[0][0]["w"])
    assert not nn.dropout(0.5).draws_at_init and nn.dropout(0.5).uses_key


def test_same_key_same_params_different_key_different_params():
    model = LAYERS["serial"][0]
    a, _, _ = model.init(KEY, (3,))
    b, _, _ = model.init(KEY, (3,))
    c, _, _ = model.init(jax.random.key(1), (3,))
    jax.tree.map(np.testing.assert_array_equal, a, b)
    assert not np.array_equal(a[0]["w"], c[0]["w"])


def test_init_shape_errors_name_the_layer_and_both_shapes():
    with pytest.raises(nn.ShapeError, match=r"layer 0 \(dense\(3\)\).*expected input shape "
                                            r"\(features,\) or \(steps, features\), got "
                                            r"\(8, 8, 1\); put nn.flatten"):
        nn.serial(nn.dense(3), nn.relu).init(KEY, (8, 8, 1))  # an image needs flatten first
    with pytest.raises(nn.ShapeError, match=r"maxout.*expected input shape \(features,\)"):
        nn.maxout(3).init(KEY, (8, 8))
    with pytest.raises(nn.ShapeError, match="input_shape must be a tuple of positive ints"):
        nn.dense(3).init(KEY, 5)


def test_apply_shape_errors_name_the_layer_and_both_shapes():
    model = nn.serial(nn.dense(4), nn.relu, nn.dense(2))
    params, state, _ = init(model, (3,))
    with pytest.raises(nn.ShapeError, match=r"layer 0 \(dense\(4\)\).*expected input of shape "
                                            r"\(batch, 3\), got \(6, 5\)"):
        model.apply(params, state, batch((5,)))
    with pytest.raises(nn.ShapeError, match=r"got \(3,\)"):  # forgot the batch axis
        model.apply(params, state, jnp.ones(3))
    bn = nn.batchnorm()
    bn_params, bn_state, _ = init(bn, (4, 4, 3))
    with pytest.raises(nn.ShapeError, match=r"batchnorm: expected input of shape "
                                            r"\(batch, \?, \?, 3\), got \(2, 4, 4, 2\)"):
        bn.apply(bn_params, bn_state, jnp.ones((2, 4, 4, 2)))


def test_combinators_refuse_params_or_state_that_do_not_match_their_children():
    model = nn.serial(nn.dense(4), nn.relu, nn.dense(2))
    params, state, _ = init(model, (3,))
    x = batch((3,))
    with pytest.raises(ValueError, match=r"serial.apply: state must be a tuple with one entry "
                                         r"per child layer \(3\).*got \{\}"):
        model.apply(params, {}, x)  # zip would skip every layer and return x
    with pytest.raises(ValueError, match="serial.apply: params .* got a tuple of length 2"):
        model.apply(params[:2], state, x)
    fan = nn.parallel(nn.dense(2), nn.dense(3))
    fan_params, fan_state, _ = init(fan, (3,))
    with pytest.raises(ValueError, match="parallel.apply: state"):
        fan.apply(fan_params, fan_state[:1], x)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="dense: units must be an integer >= 1"):
        nn.dense(0)
    with pytest.raises(TypeError, match="dense: units must be an integer"):
        nn.dense(2.5)
    with pytest.raises(TypeError, match="did you forget to call it"):
        nn.serial(nn.dense)
    with pytest.raises(ValueError, match=r"momentum must be in \[0, 1\)"):
        nn.batchnorm(momentum=1.0)
    with pytest.raises(ValueError, match="merge must be one of"):
        nn.parallel(nn.relu, merge="max")


def test_weights_only_marks_w_leaves():
    params, _, _ = init(nn.serial(nn.dense(3), nn.batchnorm(), nn.maxout(2)), (4,))
    mask = nn.weights_only(params)
    assert mask[0] == {"w": True, "b": False}
    assert mask[1] == {"gamma": False, "beta": False}
    assert mask[2] == {"w": True, "b": False}


def test_network_gradients_match_central_differences_in_float64():
    model = nn.serial(nn.dense(5, w_init=initializers.he_normal()), nn.tanh,
                      nn.maxout(4, k=2), nn.batchnorm(), nn.leaky_relu(0.1),
                      nn.residual(nn.dense(4), nn.sigmoid), nn.dense(3))
    with jax.enable_x64(True):
        params, state, _ = model.init(KEY, (6,))
        params = jax.tree.map(lambda a: a.astype(jnp.float64), params)
        x = jax.random.normal(jax.random.key(2), (10, 6), dtype=jnp.float64)
        labels = jnp.arange(10) % 3

        def loss(p):
            logits, _ = model.apply(p, state, x, train=True)
            return losses.softmax_cross_entropy(logits, labels)

        flat, unravel = ravel_pytree(params)
        analytic = ravel_pytree(jax.jit(jax.grad(loss))(params))[0]
        eps = 1e-6
        basis = jnp.eye(flat.size, dtype=jnp.float64)
        numeric = jax.jit(jax.vmap(lambda e: (loss(unravel(flat + eps * e)) -
                                              loss(unravel(flat - eps * e))) / (2 * eps)))(basis)
        rel = jnp.linalg.norm(numeric - analytic) / (jnp.linalg.norm(numeric) +
                                                     jnp.linalg.norm(analytic))
        assert analytic.dtype == jnp.float64
    assert float(rel) < 1e-6, float(rel)


def test_dense_acts_on_the_last_axis_of_a_sequence():
    layer = nn.dense(4)
    params, state, out = init(layer, (5, 3))  # (steps, features)
    assert out == (5, 4) and params["w"].shape == (3, 4)
    x = np.asarray(batch((5, 3), n=2))
    y, _ = layer.apply(params, state, jnp.asarray(x))
    expected = np.einsum("ntd,du->ntu", x, np.asarray(params["w"])) + np.asarray(params["b"])
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)
    y_longer, _ = layer.apply(params, state, jnp.ones((2, 7, 3)))  # any number of steps
    assert y_longer.shape == (2, 7, 4)
    with pytest.raises(nn.ShapeError, match=r"dense\(4\): expected input of shape "
                                            r"\(batch, \?, 3\), got \(2, 5, 2\)"):
        layer.apply(params, state, jnp.ones((2, 5, 2)))
    with pytest.raises(nn.ShapeError, match=r"got \(2, 4, 4, 3\)"):  # an image batch
        layer.apply(params, state, jnp.ones((2, 4, 4, 3)))


def test_dense_without_bias_is_linear():
    layer = nn.dense(3, use_bias=False)
    params, state, out = init(layer, (4,))
    assert set(params) == {"w"} and out == (3,)
    params_with_bias, _, _ = init(nn.dense(3), (4,))
    np.testing.assert_array_equal(params["w"], params_with_bias["w"])  # same key for W
    x = batch((4,))
    y, _ = layer.apply(params, state, x)
    np.testing.assert_allclose(y, np.asarray(x) @ np.asarray(params["w"]), rtol=1e-6)
    assert nn.weights_only(params) == {"w": True}


def test_reshape_is_the_layer_and_infers_one_axis():
    model = nn.serial(nn.reshape((8, 8)), nn.reshape((-1,)))
    params, state, shape = model.init(KEY, (64,))
    x = jnp.arange(128.0).reshape(2, 64)
    y, _ = nn.reshape((4, -1)).apply({}, {}, x)
    assert shape == (64,) and y.shape == (2, 4, 16)
    np.testing.assert_array_equal(y, np.arange(128.0).reshape(2, 4, 16))
    assert nn.reshape((4, -1)).init(KEY, (8, 8))[2] == (4, 16)
    with pytest.raises(nn.ShapeError, match=r"reshape\(\(5, 5\)\): cannot reshape .*\(64,\)"):
        nn.reshape((5, 5)).init(KEY, (64,))
    with pytest.raises(ValueError, match="at most one -1"):
        nn.reshape((-1, -1))
