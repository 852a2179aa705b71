"""Search spaces, random and grid search, coarse-to-fine, chunked trials."""

import jax
import numpy as np
import pytest

from jaxdl import ensemble, losses, nn, optim, regularizers, tune

KEY = jax.random.key(0)
N = 20000  # samples for the distribution checks: the ECDF is within ~0.012 of the CDF


def max_cdf_gap(samples, cdf) -> float:
    """Kolmogorov-Smirnov distance between the samples and a continuous CDF."""
    x = np.sort(samples)
    ecdf = np.arange(1, len(x) + 1) / len(x)
    return float(np.max(np.abs(ecdf - cdf(x))))


def test_log_uniform_is_uniform_in_log_space():
    dim = tune.log_uniform(1e-4, 1e-1)
    values = dim.sample(KEY, N)
    assert values.min() >= 1e-4 and values.max() <= 1e-1
    r = np.log10(values)  # log10 x ~ U(-4, -1)
    assert max_cdf_gap(r, lambda v: (v + 4) / 3) < 0.015
    assert np.mean(values < 1e-3) == pytest.approx(1 / 3, abs=0.015)  # one decade of three
    assert max_cdf_gap(values, lambda v: (v - 1e-4) / (1e-1 - 1e-4)) > 0.5  # not linear


def test_one_minus_log_uniform_spends_equal_trials_per_decade_of_one_minus_beta():
    dim = tune.one_minus_log_uniform(0.9, 0.999)
    beta = dim.sample(KEY, N)
    assert beta.min() >= 0.9 and beta.max() <= 0.999
    r = np.log10(1 - beta)  # ~ U(-3, -1)
    assert max_cdf_gap(r, lambda v: (v + 3) / 2) < 0.015
    assert np.mean(beta > 0.99) == pytest.approx(0.5, abs=0.015)


def test_uniform_and_choice_frequencies():
    values = tune.uniform(0.5, 1.0).sample(KEY, N)
    assert max_cdf_gap(values, lambda v: (v - 0.5) / 0.5) < 0.015
    picks = tune.choice(["a", "b", "c", "d"]).sample(KEY, N)
    counts = np.array([picks.count(o) for o in "abcd"]) / N
    np.testing.assert_allclose(counts, 0.25, atol=0.015)


def test_samples_are_keyed_by_name():
    space = {"lr": tune.log_uniform(1e-4, 1e-1), "mu": tune.uniform(0.0, 0.9)}
    one = tune.sample(space, 5, key=KEY)
    again = tune.sample(space, 5, key=KEY)
    more = tune.sample({**space, "l2": tune.log_uniform(1e-5, 1e-1)}, 5, key=KEY)
    np.testing.assert_array_equal(one["lr"], again["lr"])
    np.testing.assert_array_equal(one["lr"], more["lr"])  # a new dimension changes nothing
    assert not np.allclose(one["lr"], tune.sample(space, 5, key=jax.random.key(1))["lr"])


def test_unit_coordinates_round_trip_and_grid_points():
    dim = tune.one_minus_log_uniform(0.9, 0.999)
    np.testing.assert_allclose(dim.to_unit([0.9, 0.99, 0.999]), [0.0, 0.5, 1.0], atol=1e-12)
    np.testing.assert_allclose(dim.from_unit(dim.to_unit([0.95, 0.995])), [0.95, 0.995])
    np.testing.assert_allclose(tune.log_uniform(1e-4, 1e-2).grid(3), [1e-4, 1e-3, 1e-2])
    np.testing.assert_allclose(tune.uniform(0, 1).grid(1), [0.5])


def test_grid_is_a_product_and_jitter_stays_within_half_a_cell():
    space = {"lr": tune.log_uniform(1e-4, 1e-2), "act": tune.choice(["relu", "tanh"]),
             "keep": tune.uniform(0.5, 1.0)}
    plain = tune.grid(space, {"lr": 3, "keep": 5})
    assert len(plain["lr"]) == 3 * 2 * 5
    assert plain["act"][:10] == ["relu"] * 5 + ["tanh"] * 5  # the first name varies slowest
    jitter = 0.2
    moved = tune.grid(space, {"lr": 3, "keep": 5}, key=KEY, jitter=jitter)
    assert moved["act"] == plain["act"]
    for name, points in (("lr", 3), ("keep", 5)):
        du = space[name].to_unit(moved[name]) - space[name].to_unit(plain[name])
        assert np.all(np.abs(du) <= jitter / (points - 1) + 1e-12)
        assert np.std(du) > 0.2 * jitter / (points - 1)  # it does move
        assert np.all((moved[name] >= space[name].low) & (moved[name] <= space[name].high))


