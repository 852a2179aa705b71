"""Checkpoints: exact round trips, atomic writes, clear errors on bad files."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

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
    with pytest.raises(checkpoint.CheckpointError, match="bad.npz is not a jaxdl checkpoint"):
        checkpoint.restore(bad)
    good = checkpoint.save(tmp_path / "cut.npz", {"w": jnp.ones(1000)})
    good.write_bytes(good.read_bytes()[:500])
    with pytest.raises(checkpoint.CheckpointError, match="cut.npz"):
        checkpoint.restore(good)


def _rewrite_meta(path: Path, edit) -> None:
    """Rewrite the checkpoint's metadata entry with `edit(meta dict) -> meta dict or bytes`."""
    with np.load(path) as npz:
        payload = {name: npz[name] for name in npz.files}
    meta = json.loads(bytes(payload[checkpoint._META]).decode())
    new = edit(meta)
    raw = new if isinstance(new, bytes) else json.dumps(new).encode()
    payload[checkpoint._META] = np.frombuffer(raw, dtype=np.uint8)
    with open(path, "wb") as file:
        np.savez(file, **payload)


def _flip_middle(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    for i in range(len(raw) // 2, len(raw) // 2 + 64):
        raw[i] ^= 0xFF
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("damage, message", [
    (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]),
     r"is not a jaxdl checkpoint \(not an \.npz archive"),
    (_flip_middle, r"(is truncated or corrupt|is not a jaxdl checkpoint|does not match)"),
    (lambda p: p.write_bytes(os.urandom(5000)), r"is not a jaxdl checkpoint"),
    (lambda p: p.write_bytes(b""), r"is not a jaxdl checkpoint"),
    (lambda p: _rewrite_meta(p, lambda m: b"{not json"), r"metadata entry is not valid JSON"),
    (lambda p: _rewrite_meta(p, lambda m: {k: v for k, v in m.items() if k != "tree"}),
     r"metadata has no tree description"),
    (lambda p: _rewrite_meta(p, lambda m: {**m, "format": 99}),
     r"has checkpoint format 99; this jaxdl reads format 1"),
])
def test_every_kind_of_damage_is_one_line_naming_the_file(tmp_path, damage, message):
    path = checkpoint.save(tmp_path / "c.npz", {"w": jnp.arange(4000.0), "b": jnp.ones(3)})
    damage(path)
    with pytest.raises(checkpoint.CheckpointError, match=message) as caught:
        checkpoint.restore(path)
    text = str(caught.value)
    assert str(path) in text and "\n" not in text and "allow_pickle" not in text


def test_a_npz_without_jaxdl_metadata_and_a_directory_are_named(tmp_path):
    plain = tmp_path / "plain.npz"
    np.savez(plain, a=np.ones(3))
    with pytest.raises(checkpoint.CheckpointError, match="has no __jaxdl_checkpoint__ entry"):
        checkpoint.restore(plain)
    (tmp_path / "dir.npz").mkdir()
    with pytest.raises(checkpoint.CheckpointError, match="dir.npz is a directory, not a "
                                                         "checkpoint file"):
        checkpoint.restore(tmp_path / "dir.npz")


@pytest.mark.parametrize("tree, config, message", [
    ({"w": jnp.ones(2)}, {"f": object()}, r"config\['f'\] has type object, which JSON cannot hold"),
    ({"w": jnp.ones(2)}, {"s": {1, 2}}, r"config\['s'\] has type set"),
    ({"w": object()}, None, r"tree\['w'\] has type object \(dtype object\); leaves must be "
                            r"numbers"),
    ({"names": np.array(["a", "b"])}, None, r"tree\['names'\] has type ndarray \(dtype <U1\)"),
])
def test_save_refuses_what_it_cannot_store_before_writing(tmp_path, tree, config, message):
    path = checkpoint.save(tmp_path / "c.npz", {"w": jnp.ones(2)}, {"version": 1})
    with pytest.raises(TypeError, match=message):
        checkpoint.save(path, tree, config)
    assert checkpoint.restore(path).config == {"version": 1}  # the previous file is intact
    assert [p.name for p in tmp_path.iterdir()] == ["c.npz"]


def test_the_next_save_removes_temp_files_of_killed_writers_only(tmp_path):
    path = checkpoint.save(tmp_path / "c.npz", {"w": jnp.ones(2)})
    stale = [tmp_path / ".c.npz.abc123.tmp", tmp_path / ".c.npz.zz9.tmp"]
    others = [tmp_path / ".d.npz.abc.tmp", tmp_path / "notes.tmp", tmp_path / ".c.npz.keep"]
    for p in stale + others:
        p.write_bytes(b"partial")
    checkpoint.save(path, {"w": jnp.zeros(2)})
    assert not any(p.exists() for p in stale)
    assert all(p.exists() for p in others)


