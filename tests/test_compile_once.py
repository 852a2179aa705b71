"""Compile once, train many (issue 16): programs cached by the structure of their pieces."""

import collections

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import compile_cache, ensemble, initializers, losses, nn, optim, regularizers, train

LOSS = losses.softmax_cross_entropy
COMPILES = []  # one entry per XLA compilation in this process
jax.monitoring.register_event_duration_secs_listener(
    lambda event, seconds, **kw: COMPILES.append(event)
    if event == "/jax/core/compile/backend_compile_duration" else None)


def model(units=16, keep=0.9):
    return nn.serial(nn.dense(units), nn.relu, nn.dropout(keep), nn.dense(3))


def fit(splits, **kwargs):
    options = dict(key=jax.random.key(0), epochs=2, batch_size=16, verbose=False)
    options.update(kwargs)
    return train.fit(options.pop("model", model()), options.pop("opt", optim.adam(1e-2)),
                     LOSS, splits, **options)


def compiles(run) -> int:
    """(XLA compilations during `run()`, its result)."""
    before = len(COMPILES)
    out = run()
    return len(COMPILES) - before, out


def test_structure_lifts_numbers_and_keeps_sizes_and_code():
    a_key, a_values = compile_cache.structure(optim.adam(1e-3))
    b_key, b_values = compile_cache.structure(optim.adam(3e-4, b1=0.5))
    assert a_key == b_key and hash(a_key) == hash(b_key)
    assert 1e-3 in a_values and 3e-4 in b_values and 0.5 in b_values and 0.9 in a_values
    assert compile_cache.structure(optim.sgd(1e-3))[0] != a_key  # another rule
    dense = lambda units, scale=1.0: nn.dense(units, w_init=initializers.he_normal(scale))  # noqa: E731
    assert compile_cache.structure(dense(16))[0] == compile_cache.structure(dense(16, 0.5))[0]
    assert compile_cache.structure(dense(16))[0] != compile_cache.structure(dense(32))[0]
    # a layer whose name shows its number (dropout(keep_prob=0.9)) differs by it
    assert compile_cache.structure(model(16))[0] != compile_cache.structure(model(16, 0.5))[0]
    fixed, none = compile_cache.structure(optim.adam(1e-3), lift=False)
    assert none == [] and fixed != compile_cache.structure(optim.adam(3e-4), lift=False)[0]


def test_a_second_fit_with_new_key_and_numbers_compiles_nothing(blob_splits):
    fit(blob_splits)
    count, again = compiles(lambda: fit(blob_splits, key=jax.random.key(3), epochs=3,
                                         opt=optim.adam(3e-2),
                                         regularizer=None))
    assert count == 0 and again.history["learning_rate"][-1] == pytest.approx(3e-2)
    count, _ = compiles(lambda: fit(blob_splits, model=model(8)))  # a new structure
    assert count >= 1


def test_a_reused_program_gives_the_same_run_as_a_fresh_compile(blob_splits):
    """The cached program fed the new numbers equals the program compiled for them."""
    fit(blob_splits, opt=optim.momentum(0.05, 0.5), regularizer=regularizers.l2(1e-3))
    reused = fit(blob_splits, opt=optim.momentum(0.1, 0.9), regularizer=regularizers.l2(1e-2),
                 key=jax.random.key(4))
    compile_cache.clear()
    fresh = fit(blob_splits, opt=optim.momentum(0.1, 0.9), regularizer=regularizers.l2(1e-2),
                key=jax.random.key(4))
    assert compile_cache.info()["misses"] >= 1
    jax.tree.map(np.testing.assert_array_equal, reused.params, fresh.params)
    assert reused.history == {**fresh.history, "wall_time": reused.history["wall_time"]}


