"""Original dataset files: where they live, their canonical checksums, and verification.

Data directory, first match wins: the `data_dir` argument, the environment variable
`JAXDL_DATA_DIR`, then the cache directory `$XDG_CACHE_HOME/jaxdl/datasets` (default
`~/.cache/jaxdl/datasets`). Files of dataset NAME are looked up in `<dir>/NAME/` first,
then in `<dir>/` itself (so `data_dir="/path/to/mnist"` works as well).

Checksums (`REMOTE_FILES`):
- `sha256`/`size` are those of the original downloads (the compressed `.gz`/`.tar.gz`
  files) as published in tensorflow-datasets' `url_checksums/{mnist,fashion_mnist,
  cifar10}.txt`; the CIFAR-10 python tarball's SHA-256 is the one pinned by Keras
  (`keras.datasets.cifar10`), its MD5 c58f30108f718f92721af3b95e74349a is on the
  dataset's home page.
- `content_sha256` is the SHA-256 of the decompressed content where it is published
  (MNIST: the four IDX files). A `.gz` file recompressed by someone else still verifies
  through its content; one of a dataset without a published content digest
  (Fashion-MNIST) must be the original download.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
import zlib
from pathlib import Path

ENV_VAR = "JAXDL_DATA_DIR"


class DataFileError(Exception):
    """A dataset file is missing or unusable; the message names the file and the fix."""


class MissingDataError(DataFileError, FileNotFoundError):
    """A dataset file is not where it was looked for."""


class CorruptDataError(DataFileError, ValueError):
    """A dataset file exists but fails its checksum or its format checks."""


@dataclasses.dataclass(frozen=True)
class FileSpec:
    """One original file: name on disk, download mirrors, checksums, expected array shape.

    `sha256`/`size`: of the file as downloaded. `content_sha256`: of its decompressed
    content, None where no canonical value is published. `shape`: the array it holds.
    """

    name: str
    urls: tuple[str, ...]
    sha256: str
    size: int
    content_sha256: str | None = None
    shape: tuple[int, ...] = ()

    @property
    def decompressed_name(self) -> str:
        return self.name[:-3] if self.name.endswith(".gz") else self.name


def _idx_files(mirrors, table):
    return tuple(FileSpec(name, tuple(m + name for m in mirrors), sha, size, content, shape)
                 for name, sha, size, content, shape in table)


_MNIST_MIRRORS = ("https://storage.googleapis.com/cvdf-datasets/mnist/",
                  "https://ossci-datasets.s3.amazonaws.com/mnist/")
_FASHION_MIRRORS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)
_CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/"

REMOTE_FILES: dict[str, tuple[FileSpec, ...]] = {
    "mnist": _idx_files(_MNIST_MIRRORS, (
        ("train-images-idx3-ubyte.gz",
         "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9912422,
         "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db", (60000, 28, 28)),
        ("train-labels-idx1-ubyte.gz",
         "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28881,
         "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5", (60000,)),
        ("t10k-images-idx3-ubyte.gz",
         "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1648877,
         "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7", (10000, 28, 28)),
        ("t10k-labels-idx1-ubyte.gz",
         "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4542,
         "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2", (10000,)),
    )),
    "fashion_mnist": _idx_files(_FASHION_MIRRORS, (
        ("train-images-idx3-ubyte.gz",
         "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84", 26421880,
         None, (60000, 28, 28)),
        ("train-labels-idx1-ubyte.gz",
         "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845", 29515,
         None, (60000,)),
        ("t10k-images-idx3-ubyte.gz",
         "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073", 4422102,
         None, (10000, 28, 28)),
        ("t10k-labels-idx1-ubyte.gz",
         "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5", 5148,
         None, (10000,)),
    )),
    "cifar10": (
        FileSpec("cifar-10-python.tar.gz", (_CIFAR10_URL + "cifar-10-python.tar.gz",),
                 "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
                 170498071),
    ),
}

# Accepted by the CIFAR-10 loader when present, not downloaded by `download`.
CIFAR10_BINARY = FileSpec("cifar-10-binary.tar.gz", (_CIFAR10_URL + "cifar-10-binary.tar.gz",),
                          "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
                          170052171)


def data_root(data_dir=None) -> Path:
    """The data directory: `data_dir`, else $JAXDL_DATA_DIR, else the jaxdl cache dir."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "jaxdl" / "datasets"


def search_dirs(name: str, data_dir=None) -> tuple[Path, ...]:
    """Directories searched for dataset `name`: `<root>/<name>/`, then `<root>/`."""
    root = data_root(data_dir)
    return (root / name, root)


