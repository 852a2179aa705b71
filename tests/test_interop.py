"""Interoperability (issue 18): optax's argument names for jaxdl's optimizers, plain
optax-style losses (no `reduction`) in fit and the ensembles, and own (x, y) arrays with
regression targets in the data helpers."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxdl import data, ensemble, losses, nn, optim, train

KEY = jax.random.key(0)
PARAMS = {"w": jnp.array([1.0, -2.0, 0.5])}
GRADS = {"w": jnp.array([0.3, -0.1, 0.2])}


def steps(opt, count=3):
    state, params = opt.init(PARAMS), PARAMS
    for _ in range(count):
        updates, state = opt.update(GRADS, state, params)
        params = optax.apply_updates(params, updates)
    return params["w"]


@pytest.mark.parametrize("make, optax_kwargs, jaxdl_args", [
    (optim.sgd, dict(learning_rate=0.1), (0.1,)),
    (optim.momentum, dict(learning_rate=0.1, momentum=0.5), (0.1, 0.5)),
    (optim.nesterov, dict(learning_rate=0.1, momentum=0.5), (0.1, 0.5)),
    (optim.adagrad, dict(learning_rate=0.1), (0.1,)),
    (optim.rmsprop, dict(learning_rate=0.1), (0.1,)),
    (optim.adam, dict(learning_rate=0.1, b1=0.8), (0.1, 0.8))])
def test_optax_argument_names_and_inject_hyperparams(make, optax_kwargs, jaxdl_args):
    expected = steps(make(*jaxdl_args))
    np.testing.assert_allclose(steps(make(**optax_kwargs)), expected, rtol=1e-6)
    injected = optax.inject_hyperparams(make)(**optax_kwargs)
    np.testing.assert_allclose(steps(injected), expected, rtol=1e-5)  # float32 hyperparams


def test_adam_under_inject_hyperparams_matches_optax_adam():
    ours = optax.inject_hyperparams(optim.adam)(learning_rate=1e-2)
    theirs = optax.adam(1e-2, eps_root=0.0)
    np.testing.assert_allclose(steps(ours, 5), steps(theirs, 5), rtol=1e-6)
    state = ours.init(PARAMS)
    assert float(state.hyperparams["learning_rate"]) == pytest.approx(1e-2)


def test_both_names_or_none_are_refused():
    with pytest.raises(TypeError, match="adam: give lr or its optax name learning_rate, not"):
        optim.adam(0.1, learning_rate=0.1)
    with pytest.raises(TypeError, match=r"sgd: missing argument lr \(or optax's learning_rate"):
        optim.sgd()
    with pytest.raises(TypeError, match="momentum: give mu or its optax name momentum"):
        optim.momentum(0.1, 0.9, momentum=0.9)
    with pytest.raises(ValueError, match="sgd: lr must be in"):  # the value is still checked
        optim.sgd(learning_rate=-1.0)


def test_a_plain_batch_mean_loss_gets_a_clear_error_and_per_example_wraps_it(blob_splits):
    def plain(outputs, labels):  # optax style: no reduction, a mean over the batch
        return optax.softmax_cross_entropy_with_integer_labels(outputs, labels).mean()
    model = nn.serial(nn.dense(8), nn.relu, nn.dense(3))
    options = dict(key=KEY, epochs=2, batch_size=50, verbose=False)  # 120 = 2 x 50 + 20
    with pytest.raises(TypeError, match=r"fit: loss takes no reduction= argument.*"
                                        r"losses.per_example\(loss\)"):
        train.fit(model, optim.adam(1e-2), plain, blob_splits, **options)
    with pytest.raises(TypeError, match="ensemble.fit: loss takes no reduction="):
        ensemble.fit(model, optim.adam(1e-2), plain, blob_splits, members=2, **options)
    wrapped = losses.per_example(plain)
    logits = jax.random.normal(KEY, (5, 3))
    labels = jnp.array([0, 2, 1, 1, 0])
    np.testing.assert_allclose(wrapped(logits, labels, reduction="none"),
                               losses.softmax_cross_entropy(logits, labels, reduction="none"),
                               rtol=1e-5)
    assert float(wrapped(logits, labels)) == pytest.approx(float(plain(logits, labels)))
    # the padded last batch is masked, so training equals jaxdl's own loss
    ours = train.fit(model, optim.adam(1e-2), losses.softmax_cross_entropy, blob_splits,
                     **options)
    theirs = train.fit(model, optim.adam(1e-2), wrapped, blob_splits, **options)
    np.testing.assert_allclose(theirs.history["train_loss"], ours.history["train_loss"],
                               rtol=1e-5)


def test_data_helpers_take_array_pairs_with_regression_targets():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 3)).astype(np.float32)
    y = (x @ np.array([[1.0], [2.0], [-1.0]])).astype(np.float32)  # (N, 1) float targets
    parts = data.split((x, y), (0.8, 0.2), key=jax.random.key(0))  # was "2 examples"
    assert (len(parts.train), len(parts.dev), parts.test) == (80, 20, None)
    np.testing.assert_array_equal(np.sort(np.concatenate([parts.train.y, parts.dev.y]), 0),
                                  np.sort(y, 0))  # a partition of the targets, unchanged
    flat = data.from_arrays(x, y[:, 0])
    assert flat.y.dtype == np.float32 and flat.info.classes == ()
    new, stats = data.preprocess_splits(data.Splits((x, y), (x[:10], y[:10])), "standardize")
    np.testing.assert_allclose(new.dev.x, (x[:10] - x.mean(0)) / x.std(0), rtol=1e-4,
                               atol=1e-5)
    np.testing.assert_array_equal(new.dev.y, y[:10])