def test_a_number_needed_on_the_host_falls_back_to_a_fixed_program(blob_splits):
    """An activation whose Python code branches on its number cannot trace it: the program
    is built with the number fixed; a new number then compiles a new program."""

    def scaled_tanh(scale):
        def apply(params, state, x, *, key=None, train=False):
            return (jnp.tanh(x) * scale if scale > 0 else x), state  # needs a concrete scale
        return nn.Layer(lambda key, shape: ({}, {}, shape), apply, "scaled", uses_key=False)

    def net(scale):
        return nn.serial(nn.dense(8), scaled_tanh(scale), nn.dense(3))
    first = fit(blob_splits, model=net(2.0))
    assert first.stopped == "completed" and first.history["train_loss"][-1] < first.initial_loss
    count, again = compiles(lambda: fit(blob_splits, model=net(2.0), key=jax.random.key(1)))
    assert count == 0 and again.stopped == "completed"
    count, other = compiles(lambda: fit(blob_splits, model=net(-1.0)))
    assert count >= 1 and other.stopped == "completed"


def test_evaluate_and_ensembles_reuse_their_programs(blob_splits):
    result = fit(blob_splits)
    train.evaluate(model(), result.params, result.model_state, blob_splits.test, loss=LOSS)
    count, values = compiles(lambda: train.evaluate(model(), result.params,
                                                    result.model_state, blob_splits.test,
                                                    loss=LOSS))
    assert count == 0 and 0 <= values["accuracy"] <= 1

    def ens(lr, seed):
        return ensemble.fit(model(), optim.adam(lr), LOSS, blob_splits, key=jax.random.key(seed),
                            members=3, epochs=2, batch_size=16, verbose=False)
    first = ens(1e-2, 0)
    ensemble.accuracies(first, blob_splits.test)
    count, second = compiles(lambda: ensemble.accuracies(ens(3e-2, 1), blob_splits.test))
    assert count == 0 and len(second["members"]) == 3

    def sweep(lrs):
        return ensemble.sweep(model(), lambda hp: optim.adam(hp["lr"]), LOSS, blob_splits,
                              hparams={"lr": lrs}, key=jax.random.key(0), epochs=2,
                              batch_size=16, verbose=False)
    sweep([1e-2, 3e-2])
    count, swept = compiles(lambda: sweep([1e-3, 1e-1]))
    assert count == 0 and [row["lr"] for row in swept.table] == pytest.approx([1e-3, 1e-1])


def test_clear_and_info_count_lookups_and_traces(blob_splits):
    compile_cache.clear()
    assert compile_cache.info() == {"hits": 0, "misses": 0, "uncached": 0, "traces": {}}
    fit(blob_splits)
    fit(blob_splits, key=jax.random.key(2))
    info = compile_cache.info()
    assert info["traces"]["fit.epoch"] == 1 and info["traces"]["fit.init"] == 1
    assert info["misses"] == 3 and info["hits"] == 3  # init, epoch, evaluate; then reused


def test_a_closure_that_refers_to_itself_is_compiled_without_the_cache(blob_splits):
    def count_down(n):
        return n if n <= 0 else count_down(n - 1)  # `count_down` is in its own closure

    def apply(params, state, x, *, key=None, train=False):
        return x + count_down(1), state
    layer = nn.Layer(lambda key, shape: ({}, {}, shape), apply, "self-ref", uses_key=False)
    before = compile_cache.info()["uncached"]
    fit(blob_splits, model=nn.serial(nn.dense(3), layer))
    assert compile_cache.info()["uncached"] > before


def test_enable_compilation_cache_sets_jax_persistent_cache(tmp_path):
    old = jax.config.jax_compilation_cache_dir
    try:
        path = compile_cache.enable_compilation_cache(tmp_path / "xla")
        assert path == tmp_path / "xla"
        assert jax.config.jax_compilation_cache_dir == str(tmp_path / "xla")
    finally:
        jax.config.update("jax_compilation_cache_dir", old)
    assert compile_cache.enable_compilation_cache.__doc__.count("Off by default") == 1


def test_counter_in_a_closure_is_identity_keyed():
    traces = collections.Counter()

    def reads():
        return traces
    key_before = compile_cache.structure(reads)[0]
    traces["x"] += 1
    assert compile_cache.structure(reads)[0] == key_before  # what it appends to is no structure
    assert compile_cache.structure(lambda: traces)[0] != key_before  # other code
