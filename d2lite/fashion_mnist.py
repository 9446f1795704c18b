"""Fashion-MNIST's four files: found offline, checked, read into uint8 tensors (chapter 3).

    arrays = d2lite.load_fashion_mnist_arrays()  # 55 MB: (60000, 28, 28) and (10000, 28, 28)
    d2lite.get_fashion_mnist_labels([0, 9], lang="zh")  # ['T恤', '短靴']

The files are searched for in ``data_dir``, ``$D2LITE_DATA``, the project's ``data/`` folder and
Debian's package folder, and downloaded by torchvision only when they are nowhere. A damaged
file raises :class:`DataError` naming it; batches are cut from the arrays in loaders.py.
"""

from __future__ import annotations

import gzip
import os
import stat
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch


class DataError(RuntimeError):
    """A Fashion-MNIST file exists but cannot be used (truncated, corrupt, unreadable)."""


class DataNotFoundError(DataError, FileNotFoundError):
    """Fashion-MNIST was found nowhere and could not be downloaded."""


FASHION_MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
TEXT_LABELS = {
    "en": [
        "t-shirt",
        "trouser",
        "pullover",
        "dress",
        "coat",
        "sandal",
        "shirt",
        "sneaker",
        "bag",
        "ankle boot",
    ],
    "zh": ["T恤", "裤子", "套衫", "连衣裙", "外套", "凉鞋", "衬衫", "运动鞋", "包", "短靴"],
}
DEBIAN_DATA_DIR = Path("/usr/share/datasets/fashion-mnist")
_IDX_DTYPES = {0x08: np.uint8}  # Fashion-MNIST only uses unsigned bytes
_EXPECTED_MAGIC = {"images": 2051, "labels": 2049}  # 0x00000803 and 0x00000801


def read_idx(path: str | os.PathLike) -> torch.Tensor:
    """Read one IDX file (plain or ``.gz``) into a uint8 tensor, checking it thoroughly.

    Returns shape ``(N, 28, 28)`` for image files and ``(N,)`` for label files. A truncated,
    corrupt or unreadable file raises :class:`DataError` naming the file.
    """
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            raw = f.read()
    except PermissionError:
        raise DataError(
            f"Cannot read {path}: permission denied. Make it readable (chmod a+r {path}) or "
            "point D2LITE_DATA at a readable copy."
        ) from None
    except (OSError, EOFError, gzip.BadGzipFile) as err:  # BadGzipFile, truncated stream, EACCES
        raise DataError(
            f"Cannot read {path}: {err}. The file is damaged or unreadable: delete it and "
            "copy or download it again (see the README, 'Where the data comes from')."
        ) from None
    if len(raw) < 8:
        raise DataError(f"{path} is truncated: only {len(raw)} bytes, not even an IDX header.")
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code not in _IDX_DTYPES or ndim not in (1, 3):
        magic = struct.unpack(">I", raw[:4])[0]
        raise DataError(
            f"{path} is not a Fashion-MNIST IDX file: magic number {magic} "
            f"(expected {_EXPECTED_MAGIC['images']} for images or "
            f"{_EXPECTED_MAGIC['labels']} for labels)."
        )
    header = 4 + 4 * ndim
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    expected = header + int(np.prod(shape))
    if len(raw) != expected:
        raise DataError(
            f"{path} is {'truncated' if len(raw) < expected else 'too long'}: "
            f"{len(raw):,} bytes, but its header {tuple(shape)} needs {expected:,}. "
            "Delete it and copy or download it again."
        )
    array = np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)
    return torch.from_numpy(array.copy())


def _project_data_dir() -> Path:
    """The project's default data folder: ``<checkout>/data``, else ``~/.cache/d2lite``."""
    checkout = Path(__file__).resolve().parents[1]  # d2lite/fashion_mnist.py -> the checkout
    if (checkout / "pyproject.toml").exists():  # running from a checkout (pip install -e .)
        return checkout / "data"
    return Path.home() / ".cache" / "d2lite"


def _files_in(folder: Path) -> dict[str, Path] | None:
    """Return the four IDX files found in ``folder`` (or its FashionMNIST/raw), else None."""
    for sub in (folder / "FashionMNIST" / "raw", folder / "raw", folder):
        found = {}
        for key, name in FASHION_MNIST_FILES.items():
            for candidate in (sub / name, sub / f"{name}.gz"):
                if _is_file(candidate, folder):
                    found[key] = candidate
                    break
        if len(found) == len(FASHION_MNIST_FILES):
            return found
    return None


