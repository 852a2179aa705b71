"""Atomic file writes, shared by checkpoints and downloads."""

from __future__ import annotations

import contextlib
import glob
import os
import tempfile
from pathlib import Path


def temp_prefix(path: Path) -> str:
    """The name prefix of `atomic_write`'s temporary files for `path`."""
    return f".{path.name}."


def remove_stale_temp_files(path, *, suffix: str = ".tmp") -> list[Path]:
    """Delete the temporary files that writers of `path` killed mid-write left behind
    (only names of `atomic_write`'s own pattern `.NAME.*SUFFIX` beside `path`); returns
    them. Two writers of one path at once are not supported, so every such file is stale."""
    path = Path(path)
    stale = [p for p in path.parent.glob(f"{glob.escape(temp_prefix(path))}*{suffix}")
             if p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path, *, suffix: str = ".tmp"):
    """Yield a binary file to write `path`'s new content into.

    The content goes to a temporary file beside `path`. When the block ends without an
    error, the file is flushed and fsynced, renamed to `path` (atomic on one file system)
    and the directory is fsynced; on any error the temporary file is deleted and `path`
    is untouched. The file gets the mode a plain open() would give (0666 less the umask).
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path), suffix=suffix)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp's 0600 -> what open() would have made
        with os.fdopen(fd, "wb") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
