"""ensemble.cross_validate: the k folds of data.kfold as k members of one program."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import data, ensemble, losses, nn, optim, train


def _problem(n=60, features=5, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype(np.float32)
    y = (np.argmax(x[:, :classes], axis=1)).astype(np.int32)
    return data.from_arrays(x, y)


MODEL = nn.serial(nn.dense(8), nn.relu, nn.dense(3))
OPTIONS = dict(epochs=3, batch_size=8, verbose=False)


@pytest.mark.parity
def test_each_fold_equals_a_solo_fit_on_its_split():
    ds, key = _problem(), jax.random.key(7)
    opt = optim.adam(0.01)
    cv = ensemble.cross_validate(MODEL, opt, losses.softmax_cross_entropy, ds, 3, key=key,
                                 **OPTIONS)
    pairs = data.kfold(ds, 3, key=jax.random.fold_in(key, ensemble.FOLDS))
    for i, (fold_train, fold_dev) in enumerate(pairs):
        solo = train.fit(MODEL, opt, losses.softmax_cross_entropy, (fold_train, fold_dev),
                         key=jax.random.fold_in(key, i), **OPTIONS)
        row = cv.table[i]
        assert (row["train_size"], row["dev_size"]) == (40, 20)
        for name in ("train_loss", "dev_loss", "dev_accuracy", "train_accuracy"):
            np.testing.assert_allclose(row[name], solo.history[name][-1], rtol=1e-5,
                                       atol=1e-6, err_msg=f"fold {i} {name}")
        params = jax.tree.map(lambda a: a[i], cv.result.params)
        for got, want in zip(jax.tree.leaves(params), jax.tree.leaves(solo.params)):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_mean_and_std_are_those_of_the_table_and_folds_cover_the_data():
    ds, key = _problem(n=62), jax.random.key(1)  # 62 = 13 + 13 + 12 + 12 + 12
    cv = ensemble.cross_validate(MODEL, optim.sgd(0.1), losses.softmax_cross_entropy, ds, 5,
                                 key=key, **OPTIONS)
    assert [row["dev_size"] for row in cv.table] == [13, 13, 12, 12, 12]
    assert [row["train_size"] for row in cv.table] == [49, 49, 50, 50, 50]
    losses_ = [row["dev_loss"] for row in cv.table]
    assert cv.mean["dev_loss"] == pytest.approx(sum(losses_) / 5)
    mean = sum(losses_) / 5
    by_hand = (sum((v - mean) ** 2 for v in losses_) / 4) ** 0.5
    assert cv.std["dev_loss"] == pytest.approx(by_hand)
    assert cv.std["dev_loss"] > 0
    assert all(np.isfinite(row["dev_accuracy"]) for row in cv.table)


def test_a_padded_fold_validates_on_its_own_rows_only():
    """Fold 2 of 62 (12 held out, padded to 13) scores the same params on exactly its rows."""
    ds, key = _problem(n=62), jax.random.key(1)
    cv = ensemble.cross_validate(MODEL, optim.sgd(0.1), losses.softmax_cross_entropy, ds, 5,
                                 key=key, **OPTIONS)
    _, held_out = list(data.kfold(ds, 5, key=jax.random.fold_in(key, ensemble.FOLDS)))[2]
    model, params, state = cv.result.member(2)
    direct = train.evaluate(model, params, state, held_out, loss=losses.softmax_cross_entropy)
    assert cv.table[2]["dev_loss"] == pytest.approx(direct["loss"], rel=1e-5)
    assert cv.table[2]["dev_accuracy"] == pytest.approx(direct["accuracy"])


def test_masked_rows_and_masked_dev_are_ignored():
    """train.make_epoch: rows -1 add nothing; make_evaluate: mask picks the mean's rows."""
    x = jnp.arange(12, dtype=jnp.float32).reshape(6, 2)
    y = jnp.array([0, 1, 2, 0, 1, 2])
    evaluate = train.make_evaluate(MODEL, losses.softmax_cross_entropy, batch_size=4)
    params, state, _ = MODEL.init(jax.random.key(0), (2,))
    mask = jnp.array([True, False, True, True, False, True])
    masked = evaluate(params, state, x, y, mask)
    direct = evaluate(params, state, x[mask], y[mask])
    np.testing.assert_allclose(masked["loss"], direct["loss"], rtol=1e-6)


@pytest.mark.parametrize("k, message", [(1, "k must be"), (61, "k must be <= the 60"),
                                        (2.5, "k")])
def test_bad_k_is_named(k, message):
    with pytest.raises((ValueError, TypeError), match=message):
        ensemble.cross_validate(MODEL, optim.sgd(0.1), losses.softmax_cross_entropy,
                                _problem(), k, key=jax.random.key(0), **OPTIONS)


def test_bad_options_are_named():
    with pytest.raises(ValueError, match="batch_size .* fold's training set"):
        ensemble.cross_validate(MODEL, optim.sgd(0.1), losses.softmax_cross_entropy,
                                _problem(), 3, key=jax.random.key(0), epochs=1, batch_size=50)
    with pytest.raises(TypeError, match="unknown option.*bootstrap"):
        ensemble.cross_validate(MODEL, optim.sgd(0.1), losses.softmax_cross_entropy,
                                _problem(), 3, key=jax.random.key(0), bootstrap=True, **OPTIONS)