def _is_file(path: Path, folder: Path) -> bool:
    """``path.is_file()``, except that a folder we may not search raises :class:`DataError`."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except PermissionError:  # Path.is_file() raises it (3.11) or hides it (3.14): be explicit
        raise DataError(
            f"Cannot look inside {path.parent}: permission denied. Make {folder} readable "
            f"(chmod -R a+rX {folder}) or point D2LITE_DATA at a readable copy."
        ) from None
    except (OSError, ValueError):  # missing, not a folder, a bad name: simply not here
        return False


def _shown(folder: Path) -> str:
    """A searched folder for an error message; a relative one also as the absolute path it
    meant here, since a notebook runs in its own folder, not where the shell was."""
    if folder.is_absolute():
        return str(folder)
    return (
        f"{folder} (relative, so {Path.cwd() / folder} from the current folder "
        f"{Path.cwd()}; an absolute path works from anywhere)"
    )


def _candidate_dirs(data_dir: str | os.PathLike | None) -> list[tuple[str, Path]]:
    """The places searched, in order, each with the reason it is searched."""
    places = []
    if data_dir is not None:
        places.append(("the data_dir argument", Path(data_dir).expanduser()))
    if os.environ.get("D2LITE_DATA"):
        places.append(("$D2LITE_DATA", Path(os.environ["D2LITE_DATA"]).expanduser()))
    places.append(("the project's data folder", _project_data_dir()))
    places.append(("Debian's dataset-fashion-mnist package", DEBIAN_DATA_DIR))
    return places


def find_data_dir(data_dir: str | os.PathLike | None = None) -> dict[str, Path] | None:
    """Find the four Fashion-MNIST files without downloading; None when they are nowhere.

    Order: the ``data_dir`` argument, ``$D2LITE_DATA``, the project's data folder, Debian's
    ``/usr/share/datasets/fashion-mnist``. Each folder may hold the files directly, in
    ``raw/`` or in ``FashionMNIST/raw/`` (torchvision's layout), plain or gzipped.
    """
    for _, folder in _candidate_dirs(data_dir):
        files = _files_in(folder)
        if files is not None:
            return files
    return None


def _download(target: Path) -> dict[str, Path]:
    """Download with torchvision into ``target``; any failure becomes a plain exception."""
    import torchvision  # imported here: only the online path needs it

    for train in (True, False):
        torchvision.datasets.FashionMNIST(root=str(target), train=train, download=True)
    files = _files_in(target)
    if files is None:
        raise DataError(f"the download finished but {target} does not hold the four files")
    return files


@dataclass
class FashionMNISTArrays:
    """The whole dataset as uint8 tensors: 55 MB, small enough to keep in memory or on a GPU."""

    train_images: torch.Tensor  # (60000, 28, 28) uint8
    train_labels: torch.Tensor  # (60000,) uint8
    test_images: torch.Tensor  # (10000, 28, 28) uint8
    test_labels: torch.Tensor  # (10000,) uint8
    source: str  # where the files were read from


_ARRAY_CACHE: dict[tuple[str, ...], FashionMNISTArrays] = {}


def load_fashion_mnist_arrays(
    data_dir: str | os.PathLike | None = None, download: bool = True
) -> FashionMNISTArrays:
    """Find (or download) Fashion-MNIST and return it as uint8 tensors.

    Search order: ``data_dir``, ``$D2LITE_DATA``, the project's ``data/`` folder, Debian's
    package folder, then torchvision's download into the first of those three folders.
    Offline with no data, raises :class:`DataNotFoundError` naming every place searched and
    the ways to fix it. Results are cached per folder, so a second call is free.
    """
    files = find_data_dir(data_dir)
    places = _candidate_dirs(data_dir)
    if files is None:
        target = places[0][1]  # the argument, else $D2LITE_DATA, else the project folder
        reason = "download=False"
        if download:
            try:
                files = _download(target)
            except Exception as err:  # noqa: BLE001 - any network/IO failure gets one message
                reason = f"the download into {target} failed ({type(err).__name__}: {err})"
        if files is None:
            looked = "\n".join(f"  - {why}: {_shown(folder)}" for why, folder in places)
            raise DataNotFoundError(
                "Fashion-MNIST was not found. Looked in:\n"
                f"{looked}\n"
                f"and {reason}.\nFix it in one of three ways:\n"
                "  1. point d2lite at a copy: export D2LITE_DATA=/path/to/folder "
                "(or pass data_dir=...); the folder holds train-images-idx3-ubyte(.gz) and "
                "the three other files, directly or in FashionMNIST/raw/;\n"
                "  2. on Debian/Ubuntu: sudo apt-get install dataset-fashion-mnist;\n"
                "  3. connect to the internet and run again: torchvision downloads it "
                f"into {target}."
            ) from None
    key = tuple(str(files[k]) for k in FASHION_MNIST_FILES)
    if key not in _ARRAY_CACHE:
        arrays = {k: read_idx(p) for k, p in files.items()}
        for split in ("train", "test"):
            images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
            if images.dim() != 3 or labels.dim() != 1:
                raise DataError(
                    f"{files[f'{split}_images']} or {files[f'{split}_labels']} has the wrong "
                    "kind of content (images must be 3-D, labels 1-D): are the files swapped?"
                )
            if len(images) != len(labels):
                raise DataError(
                    f"{files[f'{split}_images']} holds {len(images):,} images but "
                    f"{files[f'{split}_labels']} holds {len(labels):,} labels: the files come "
                    "from different versions or one is damaged. Copy both again."
                )
        _ARRAY_CACHE[key] = FashionMNISTArrays(**arrays, source=str(files["train_images"].parent))
    return _ARRAY_CACHE[key]


def get_fashion_mnist_labels(labels: Iterable, lang: str = "en") -> list[str]:
    """Turn numeric labels (ints or a tensor) into class names in English or Chinese."""
    if lang not in TEXT_LABELS:
        raise ValueError(f"lang must be one of {sorted(TEXT_LABELS)}, got {lang!r}.")
    names = TEXT_LABELS[lang]
    return [names[int(i)] for i in labels]
