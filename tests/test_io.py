"""Atomic writes: content, failure leaves the old file, and the mode of a plain open()."""

import os

import pytest

from jaxdl import _io


def test_atomic_write_replaces_content_and_has_the_mode_of_open(tmp_path):
    path, plain = tmp_path / "a.bin", tmp_path / "plain.bin"
    previous = os.umask(0o022)
    try:
        plain.write_bytes(b"x")
        with _io.atomic_write(path) as file:
            file.write(b"new")
    finally:
        os.umask(previous)
    assert path.read_bytes() == b"new"
    assert (path.stat().st_mode & 0o777) == (plain.stat().st_mode & 0o777) != 0o600


def test_atomic_write_failure_keeps_the_old_file_and_no_temp(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError), _io.atomic_write(path) as file:
        file.write(b"half")
        raise RuntimeError("killed")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["a.bin"]