KILL_WRITER = textwrap.dedent("""
    import sys
    import numpy as np
    from jaxdl import checkpoint
    path, start = sys.argv[1], int(sys.argv[2])
    print("ready", flush=True)
    for version in range(start, start + 10**6):
        checkpoint.save(path, {"w": np.full(1_000_000, float(version), np.float32)},
                        {"version": version})
""")


def test_kill_9_mid_write_always_leaves_the_previous_or_the_new_checkpoint(tmp_path):
    """SIGKILL a process that rewrites a 4 MB checkpoint in a loop, at random moments: the
    file on disk always restores completely (an old or a new version), and the temp files
    the kills leave are gone after the next save."""
    path = tmp_path / "c.npz"
    checkpoint.save(path, {"w": np.zeros(1_000_000, np.float32)}, {"version": 0})
    rng = np.random.default_rng(0)
    deadline = time.monotonic() + 25
    versions, kills = [0], 0
    while kills < 12 and time.monotonic() < deadline:
        process = subprocess.Popen([sys.executable, "-c", KILL_WRITER, str(path),
                                    str(max(versions) + 1)], stdout=subprocess.PIPE,
                                   cwd=str(Path(__file__).parents[1]))
        try:
            assert process.stdout.readline().strip() == b"ready"
            time.sleep(float(rng.uniform(0.0, 0.4)))
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
        kills += 1
        restored = checkpoint.restore(path)
        version = restored.config["version"]
        assert version >= versions[-1]
        np.testing.assert_array_equal(restored.tree["w"], np.full(1_000_000, float(version),
                                                                  np.float32))
        versions.append(version)
        checkpoint.save(path, restored.tree, restored.config)  # the next save cleans up
        assert [p.name for p in tmp_path.iterdir()] == ["c.npz"]
    assert kills >= 5
    assert max(versions) > 0  # the writer got through saves, so kills hit it mid-loop
    checkpoint.save(path, {"w": np.zeros(2, np.float32)})
    assert [p.name for p in tmp_path.iterdir()] == ["c.npz"]


def test_a_full_disk_keeps_the_previous_checkpoint_and_leaves_no_temp_file(tmp_path,
                                                                           monkeypatch):
    import errno  # noqa: PLC0415
    path = checkpoint.save(tmp_path / "c.npz", {"w": jnp.arange(3.0)}, {"version": 1})

    def full(file, **arrays):
        file.write(b"PK\x03\x04 the first bytes of a zip")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez", full)
    with pytest.raises(OSError) as caught:
        checkpoint.save(path, {"w": jnp.zeros(3)}, {"version": 2})
    assert caught.value.errno == errno.ENOSPC
    monkeypatch.undo()
    restored = checkpoint.restore(path)
    assert restored.config == {"version": 1}
    np.testing.assert_array_equal(restored.tree["w"], np.arange(3.0))
    assert [p.name for p in tmp_path.iterdir()] == ["c.npz"]


def test_clean_stale_removes_only_this_checkpoints_temp_files(tmp_path):
    path = tmp_path / "c.npz"
    stale = [tmp_path / ".c.npz.k1ll3d.tmp", tmp_path / ".c.npz.x.tmp"]
    others = [tmp_path / ".c.npz.abc.part", tmp_path / ".cc.npz.abc.tmp",
              tmp_path / "c.npz.abc.tmp"]
    for p in stale + others:
        p.write_bytes(b"partial")
    removed = checkpoint.clean_stale(path)
    assert sorted(removed) == sorted(stale)
    assert not any(p.exists() for p in stale) and all(p.exists() for p in others)
    assert checkpoint.clean_stale(path) == []  # nothing left; no checkpoint needed


def test_restore_require_names_a_missing_metadata_entry(tmp_path):
    path = checkpoint.save(tmp_path / "c.npz", {"w": jnp.ones(2)},
                           metadata={"progress": {"epoch": 3}})
    back = checkpoint.restore(path, require=("progress",))
    assert back.metadata == {"progress": {"epoch": 3}}
    with pytest.raises(checkpoint.CheckpointError) as caught:
        checkpoint.restore(path, require=("progress", "stopped"))
    assert str(caught.value) == (f"{path}: the checkpoint's metadata has no 'stopped' entry "
                                 "(written by another program or an older jaxdl?)")
    bare = checkpoint.save(tmp_path / "bare.npz", {"w": jnp.ones(2)})
    with pytest.raises(checkpoint.CheckpointError, match=r"bare.npz: the checkpoint has no "
                                                         r"metadata dict .*no 'progress' entry"):
        checkpoint.restore(bare, like={"w": jnp.zeros(2)}, require=("progress",))
    with pytest.raises(TypeError, match=r"require must be a sequence of entry names"):
        checkpoint.restore(path, require="progress")