def find(name: str, filenames, data_dir=None) -> Path | None:
    """The first existing `<dir>/<filename>` over `search_dirs(name)` x `filenames`."""
    for directory in search_dirs(name, data_dir):
        for filename in filenames:
            if (directory / filename).exists():
                return directory / filename
    return None


def how_to_obtain(name: str, data_dir=None) -> str:
    """One sentence telling the user how to get the files of dataset `name`."""
    target = search_dirs(name, data_dir)[0]
    files = REMOTE_FILES[name]
    sources = ", ".join(sorted({spec.urls[0].rsplit("/", 1)[0] + "/" for spec in files}))
    return (f"Get it with `jaxdl data download {name}` or `jaxdl.data.download({name!r}, "
            f"{str(target)!r})` (needs a network), or copy the original files "
            f"({', '.join(s.name for s in files)}, from {sources}) into {target}, or point "
            f"data_dir= / ${ENV_VAR} at a directory that holds them.")


def missing(name: str, what: str, data_dir=None) -> MissingDataError:
    """The error for a missing file `what` of dataset `name`, naming where it was sought."""
    dirs = " or ".join(str(d) for d in search_dirs(name, data_dir))
    return MissingDataError(f"{name}: {what} not found in {dirs}. "
                            f"{how_to_obtain(name, data_dir)}")


def check_is_file(name: str, path: Path, data_dir=None) -> Path:
    """`path` itself when it is a file; a directory (or other non-file) in the place of a
    dataset file is a CorruptDataError naming it."""
    if not path.is_file():
        raise CorruptDataError(f"{name}: {path} is a directory, not the dataset file; remove "
                               f"or rename it. {how_to_obtain(name, data_dir)}")
    return path


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def check_digest(name: str, path: Path, what: str, actual: str, expected: str,
                 data_dir=None) -> None:
    """Raise CorruptDataError naming `path` unless `actual == expected`."""
    if actual != expected:
        raise CorruptDataError(
            f"{name}: {path}: {what} is {actual}, expected {expected} (the canonical "
            f"original). The file is corrupt, truncated or not the original. "
            f"Delete it and fetch it again. {how_to_obtain(name, data_dir)}")


def gunzip(name: str, path: Path, raw: bytes, data_dir=None) -> bytes:
    """Decompress gzip bytes read from `path`; a broken stream names the file."""
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise CorruptDataError(f"{name}: {path}: not a complete gzip file ({err}). "
                               f"Delete it and fetch it again. "
                               f"{how_to_obtain(name, data_dir)}") from None


def read_verified(name: str, spec: FileSpec, data_dir=None) -> tuple[bytes, Path]:
    """The decompressed content of `spec` (decompressed file or `.gz`), verified.

    Decompressed file: checked against `content_sha256` when published, else only by the
    caller's format checks. `.gz` file: its content against `content_sha256` when published,
    else its own bytes against `sha256` (then it must be the original download).
    """
    path = find(name, (spec.decompressed_name, spec.name), data_dir)
    if path is None:
        raise missing(name, f"{spec.decompressed_name}[.gz]", data_dir)
    raw = check_is_file(name, path, data_dir).read_bytes()
    if path.name == spec.decompressed_name and path.name != spec.name:
        content = raw
    else:
        if spec.content_sha256 is None:
            check_digest(name, path, "SHA-256", sha256_hex(raw), spec.sha256, data_dir)
        content = gunzip(name, path, raw, data_dir)
    if spec.content_sha256 is not None:
        check_digest(name, path, "SHA-256 of the decompressed content", sha256_hex(content),
                     spec.content_sha256, data_dir)
    return content, path


def verified_copy(spec: FileSpec, directory: Path) -> Path | None:
    """`directory/<spec.name>` if it is the original download, or `.gz` or decompressed
    file with the canonical content; None when neither is there and verified."""
    path = directory / spec.name
    if path.is_file():
        if path.stat().st_size == spec.size and file_sha256(path) == spec.sha256:
            return path
        if spec.content_sha256 is not None and spec.name.endswith(".gz"):
            try:
                if sha256_hex(gzip.decompress(path.read_bytes())) == spec.content_sha256:
                    return path
            except (OSError, EOFError, zlib.error):
                pass
    plain = directory / spec.decompressed_name
    if spec.content_sha256 is not None and plain != path and plain.is_file() \
            and file_sha256(plain) == spec.content_sha256:
        return plain
    return None