def test_shrink_narrows_ranges_around_the_best_values():
    space = {"lr": tune.log_uniform(1e-4, 1e0), "act": tune.choice(["relu", "tanh", "elu"])}
    small = tune.shrink(space, {"lr": [1e-3, 1e-2], "act": ["tanh", "tanh"]}, margin=0.1)
    # u of 1e-3 and 1e-2 are 0.25 and 0.5; +-0.1 of the unit interval is +-0.4 decades
    np.testing.assert_allclose([small["lr"].low, small["lr"].high],
                               [10 ** -3.4, 10 ** -1.6], rtol=1e-9)
    assert small["lr"].kind == "log_uniform" and small["act"].options == ("tanh",)
    edge = tune.shrink(space, {"lr": [1e-4], "act": ["relu"]}, margin=0.1)
    assert edge["lr"].low == pytest.approx(1e-4)  # clipped to the old range


@pytest.mark.parametrize("make, match", [
    (lambda: tune.log_uniform(0.0, 1.0), "low"),
    (lambda: tune.log_uniform(1e-2, 1e-3), "high"),
    (lambda: tune.one_minus_log_uniform(0.9, 1.0), "high"),
    (lambda: tune.uniform(1.0, 1.0), "high"),
    (lambda: tune.choice([]), "options"),
    (lambda: tune.grid({"lr": tune.uniform(0, 1)}, 3, jitter=0.6), "jitter"),
    (lambda: tune.grid({"lr": tune.uniform(0, 1)}, 3, jitter=0.1), "key"),
    (lambda: tune.grid({"lr": tune.uniform(0, 1)}, {"lr": 0}), "points"),
    (lambda: tune.sample({"lr": 1e-3}, 4, key=KEY), "space"),
    (lambda: tune.sample({"lr": tune.uniform(0, 1)}, 0, key=KEY), "trials"),
    (lambda: tune.parse_range("1e-4:1e-2:cubic"), "LOW:HIGH"),
    (lambda: tune.parse_range("a:b"), "numbers"),
])
def test_bad_arguments_name_the_argument(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_parse_range():
    assert tune.parse_range("1e-4:1e-2:log") == tune.log_uniform(1e-4, 1e-2)
    assert tune.parse_range("0.9:0.999:1-log").kind == "one_minus_log_uniform"
    assert tune.parse_range("0.5:1").kind == "uniform"


# ----------------------------------------------------------------------------- searches


def build_model(hp):
    return nn.serial(nn.dense(hp["width"]), nn.relu, nn.dense(3))


def build_opt(hp):
    return optim.adam(hp["lr"])


def build_reg(hp):
    return regularizers.l2(hp["l2"])


SPACE = {"lr": tune.log_uniform(1e-3, 1e-1), "l2": tune.log_uniform(1e-5, 1e-2),
         "width": tune.choice([4, 8])}


def search(splits, **kwargs):
    options = dict(space=SPACE, trials=6, key=KEY, epochs=2, batch_size=16, verbose=False,
                   regularizer=build_reg)
    options.update(kwargs)
    return tune.random_search(build_model, build_opt, losses.softmax_cross_entropy, splits,
                              **options)


@pytest.mark.parity  # chunked and unchunked trials are different (vmapped) programs
def test_random_search_loops_structural_choices_and_chunked_trials_equal_unchunked(
        blob_splits):
    found = search(blob_splits)
    values = tune.sample(SPACE, 6, key=jax.random.fold_in(KEY, tune.SAMPLE))
    assert [row["trial"] for row in found.table] == list(range(6))
    for row in found.table:
        for name in SPACE:
            assert row[name] == pytest.approx(values[name][row["trial"]], rel=1e-12)
    assert len(found.results) == len(set(values["width"]))  # one program per width
    chunked = search(blob_splits, members_per_call=2)
    # measured equal to the bit on SSE4_2, AVX2 and AVX-512 CPUs; the tolerances leave
    # room for another CPU's rounding (an accuracy changes only if a prediction flips)
    for a, b in zip(found.table, chunked.table):
        assert a["best_dev_accuracy"] == pytest.approx(b["best_dev_accuracy"], abs=1e-6)
        assert a["final_train_loss"] == pytest.approx(b["final_train_loss"], rel=1e-5)
    assert found.best == found.top(1)[0]
    assert found.best["final_dev_accuracy"] == max(r["final_dev_accuracy"]
                                                   for r in found.table)


def test_grid_search_with_seeds_and_a_diverging_trial(blob_splits):
    space = {"lr": tune.log_uniform(1e-2, 1e4), "l2": tune.log_uniform(1e-5, 1e-3),
             "width": tune.choice([4])}
    found = tune.grid_search(build_model, build_opt, losses.softmax_cross_entropy,
                             blob_splits, space=space, points={"lr": 2, "l2": 1}, jitter=0.0,
                             key=KEY, epochs=2, batch_size=16, seeds=2, verbose=False,
                             regularizer=build_reg)
    assert [(r["trial"], r["seed"]) for r in found.table] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    stops = [r["stopped"] for r in found.table]
    assert stops[:2] == ["completed"] * 2 and set(stops[2:]) <= {"nan", "exploding"}
    assert found.best["lr"] == pytest.approx(1e-2)


def test_coarse_to_fine_shrinks_around_the_best_and_doubles_the_epochs(blob_splits):
    space = {"lr": tune.log_uniform(1e-4, 1e0), "l2": tune.log_uniform(1e-6, 1e-2),
             "width": tune.choice([4, 8])}
    found = tune.coarse_to_fine(build_model, build_opt, losses.softmax_cross_entropy,
                                blob_splits, space=space, trials=8, rounds=2, keep=2,
                                key=KEY, epochs=1, batch_size=16, verbose=False,
                                regularizer=build_reg)
    first = [r for r in found.table if r["round"] == 0]
    second = [r for r in found.table if r["round"] == 1]
    assert len(first) == len(second) == 8
    assert {r["epochs"] for r in first} == {1} and max(r["epochs"] for r in second) == 2
    top = ensemble.ranked(first, found.monitor)[:2]
    coarse, fine = found.spaces
    for name in ("lr", "l2"):
        u = coarse[name].to_unit([r[name] for r in top])
        np.testing.assert_allclose(coarse[name].to_unit([fine[name].low, fine[name].high]),
                                   [max(0, u.min() - 0.1), min(1, u.max() + 0.1)], atol=1e-9)
        assert all(fine[name].low <= r[name] <= fine[name].high for r in second)
    assert set(fine["width"].options) == {r["width"] for r in top}
    assert found.best in found.table
    for i in (0, len(found.table) - 1):  # a row of each round, from its own sweep
        assert found.member(i)[1][0]["w"].shape[1] == found.table[i]["width"]


def test_a_space_entry_no_builder_reads_is_warned_about(blob_splits):
    space = {**SPACE, "momentum": tune.uniform(0.5, 0.9)}  # nothing reads it
    with pytest.warns(UserWarning, match=r"space entries 'momentum' are never read"):
        search(blob_splits, space=space, trials=2, epochs=1)
    assert tune.unread_names((build_model, build_opt, build_reg),
                             {"lr": [0.1], "l2": [0.0], "width": [4]}) == []
    assert tune.unread_names((build_model, optim.sgd(0.1), None),
                             {"width": [4], "lr": [0.1]}) == ["lr"]


def test_a_search_whose_builders_read_every_entry_does_not_warn(blob_splits, recwarn):
    search(blob_splits, trials=2, epochs=1)
    assert not [w for w in recwarn if "never read" in str(w.message)]


def test_sweep_tables_carry_the_search_trial_ids_and_member_i_is_row_i(blob_splits):
    found = search(blob_splits)  # 6 trials over two widths: two sweeps
    assert found.monitor == "final_dev_accuracy"  # the returned (last-epoch) params' column
    assert len(found.results) == 2
    in_sweeps = [row for result in found.results for row in result.table]
    assert sorted(row["trial"] for row in in_sweeps) == list(range(6))  # not 0.. per sweep
    assert all(any(row is r for r in found.table) for row in in_sweeps)
    x, y = blob_splits.test.x, blob_splits.test.y
    for i, row in enumerate(found.table):
        model, params, state = found.member(i)
        assert params[0]["w"].shape[1] == row["width"]
        outputs = model.apply(params, state, x, train=False)[0]
        assert np.mean(np.argmax(outputs, -1) == y) == pytest.approx(row["test_accuracy"],
                                                                    abs=1e-6)
    assert found.best is found.table[found.best_index]
    for result in found.results:
        assert result.best is result.table[result.best_index]
    with pytest.raises(ValueError, match="below the 6 rows"):
        found.member(6)
