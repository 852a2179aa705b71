"""Atomic file writes, shared by checkpoints and downloads."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_write(path, *, suffix: str = ".tmp"):
    """Yield a binary file to write `path`'s new content into.

    The content goes to a temporary file beside `path`. When the block ends without an
    error, the file is flushed and fsynced, renamed to `path` (atomic on one file system)
    and the directory is fsynced; on any error the temporary file is deleted and `path`
    is untouched.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    try:
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
