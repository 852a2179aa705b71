"""Checkpoints: exact round trips, atomic writes, clear errors on bad files."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxdl import checkpoint, nn, optim, train

MODEL = nn.serial(nn.dense(4), nn.batchnorm(), nn.relu, nn.dense(2))


def make_state(seed=0):
    opt = optax.chain(optim.clip_by_global_norm(1.0), optim.adam(1e-3))
    state = train.init_state(MODEL, opt, (3,), key=jax.random.key(seed))
    grads = jax.tree.map(jnp.ones_like, state.params)
    updates, opt_state = opt.update(grads, state.opt_state, state.params)
    return state._replace(opt_state=opt_state, step=state.step + 7)


def test_round_trip_is_exact_and_rebuilds_the_types(tmp_path):
    state = make_state()
    tree = {"state": state, "extra": [jnp.arange(3, dtype=jnp.bfloat16), None, (1, 2.5)]}
    checkpoint.save(tmp_path / "c.npz", tree, {"lr": 1e-3}, metadata={"epoch": 3})
    restored = checkpoint.restore(tmp_path / "c.npz")
    assert restored.config == {"lr": 1e-3} and restored.metadata == {"epoch": 3}
    back = restored.tree
    assert isinstance(back["state"], train.TrainState)
    assert type(back["state"].opt_state[1]) is type(state.opt_state[1])  # the Adam state class
    assert jax.tree.structure(back) == jax.tree.structure(tree)
    for a, b in zip(jax.tree.leaves(back), jax.tree.leaves(tree)):
        if jax.dtypes.issubdtype(jnp.result_type(b), jax.dtypes.prng_key):
            np.testing.assert_array_equal(jax.random.key_data(a), jax.random.key_data(b))
        else:
            assert jnp.result_type(a) == jnp.result_type(b)
            np.testing.assert_array_equal(np.asarray(a, np.float64), np.asarray(b, np.float64))


def test_restore_into_a_template_checks_shapes(tmp_path):
    path = checkpoint.save(tmp_path / "c.npz", make_state())
    like = make_state(seed=1)
    restored = checkpoint.restore(path, like=like).tree
    np.testing.assert_array_equal(restored.params[0]["w"], make_state().params[0]["w"])
    wider = train.init_state(nn.serial(nn.dense(5), nn.batchnorm(), nn.relu, nn.dense(2)),
                             optax.chain(optim.clip_by_global_norm(1.0), optim.adam(1e-3)),
                             (3,), key=jax.random.key(0))
    with pytest.raises(checkpoint.CheckpointError, match=r"c.npz: leaf .*\[0\]\['b'\] has "
                                                         r"shape \(4,\).*expected \(5,\)"):
        checkpoint.restore(path, like=wider)


def test_a_state_class_that_cannot_be_imported_restores_into_a_template(tmp_path):
    from typing import NamedTuple

    class LocalState(NamedTuple):  # defined in a function: not importable by name
        w: jax.Array
        count: jax.Array

    state = LocalState(jnp.arange(3.0), jnp.asarray(4))
    path = checkpoint.save(tmp_path / "c.npz", {"s": state})
    with pytest.raises(checkpoint.CheckpointError, match="cannot be imported; restore with "
                                                         "like="):
        checkpoint.restore(path)
    back = checkpoint.restore(path, like={"s": LocalState(jnp.zeros(3), jnp.asarray(0))})
    assert isinstance(back.tree["s"], LocalState)
    np.testing.assert_array_equal(back.tree["s"].w, state.w)
    assert int(back.tree["s"].count) == 4


def test_a_crash_mid_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = checkpoint.save(tmp_path / "c.npz", {"w": jnp.ones(3)}, {"version": 1})

    def crash(file, **arrays):
        file.write(b"half a zip file")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save(path, {"w": jnp.zeros(3)}, {"version": 2})
    monkeypatch.undo()
    restored = checkpoint.restore(path)
    assert restored.config == {"version": 1}
    np.testing.assert_array_equal(restored.tree["w"], np.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["c.npz"]  # no temporary file left


def test_missing_and_corrupt_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.npz does not exist"):
        checkpoint.restore(tmp_path / "nothing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(checkpoint.CheckpointError, match="bad.npz is not a readable jaxdl "
                                                         "checkpoint"):
        checkpoint.restore(bad)
    good = checkpoint.save(tmp_path / "cut.npz", {"w": jnp.ones(1000)})
    good.write_bytes(good.read_bytes()[:500])
    with pytest.raises(checkpoint.CheckpointError, match="cut.npz"):
        checkpoint.restore(good)
