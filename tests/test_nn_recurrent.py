"""Embedding and the recurrent layers (rnn, gru, lstm) against hand-written numpy step
equations, masks for padded sequences, init, gradients, and a masked GRU trained by fit."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import data, diagnostics, losses, nn, optim, train

KEY = jax.random.key(0)


def normal(shape, seed=1):
    return np.asarray(jax.random.normal(jax.random.key(seed), shape), np.float64)


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def numpy_recurrent(kind, params, x, mask):
    """The textbook step equations, one gate at a time (blocks of H columns)."""
    p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
    w, b, u = p["input"]["w"], p["input"]["b"], p["hidden"]["w"]
    hidden = u.shape[0]
    block = lambda m, g: m[..., g * hidden:(g + 1) * hidden]  # noqa: E731
    h = np.zeros((x.shape[0], hidden))
    c = np.zeros_like(h)
    outputs = []
    for t in range(x.shape[1]):
        xt = x[:, t]
        if kind == "rnn":
            h_new, c_new = np.tanh(xt @ w + b + h @ u), c
        elif kind == "gru":
            r = sigmoid(xt @ block(w, 0) + block(b, 0) + h @ block(u, 0))
            z = sigmoid(xt @ block(w, 1) + block(b, 1) + h @ block(u, 1))
            n = np.tanh(xt @ block(w, 2) + block(b, 2) + r * (h @ block(u, 2) + p["hidden"]["b"]))
            h_new, c_new = (1 - z) * n + z * h, c
        else:
            i = sigmoid(xt @ block(w, 0) + block(b, 0) + h @ block(u, 0))
            f = sigmoid(xt @ block(w, 1) + block(b, 1) + h @ block(u, 1))
            g = np.tanh(xt @ block(w, 2) + block(b, 2) + h @ block(u, 2))
            o = sigmoid(xt @ block(w, 3) + block(b, 3) + h @ block(u, 3))
            c_new = f * c + i * g
            h_new = o * np.tanh(c_new)
        keep = mask[:, t:t + 1]
        h, c = np.where(keep, h_new, h), np.where(keep, c_new, c)
        outputs.append(h)
    return np.stack(outputs, axis=1)


LAYERS = {"rnn": nn.rnn, "gru": nn.gru, "lstm": nn.lstm}


def random_params(params, seed=3):
    """Every leaf redrawn (biases too, so each bias term is tested)."""
    leaves, tree = jax.tree.flatten(params)
    return tree.unflatten([0.5 * jnp.asarray(normal(leaf.shape, seed + i), jnp.float32)
                           for i, leaf in enumerate(leaves)])


@pytest.mark.parity
@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_recurrent_layers_match_the_numpy_step_equations(kind):
    layer = LAYERS[kind](5, return_sequences=True)
    params, state, out = layer.init(KEY, (7, 3))
    assert out == (7, 5)
    gates = {"rnn": 1, "gru": 3, "lstm": 4}[kind]
    assert params["input"]["w"].shape == (3, gates * 5)
    assert params["hidden"]["w"].shape == (5, gates * 5)
    params = random_params(params)
    x = normal((4, 7, 3))
    mask = np.ones((4, 7), bool)
    mask[1, 5:] = False   # padded at the end
    mask[2, 2] = False    # a hole in the middle
    mask[3, :] = False    # all padding: the state stays 0
    expected = numpy_recurrent(kind, params, x, mask)
    y, _ = layer.apply(params, state, (jnp.asarray(x, jnp.float32), jnp.asarray(mask)))
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(y[3], 0.0)
    unmasked, _ = layer.apply(params, state, jnp.asarray(x, jnp.float32))
    np.testing.assert_allclose(unmasked, numpy_recurrent(kind, params, x, np.ones((4, 7), bool)),
                               rtol=1e-5, atol=1e-5)
    last = LAYERS[kind](5)  # return_sequences=False: the last state
    assert last.init(KEY, (7, 3))[2] == (5,)
    y_last, _ = last.apply(params, state, (jnp.asarray(x, jnp.float32), jnp.asarray(mask)))
    np.testing.assert_allclose(y_last, expected[:, -1], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_padding_does_not_change_the_last_state(kind):
    layer = LAYERS[kind](4)
    params, state, _ = layer.init(KEY, (3, 2))
    x = jnp.asarray(normal((1, 3, 2)), jnp.float32)
    alone, _ = layer.apply(params, state, x)
    padded = jnp.concatenate([x, jnp.full((1, 4, 2), 9.0)], axis=1)  # 4 steps of garbage
    mask = jnp.array([[True] * 3 + [False] * 4])
    y, _ = layer.apply(params, state, (padded, mask))
    np.testing.assert_allclose(y, alone, rtol=1e-6, atol=1e-6)
    unmasked, _ = layer.apply(params, state, padded)
    assert not np.allclose(unmasked, alone, atol=1e-3)  # without the mask the garbage counts


def test_recurrent_init_forget_bias_orthogonal_blocks_and_keys():
    params, _, _ = nn.lstm(4).init(KEY, (5, 3))
    np.testing.assert_array_equal(params["input"]["b"],
                                  np.r_[np.zeros(4), np.ones(4), np.zeros(8)])  # [i, f, g, o]
    assert set(params["hidden"]) == {"w"}
    np.testing.assert_array_equal(nn.lstm(4, forget_bias=0.0).init(KEY, (5, 3))[0]["input"]["b"],
                                  np.zeros(16))
    gru_params, _, _ = nn.gru(6).init(KEY, (5, 3))
    assert gru_params["hidden"]["b"].shape == (6,)
    u = np.asarray(gru_params["hidden"]["w"])
    for g in range(3):
        block = u[:, 6 * g:6 * (g + 1)]
        np.testing.assert_allclose(block.T @ block, np.eye(6), atol=1e-5)
    assert not np.allclose(u[:, :6], u[:, 6:12])  # each gate its own draw
    w = np.asarray(gru_params["input"]["w"])
    assert abs(w.var() * 3 - 1) < 0.5  # LeCun normal: Var = 1 / fan_in (54 draws)
    # the weights are named w (regularizers and monitors see both kernels), biases are not
    assert nn.weights_only(gru_params) == {"input": {"w": True, "b": False},
                                           "hidden": {"w": True, "b": False}}


def test_recurrent_errors():
    with pytest.raises(nn.ShapeError, match=r"gru\(4\): expected input shape \(steps, "
                                            r"features\), got \(3,\)"):
        nn.gru(4).init(KEY, (3,))
    with pytest.raises(TypeError, match="return_sequences must be True or False"):
        nn.rnn(4, return_sequences=1)
    with pytest.raises(ValueError, match="lstm: hidden must be an integer >= 1"):
        nn.lstm(0)
    params, state, _ = nn.rnn(4).init(KEY, (5, 3))
    with pytest.raises(nn.ShapeError, match=r"mask shape \(2, 4\) must be \(batch, steps\)"):
        nn.rnn(4).apply(params, state, (jnp.ones((2, 5, 3)), jnp.ones((2, 4), bool)))
    with pytest.raises(nn.ShapeError, match=r"rnn\(4\): expected input of shape "
                                            r"\(batch, \?, 3\), got \(2, 5, 2\)"):
        nn.rnn(4).apply(params, state, jnp.ones((2, 5, 2)))


def test_embedding_looks_up_rows_and_marks_padding():
    layer = nn.embedding(6, 3)
    params, state, out = layer.init(KEY, (4,))
    assert out == (4, 3) and params["w"].shape == (6, 3)
    ids = jnp.array([[0, 5, 2, 2], [1, 1, 3, 4]])
    y, _ = layer.apply(params, state, ids)
    np.testing.assert_array_equal(y, np.asarray(params["w"])[np.asarray(ids)])
    np.testing.assert_allclose(np.eye(6)[np.asarray(ids)] @ np.asarray(params["w"]), y)  # one-hot
    big = np.asarray(nn.embedding(1000, 64).init(KEY, (1,))[0]["w"])
    assert abs(big.std() - 1.0) < 0.02  # N(0, 1)
    bad, _ = layer.apply(params, state, jnp.array([[6, -1, 0, 1]]))
    assert np.all(np.isnan(bad[0, :2])) and np.all(np.isfinite(bad[0, 2:]))
    as_floats, _ = layer.apply(params, state, ids.astype(jnp.float32))  # as Dataset stores x
    np.testing.assert_array_equal(as_floats, y)
    fractional, _ = layer.apply(params, state, jnp.array([[0.5, 2.0, jnp.nan, 1e10]]))
    assert np.isfinite(fractional[0, 1]).all() and np.isnan(fractional[0, [0, 2, 3]]).all()
    padded = nn.embedding(6, 3, pad_id=0)
    p, s, shapes = padded.init(KEY, (4,))
    assert shapes == ((4, 3), (4,))
    (vectors, mask), _ = padded.apply(p, s, ids)
    np.testing.assert_array_equal(mask, [[False, True, True, True], [True] * 4])
    np.testing.assert_array_equal(vectors, y)
    with pytest.raises(TypeError, match="embedding.*integer token ids, got .*bool"):
        layer.apply(params, state, jnp.ones((2, 4), bool))
    with pytest.raises(ValueError, match=r"pad_id must be in \[0, vocab=6\), got 6"):
        nn.embedding(6, 3, pad_id=6)


def test_embedding_and_recurrent_layers_gradients_in_float64():
    model = nn.serial(nn.embedding(5, 3, pad_id=0), nn.gru(4, return_sequences=True),
                      nn.rnn(3, return_sequences=True), nn.lstm(3), nn.dense(2))
    ids = jnp.array([[1, 2, 3, 0, 0], [4, 1, 1, 2, 3], [2, 0, 4, 3, 0]])
    params, state, _ = model.init(KEY, (5,))
    report = diagnostics.check_model_gradients(model, params, state, ids, jnp.array([0, 1, 1]))
    assert report.verdict == "correct" and report.max_relative_error < 1e-7, report
    embedding_grad = next(leaf for leaf in report.leaves if leaf.name == "0:embedding(5, 3)/w")
    assert embedding_grad.analytic_norm > 0


def last_token_task(n, seed):
    """Sequences of tokens 1..3 of length 2..8, padded with 0 at the end; the label is the
    last real token: with the mask the last state has just seen it, without it 0s follow."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, 9, n)
    ids = rng.integers(1, 4, (n, 8))
    ids[np.arange(8) >= lengths[:, None]] = 0
    return data.from_arrays(ids.astype(np.int32), ids[np.arange(n), lengths - 1] - 1)


def test_a_masked_gru_learns_the_last_token_with_fit():
    splits = data.Splits(last_token_task(384, 0), last_token_task(128, 1), last_token_task(128, 2))
    model = nn.serial(nn.embedding(4, 8, pad_id=0), nn.gru(16), nn.dense(3))
    result = train.fit(model, optim.adam(3e-2), losses.softmax_cross_entropy, splits, key=KEY,
                       epochs=6, batch_size=32, verbose=False)
    assert result.history["train_loss"][-1] < 0.3 * result.history["train_loss"][0]
    assert result.final["test"]["accuracy"] > 0.95, result.final
