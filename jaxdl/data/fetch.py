"""`download(name, directory)`: fetch the original files of a dataset, verified.

Each file is streamed from its first working mirror into a temporary file in the target
directory (with a tqdm progress bar), checked against its published size and SHA-256,
and only then renamed into place (atomic on one file system): an interrupted or corrupt
download never leaves a file under the final name. A file already there and verified
(the original download, or for MNIST any copy with the canonical decompressed content) is
not downloaded again. Only this module touches the network; `load` never does (except
the `tfds:` adapter, through tensorflow-datasets).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from urllib.request import urlopen  # module attribute: tests replace it with a fake

from jaxdl._checks import check_choice
from jaxdl._io import atomic_write
from jaxdl.data import files

CHUNK = 1 << 20
TIMEOUT_S = 60


def _stream(url: str, out, progress: bool, desc: str, total: int) -> tuple[int, str]:
    """Copy `url` into the open binary file `out`; return (bytes written, sha256 hex)."""
    from tqdm.auto import tqdm  # noqa: PLC0415 - only needed while downloading

    digest, written = hashlib.sha256(), 0
    with urlopen(url, timeout=TIMEOUT_S) as response, \
            tqdm(total=total, unit="B", unit_scale=True, desc=desc, disable=not progress,
                 leave=False) as bar:
        while block := response.read(CHUNK):
            out.write(block)
            digest.update(block)
            written += len(block)
            bar.update(len(block))
    return written, digest.hexdigest()


def _download_file(spec: files.FileSpec, directory: Path, progress: bool) -> Path:
    target = directory / spec.name
    errors = []
    for url in spec.urls:
        try:
            with atomic_write(target, suffix=".part") as out:
                size, sha = _stream(url, out, progress, spec.name, spec.size)
                if (size, sha) != (spec.size, spec.sha256):  # abort: nothing is renamed
                    raise files.CorruptDataError(
                        f"got {size} bytes with SHA-256 {sha}, expected {spec.size} bytes "
                        f"with SHA-256 {spec.sha256}")
            return target
        except (OSError, ValueError) as err:  # URLError is an OSError; try the next mirror
            errors.append(f"{url}: {err}")
    raise files.DataFileError(f"could not download {spec.name} into {directory}: "
                              + "; ".join(errors))


def download(name: str, directory=None, *, progress: bool = True) -> list[Path]:
    """Fetch the original files of `name` (mnist, fashion_mnist, cifar10) into `directory`.

    `directory` defaults to `<data root>/<name>` (see `jaxdl.data.files.data_root`), where
    `load(name)` finds them. Returns the paths of the (verified) files, one per original
    file. Raises `DataFileError` naming the file and every mirror tried when none works.
    """
    check_choice("data.download", "name", name, tuple(files.REMOTE_FILES))
    directory = Path(directory).expanduser() if directory is not None \
        else files.search_dirs(name)[0]
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for spec in files.REMOTE_FILES[name]:
        path = files.verified_copy(spec, directory)
        paths.append(path if path is not None else _download_file(spec, directory, progress))
    return paths
