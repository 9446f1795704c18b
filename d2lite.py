"""d2lite: the small helper library behind the AlexNet-on-Fashion-MNIST book.

Run a chapter, and it imports this module:

    import d2lite
    device = d2lite.try_gpu()                                  # cuda -> mps -> cpu
    train_iter, test_iter = d2lite.load_data_fashion_mnist(128, resize=224)
    net = d2lite.alexnet()
    d2lite.init_weights(net)                                   # a separate, named step
    history = d2lite.train(net, train_iter, test_iter, num_epochs=10, lr=0.01, device=device)

From a terminal, alone or on several GPUs/processes (DDP):

    python -m d2lite train --setting quick
    torchrun --nproc_per_node=2 -m d2lite train --setting quick

The sections follow the data: device, seed & processes -> data -> model -> metrics ->
plotting -> training & evaluation -> checkpoints -> prediction -> command line. The names
are the ones readers of the Dive-into-Deep-Learning tutorial know
(`load_data_fashion_mnist`, `Accumulator`, `Animator`, `train`, ...), with sturdier
behaviour behind them: data found offline, clear errors, a history returned, checkpoints
that survive interruption, and a fast GPU-resident path.

Settings (environment variables, read when a function is called, never at import):
    D2LITE_DATA   folder that holds Fashion-MNIST (searched before the project's `data/`).
    D2LITE_SETTING  which of a chapter's settings runs: "quick", "cpu" or "full"; see setting().
    D2LITE_QUICK  "1" is short for D2LITE_SETTING=quick (small subset, short run: tests and CI).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import gzip
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import stat
import struct
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils import data

__all__ = [
    # settings, device & seed
    "SETTINGS", "setting", "is_quick", "try_gpu", "resolve_device", "device_name", "set_seed",
    # several processes (torchrun)
    "Distributed", "distributed", "launched_by_torchrun", "init_distributed", "all_reduce_sums",
    # data
    "DataError", "DataNotFoundError", "FASHION_MNIST_FILES", "TEXT_LABELS",
    "read_idx", "find_data_dir", "FashionMNISTArrays", "load_fashion_mnist_arrays",
    "FashionMNISTDataset", "DeviceLoader", "default_num_workers", "load_data_fashion_mnist",
    "load_data_fashion_mnist_split",
    "get_fashion_mnist_labels",
    # model
    "InputSizeError", "AlexNet", "alexnet", "lenet", "init_weights", "LayerInfo", "trace_shapes",
    "draw_layers",
    # metrics
    "Accumulator", "Timer", "accuracy", "evaluate_accuracy_gpu",
    # plotting
    "use_cjk_font", "set_axes", "show_images", "Animator",
    # training
    "History", "TrainingDivergedError", "amp_dtype", "autocast", "grad_scaler", "train_step",
    "EpochStats", "train_epoch", "Progress", "train", "BudgetPlan", "measure_speed",
    "plan_budget",
    # checkpoints
    "CheckpointError", "CheckpointWriteError", "CheckpointLockError", "CHECKPOINT_FORMAT",
    "SIGTERM_EXIT_STATUS", "save_checkpoint", "load_checkpoint",
    # prediction
    "Predictions", "predict", "show_predictions", "predict_all", "confusion_matrix",
    # looking inside the network
    "feature_maps", "grad_cam", "occlusion", "filter_grid", "show_heatmaps",
    # command line
    "CLI_SETTINGS", "main",
]

# ----------------------------------------------------------------------------------------------
# Settings, device & seed
# ----------------------------------------------------------------------------------------------


SETTINGS = ("quick", "cpu", "full")


def _setting_from_env() -> str | None:
    """D2LITE_SETTING, checked; None when unset or empty."""
    value = os.environ.get("D2LITE_SETTING", "").strip().lower()
    if value and value not in SETTINGS:
        raise ValueError(
            f"D2LITE_SETTING={os.environ['D2LITE_SETTING']!r} is not a setting: use one of "
            f"{', '.join(SETTINGS)}, or unset it to choose by device (full with a GPU, cpu "
            "without one)."
        )
    return value or None


def setting() -> str:
    """Return which of a chapter's settings to run: ``"quick"``, ``"cpu"`` or ``"full"``.

    - ``quick``: a tiny subset and one short epoch, what the tests and CI run (seconds on a CPU);
    - ``cpu``: a run that still learns, sized for a CPU (chapter 4 fits a 15-minute budget on
      whatever CPU runs it: :func:`plan_budget` measures the speed first);
    - ``full``: the book's real recipe, sized for a GPU.

    ``D2LITE_SETTING`` chooses explicitly. Otherwise ``D2LITE_QUICK=1`` means ``quick``, and
    with neither set the machine decides: ``full`` where a GPU (CUDA or Apple MPS) is present,
    ``cpu`` where there is none, so that "Run all" on a laptop ends the same afternoon. Set
    ``D2LITE_SETTING=full`` to run the full setting on a CPU anyway.
    """
    value = _setting_from_env()
    if value:
        return value
    if is_quick():
        return "quick"
    return "cpu" if try_gpu().type == "cpu" else "full"


def is_quick() -> bool:
    """Return True when the quick setting is asked for (tests, CI, a first look).

    ``D2LITE_SETTING=quick`` turns it on, as does ``D2LITE_QUICK`` set to anything other than
    "", "0", "false", "no" or "off" (case-insensitive). ``D2LITE_SETTING``, when set, wins.
    """
    value = _setting_from_env()
    if value:
        return value == "quick"
    return os.environ.get("D2LITE_QUICK", "").strip().lower() not in ("", "0", "false", "no", "off")


def try_gpu(i: int = 0) -> torch.device:
    """Return the best available device: ``cuda:i``, then Apple ``mps``, then ``cpu``.

    Like the tutorial's function it never fails: with no GPU it returns the CPU.
    """
    if torch.cuda.is_available() and torch.cuda.device_count() > i:
        return torch.device(f"cuda:{i}")
    mps = getattr(torch.backends, "mps", None)
    if i == 0 and mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def resolve_device(device: str | torch.device | None) -> torch.device:
    """Turn ``device`` into a ``torch.device`` and check that it exists here.

    ``None`` means :func:`try_gpu`. Asking for CUDA or MPS on a machine without it raises a
    ``RuntimeError`` that says so and how to fall back, instead of failing deep inside PyTorch.
    """
    if device is None:  # under torchrun: this process's own GPU (cuda:LOCAL_RANK)
        return _local_device(None) if launched_by_torchrun() else try_gpu()
    dev = torch.device(device)
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = 0 if dev.index is None else dev.index
        if index >= count:
            raise RuntimeError(
                f"Device {dev} was requested, but this machine has {count} CUDA device(s) "
                f"(torch {torch.__version__}, CUDA build: {torch.version.cuda or 'none'}). "
                "Use d2lite.try_gpu() to pick the best available device, or device='cpu'."
            )
    if dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise RuntimeError(
                "Device 'mps' was requested, but Apple's Metal backend is not available here. "
                "Use d2lite.try_gpu() or device='cpu'."
            )
    return dev


def device_name(device: str | torch.device) -> str:
    """A readable name of ``device``'s hardware: the GPU's name, or the CPU's model name (from
    ``/proc/cpuinfo`` on Linux), so that every speed figure can say what it was measured on."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple GPU (mps)"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine() or "CPU"


def set_seed(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy and PyTorch (all devices).

    With ``deterministic=True`` PyTorch also picks deterministic kernels, so two runs on the
    CPU give identical metrics (slower on a GPU; some GPU ops then raise instead of running).
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


# --- Several processes: torchrun and DistributedDataParallel ----------------------------------
#
# `torchrun --nproc_per_node=N script.py` starts N copies of the script and tells each one who
# it is through environment variables: RANK (0 .. WORLD_SIZE-1 over all machines), LOCAL_RANK
# (0 .. N-1 on this machine: which GPU to use) and WORLD_SIZE. Everything below is a no-op in
# a single process, so the same code runs alone, in a notebook, and under torchrun.

_CONTROL_GROUP: Any = None  # a gloo group for small CPU-side agreements (stop? save?)


@dataclass(frozen=True)
class Distributed:
    """Who this process is in a torchrun job (``world_size`` 1: a single process)."""

    rank: int = 0  # 0 .. world_size-1 over all machines; rank 0 prints and saves
    local_rank: int = 0  # 0 .. processes-per-machine - 1: the GPU this process uses
    world_size: int = 1
    backend: str | None = None  # "nccl" (CUDA) or "gloo" (CPU); None: not distributed

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value) if value.strip() else default
    except ValueError:
        raise ValueError(f"{name}={value!r} is not an integer; torchrun sets it, so unset it "
                         "when not running under torchrun.") from None


def distributed() -> Distributed:
    """The current process's place in a torchrun job; ``Distributed()`` (rank 0 of 1) when
    the process group is not initialised (see :func:`init_distributed`)."""
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized()):
        return Distributed()
    return Distributed(dist.get_rank(), _env_int("LOCAL_RANK", 0), dist.get_world_size(),
                       dist.get_backend())


def launched_by_torchrun() -> bool:
    """True when torchrun (or an equivalent launcher) started this process as one of several."""
    return _env_int("WORLD_SIZE", 1) > 1


def _local_device(device: str | torch.device | None) -> torch.device:
    """Under torchrun each process drives the GPU of its LOCAL_RANK (cuda -> cuda:LOCAL_RANK)."""
    local = _env_int("LOCAL_RANK", 0)
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    if dev.type != "cuda":
        return dev
    if dev.index not in (None, local):
        raise ValueError(
            f"device={str(dev)!r} under torchrun, but this process has LOCAL_RANK={local}: each "
            "process must drive its own GPU. Pass device=None or 'cuda' to use "
            f"cuda:{local}.")
    return torch.device("cuda", local)


def init_distributed(device: str | torch.device | None = None,
                     timeout_s: float = 600) -> tuple[Distributed, torch.device]:
    """Join the torchrun job this process belongs to; return ``(Distributed, device)``.

    Under torchrun (WORLD_SIZE > 1) it initialises the process group once: NCCL when the
    device is a CUDA GPU (each process pinned to ``cuda:LOCAL_RANK``), gloo on the CPU. A peer
    that does not answer a collective within ``timeout_s`` seconds makes it raise instead of
    waiting forever. Without torchrun it changes nothing and returns rank 0 of 1 and the
    device (:func:`try_gpu` for None). Calling it again returns the same answer.
    """
    if not launched_by_torchrun():
        return distributed(), resolve_device(device)
    dev = resolve_device(_local_device(device))
    dist = torch.distributed
    if not dist.is_initialized():
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        import datetime as _dt

        backend = "nccl" if dev.type == "cuda" else "gloo"
        kwargs = {"device_id": dev} if dev.type == "cuda" else {}
        dist.init_process_group(backend, timeout=_dt.timedelta(seconds=timeout_s), **kwargs)
    global _CONTROL_GROUP
    if _CONTROL_GROUP is None:  # CPU tensors: agreeing on a flag never waits for the GPU
        _CONTROL_GROUP = (dist.new_group(backend="gloo") if dist.get_backend() != "gloo"
                          else dist.group.WORLD)
    return distributed(), dev


def _sum_device() -> torch.device:
    if torch.distributed.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_sums(values: Sequence[float | torch.Tensor]) -> list[float]:
    """Each value summed over all processes of the job, as floats (the values themselves in a
    single process). Every process must call it at the same point with as many values."""
    if distributed().world_size == 1:
        return [float(v) for v in values]
    t = torch.stack([torch.as_tensor(v, dtype=torch.float64).to(_sum_device()) for v in values])
    torch.distributed.all_reduce(t)  # sum
    return t.tolist()


def _agree(*flags: bool) -> list[bool]:
    """Each flag OR-ed over all processes (one small all-reduce on the CPU)."""
    if distributed().world_size == 1:
        return list(flags)
    t = torch.tensor([float(f) for f in flags])
    torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX, group=_CONTROL_GROUP)
    return [bool(v) for v in t.tolist()]


def _gather(obj: Any) -> list:
    """``obj`` of every process, in rank order (``[obj]`` in a single process)."""
    world = distributed().world_size
    if world == 1:
        return [obj]
    out: list = [None] * world
    torch.distributed.all_gather_object(out, obj, group=_CONTROL_GROUP)
    return out


# ----------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------


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
    "en": ["t-shirt", "trouser", "pullover", "dress", "coat",
           "sandal", "shirt", "sneaker", "bag", "ankle boot"],
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
    here = Path(__file__).resolve().parent
    if (here / "pyproject.toml").exists():  # running from a checkout (pip install -e .)
        return here / "data"
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
    return (f"{folder} (relative, so {Path.cwd() / folder} from the current folder "
            f"{Path.cwd()}; an absolute path works from anywhere)")


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


def _resize_batch(x: torch.Tensor, size: int | None) -> torch.Tensor:
    """Resize a (B, 1, H, W) float batch to size x size with bilinear interpolation."""
    if size is None or x.shape[-1] == size and x.shape[-2] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)


class FashionMNISTDataset(data.Dataset):
    """A map-style dataset over uint8 images that yields ``(float image (1, R, R), label)``.

    Pixels are scaled to [0, 1] like ``transforms.ToTensor``; ``resize`` enlarges each image
    with bilinear interpolation. The 28x28 originals stay available as ``.images``.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, resize: int | None = None):
        self.images, self.labels, self.resize = images, labels.long(), resize

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.images[i].float().div_(255).unsqueeze(0)  # (1, 28, 28)
        return _resize_batch(x.unsqueeze(0), self.resize)[0], self.labels[i]


class DeviceLoader:
    """The fast path: the whole uint8 dataset lives on ``device``; batches are cut there.

    Each trick in one line:
    - uint8 on the device: 60,000 images are 47 MB, copied once instead of every step;
    - shuffling with one ``randperm`` and indexing on the device: no Python per image;
    - ``F.interpolate`` resizes a whole batch at once on the device instead of PIL per image;
    - ``channels_last`` (optional) matches what tensor-core convolutions want in memory.
    The shuffle order comes from PyTorch's global CPU generator, so ``set_seed`` fixes it and
    checkpoints can restore it. With a ``seed`` instead, epoch ``e``'s order is
    ``randperm(n)`` drawn from a generator seeded with ``seed + e`` (call :meth:`set_epoch`;
    :func:`train` does), the rule of PyTorch's ``DistributedSampler``.

    Sharding (``rank``, ``world_size``: one loader per torchrun process) splits that order the
    way ``DistributedSampler`` does: a shuffled (training) loader drops the ``n % world_size``
    last examples of the epoch's permutation so that every process gets as many batches, then
    process ``rank`` takes every ``world_size``-th example from position ``rank``. The shards
    of an epoch are disjoint, together they cover the epoch, and every process computes the
    same permutation without talking to the others. An unshuffled (evaluation) loader keeps
    every example: the shards differ in size by at most one.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        batch_size: int,
        resize: int | None = None,
        shuffle: bool = False,
        device: str | torch.device = "cpu",
        channels_last: bool = False,
        drop_last: bool = False,
        *,
        seed: int | None = None,
        rank: int = 0,
        world_size: int = 1,
    ):
        _check_batch_size(batch_size)
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in 0 .. world_size-1, got rank={rank}, "
                             f"world_size={world_size}.")
        if shuffle and world_size > 1 and seed is None:
            raise ValueError("a sharded, shuffled DeviceLoader needs seed=: every process must "
                             "draw the same permutation.")
        self.device = torch.device(device)
        self.images = images.to(self.device)  # (N, 28, 28) uint8
        self.labels = labels.to(self.device).long()
        self.batch_size, self.resize, self.shuffle = batch_size, resize, shuffle
        self.channels_last, self.drop_last = channels_last, drop_last
        self.seed, self.rank, self.world_size, self.epoch = seed, rank, world_size, 0
        self.dataset = self  # so that code written for DataLoader finds .dataset.images

    def set_epoch(self, epoch: int) -> None:
        """Draw epoch ``epoch``'s order next (with ``seed``): a new order every epoch."""
        self.epoch = epoch

    def num_examples(self) -> int:
        """The examples this process sees per epoch (its shard)."""
        n, w = len(self.images), self.world_size
        return n // w if self.shuffle else len(range(self.rank, n, w))

    def __len__(self) -> int:
        n, b = self.num_examples(), self.batch_size
        return n // b if self.drop_last else math.ceil(n / b)

    def order(self) -> torch.Tensor | None:
        """The indices this process reads this epoch, in order (None: 0, 1, 2, ...)."""
        n, w = len(self.images), self.world_size
        if self.shuffle and self.seed is None:
            perm = torch.randperm(n)  # the global generator: set_seed and checkpoints fix it
        elif self.shuffle:
            perm = torch.randperm(n, generator=torch.Generator().manual_seed(
                self.seed + self.epoch))
        elif w == 1:
            return None
        else:
            perm = torch.arange(n)
        if w > 1:
            perm = perm[:n - n % w] if self.shuffle else perm  # equal shards for training
            perm = perm[self.rank::w]
        return perm

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = self.order()
        n = self.num_examples()
        if order is not None:
            order = order.to(self.device)
        for b in range(len(self)):
            idx = slice(b * self.batch_size, min(n, (b + 1) * self.batch_size))
            if order is not None:
                idx = order[idx]
            x = self.images[idx].unsqueeze(1).float().div_(255)  # (B, 1, 28, 28)
            x = _resize_batch(x, self.resize)  # (B, 1, R, R)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, self.labels[idx]


def default_num_workers() -> int:
    """DataLoader worker processes that are safe here.

    0 on Windows and macOS: there workers start with 'spawn', which re-imports the notebook's
    code and can hang or fail in Jupyter. Elsewhere one worker per spare core, at most 4, so a
    2-core machine keeps a core for training.
    """
    if sys.platform in ("win32", "darwin"):
        return 0
    return max(0, min(4, (os.cpu_count() or 1) - 1))


def _check_batch_size(batch_size: Any) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")


def _subset(images, labels, n: int | None, seed: int):
    """The first-come, class-mixed subset of n examples (a fixed random choice)."""
    if n is None or n >= len(images):
        return images, labels
    if n <= 0:
        raise ValueError(f"subset sizes must be positive, got {n}.")
    idx = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:n]
    return images[idx], labels[idx]


def load_data_fashion_mnist(
    batch_size: int,
    resize: int | None = None,
    *,
    data_dir: str | os.PathLike | None = None,
    subset: int | tuple[int, int] | None = None,
    device: str | torch.device | None = None,
    channels_last: bool = False,
    num_workers: int | None = None,
    download: bool = True,
    shard: bool | None = None,
    seed: int | None = None,
) -> tuple[Iterable, Iterable]:
    """Return ``(train_iter, test_iter)`` over Fashion-MNIST, like the tutorial's function.

    - ``resize``: enlarge the 28x28 images (AlexNet needs 224).
    - ``subset``: keep only n training examples, or ``(n_train, n_test)``: a fixed random
      choice, used by the quick setting.
    - ``device``: None gives ordinary ``DataLoader``s (workers: :func:`default_num_workers`).
      A device gives :class:`DeviceLoader`s that keep the data there (the fast path).
    - ``shard``: under torchrun, each process gets its own part of each epoch (``batch_size``
      is then per process). None shards when the process group is initialised with more than
      one process (:func:`init_distributed`). The training data uses ``DistributedSampler``'s
      rule (see :class:`DeviceLoader`); the test data is split without duplicates, so that the
      counts summed over the processes are exact.
    - ``seed``: shuffle the training data with a generator seeded ``seed + epoch`` instead of
      the global one; sharded loaders need the same order on every process and use 0 when
      None.
    A batch size larger than the dataset gives one smaller batch. Where the data is searched
    for is described in :func:`load_fashion_mnist_arrays`.
    """
    _check_batch_size(batch_size)
    if resize is not None and (not isinstance(resize, int) or resize < 1):
        raise ValueError(f"resize must be a positive integer (e.g. 224) or None, got {resize!r}.")
    arrays = load_fashion_mnist_arrays(data_dir, download=download)
    n_train, n_test = subset if isinstance(subset, tuple) else (subset, None)
    train = _subset(arrays.train_images, arrays.train_labels, n_train, seed=0)
    test = _subset(arrays.test_images, arrays.test_labels, n_test, seed=1)
    world = distributed()
    rank, world_size = (world.rank, world.world_size) if shard or shard is None else (0, 1)
    if world_size > 1 and seed is None:
        seed = 0  # every process must draw the same permutation
    if device is not None:
        dev = resolve_device(device)
        where = dict(rank=rank, world_size=world_size)
        return (DeviceLoader(*train, batch_size, resize, True, dev, channels_last, seed=seed,
                             **where),
                DeviceLoader(*test, batch_size, resize, False, dev, channels_last, **where))
    workers = default_num_workers() if num_workers is None else num_workers
    kwargs = dict(num_workers=workers, persistent_workers=workers > 0)
    train_set, test_set = FashionMNISTDataset(*train, resize), FashionMNISTDataset(*test, resize)
    if seed is None:
        train_kw = dict(shuffle=True)
    else:  # the same rule as DeviceLoader's: seed + epoch, DistributedSampler's shards
        train_kw = dict(sampler=data.DistributedSampler(train_set, world_size, rank, seed=seed,
                                                        drop_last=True))
    if world_size > 1:  # every test image once over all processes
        test_set = data.Subset(test_set, range(rank, len(test_set), world_size))
    return (data.DataLoader(train_set, batch_size, **train_kw, **kwargs),
            data.DataLoader(test_set, batch_size, shuffle=False, **kwargs))


def load_data_fashion_mnist_split(
    batch_size: int,
    resize: int | None = None,
    *,
    validation: int = 5000,
    seed: int = 0,
    data_dir: str | os.PathLike | None = None,
    subset: int | tuple[int, int] | None = None,
    device: str | torch.device | None = None,
    channels_last: bool = False,
    num_workers: int | None = None,
    download: bool = True,
) -> tuple[Iterable, Iterable, Iterable]:
    """Return ``(train_iter, val_iter, test_iter)``: ``validation`` of the 60,000 training
    images held out, so that choices (learning rate, epochs, dropout) never look at the test set.

    - ``validation``: how many training images to hold out: a fixed random choice by ``seed``,
      the same images whatever ``subset``, ``device`` or ``batch_size`` are, and never in
      ``train_iter``. ``val_iter`` is not shuffled.
    - ``subset``: n training examples taken from the rest, or ``(n_train, n_test)``; the test
      images are the ones :func:`load_data_fashion_mnist` gives for the same ``n_test``.
    - ``resize``, ``device``, ``channels_last``, ``num_workers``, ``download``: as in
      :func:`load_data_fashion_mnist`; a device gives :class:`DeviceLoader` objects.
    """
    _check_batch_size(batch_size)
    if resize is not None and (not isinstance(resize, int) or resize < 1):
        raise ValueError(f"resize must be a positive integer (e.g. 224) or None, got {resize!r}.")
    arrays = load_fashion_mnist_arrays(data_dir, download=download)
    n_all = len(arrays.train_images)
    if isinstance(validation, bool) or not isinstance(validation, int) or not (
            0 < validation < n_all):
        raise ValueError(f"validation must be a number of training images from 1 to "
                         f"{n_all - 1}, got {validation!r}.")
    order = torch.randperm(n_all, generator=torch.Generator().manual_seed(seed))
    held, kept = order[:validation].sort().values, order[validation:].sort().values
    n_train, n_test = subset if isinstance(subset, tuple) else (subset, None)
    parts = (  # (images, labels, shuffle): train, validation, test
        (*_subset(arrays.train_images[kept], arrays.train_labels[kept], n_train, seed=0), True),
        (arrays.train_images[held], arrays.train_labels[held], False),
        (*_subset(arrays.test_images, arrays.test_labels, n_test, seed=1), False),
    )
    if device is not None:
        dev = resolve_device(device)
        return tuple(DeviceLoader(images, labels, batch_size, resize, shuffle, dev, channels_last)
                     for images, labels, shuffle in parts)
    workers = default_num_workers() if num_workers is None else num_workers
    kwargs = dict(num_workers=workers, persistent_workers=workers > 0)
    return tuple(data.DataLoader(FashionMNISTDataset(images, labels, resize), batch_size,
                                 shuffle=shuffle, **kwargs)
                 for images, labels, shuffle in parts)


def get_fashion_mnist_labels(labels: Iterable, lang: str = "en") -> list[str]:
    """Turn numeric labels (ints or a tensor) into class names in English or Chinese."""
    if lang not in TEXT_LABELS:
        raise ValueError(f"lang must be one of {sorted(TEXT_LABELS)}, got {lang!r}.")
    names = TEXT_LABELS[lang]
    return [names[int(i)] for i in labels]


# ----------------------------------------------------------------------------------------------
# Model
# ----------------------------------------------------------------------------------------------


class InputSizeError(ValueError):
    """The input's height/width cannot pass through the network."""


def _alexnet_feature_side(side: int) -> int:
    """Side of AlexNet's last feature map for a square input side (conv/pool arithmetic)."""
    side = (side + 2 * 1 - 11) // 4 + 1  # conv 11x11, stride 4, padding 1
    for _ in range(3):  # three 3x3/2 max-pools (the 5x5 and 3x3 convs keep the size)
        side = (side - 3) // 2 + 1
    return side


class AlexNet(nn.Sequential):
    """AlexNet as an ``nn.Sequential`` (iterate it layer by layer) that checks its input size."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if _alexnet_feature_side(h) != 5 or _alexnet_feature_side(w) != 5:
            raise InputSizeError(
                f"AlexNet got {h}x{w} images, but its first dense layer expects a 256x5x5 "
                "feature map, which only inputs from 193x193 to 224x224 give. Load the data with "
                "d2lite.load_data_fashion_mnist(batch_size, resize=224)."
            )
        return super().forward(x)


def alexnet(num_classes: int = 10, dropout: float = 0.5, in_channels: int = 1) -> AlexNet:
    """AlexNet for 1x224x224 inputs, laid out exactly as the tutorial does (21 layers).

    The tutorial used ``dropout=0.9``; 0.5 is the paper's value and the default here.
    """
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}.")
    return AlexNet(
        # A large 11x11 window with stride 4 sees a whole garment part and shrinks the map fast.
        nn.Conv2d(in_channels, 96, kernel_size=11, stride=4, padding=1), nn.ReLU(),  # (B,96,54,54)
        nn.MaxPool2d(kernel_size=3, stride=2),  # (B, 96, 26, 26)
        # 5x5 window, padding 2 keeps the size; more channels.
        nn.Conv2d(96, 256, kernel_size=5, padding=2), nn.ReLU(),  # (B, 256, 26, 26)
        nn.MaxPool2d(kernel_size=3, stride=2),  # (B, 256, 12, 12)
        # Three 3x3 convolutions in a row, no pooling between them.
        nn.Conv2d(256, 384, kernel_size=3, padding=1), nn.ReLU(),  # (B, 384, 12, 12)
        nn.Conv2d(384, 384, kernel_size=3, padding=1), nn.ReLU(),  # (B, 384, 12, 12)
        nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(),  # (B, 256, 12, 12)
        nn.MaxPool2d(kernel_size=3, stride=2),  # (B, 256, 5, 5)
        nn.Flatten(),  # (B, 6400)
        # Two 4096-wide dense layers hold 92% of the parameters; dropout keeps them honest.
        nn.Linear(6400, 4096), nn.ReLU(), nn.Dropout(p=dropout),
        nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(p=dropout),
        nn.Linear(4096, num_classes),  # 10 Fashion-MNIST classes, not ImageNet's 1000
    )


def lenet(num_classes: int = 10, activation: str = "sigmoid") -> nn.Sequential:
    """LeNet-5 for 1x28x28 inputs as in d2l (sigmoid + average pooling), for comparison."""
    act = {"sigmoid": nn.Sigmoid, "relu": nn.ReLU}[activation]
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), act(),  # (B, 6, 28, 28)
        nn.AvgPool2d(kernel_size=2, stride=2),  # (B, 6, 14, 14)
        nn.Conv2d(6, 16, kernel_size=5), act(),  # (B, 16, 10, 10)
        nn.AvgPool2d(kernel_size=2, stride=2),  # (B, 16, 5, 5)
        nn.Flatten(),  # (B, 400)
        nn.Linear(16 * 5 * 5, 120), act(),
        nn.Linear(120, 84), act(),
        nn.Linear(84, num_classes),
    )


def init_weights(net: nn.Module, seed: int | None = None) -> nn.Module:
    """Xavier-uniform init for every Linear and Conv2d weight (the tutorial's choice).

    Biases keep PyTorch's default. Returns ``net`` so it can be chained.
    """
    if seed is not None:
        torch.manual_seed(seed)
    for m in net.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(m.weight)
    return net


@dataclass
class LayerInfo:
    """One row of :func:`trace_shapes`."""

    layer: str
    output_shape: tuple[int, ...]
    params: int
    flops: int

    def __str__(self) -> str:
        return f"{self.layer:<10}{str(list(self.output_shape)):<22}{self.params:>12,}"


def trace_shapes(net: nn.Sequential, X: torch.Tensor) -> list[LayerInfo]:
    """Run ``X`` through each layer of ``net`` and return (layer, output shape, params, FLOPs).

    FLOPs are counted by PyTorch's own ``torch.utils.flop_counter`` (a multiply-add counts 2).
    """
    from torch.utils.flop_counter import FlopCounterMode

    rows = []
    with _eval_mode(net), torch.inference_mode():
        for layer in net:
            counter = FlopCounterMode(display=False)
            with counter:
                X = layer(X)
            rows.append(LayerInfo(type(layer).__name__, tuple(X.shape),
                                  sum(p.numel() for p in layer.parameters()),
                                  counter.get_total_flops()))
    return rows


def draw_layers(net: nn.Sequential, X: torch.Tensor, ax=None, title: str | None = None,
                lang: str = "en") -> list[tuple[str, str, str]]:
    """Draw ``net`` as a column of boxes, the input at the top, and return the boxes drawn.

    One box per convolution, pooling and dense layer, with its settings inside and its output
    shape (from :func:`trace_shapes` on ``X``) to the right; an activation or dropout joins the
    box of the layer before it, since it changes no shape. ``lang`` is "en" or "zh". Each box
    is returned as ``(kind, text, shape)``, kind one of input/conv/pool/linear. Axes that share
    their y-axis (``plt.subplots(..., sharey=True)``) draw every network with the same box height.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    text = {
        "en": dict(input="input {shape}", conv="conv {k}×{k}, {c} channels, stride {s}, pad {p}",
                   max="max-pool {k}×{k}, stride {s}", avg="avg-pool {k}×{k}, stride {s}",
                   linear="dense {n}", sep=", ", dropout="dropout"),
        "zh": dict(input="输入 {shape}", conv="卷积 {k}×{k}，{c} 通道，步幅 {s}，填充 {p}",
                   max="最大汇聚 {k}×{k}，步幅 {s}", avg="平均汇聚 {k}×{k}，步幅 {s}",
                   linear="全连接 {n}", sep="，", dropout="暂退"),
    }
    if lang not in text:
        raise ValueError(f"lang must be one of {sorted(text)}, got {lang!r}.")
    t = text[lang]
    boxes = [("input", t["input"].format(shape="×".join(map(str, X.shape[1:]))), "")]
    for layer, row in zip(net, trace_shapes(net, X)):
        shape = "×".join(map(str, row.output_shape[1:]))
        if isinstance(layer, nn.Conv2d):
            k, s, p = layer.kernel_size[0], layer.stride[0], layer.padding[0]
            boxes.append(("conv", t["conv"].format(k=k, c=layer.out_channels, s=s, p=p), shape))
        elif isinstance(layer, (nn.MaxPool2d, nn.AvgPool2d)):
            kind = "max" if isinstance(layer, nn.MaxPool2d) else "avg"
            boxes.append(("pool", t[kind].format(k=layer.kernel_size, s=layer.stride), shape))
        elif isinstance(layer, nn.Linear):
            boxes.append(("linear", t["linear"].format(n=layer.out_features), shape))
        elif isinstance(layer, (nn.ReLU, nn.Sigmoid, nn.Tanh, nn.LeakyReLU, nn.Dropout)):
            name = t["dropout"] if isinstance(layer, nn.Dropout) else type(layer).__name__
            kind, label, shape = boxes[-1]
            boxes[-1] = (kind, f"{label}{t['sep']}{name}", shape)
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 0.5 * len(boxes) + 0.6))
    colours = dict(input="#eeeeee", conv="#a6cee3", pool="#b2df8a", linear="#fdbf6f")
    ax.set_xlim(0, 10)
    ax.set_ylim(min(0.5 - len(boxes), ax.get_ylim()[0]), 0.8)  # shared y: the longest wins
    ax.axis("off")
    if title is not None:
        ax.set_title(title)
    for i, (kind, label, shape) in enumerate(boxes):
        y = -i  # top to bottom: the input is at the top
        ax.add_patch(FancyBboxPatch((0.2, y - 0.35), 6.6, 0.7, boxstyle="round,pad=0.02",
                                    fc=colours[kind], ec="#555555"))
        ax.text(3.5, y, label, ha="center", va="center", fontsize=8)
        ax.text(7.0, y, shape, ha="left", va="center", fontsize=8, color="#333333")
        if i:
            ax.annotate("", (3.5, y + 0.36), (3.5, y + 0.64), arrowprops=dict(arrowstyle="->"))
    return boxes


# ----------------------------------------------------------------------------------------------
# Metrics
# ----------------------------------------------------------------------------------------------


class Accumulator:
    """Running sums over n slots, e.g. (loss sum, correct count, examples).

    Values may be numbers or 0-d tensors: tensors stay on their device until read, so adding
    them never forces the GPU to synchronise. Reading a slot returns a float.
    """

    def __init__(self, n: int):
        self.data: list[Any] = [0.0] * n

    def add(self, *args: float | torch.Tensor) -> None:
        if len(args) != len(self.data):
            raise ValueError(f"Accumulator has {len(self.data)} slots, got {len(args)} values.")
        self.data = [a + (b.detach() if torch.is_tensor(b) else float(b))
                     for a, b in zip(self.data, args)]

    def reset(self) -> None:
        self.data = [0.0] * len(self.data)

    def __getitem__(self, idx: int) -> float:
        return float(self.data[idx])


class Timer:
    """Record several running times (wall clock, ``time.perf_counter``)."""

    def __init__(self):
        self.times: list[float] = []
        self.start()

    def start(self) -> None:
        self.tik = time.perf_counter()

    def stop(self) -> float:
        self.times.append(time.perf_counter() - self.tik)
        return self.times[-1]

    def avg(self) -> float:
        return sum(self.times) / len(self.times) if self.times else 0.0

    def sum(self) -> float:
        return sum(self.times)

    def cumsum(self) -> list[float]:
        return np.cumsum(self.times).tolist()


def _correct(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Number of correct predictions as a 0-d tensor on y's device (no synchronisation)."""
    if y_hat.dim() > 1 and y_hat.shape[1] > 1:
        y_hat = y_hat.argmax(dim=1)
    return (y_hat.to(y.dtype) == y).sum()


def accuracy(y_hat: torch.Tensor, y: torch.Tensor) -> float:
    """Number of correct predictions (divide by ``y.numel()`` for the accuracy).

    ``y_hat`` holds either class scores ``(B, C)`` (the argmax is taken) or class indices.
    """
    return float(_correct(y_hat, y))


# ----------------------------------------------------------------------------------------------
# Plotting
# ----------------------------------------------------------------------------------------------

_CJK_FAMILIES = ["Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Micro Hei",
                 "WenQuanYi Zen Hei", "PingFang SC", "Hiragino Sans GB", "Microsoft YaHei",
                 "SimHei", "Noto Sans CJK JP"]


def use_cjk_font() -> str | None:
    """Make matplotlib draw Chinese with a real CJK font; return its family name or None.

    It uses, in order: Noto Sans CJK SC from the ``mplfonts`` package (SIL Open Font
    License, installed by requirements.txt), then a CJK font the system already has. With
    none, it warns once, says how to install one, and returns None: Chinese text would show
    as empty boxes, so callers should fall back to English labels.
    """
    import importlib.util

    import matplotlib as mpl
    from matplotlib import font_manager

    spec = importlib.util.find_spec("mplfonts")
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            font = Path(folder) / "fonts" / "NotoSansCJKsc-Regular.otf"
            if font.is_file():
                font_manager.fontManager.addfont(str(font))
    available = {f.name for f in font_manager.fontManager.ttflist}
    for family in _CJK_FAMILIES:
        if family in available:
            current = [f for f in mpl.rcParams["font.sans-serif"] if f != family]
            mpl.rcParams["font.sans-serif"] = [family, *current]
            # Two named families, not "sans-serif": matplotlib falls back glyph by glyph only
            # across the named ones, so symbols the CJK font lacks (✗ U+2717) come from DejaVu.
            mpl.rcParams["font.family"] = [family, "DejaVu Sans"]
            mpl.rcParams["axes.unicode_minus"] = False  # CJK fonts often lack U+2212
            return family
    warnings.warn(
        "No CJK font found, so Chinese plot labels would show as boxes. Install one with "
        "`pip install mplfonts` (Noto Sans CJK, SIL OFL) or `apt-get install fonts-noto-cjk`.",
        stacklevel=2,
    )
    return None


def set_axes(axes, xlabel=None, ylabel=None, xlim=None, ylim=None, xscale="linear",
             yscale="linear", legend=None) -> None:
    """Set labels, limits, scales, legend and grid of one matplotlib ``Axes``."""
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_xscale(xscale)
    axes.set_yscale(yscale)
    axes.set_xlim(xlim)
    axes.set_ylim(ylim)
    if legend:
        axes.legend(legend)
    axes.grid(True)


def show_images(imgs: Sequence, num_rows: int, num_cols: int, titles: Sequence[str] | None = None,
                scale: float = 1.5, title_colors: Sequence[str] | None = None, cmap: str = "gray"):
    """Draw images in a grid and return the flat array of axes.

    ``imgs`` may be tensors (H, W) or (1, H, W), NumPy arrays or PIL images.
    ``title_colors`` colours each title (e.g. green for right, red for wrong).
    """
    import matplotlib.pyplot as plt

    # Each row is one image tall plus room for its titles' lines (9 pt text is about 0.16 inch a
    # line), so two-line titles such as "true\npredicted" never touch the image above them.
    lines = max((str(t).count("\n") + 1 for t in titles), default=0) if titles is not None else 0
    figsize = (num_cols * scale, num_rows * (scale + 0.16 * lines))
    _, axes = plt.subplots(num_rows, num_cols, figsize=figsize, squeeze=False, layout="constrained")
    axes = axes.flatten()
    for i, (ax, img) in enumerate(zip(axes, imgs)):
        if torch.is_tensor(img):
            img = img.detach().cpu().squeeze().numpy()
        ax.imshow(img, cmap=cmap)
        ax.axis("off")
        if titles is not None and i < len(titles):
            color = {} if title_colors is None else {"color": title_colors[i]}  # None is no colour
            ax.set_title(titles[i], fontsize=9, **color)
    for ax in axes[len(imgs):]:
        ax.axis("off")
    return axes


def _in_jupyter() -> bool:
    """True inside a Jupyter kernel (where rich display works), False in scripts and CI."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


class Animator:
    """A live plot of several curves that works in Jupyter, in scripts and in CI.

    In Jupyter it draws one figure and updates it in place through a display handle, so the
    saved notebook (and the website) keep the final curves. Elsewhere it records the points
    and prints one line each time ``x`` reaches a whole number (an epoch). ``add`` takes one
    value per curve; ``None`` skips that curve at this x::

        animator.add(epoch + (i + 1) / num_batches, (train_l, train_acc, None))
    """

    def __init__(self, xlabel: str | None = None, ylabel: str | None = None,
                 legend: Sequence[str] | None = None, xlim=None, ylim=None,
                 xscale: str = "linear", yscale: str = "linear",
                 fmts: Sequence[str] = ("-", "m--", "g-.", "r:"), figsize=(4.5, 3.0),
                 live: bool | None = None, out=None):
        self.legend = list(legend) if legend else []
        self.axes_kw = dict(xlabel=xlabel, ylabel=ylabel, xlim=xlim, ylim=ylim,
                            xscale=xscale, yscale=yscale, legend=self.legend)
        self.fmts, self.figsize = tuple(fmts), figsize
        self.live = _in_jupyter() if live is None else live
        self.out = out  # where headless lines go (default sys.stdout)
        self.X: list[list[float]] = []
        self.Y: list[list[float]] = []
        self.fig = self.axes = self._handle = None

    def add(self, x: float, y: float | Sequence[float | None]) -> None:
        """Add one point per curve at ``x``, then redraw (Jupyter) or maybe print (elsewhere)."""
        ys = list(y) if isinstance(y, (list, tuple)) else [y]
        if not self.X:
            self.X = [[] for _ in ys]
            self.Y = [[] for _ in ys]
        for i, v in enumerate(ys):
            if v is not None:
                self.X[i].append(float(x))
                self.Y[i].append(float(v))
        if self.live:
            self._draw()
        elif float(x).is_integer():
            names = self.legend or [f"y{i}" for i in range(len(ys))]
            parts = [f"{n} {v:.3f}" for n, v in zip(names, ys) if v is not None]
            print(f"{self.axes_kw['xlabel'] or 'x'} {x:g}: " + ", ".join(parts),
                  file=self.out or sys.stdout, flush=True)

    def figure(self):
        """Draw the curves so far and return the matplotlib Figure (for saving or display)."""
        import matplotlib.pyplot as plt

        if self.fig is None:
            self.fig, self.axes = plt.subplots(figsize=self.figsize)
            plt.close(self.fig)  # shown through the display handle only, never twice
        self.axes.cla()
        for xs, ys, fmt in zip(self.X, self.Y, self.fmts):
            self.axes.plot(xs, ys, fmt)
        set_axes(self.axes, **self.axes_kw)
        self.fig.tight_layout()
        return self.fig

    def _draw(self) -> None:
        from IPython.display import display

        fig = self.figure()
        if self._handle is None:
            self._handle = display(fig, display_id=True)
        else:
            self._handle.update(fig)


# ----------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------


_DIVERGED_LOSS = 1000  # a mean loss this many times a uniform guess's ln(C) counts as diverged


class TrainingDivergedError(FloatingPointError):
    """The loss became NaN or infinite, or exploded past 1000 times a uniform guess's loss
    (1000 * ln(num_classes)). ``.history`` holds the epochs completed before."""

    def __init__(self, message: str, history: History):
        super().__init__(message)
        self.history = history


@dataclass
class History:
    """What :func:`train` measured, one entry per epoch (epoch 0 = evaluation only)."""

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    examples_per_sec: list[float] = field(default_factory=list)  # wall time, data loading incl.
    seconds: list[float] = field(default_factory=list)  # wall time of each epoch's training
    device: str = ""
    interrupted: bool = False
    amp_dtype: str = "float32"  # the dtype the forward pass really ran in (see amp_dtype())
    processes: int = 1  # torchrun processes that trained together (examples/s counts them all)

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        if not self.epoch:
            return "History(no epochs)"
        return (f"loss {self.train_loss[-1]:.3f}, train acc {self.train_acc[-1]:.3f}, "
                f"test acc {self.test_acc[-1]:.3f}\n"
                f"{self.examples_per_sec[-1]:.1f} examples/sec on {self.device}"
                + (f" x {self.processes} processes" if self.processes > 1 else ""))


# --- Mixed precision: which dtype, decided once per run ---------------------------------------

_AMP_NAMES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def _cpu_has_fast_bf16() -> bool:
    """True when oneDNN has bf16 kernels for this CPU (AVX512-BF16 or AMX); False on, e.g.,
    AVX2, where bf16 is emulated and slower than float32."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a build without oneDNN, or a future rename
        return False


def _cuda_capability(device: torch.device) -> tuple[int, int]:
    index = device.index if device.index is not None else torch.cuda.current_device()
    return tuple(torch.cuda.get_device_capability(index))


def amp_dtype(device: str | torch.device, amp: bool | str = True) -> torch.dtype:
    """The dtype that ``train(..., amp=amp)`` computes its forward pass in on ``device``.

    ``amp=True`` chooses what is fast on the hardware:
    - ``torch.bfloat16`` on GPUs with bf16 tensor cores (compute capability >= 8.0: A100,
      RTX 30xx, H100) and on CPUs with oneDNN bf16 kernels (AVX512-BF16 or AMX);
    - ``torch.float16`` on CUDA GPUs with fp16 tensor cores but no fast bf16 (compute capability
      7.x: V100, and the T4 of free hosted notebooks), trained with a gradient scaler;
    - ``torch.float32`` everywhere else (older GPUs, AVX2-only CPUs, Apple's MPS).
    ``"bf16"``, ``"fp16"`` and ``"fp32"`` force a dtype whatever the hardware (emulated bf16 or
    fp16 is slow, but ``amp="fp16"`` lets a CPU test the scaler path). ``False`` is float32.
    """
    if isinstance(amp, str):
        if amp.lower() not in _AMP_NAMES:
            raise ValueError(f"amp must be True, False or one of {sorted(_AMP_NAMES)}, "
                             f"got {amp!r}.")
        return _AMP_NAMES[amp.lower()]
    if not isinstance(amp, bool):
        raise ValueError(f"amp must be True, False or one of {sorted(_AMP_NAMES)}, got {amp!r}.")
    device = torch.device(device)
    if not amp:
        return torch.float32
    if device.type == "cuda":
        capability = _cuda_capability(device)
        if capability >= (8, 0):
            return torch.bfloat16
        return torch.float16 if capability >= (7, 0) else torch.float32
    if device.type == "cpu" and _cpu_has_fast_bf16():
        return torch.bfloat16
    return torch.float32


def autocast(device: str | torch.device, dtype: torch.dtype) -> contextlib.AbstractContextManager:
    """An autocast context that runs eligible ops in ``dtype`` on ``device``; a no-op context
    for float32. Build it once per run and enter it at every step (as nanoGPT does)."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=dtype)


def grad_scaler(device: str | torch.device, dtype: torch.dtype) -> torch.amp.GradScaler | None:
    """A ``GradScaler`` for float16, None for other dtypes.

    float16 stops at 65,504 and loses gradients below about 6e-8; the scaler multiplies the loss
    before ``backward`` so small gradients survive, divides them again before the step, skips a
    step whose gradients overflowed and then lowers its scale. bf16 has float32's exponent range
    and needs no scaler.
    """
    if dtype != torch.float16:
        return None
    return torch.amp.GradScaler(torch.device(device).type)


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


# --- One step, one epoch -----------------------------------------------------------------------


def train_step(net: nn.Module, X: torch.Tensor, y: torch.Tensor, loss_fn: nn.Module,
               optimizer: torch.optim.Optimizer,
               amp_ctx: contextlib.AbstractContextManager | None = None,
               scaler: torch.amp.GradScaler | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One training step on one batch; return ``(loss, scores)``, detached, still on the device.

    ``amp_ctx`` is the run's :func:`autocast` context (None: float32). With a ``scaler``
    (float16) the loss is scaled before ``backward``, and a step whose gradients hold inf or
    NaN is skipped instead of applied.
    """
    optimizer.zero_grad(set_to_none=True)
    with amp_ctx or contextlib.nullcontext():
        y_hat = net(X)  # (B, C) class scores, in the autocast dtype
        loss = loss_fn(y_hat.float(), y)  # mean cross-entropy of the batch, in float32
    if scaler is None:
        loss.backward()  # the gradient of the loss with respect to every weight
        optimizer.step()  # SGD: w <- w - lr * (gradient + momentum and weight-decay terms)
    else:
        scaler.scale(loss).backward()  # loss x scale, so that small fp16 gradients survive
        scaler.step(optimizer)  # unscale; skip the step if a gradient overflowed
        scaler.update()  # lower the scale after an overflow, raise it after a calm stretch
    return loss.detach(), y_hat.detach()


@dataclass
class EpochStats:
    """What :func:`train_epoch` measured over one pass (means over the epoch's examples)."""

    loss: float
    acc: float
    examples: int
    seconds: float  # wall time of the epoch's training steps, data loading included


def _check_divergence(loss: float, num_classes: int, epoch: int, step: int, num_batches: int,
                      log_every: int, lr: float) -> None:
    guess = math.log(max(num_classes, 2))  # a uniform guess's loss
    if math.isfinite(loss) and loss <= _DIVERGED_LOSS * guess:
        return
    why = ("" if not math.isfinite(loss) else
           f", over {_DIVERGED_LOSS} times the {guess:.2f} of a uniform guess")
    raise TrainingDivergedError(
        f"The loss became {loss:.4g} in epoch {epoch + 1}, by step {step + 1} of {num_batches} "
        f"(checked every {log_every} steps){why}. lr={lr} is probably too large: try "
        f"lr={lr / 10:g}.", History())


def _to_device(X: torch.Tensor, y: torch.Tensor, device: torch.device, channels_last: bool):
    X, y = X.to(device, non_blocking=True), y.to(device, non_blocking=True)
    if channels_last:
        X = X.contiguous(memory_format=torch.channels_last)
    return X, y


def train_epoch(net: nn.Module, train_iter: Iterable, loss_fn: nn.Module,
                optimizer: torch.optim.Optimizer, device: str | torch.device, *,
                amp_ctx: contextlib.AbstractContextManager | None = None,
                scaler: torch.amp.GradScaler | None = None, channels_last: bool = False,
                epoch: int = 0, animator: Animator | None = None,
                progress: Progress | None = None, start_step: int = 0,
                sums: Sequence | None = None,
                on_step: Callable[[int, Accumulator], None] | None = None) -> EpochStats:
    """One pass over ``train_iter``: a :func:`train_step` per batch; return its :class:`EpochStats`.

    The loss and the correct predictions are summed on the device and read only at about five
    log points per epoch. There the loss is checked for divergence, the ``animator`` gets a
    point (x = epoch + fraction done) and ``progress`` prints its line. ``on_step(steps_done,
    sums)`` runs after every step (``train`` saves mid-epoch checkpoints there). To finish an
    epoch begun earlier, ``train_iter`` yields only the batches left, ``start_step`` counts
    those done before and ``sums`` holds their ``Accumulator`` slots (loss sum, correct,
    examples); the epoch's means then cover the whole epoch. Under torchrun the sums are
    added up over all processes at the log points (:func:`all_reduce_sums`), so the loss and
    accuracy are those of the whole global batch.
    """
    device = torch.device(device)
    num_batches = len(train_iter)
    if num_batches == 0:
        raise ValueError("train_iter yielded no batches: is the dataset empty?")
    log_every = max(1, num_batches // 5)  # ~5 points per epoch, fine with < 5 batches
    metric = Accumulator(3)  # sum of losses, correct predictions, examples
    if sums is not None:  # the same tensors (dtype, device) as if the epoch had not stopped
        metric.data = [v.to(device) if torch.is_tensor(v) else float(v) for v in sums]
    world_size = distributed().world_size  # processes under torchrun, 1 otherwise
    net.train()  # dropout on
    t0 = time.perf_counter()
    train_l = train_acc = n = None
    for step, (X, y) in enumerate(train_iter, start=start_step):
        X, y = _to_device(X, y, device, channels_last)
        loss, y_hat = train_step(net, X, y, loss_fn, optimizer, amp_ctx, scaler)
        metric.add(loss * y.numel(), _correct(y_hat, y), y.numel())  # stays on the device
        if progress is not None:
            progress.advance(y.numel() * world_size)  # the global batch
        last = step == num_batches - 1
        if (step + 1) % log_every == 0 or last:
            loss_sum, correct, n = all_reduce_sums(metric.data)  # the host waits for the device
            train_l, train_acc = loss_sum / n, correct / n
            _check_divergence(train_l, y_hat.shape[-1], epoch, step, num_batches, log_every,
                              optimizer.param_groups[0]["lr"])
            if animator is not None and not last:  # the epoch's end gets the test accuracy too
                animator.add(epoch + (step + 1) / num_batches, (train_l, train_acc, None))
            if progress is not None:
                progress.log_point()
        if on_step is not None:
            on_step(step + 1, metric)
    if n is None:  # resumed after the epoch's last step: nothing was left to train
        loss_sum, correct, n = all_reduce_sums(metric.data)
        train_l, train_acc = loss_sum / n, correct / n
    # The means over the whole epoch: its last log point computed them.
    return EpochStats(train_l, train_acc, int(n), time.perf_counter() - t0)


# --- Progress with the time left ---------------------------------------------------------------


def _clock(seconds: float) -> str:
    """1:05 or 1:02:03; '?' when not known yet."""
    if not math.isfinite(seconds):
        return "?"
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
    return f"{s // 60}:{s % 60:02d}"


class Progress:
    """One progress line for training: epoch, step/total, examples/s, time left in the epoch and
    in the run; and, after the first steps, one printed estimate of the whole run.

    ``mode``: ``"jupyter"`` updates one display handle in place, so the saved notebook keeps the
    last line as plain text (no widget state); ``"tty"`` rewrites one terminal line; ``"lines"``
    prints a line at each log point (CI, log files); ``"off"`` only counts. None picks jupyter,
    tty or lines from where the output goes. The speed excludes each epoch's first step (warm-up);
    evaluation is counted at a third of a training step per test batch until it is measured.
    """

    MODES = ("jupyter", "tty", "lines", "off")

    def __init__(self, num_epochs: int, steps_per_epoch: int, *, start_epoch: int = 0,
                 eval_steps: int = 0, mode: str | None = None, out=None,
                 estimate_after: int = 4, device: str | torch.device = "cpu"):
        self.out = out
        self.mode = mode or self._auto_mode()
        if self.mode not in self.MODES:
            raise ValueError(f"mode must be one of {self.MODES}, got {mode!r}.")
        self.num_epochs, self.steps = num_epochs, steps_per_epoch
        self.eval_steps, self.eval_seconds = eval_steps, None
        self.estimate_after, self.estimated = estimate_after, False
        self.device = torch.device(device)
        self.epoch, self.step, self.examples, self._first = start_epoch, 0, 0, 0
        self._handle, self._last_draw, self._t0 = None, 0.0, time.perf_counter()
        self._t1, self._ex1 = None, 0  # clock and examples after the epoch's first step
        self._evaluated = False  # this epoch's test-set pass is still ahead

    def _auto_mode(self) -> str:
        if _in_jupyter():
            return "jupyter"
        stream = self.out or sys.stdout
        return "tty" if getattr(stream, "isatty", lambda: False)() else "lines"

    def start_epoch(self, epoch: int, step: int = 0) -> None:
        """Begin epoch ``epoch`` (0-based) at ``step`` (steps done before a resume): the
        counts and clocks start from there."""
        self.epoch, self.step, self.examples, self._first = epoch, step, 0, step
        self._t0, self._t1, self._ex1 = time.perf_counter(), None, 0
        self._evaluated = False  # this epoch's test-set pass is still ahead

    def advance(self, examples: int) -> None:
        """Count one finished training step of ``examples`` examples."""
        self.step += 1
        self.examples += examples
        if self.step == self._first + 1:
            self._t1, self._ex1 = time.perf_counter(), self.examples
        if self.mode == "off":
            return
        if not self.estimated and self.step - self._first >= min(self.estimate_after + 1,
                                                                 self.steps - self._first):
            self._print_estimate()
        now = time.perf_counter()
        if self.mode in ("jupyter", "tty") and now - self._last_draw >= 0.5:
            self._draw()

    def log_point(self) -> None:
        """A log point of the epoch: the line is drawn (or printed, in lines mode)."""
        if self.mode == "lines":
            print(self.line(), file=self.out or sys.stdout, flush=True)
        elif self.mode != "off":
            self._draw()

    def end_epoch(self, eval_seconds: float | None = None) -> None:
        """Record the epoch's evaluation time (for the estimates) and show its final line."""
        if eval_seconds is not None:
            self.eval_seconds, self._evaluated = eval_seconds, True
        if self.mode in ("jupyter", "tty"):
            self._draw()

    def close(self) -> None:
        """End the terminal line (the Jupyter line and the printed lines stay as they are)."""
        if self.mode == "tty" and self._last_draw:
            print(file=self.out or sys.stdout, flush=True)

    # The figures ---------------------------------------------------------------------------

    def seconds_per_step(self) -> float:
        """Wall seconds per training step in this epoch, its first (warm-up) step excluded."""
        done = self.step - self._first  # steps timed in this session
        if done >= 2 and self._t1 is not None:
            return (time.perf_counter() - self._t1) / (done - 1)
        if done == 1:
            return time.perf_counter() - self._t0
        return math.nan

    def examples_per_sec(self) -> float:
        done = self.step - self._first
        if done >= 2 and self._t1 is not None:
            return (self.examples - self._ex1) / max(time.perf_counter() - self._t1, 1e-9)
        return self.examples / max(time.perf_counter() - self._t0, 1e-9) if done else math.nan

    def _eval_estimate(self, per_step: float) -> float:
        if self.eval_seconds is not None:
            return self.eval_seconds
        return self.eval_steps * per_step / 3  # a forward pass: about a third of a step

    def left(self) -> tuple[float, float]:
        """Seconds left in this epoch (training) and in the whole run (evaluations included)."""
        per_step = self.seconds_per_step()
        epoch_left = (self.steps - self.step) * per_step
        later = self.num_epochs - self.epoch - 1
        this_eval = 0.0 if self._evaluated else self._eval_estimate(per_step)
        run_left = epoch_left + this_eval + later * (self.steps * per_step
                                                     + self._eval_estimate(per_step))
        return epoch_left, run_left

    def line(self) -> str:
        epoch_left, run_left = self.left()
        return (f"[epoch {self.epoch + 1}/{self.num_epochs}] step {self.step}/{self.steps}, "
                f"{self.examples_per_sec():.1f} examples/s, left: epoch {_clock(epoch_left)}, "
                f"run {_clock(run_left)}")

    def _print_estimate(self) -> None:
        self.estimated = True
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)  # queued steps must finish for a true clock
        per_step = self.seconds_per_step()
        total = (self.num_epochs - self.epoch) * (self.steps * per_step
                                                  + self._eval_estimate(per_step))
        clear = "\r\x1b[K" if self.mode == "tty" and self._last_draw else ""  # own line
        print(f"{clear}estimate: {self.num_epochs - self.epoch} epoch(s) of {self.steps} steps at "
              f"{self.examples_per_sec():.1f} examples/s take about {_clock(total)} (min:s), "
              f"evaluation included; measured on steps 2-{self.step}", file=self.out or sys.stdout,
              flush=True)

    def _draw(self) -> None:
        self._last_draw = time.perf_counter()
        text = self.line()
        if self.mode == "tty":
            print("\r" + text + "\x1b[K", end="", file=self.out or sys.stdout, flush=True)
            return
        from IPython.display import display

        if self._handle is None:
            self._handle = display({"text/plain": text}, raw=True, display_id=True)
        else:
            self._handle.update({"text/plain": text}, raw=True)


# --- Evaluation ---------------------------------------------------------------------------------


@contextlib.contextmanager
def _eval_mode(net: nn.Module):
    """Switch ``net`` to eval mode (dropout off) and back to the mode it was in, even when the
    body raises or is interrupted (Ctrl-C)."""
    was_training = net.training
    net.eval()
    try:
        yield net
    finally:
        net.train(was_training)


class _Stopped(Exception):
    """Raised inside :func:`train` to stop after a signal (SIGTERM) asked it to."""


def _evaluate(net: nn.Module, data_iter: Iterable, device: torch.device,
              amp_ctx: contextlib.AbstractContextManager | None = None,
              stop: Callable[[], bool] | None = None) -> float:
    metric = Accumulator(2)  # correct predictions, predictions
    with _eval_mode(net), torch.inference_mode(), amp_ctx or contextlib.nullcontext():
        for X, y in data_iter:
            if stop is not None and stop():  # a long evaluation must not outlast the grace
                raise _Stopped
            X, y = X.to(device), y.to(device)
            metric.add(_correct(net(X), y), y.numel())
    correct, n = all_reduce_sums(metric.data)  # over all processes under torchrun
    if n == 0:
        raise ValueError("data_iter yielded no examples: cannot compute an accuracy.")
    return correct / n


def evaluate_accuracy_gpu(
    net: nn.Module, data_iter: Iterable, device: str | torch.device | None = None,
    amp: bool | str = False,
) -> float:
    """Accuracy of ``net`` on ``data_iter``, computed in eval mode under ``inference_mode``.

    ``device`` defaults to where the model's parameters are. ``amp`` runs under autocast in the
    dtype :func:`amp_dtype` chooses (as in :func:`train`). The mode the model was in (train or
    eval) is restored afterwards, also when evaluation fails or is interrupted. Under torchrun
    each process evaluates its shard and the counts are summed over all processes, so every
    process returns the accuracy on the whole test set.
    """
    device = next(net.parameters()).device if device is None else torch.device(device)
    return _evaluate(net, data_iter, device, autocast(device, amp_dtype(device, amp)))


# --- The whole run ------------------------------------------------------------------------------


def _check_train_args(num_epochs: Any, lr: Any) -> None:
    if isinstance(num_epochs, bool) or not isinstance(num_epochs, int) or num_epochs < 0:
        raise ValueError(
            f"num_epochs must be an integer >= 0 (0 only evaluates), got {num_epochs!r}.")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) \
            or lr <= 0:
        raise ValueError(f"lr must be a finite number > 0 (e.g. 0.01), got {lr!r}.")


@contextlib.contextmanager
def _oom_advice(batch_size: int | None):
    """Turn a CUDA out-of-memory error into one that names the batch size to try."""
    try:
        yield
    except torch.cuda.OutOfMemoryError as err:
        raise RuntimeError(_oom_message(err, batch_size)) from None


def _oom_message(err: BaseException, batch_size: int | None) -> str:
    if batch_size:
        advice = f" at batch size {batch_size}. Try batch_size={max(1, batch_size // 2)}"
    else:  # a custom iterable without .batch_size
        advice = ". Try a smaller batch_size"
    return (f"Out of GPU memory{advice} (or a smaller resize); free other notebooks' GPU "
            f"memory first. ({err})")


@dataclass
class _Run:
    """Everything one call of :func:`train` works with, so its helpers take one argument."""

    net: nn.Module  # the plain model: checkpoints hold its weights
    model: nn.Module  # what runs: net, or torch.compile(net)
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: torch.amp.GradScaler | None
    loss_fn: nn.Module
    amp_ctx: contextlib.AbstractContextManager
    device: torch.device
    channels_last: bool
    checkpoint: Path | None
    every: tuple[str, float] | None = None  # ("steps", n) or ("seconds", s): mid-epoch saves
    saved_epoch: int | None = None  # the finished epochs the checkpoint file holds...
    saved_step: int = 0  # ...and the steps of the next epoch it holds (0: an epoch's end)
    num_batches: int = 0
    since_save: int = 0  # training steps since the last checkpoint
    last_save: float = 0.0  # _now() at the last checkpoint (or the start)
    stop: int | None = None  # the signal that asked the run to stop (SIGTERM), once it came
    position: dict | None = None  # a mid-epoch checkpoint's position, until it is resumed
    epoch_rng: dict | None = None  # RNG states at the start of the current epoch
    sums: list | None = None  # the current epoch's Accumulator slots after its last step
    epoch_t0: float = 0.0  # perf_counter() when this session began the current epoch...
    epoch_s0: float = 0.0  # ...and the seconds it had trained before a mid-epoch resume
    world: Distributed = field(default_factory=Distributed)  # this process in a torchrun job

    @property
    def evaluator(self) -> nn.Module:
        """What evaluates: under DDP the plain model (its shard, no collective per batch)."""
        return self.net if self.world.world_size > 1 else self.model


def _now() -> float:
    """The clock of ``checkpoint_every`` durations (a function, so tests can move it)."""
    return time.monotonic()


_DURATION = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(s|sec|min|h)\s*", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "sec": 1, "min": 60, "h": 3600}


def _parse_every(every: Any, checkpoint: Any) -> tuple[str, float] | None:
    """``checkpoint_every``: an int counts training steps, a string such as "10min" is time."""
    if every is None:
        return None
    if checkpoint is None:
        raise ValueError(f"checkpoint_every={every!r} needs a checkpoint file to write: pass "
                         "checkpoint='run.pt' too.")
    if isinstance(every, int) and not isinstance(every, bool) and every >= 1:
        return ("steps", every)
    match = _DURATION.fullmatch(every) if isinstance(every, str) else None
    if match and float(match[1]) > 0:
        return ("seconds", float(match[1]) * _UNIT_SECONDS[match[2].lower()])
    raise ValueError("checkpoint_every must be a number of training steps (an int >= 1, e.g. "
                     "200) or a duration string such as '10min', '90s' or '1h'; got "
                     f"{every!r}.")


def _prepare_model(net: nn.Module, device: torch.device, channels_last: bool,
                   compile: bool, world: Distributed = Distributed()) -> nn.Module:
    """Move ``net`` to ``device`` (NHWC if asked), set cuDNN autotuning, wrap it in DDP under
    torchrun, compile if asked."""
    net.to(device)
    if channels_last:
        net.to(memory_format=torch.channels_last)
    if device.type == "cuda" and not torch.backends.cudnn.deterministic:
        # Time the convolution algorithms once per shape and keep the fastest. The choice may
        # differ between runs, so set_seed(..., deterministic=True) leaves it off.
        torch.backends.cudnn.benchmark = True
    model = net
    if world.world_size > 1:
        # DDP copies rank 0's weights to every process, then averages the gradients of all
        # processes during backward (in buckets, each sent as soon as it is ready).
        model = nn.parallel.DistributedDataParallel(
            net, device_ids=[device.index] if device.type == "cuda" else None)
    return torch.compile(model) if compile else model


def _where(epoch: int | None, step: int, num_batches: int = 0) -> str:
    """What a checkpoint holds, in words: "epoch 3" (its end) or "epoch 4 up to step 120"."""
    if not step:
        return f"epoch {epoch}"
    of = f" of {num_batches}" if num_batches else ""
    return f"epoch {epoch + 1} up to step {step}{of}"


def _resume(run: _Run, history: History, verbose: bool) -> tuple[History, int]:
    """Load ``run.checkpoint`` (model, optimizer, scheduler, scaler, RNG); return its history
    and the number of finished epochs. A mid-epoch checkpoint's position is kept in
    ``run.position`` for the epoch it stopped in."""
    state = load_checkpoint(run.checkpoint, run.net, run.optimizer, run.scheduler,
                            scaler=run.scaler)
    resumed = History(**state["history"])
    resumed.interrupted = False
    resumed.device, resumed.amp_dtype = history.device, history.amp_dtype
    run.saved_epoch, run.position = state["epoch"], state.get("position")
    run.saved_step = run.position["step"] if run.position else 0
    rng = _own_rng(state, run.world)
    if run.position:
        run.position["rng"] = rng["rng"]  # set after the epoch's done batches are skipped
        run.position["epoch_rng"] = rng.get("epoch_rng") or run.position["epoch_rng"]
    else:
        _set_rng_state(rng["rng"])
    if verbose:
        where = (f"in epoch {run.saved_epoch + 1} after step {run.saved_step}"
                 if run.saved_step else f"after epoch {run.saved_epoch}")
        print(f"resumed from {run.checkpoint} {where}")
    return resumed, run.saved_epoch


def _own_rng(state: dict, world: Distributed) -> dict:
    """This process's RNG states in a checkpoint: under torchrun each rank's own, when it was
    saved by as many processes; rank 0's otherwise."""
    ranks = state.get("rank_rng")
    if ranks and len(ranks) == world.world_size:
        return ranks[world.rank]
    return {"rng": state["rng"]}


def _make_animator(animator: Animator | bool | None, num_epochs: int,
                   history: History) -> Animator | None:
    """The default Animator for ``animator=True``, None for False; replays resumed epochs."""
    if animator is True:
        animator = Animator(xlabel="epoch", xlim=[1, max(1, num_epochs)],
                            legend=["train loss", "train acc", "test acc"])
    if not animator:
        return None
    for e, l_, a, t in zip(history.epoch, history.train_loss, history.train_acc,
                           history.test_acc):
        if e > 0:
            animator.add(e, (l_, a, t))
    return animator


# --- Checkpoints during the run -------------------------------------------------------------------


def _write(run: _Run, epoch: int, history: History, position: dict | None) -> None:
    extra = {}
    if run.world.world_size > 1:  # every process's RNG states, so that each resumes its own
        extra["rank_rng"] = _gather({"rng": _get_rng_state(), "epoch_rng": run.epoch_rng})
    if not run.world.is_main:
        return  # rank 0 writes the one checkpoint
    if position is None and not extra:  # positional: tests and the fault worker wrap it
        save_checkpoint(run.checkpoint, run.net, run.optimizer, epoch, history, run.scheduler,
                        run.scaler)
    else:
        save_checkpoint(run.checkpoint, run.net, run.optimizer, epoch, history, run.scheduler,
                        run.scaler, position=position, **extra)


def _save(run: _Run, epoch: int, history: History, position: dict | None = None) -> None:
    """Write the run's checkpoint; a failed write says what the previous file still holds and
    carries the history. Under torchrun rank 0 writes it and every process learns whether
    that worked, so that none trains on alone."""
    failure = None
    try:
        _write(run, epoch, history, position)
    except CheckpointWriteError as err:
        failure = err
    if _agree(failure is not None)[0] and failure is None:
        failure = CheckpointWriteError(f"Rank 0 could not write the checkpoint "
                                       f"{run.checkpoint}; its output says why.", run.checkpoint)
    if failure is not None:
        err = failure
        kept = (f"The previous checkpoint {run.checkpoint} is intact and holds "
                f"{_where(run.saved_epoch, run.saved_step, run.num_batches)}."
                if run.saved_epoch is not None else "No checkpoint had been written yet.")
        err.args = (f"{err} {kept} The model keeps its weights and the error's .history holds "
                    f"the {len(history.epoch)} finished epoch(s); after fixing this, resume with "
                    "train(..., checkpoint=..., resume=True).",)
        err.history = history
        raise err
    run.saved_epoch, run.saved_step = epoch, position["step"] if position else 0
    run.since_save, run.last_save = 0, _now()


def _save_position(run: _Run, epoch: int, step: int, history: History) -> None:
    """A mid-epoch checkpoint after ``step`` steps of epoch ``epoch + 1``: with the RNG states
    of the epoch's start (to replay its data order) and its partial sums."""
    sums = [v.detach().cpu() if torch.is_tensor(v) else float(v) for v in run.sums]
    seconds = run.epoch_s0 + time.perf_counter() - run.epoch_t0
    _save(run, epoch, history, {"step": step, "num_batches": run.num_batches, "sums": sums,
                                "epoch_rng": run.epoch_rng, "seconds": seconds})


def _due(run: _Run) -> bool:
    kind, every = run.every
    return run.since_save >= every if kind == "steps" else _now() - run.last_save >= every


def _after_step(run: _Run, epoch: int, history: History, step: int, metric: Accumulator) -> None:
    """After each training step: stop if a signal asked to (saving the exact position first),
    or write a mid-epoch checkpoint when ``checkpoint_every`` is due."""
    run.sums, run.since_save = metric.data, run.since_save + 1
    due = run.every is not None and step < run.num_batches and _due(run)  # the end saves anyway
    stop, due = _agree(run.stop is not None, due)  # under torchrun: if any process says so
    if stop:
        run.stop = run.stop or signal.SIGTERM
        if run.checkpoint is not None:
            _save_position(run, epoch, step, history)
        raise _Stopped
    if due:
        _save_position(run, epoch, step, history)


class _Rest:
    """The batches left of an epoch begun before a resume, under the epoch's full length."""

    def __init__(self, batches: Iterator, num_batches: int):
        self.batches, self.num_batches = batches, num_batches

    def __len__(self) -> int:
        return self.num_batches

    def __iter__(self) -> Iterator:
        return self.batches


def _set_epoch(loader: Iterable, epoch: int) -> None:
    """Tell a seeded or sharded loader (DeviceLoader, DistributedSampler) which epoch begins:
    without it every epoch would repeat the first one's order."""
    for target in (loader, getattr(loader, "sampler", None)):
        if hasattr(target, "set_epoch"):
            target.set_epoch(epoch)
            return


def _epoch_batches(run: _Run, train_iter: Iterable,
                   epoch: int) -> tuple[Iterable, int, list | None]:
    """The epoch's batches, steps already done, and their sums. After a mid-epoch checkpoint:
    the RNG states of the epoch's start come back, a new iterator draws the same data order,
    the batches already trained on are skipped, and the RNG states of the save come back."""
    _set_epoch(train_iter, epoch)
    position, run.position = run.position, None
    run.epoch_t0, run.epoch_s0 = time.perf_counter(), 0.0
    if position is None:
        run.epoch_rng = _get_rng_state()  # DataLoader/DeviceLoader shuffle when iter() starts
        return train_iter, 0, None
    if position["num_batches"] != len(train_iter):
        raise CheckpointError(
            f"{run.checkpoint} stopped at step {position['step']} of an epoch of "
            f"{position['num_batches']} batches, but train_iter has {len(train_iter)}: resume "
            "with the same data and batch_size, or pass checkpoint= a new file.")
    run.epoch_rng, run.epoch_s0 = position["epoch_rng"], position["seconds"]
    _set_rng_state(position["epoch_rng"])
    batches = iter(train_iter)
    for _ in range(position["step"]):
        next(batches)
    _set_rng_state(position["rng"])  # dropout and augmentation go on as they would have
    run.sums, run.epoch_t0 = position["sums"], time.perf_counter()  # skipping is not training
    return _Rest(batches, len(train_iter)), position["step"], position["sums"]


def _epoch(run: _Run, train_iter: Iterable, epoch: int, history: History,
           animator: Animator | None, progress: Progress) -> EpochStats:
    batches, start_step, sums = _epoch_batches(run, train_iter, epoch)
    progress.start_epoch(epoch, start_step)
    try:
        stats = train_epoch(run.model, batches, run.loss_fn, run.optimizer, run.device,
                            amp_ctx=run.amp_ctx, scaler=run.scaler,
                            channels_last=run.channels_last, epoch=epoch, animator=animator,
                            progress=progress, start_step=start_step, sums=sums,
                            on_step=lambda step, metric: _after_step(run, epoch, history,
                                                                     step, metric))
    except TrainingDivergedError as err:
        err.history = history  # the epochs finished before this one
        raise
    stats.seconds += run.epoch_s0  # the whole epoch's time: examples/s covers all its examples
    return stats


def _evaluate_epoch(run: _Run, test_iter: Iterable, epoch: int, history: History) -> float:
    """The test accuracy after an epoch; a stop asked for meanwhile first saves the position
    "all steps done, not yet evaluated"."""
    before = _get_rng_state() if run.checkpoint is not None else None
    try:
        # Alone, a stop asked for mid-evaluation ends it early. Under torchrun every process
        # finishes its shard: the stop is agreed on after the epoch's checkpoint instead.
        alone = run.world.world_size == 1
        return _evaluate(run.evaluator, test_iter, run.device, run.amp_ctx,
                         stop=(lambda: run.stop is not None) if alone else None)
    except _Stopped:
        if run.checkpoint is not None:
            # Back to the RNG states of the epoch's end: creating the test iterator drew from
            # torch's generator (DataLoader's base seed), and the resumed run will draw again.
            _set_rng_state(before)
            _save_position(run, epoch, run.num_batches, history)
        raise


def _train_epochs(run: _Run, train_iter: Iterable, test_iter: Iterable, start_epoch: int,
                  num_epochs: int, history: History, animator: Animator | None,
                  progress: Progress) -> None:
    """Epochs ``start_epoch + 1 .. num_epochs``: train, evaluate, record, plot, checkpoint."""
    run.num_batches, run.last_save = len(train_iter), _now()
    for epoch in range(start_epoch, num_epochs):
        stats = _epoch(run, train_iter, epoch, history, animator, progress)
        t0 = time.perf_counter()
        test_acc = _evaluate_epoch(run, test_iter, epoch, history)
        progress.end_epoch(eval_seconds=time.perf_counter() - t0)
        if run.scheduler is not None:  # after evaluating: a stop there saves it un-stepped
            run.scheduler.step()
        _append(history, epoch + 1, stats.loss, stats.acc, test_acc,
                stats.examples / stats.seconds, stats.seconds)
        if animator is not None:
            animator.add(epoch + 1, (stats.loss, stats.acc, test_acc))
        if run.checkpoint is not None:
            _save(run, epoch + 1, history)
        if _agree(run.stop is not None)[0]:  # came while evaluating or saving: it is on disk
            run.stop = run.stop or signal.SIGTERM
            raise _Stopped


# --- Stopping: Ctrl-C and SIGTERM -------------------------------------------------------------


@contextlib.contextmanager
def _stop_on_sigterm(run: _Run):
    """While training, SIGTERM (hosted notebooks, SLURM, spot machines stopping a job) asks the
    run to stop after its current step instead of killing it. Only the main thread may set a
    signal handler; elsewhere SIGTERM keeps its effect. The previous handler comes back."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def ask_to_stop(signum, frame):  # runs between two bytecodes of the main thread
        run.stop = signum

    previous = signal.signal(signal.SIGTERM, ask_to_stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def _on_disk(run: _Run) -> str:
    return (f"the checkpoint {run.checkpoint} holds "
            f"{_where(run.saved_epoch, run.saved_step, run.num_batches)}"
            if run.saved_epoch is not None else "no checkpoint was saved")


def _interrupted_message(run: _Run, progress: Progress, history: History) -> str:
    how = ("Resume with train(..., checkpoint=..., resume=True)." if run.checkpoint else
           "Pass checkpoint='run.pt' to be able to resume next time.")
    return (f"\nInterrupted in epoch {progress.epoch + 1} after {progress.step} step(s). The "
            f"model keeps its last weights and the history holds {len(history.epoch)} finished "
            f"epoch(s); {_on_disk(run)}. {how}")


def _stopped(run: _Run, progress: Progress, history: History) -> History:
    """SIGTERM: say where the run stopped and how to resume; then in a script exit with status
    143 (SystemExit, ``.history`` attached); in a notebook return the history."""
    history.interrupted = True
    how = ("Run the same train(..., checkpoint=..., resume=True) again to continue from there."
           if run.saved_epoch is not None else
           "Pass checkpoint='run.pt' and checkpoint_every='10min' to be able to resume.")
    then = ("train returns the history (interrupted=True)." if _in_jupyter() else
            f"Exiting with status {SIGTERM_EXIT_STATUS}.")
    if run.world.is_main:
        print(f"\nStopped by SIGTERM in epoch {progress.epoch + 1} after {progress.step} "
              f"step(s); {_on_disk(run)}. {how} {then}", flush=True)
    if _in_jupyter():  # IPython would catch SystemExit anyway and keep the kernel running
        return history
    stop = SystemExit(SIGTERM_EXIT_STATUS)
    stop.history = history
    raise stop


def _evaluate_only(run: _Run, test_iter: Iterable, history: History, verbose: bool) -> History:
    test_acc = _evaluate(run.evaluator, test_iter, run.device, run.amp_ctx)
    _append(history, 0, math.nan, math.nan, test_acc, math.nan, 0.0)
    if verbose:
        print(f"test acc {test_acc:.3f} (num_epochs=0: evaluation only)")
    return history


def _run_epochs(run: _Run, train_iter: Iterable, test_iter: Iterable, start_epoch: int,
                num_epochs: int, history: History, animator: Animator | None,
                progress: Progress) -> History:
    """The epochs under the SIGTERM handler; Ctrl-C and SIGTERM end them cleanly."""
    try:
        with _stop_on_sigterm(run):
            _train_epochs(run, train_iter, test_iter, start_epoch, num_epochs, history,
                          animator, progress)
    except KeyboardInterrupt:
        history.interrupted = True
        if run.world.is_main:
            print(_interrupted_message(run, progress, history))
    except _Stopped:
        return _stopped(run, progress, history)
    finally:
        progress.close()
    return history


def train(
    net: nn.Module,
    train_iter: Iterable,
    test_iter: Iterable,
    num_epochs: int,
    lr: float,
    device: str | torch.device | None = None,
    *,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    label_smoothing: float = 0.0,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    amp: bool | str = False,
    channels_last: bool = False,
    compile: bool = False,
    animator: Animator | bool | None = True,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
    verbose: bool = True,
    progress: bool | str | None = None,
    checkpoint_every: int | str | None = None,
) -> History:
    """Train ``net`` with SGD and cross-entropy; return a :class:`History`.

    It does not initialise weights: call :func:`init_weights` first (a separate step). Each
    epoch is one :func:`train_epoch`, each batch one :func:`train_step`; ``train`` adds the
    device, the checkpoints, the plot, the progress line, Ctrl-C and SIGTERM.

    - ``amp``: True trains under autocast in the dtype :func:`amp_dtype` picks for the device
      (bf16 on Ampere+ GPUs and AVX512-BF16/AMX CPUs, fp16 with a gradient scaler on V100/T4,
      float32 elsewhere); ``"bf16"``, ``"fp16"``, ``"fp32"`` force one. Decided once per run;
      ``History.amp_dtype`` records it. ``channels_last`` stores activations NHWC, ``compile``
      wraps the model in ``torch.compile``. On CUDA, ``cudnn.benchmark`` picks the fastest
      convolution kernels (not after ``set_seed(..., deterministic=True)``).
    - ``checkpoint``: a file written atomically after every epoch (model, optimizer, scaler,
      epoch, history, RNG states). With ``resume=True`` training continues from it up to
      ``num_epochs`` in total, and gives the same result as an uninterrupted run. Before the
      first step its folder is created and checked writable, and ``<checkpoint>.lock`` (pid,
      host, start time) keeps a second run off the same file (:class:`CheckpointLockError`;
      a lock whose process is dead is recovered). A write that fails (full disk...) raises
      :class:`CheckpointWriteError` with ``.history``; the previous file stays intact.
    - ``checkpoint_every``: also write the checkpoint inside epochs, every N training steps
      (an int) or every so often (a string: ``"10min"``, ``"90s"``, ``"1h"``). Resuming from
      such a checkpoint replays the epoch's data order, skips the batches done, and reaches
      the same result as an uninterrupted run; at most that interval is lost.
    - ``progress``: a line with the step, examples/s and the time left (see :class:`Progress`);
      None shows it when ``verbose``; a string picks its mode. After the first steps one line
      estimates the whole run's time.
    - Ctrl-C (KeyboardInterrupt) stops cleanly: the model keeps its last weights, the
      history so far is returned with ``interrupted=True``, and the message says how to resume.
    - SIGTERM (a scheduler or host stopping the job) finishes the current step, saves the exact
      position to ``checkpoint``, prints how to resume, then raises
      ``SystemExit(SIGTERM_EXIT_STATUS)`` (143) with ``.history``; in Jupyter it returns the
      history with ``interrupted=True`` instead. The handler is set only for the duration of
      ``train``, only in the main thread.
    - A NaN/inf loss, or a finite one over 1000 times a uniform guess's (about 2,300 for
      10 classes), raises :class:`TrainingDivergedError` naming the epoch and step.
    Prints the tutorial's closing lines (loss/train acc/test acc, examples/sec on device).
    """
    _check_train_args(num_epochs, lr)
    every = _parse_every(checkpoint_every, checkpoint)
    world, device = init_distributed(device)  # alone: rank 0 of 1 and resolve_device(device)
    _check_shards(train_iter, world)
    verbose = verbose and world.is_main  # under torchrun only rank 0 prints, plots, saves
    dtype = amp_dtype(device, amp)  # decided once for the whole run
    model = _prepare_model(net, device, channels_last, compile, world)
    optimizer = optimizer or torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum,
                                             weight_decay=weight_decay)
    run = _Run(net, model, optimizer, scheduler, grad_scaler(device, dtype),
               nn.CrossEntropyLoss(label_smoothing=label_smoothing), autocast(device, dtype),
               device, channels_last, None if checkpoint is None else Path(checkpoint), every,
               world=world)
    history = History(device=str(device), amp_dtype=_dtype_name(dtype),
                      processes=world.world_size)
    lock = _open_checkpoint_everywhere(run, verbose)  # storage faults show up now
    try:
        start_epoch = 0
        if resume and run.checkpoint is not None and run.checkpoint.exists():
            history, start_epoch = _resume(run, history, verbose)
        animator = _make_animator(animator if world.is_main else None, num_epochs, history)
        if verbose:
            print(_training_on(device, dtype, world, train_iter, lr))
        # Out of GPU memory, in training or in evaluation, gets advice on the batch size.
        with _oom_advice(getattr(test_iter if num_epochs == 0 else train_iter, "batch_size",
                                 None)):
            if num_epochs == 0:
                return _evaluate_only(run, test_iter, history, verbose)
            progress = _make_progress(progress if world.is_main else False, verbose,
                                      num_epochs, train_iter, test_iter, start_epoch, device)
            history = _run_epochs(run, train_iter, test_iter, start_epoch, num_epochs,
                                  history, animator, progress)
    finally:
        _release_lock(lock)
    if verbose and not history.interrupted:
        print(history)
    return history


def _training_on(device: torch.device, dtype: torch.dtype, world: Distributed,
                 train_iter: Iterable, lr: float) -> str:
    line = f"training on {device}" + ("" if dtype == torch.float32 else
                                      f" ({_dtype_name(dtype)} autocast)")
    if world.world_size == 1:
        return line
    b = getattr(train_iter, "batch_size", None)
    batch = (f"global batch {b * world.world_size} = {world.world_size} x {b}" if b else
             f"{world.world_size} batches per step")
    return (f"{line} in each of {world.world_size} processes ({world.backend}); {batch}; "
            f"lr={lr:g} applies to the global batch (DDP averages the processes' gradients)")


def _check_shards(train_iter: Iterable, world: Distributed) -> None:
    """Under torchrun every process needs its own shard of the data, and as many batches as
    the others (a process with one batch more would wait forever for the rest)."""
    if world.world_size == 1:
        return
    shards = (train_iter.world_size if isinstance(train_iter, DeviceLoader) else
              getattr(getattr(train_iter, "sampler", None), "num_replicas", None))
    if shards == 1:
        raise ValueError(
            f"train runs in {world.world_size} processes (torchrun), but train_iter gives each "
            "of them all the training data. Load it after d2lite.init_distributed() with "
            "load_data_fashion_mnist(...) (it shards by itself), or pass shard=True.")
    lengths = _gather(len(train_iter))
    if len(set(lengths)) > 1:
        raise ValueError(f"the processes have different numbers of training batches "
                         f"({lengths}, by rank): give every process an equal shard.")


def _open_checkpoint_everywhere(run: _Run, verbose: bool) -> Path | None:
    """Rank 0 opens the checkpoint (folder, lock, free space) for the whole job; every
    process learns whether that worked, so that none starts training alone."""
    lock, failure = None, None
    if run.world.is_main:
        try:
            lock = _open_checkpoint(run.checkpoint, run.net, verbose)
        except CheckpointError as err:
            failure = err
    if _agree(failure is not None)[0]:
        raise failure or CheckpointError(f"Rank 0 could not open the checkpoint "
                                         f"{run.checkpoint}; its output says why.")
    return lock


def _make_progress(progress: bool | str | None, verbose: bool, num_epochs: int,
                   train_iter: Iterable, test_iter: Iterable, start_epoch: int,
                   device: torch.device) -> Progress:
    on = verbose if progress is None else bool(progress)
    mode = progress if isinstance(progress, str) else (None if on else "off")
    eval_steps = len(test_iter) if hasattr(test_iter, "__len__") else 0
    return Progress(num_epochs, len(train_iter), start_epoch=start_epoch, eval_steps=eval_steps,
                    mode=mode, device=device)


# --- A run sized to a time budget ----------------------------------------------------------------


@dataclass
class BudgetPlan:
    """How many training images fit a time budget, from speeds measured on this machine."""

    budget_s: float
    num_epochs: int
    batch_size: int
    n_train: int  # training images per epoch (a multiple of batch_size)
    n_test: int  # test images evaluated after each epoch
    train_examples_per_sec: float
    eval_examples_per_sec: float
    estimate_s: float  # the run's expected wall time at the measured speeds
    device: str
    fits: bool  # False when even the smallest run exceeds the budget

    def __str__(self) -> str:
        size = (f"{self.num_epochs} epoch(s) of {self.n_train:,} training images (batch "
                f"{self.batch_size}) + {self.n_test:,} test images per epoch")
        verdict = "fit" if self.fits else "do NOT fit (the smallest run)"
        return (f"measured on {self.device}: {self.train_examples_per_sec:.1f} training and "
                f"{self.eval_examples_per_sec:.1f} evaluation examples/s\n"
                f"{size} {verdict} a {self.budget_s / 60:.0f}-minute budget: about "
                f"{self.estimate_s / 60:.1f} min")


def _num_examples(loader: Any) -> int:
    dataset = getattr(loader, "dataset", loader)
    return len(dataset.images) if isinstance(dataset, DeviceLoader) else len(dataset)


def _batches(loader: Iterable, n: int) -> Iterator:
    """n batches from ``loader``, starting it again when it runs out."""
    count = 0
    while count < n:
        for batch in loader:
            yield batch
            count += 1
            if count == n:
                return


def _time_steps(step, batches: Iterator, steps: int, device: torch.device) -> float:
    """Examples per second of ``step(X, y)`` over ``steps`` batches, after one warm-up batch."""
    step(*next(batches))  # warm-up: allocations, oneDNN/cuDNN kernel choice
    examples, t0 = 0, None
    for i, (X, y) in enumerate(batches):
        if i == 0:
            _sync(device)
            t0 = time.perf_counter()
        step(X, y)
        examples += len(y)
    _sync(device)
    return examples / (time.perf_counter() - t0)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_speed(net: nn.Module, train_iter: Iterable, test_iter: Iterable, *,
                  device: str | torch.device | None = None, amp: bool | str = False,
                  channels_last: bool = False, steps: int = 3) -> tuple[float, float]:
    """Training and evaluation examples/s of ``net`` here, timed on ``steps`` batches each
    after one warm-up batch. Runs on a copy: ``net``, its mode and the random state are left
    as they were."""
    import copy

    device = resolve_device(device)
    dtype = amp_dtype(device, amp)
    ctx, rng = autocast(device, dtype), _get_rng_state()
    probe = _prepare_model(copy.deepcopy(net), device, channels_last, compile=False)
    opt = torch.optim.SGD(probe.parameters(), lr=1e-3, momentum=0.9)
    scaler, loss_fn = grad_scaler(device, dtype), nn.CrossEntropyLoss()
    try:
        probe.train()
        def step(X, y):
            X, y = _to_device(X, y, device, channels_last)
            return train_step(probe, X, y, loss_fn, opt, ctx, scaler)

        train_eps = _time_steps(step, _batches(train_iter, steps + 1), steps, device)
        with _eval_mode(probe), torch.inference_mode(), ctx:
            eval_eps = _time_steps(lambda X, y: probe(X.to(device)),
                                   _batches(test_iter, steps + 1), steps, device)
    finally:
        _set_rng_state(rng)
    return train_eps, eval_eps


def plan_budget(net: nn.Module, train_iter: Iterable, test_iter: Iterable, budget_minutes: float,
                num_epochs: int, *, device: str | torch.device | None = None,
                amp: bool | str = False, channels_last: bool = False,
                steps: int = 3) -> BudgetPlan:
    """Size the training set so that ``num_epochs`` epochs, each followed by a pass over all of
    ``test_iter``, take about ``budget_minutes`` on this machine.

    The speeds come from :func:`measure_speed` (a few batches, on a copy of ``net``); the number
    of training images is rounded down to whole batches and kept between one batch and all the
    images ``train_iter`` holds. Load the data again with ``subset=(plan.n_train, None)``.
    """
    if not (isinstance(budget_minutes, (int, float)) and budget_minutes > 0):
        raise ValueError(f"budget_minutes must be a number > 0, got {budget_minutes!r}.")
    _check_train_args(num_epochs, 1.0)
    device = resolve_device(device)
    train_eps, eval_eps = measure_speed(net, train_iter, test_iter, device=device, amp=amp,
                                        channels_last=channels_last, steps=steps)
    batch = getattr(train_iter, "batch_size", None) or 1
    n_max, n_test = _num_examples(train_iter), _num_examples(test_iter)
    budget_s = 60.0 * budget_minutes
    per_epoch_train_s = budget_s / max(num_epochs, 1) - n_test / eval_eps
    n_train = int(per_epoch_train_s * train_eps) // batch * batch
    n_train = max(batch, min(n_train, n_max))
    estimate = num_epochs * (n_train / train_eps + n_test / eval_eps)
    return BudgetPlan(budget_s, num_epochs, batch, n_train, n_test, train_eps, eval_eps,
                      estimate, f"{device} ({device_name(device)})", estimate <= budget_s * 1.001)


def _append(h: History, epoch, loss, train_acc, test_acc, eps, seconds) -> None:
    h.epoch.append(epoch)
    h.train_loss.append(float(loss))
    h.train_acc.append(float(train_acc))
    h.test_acc.append(float(test_acc))
    h.examples_per_sec.append(float(eps))
    h.seconds.append(float(seconds))


# ----------------------------------------------------------------------------------------------
# Checkpoints
# ----------------------------------------------------------------------------------------------


CHECKPOINT_FORMAT = 2  # 1: epoch ends only (files without a "format" key); 2: mid-epoch positions
SIGTERM_EXIT_STATUS = 143  # 128 + SIGTERM(15): what shells and schedulers report for a TERM stop


class CheckpointError(RuntimeError):
    """A checkpoint file is damaged, belongs to a different model, or cannot be used here."""


class CheckpointWriteError(CheckpointError, OSError):
    """A checkpoint could not be written: a full disk, a read-only or unwritable folder, a
    parent folder that cannot be created. Also an ``OSError`` (``.errno`` is the system's).

    ``.path`` is the checkpoint. When :func:`train` raises it, ``.history`` holds the epochs
    finished so far (the model keeps its weights) and the previous checkpoint file is intact.
    """

    def __init__(self, message: str, path: str | os.PathLike, errno_: int | None = None,
                 history: History | None = None):
        RuntimeError.__init__(self, message)
        self.errno, self.strerror, self.filename = errno_, message, os.fspath(path)
        self.path, self.history = Path(path), history

    def __str__(self) -> str:  # OSError's own would print "[Errno 28] ..." before the message
        return str(self.args[0])


class CheckpointLockError(CheckpointError):
    """Another run is writing the same checkpoint file: it holds ``<checkpoint>.lock``."""


# errno -> (what went wrong, what to do); {dir} is the folder concerned.
_DISK_FULL = ("the disk is full", "free space there (check with: df -h {dir}) or pass "
              "checkpoint= a path on another disk")
_NOT_WRITABLE = ("permission denied", "make the folder writable (chmod u+w {dir}) or pass "
                 "checkpoint= a path in a folder you can write to")
_WRITE_FAULTS = {
    errno.ENOSPC: _DISK_FULL,
    getattr(errno, "EDQUOT", errno.ENOSPC): ("your disk quota is used up", _DISK_FULL[1]),
    errno.EROFS: ("the file system is read-only", "pass checkpoint= a path on a writable disk"),
    errno.EACCES: _NOT_WRITABLE,
    errno.EPERM: _NOT_WRITABLE,
    errno.ENOTDIR: ("a file stands where a folder of the path should be", "remove or rename "
                    "that file, or pass checkpoint= another path"),
}


def _write_error(path: Path, err: OSError, what: str = "write the checkpoint",
                 folder: Path | None = None) -> CheckpointWriteError:
    """A CheckpointWriteError that names the path, the cause in words, and the fix."""
    reason, fix = _WRITE_FAULTS.get(err.errno, (err.strerror or str(err),
                                                "pass checkpoint= a path on a writable disk"))
    system = f"{err.strerror or err}, errno {err.errno}" if err.errno else str(err)
    return CheckpointWriteError(f"Cannot {what} {path}: {reason} ({system}). To fix it, "
                                f"{fix.format(dir=folder or path.parent)}.", path, err.errno)


def _make_parent(path: Path) -> None:
    """Create the checkpoint's folder, or say why it cannot be created."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError as err:  # a file where a folder should be
        err.errno = errno.ENOTDIR
        raise _write_error(path.parent, err, "create the checkpoint folder", path.parent) \
            from None
    except OSError as err:
        raise _write_error(path.parent, err, "create the checkpoint folder", path.parent) \
            from None


def _get_rng_state() -> dict:
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "python": random.getstate(),
             "numpy": [keys.tolist(), int(pos), int(has_gauss), float(gauss)]}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(_tuplify(state["python"]))
    keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state(("MT19937", np.array(keys, dtype=np.uint32), pos, has_gauss, gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _tuplify(x):
    return tuple(_tuplify(v) for v in x) if isinstance(x, (list, tuple)) else x


def _remove_stale_tmp(path: Path) -> None:
    """Delete ``.NAME.tmp-PID`` files that a killed run left next to checkpoint ``path``."""
    if path.parent.is_dir():
        for leftover in path.parent.iterdir():
            if leftover.name.startswith(f".{path.name}.tmp-") and leftover.is_file():
                leftover.unlink(missing_ok=True)


# --- Wrapped models: torch.compile and DDP ------------------------------------------------------

_WRAPPER_PREFIXES = ("_orig_mod.", "module.")  # torch.compile's OptimizedModule; DDP/DataParallel


def _unwrap(net: nn.Module) -> nn.Module:
    """The plain model inside ``torch.compile(net)``, ``DistributedDataParallel(net)`` or
    ``DataParallel(net)`` (nested too); ``net`` itself otherwise."""
    while True:
        if isinstance(getattr(net, "_orig_mod", None), nn.Module):
            net = net._orig_mod
        elif isinstance(net, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
            net = net.module
        else:
            return net


def _strip_prefix(state: dict, prefix: str) -> dict:
    out = type(state)((k[len(prefix):], v) for k, v in state.items())
    meta = getattr(state, "_metadata", None)  # module versions (e.g. BatchNorm's) travel along
    if meta is not None:
        out._metadata = type(meta)((k[len(prefix):] if k.startswith(prefix) else
                                    ("" if k == prefix[:-1] else k), v) for k, v in meta.items())
    return out


def _plain_keys(state: dict, own_keys: Iterable[str]) -> dict:
    """A state dict saved from a wrapped model (every key starts with ``_orig_mod.`` or
    ``module.``) renamed as the plain model names it. Left alone when the model's own keys
    carry the prefix (a model with a submodule really named ``module``)."""
    own_keys = list(own_keys)
    stripped = True
    while stripped and state:
        stripped = False
        for prefix in _WRAPPER_PREFIXES:
            if all(k.startswith(prefix) for k in state) and \
                    not any(k.startswith(prefix) for k in own_keys):
                state, stripped = _strip_prefix(state, prefix), True
    return state


# --- Saving and loading --------------------------------------------------------------------------


def _disk_error(err: BaseException) -> OSError | None:
    """The OSError behind ``err``: torch.save reports a failed write (disk full) as a
    RuntimeError "unexpected pos ..." whose context is the OSError."""
    if isinstance(err, OSError):
        return err
    return err.__context__ if isinstance(err.__context__, OSError) else None


def save_checkpoint(path: str | os.PathLike, net: nn.Module,
                    optimizer: torch.optim.Optimizer | None = None, epoch: int = 0,
                    history: History | None = None, scheduler: Any = None,
                    scaler: torch.amp.GradScaler | None = None, *,
                    position: dict | None = None, rank_rng: list | None = None) -> Path:
    """Save model, optimizer, epoch, history and RNG states to ``path`` atomically.

    The file is written next to ``path`` under a temporary name, flushed to disk, then
    renamed over ``path``: a crash mid-write leaves the previous checkpoint intact. The
    weights are saved under the plain model's names, also when ``net`` is wrapped by
    ``torch.compile`` or DDP. ``epoch`` counts finished epochs; ``position`` is where
    :func:`train` stood inside the next one (a mid-epoch checkpoint; None at an epoch's end).
    ``rank_rng``: under torchrun, every process's RNG states (``rng`` is this process's).
    A failed write (full disk, read-only folder...) raises :class:`CheckpointWriteError`.
    """
    path = Path(path)
    _make_parent(path)
    state = {
        "format": CHECKPOINT_FORMAT,
        "model": _unwrap(net).state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "scaler": scaler.state_dict() if scaler is not None else None,  # fp16's loss scale
        "epoch": epoch,
        "position": position,  # None: an epoch's end
        "history": (history or History()).to_dict(),
        "rng": _get_rng_state(),
        "rank_rng": rank_rng,  # torchrun: [{"rng": ..., "epoch_rng": ...} for each rank]
        "torch_version": str(torch.__version__),  # a plain str: weights_only refuses TorchVersion
    }
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # atomic on POSIX and Windows
    except (OSError, RuntimeError) as err:
        cause = _disk_error(err)
        if cause is None:
            raise
        raise _write_error(path, cause) from None
    finally:
        with contextlib.suppress(OSError):  # on a read-only disk there is nothing to remove
            tmp.unlink(missing_ok=True)
    return path


def _read_state(path: Path, map_location) -> dict:
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
        state["model"]  # noqa: B018 - a dict without weights is not a checkpoint
    except Exception as err:  # noqa: BLE001 - unpickling errors come in many types
        # Only PyTorch's first sentence: the rest advises weights_only=False, unsafe here.
        reason = (str(err).strip().splitlines() or [""])[0].split(". ")[0][:200]
        raise CheckpointError(
            f"{path} is not a readable d2lite checkpoint: it may be truncated or damaged. "
            f"Delete it and train again. ({type(err).__name__}: {reason})") from None
    version = state.get("format", 1)
    if not isinstance(version, int) or version > CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path} is in checkpoint format {version!r}, written by a newer d2lite; this one "
            f"reads formats up to {CHECKPOINT_FORMAT}. Update d2lite (git pull in the book's "
            "folder) to load it, or train a new checkpoint.")
    return state


def load_checkpoint(path: str | os.PathLike, net: nn.Module,
                    optimizer: torch.optim.Optimizer | None = None, scheduler: Any = None,
                    map_location: str | torch.device | None = "cpu", *,
                    scaler: torch.amp.GradScaler | None = None) -> dict:
    """Load a checkpoint into ``net`` (and optimizer/scheduler); return the whole state dict.

    Uses ``torch.load(weights_only=True)``: no arbitrary code runs. Tensors are read onto
    ``map_location`` (the CPU by default, so a checkpoint written on a GPU loads on a machine
    without one), then copied to wherever ``net``'s and the optimizer's tensors are. Keys saved
    from ``torch.compile(net)`` (``_orig_mod.``) or DDP (``module.``) load into the plain model,
    and ``net`` may itself be wrapped. A damaged file, one from a different architecture or
    class count, or one in a newer format than this d2lite reads raises
    :class:`CheckpointError`.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"No checkpoint at {path}.")
    state = _read_state(path, map_location)
    plain = _unwrap(net)
    own = plain.state_dict()
    model_state = _plain_keys(state["model"], own)
    problems = [f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}"
                for k, v in model_state.items() if k in own and own[k].shape != v.shape]
    missing = sorted(set(own) - set(model_state))
    unexpected = sorted(set(model_state) - set(own))
    if problems or missing or unexpected:
        detail = "; ".join(problems[:3] + [f"missing {m}" for m in missing[:3]]
                           + [f"unexpected {u}" for u in unexpected[:3]])
        raise CheckpointError(
            f"{path} was saved from a different model ({detail}). Build the same architecture "
            "with the same num_classes before loading, or train a new checkpoint.")
    plain.load_state_dict(model_state)
    for target, key in ((optimizer, "optimizer"), (scheduler, "scheduler"), (scaler, "scaler")):
        if target is not None and state.get(key) is not None:
            target.load_state_dict(state[key])  # the optimizer moves its state to the params
    return state


# --- One writer per checkpoint: a lock file -----------------------------------------------------

_HELD_LOCKS: set[str] = set()  # lock files this process holds (a notebook may train again)
_LOCK_YOUNG_S = 10  # an unreadable lock younger than this may be one being written right now


def _lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


def _pid_alive(pid: int) -> bool:
    if sys.platform == "win32":
        return True  # os.kill(pid, 0) would terminate it on Windows: never guess there
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, another user's
        return True
    return True


def _read_lock(lock: Path) -> dict | None:
    try:
        owner = json.loads(lock.read_text())
        return owner if isinstance(owner, dict) and isinstance(owner.get("pid"), int) else None
    except (OSError, ValueError):
        return None


def _lock_is_stale(owner: dict | None, lock: Path) -> bool:
    """A lock of a run that cannot be running any more: a dead pid on this host, or an
    unreadable file (killed while writing it) that is not brand new."""
    if owner is None:
        with contextlib.suppress(OSError):
            return time.time() - lock.stat().st_mtime > _LOCK_YOUNG_S
        return True
    if owner.get("host") != socket.gethostname():
        return False  # another machine on a shared disk: its pids mean nothing here
    if owner["pid"] == os.getpid():
        return str(lock) not in _HELD_LOCKS  # ours, left by an earlier call that died
    return not _pid_alive(owner["pid"])


def _lock_message(path: Path, lock: Path, owner: dict | None) -> str:
    who = ("a run that is starting" if owner is None else
           f"pid {owner['pid']} on {owner.get('host')}, started {owner.get('started')}")
    return (f"Another training run is writing the checkpoint {path}: {lock} names {who}. Two "
            "runs on one checkpoint would overwrite each other's progress. Wait for it to "
            "finish, stop it, or pass checkpoint= another file. If no such run exists any more "
            f"(e.g. it ran on another machine), delete {lock}.")


def _take_lock(lock: Path, owner: dict) -> bool:
    """Create ``lock`` holding ``owner``; False if it exists already."""
    try:
        fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    try:
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(owner))  # on a full disk this fails: nothing is trained yet
    except BaseException:
        lock.unlink(missing_ok=True)
        raise
    return True


def _acquire_lock(path: Path, verbose: bool) -> Path:
    """Take ``<checkpoint>.lock`` for this run (pid, host, start time), recovering a stale one;
    raise :class:`CheckpointLockError` if a live run holds it."""
    lock = _lock_path(path)
    owner = {"pid": os.getpid(), "host": socket.gethostname(),
             "started": datetime.now().astimezone().isoformat(timespec="seconds")}
    try:
        for _attempt in range(3):
            if _take_lock(lock, owner):
                _HELD_LOCKS.add(str(lock))
                return lock
            holder = _read_lock(lock)
            if not _lock_is_stale(holder, lock):
                raise CheckpointLockError(_lock_message(path, lock, holder))
            lock.unlink(missing_ok=True)
            if verbose:
                who = "an unreadable lock" if holder is None else f"pid {holder['pid']}"
                print(f"removed the stale lock {lock} ({who}, no longer running)")
    except OSError as err:
        raise _write_error(path, err) from None
    raise CheckpointLockError(_lock_message(path, lock, _read_lock(lock)))


def _release_lock(lock: Path | None) -> None:
    if lock is None:
        return
    _HELD_LOCKS.discard(str(lock))
    owner = _read_lock(lock)
    if owner is not None and owner["pid"] == os.getpid():
        with contextlib.suppress(OSError):
            lock.unlink()


def _check_free_space(path: Path, net: nn.Module) -> None:
    """Refuse to start when the disk cannot hold even the weights (the checkpoint is larger)."""
    need = sum(t.numel() * t.element_size() for t in _unwrap(net).state_dict().values())
    free = shutil.disk_usage(path.parent).free
    if free < need:
        raise CheckpointWriteError(
            f"Cannot write the checkpoint {path}: the disk is full (a checkpoint needs more "
            f"than the model's {need / 2**20:.1f} MB; {free / 2**20:.1f} MB are free). To fix "
            f"it, free space there (check with: df -h {path.parent}) or pass checkpoint= a path "
            "on another disk.", path, errno.ENOSPC)


def _open_checkpoint(path: Path | None, net: nn.Module, verbose: bool) -> Path | None:
    """Before the first step: the folder exists and takes a file (the lock naming this run),
    the disk holds at least the weights, and leftovers of killed runs are gone. Returns the
    lock to release when training ends."""
    if path is None:
        return None
    _make_parent(path)
    lock = _acquire_lock(path, verbose)
    try:
        _check_free_space(path, net)
        _remove_stale_tmp(path)  # after the lock: never another live run's temp file
    except BaseException:
        _release_lock(lock)
        raise
    return lock


# ----------------------------------------------------------------------------------------------
# Prediction
# ----------------------------------------------------------------------------------------------


@dataclass
class Predictions:
    """Images (28x28 originals), true labels and predicted labels of some test examples."""

    images: torch.Tensor  # (n, 28, 28) uint8 or float
    labels: torch.Tensor  # (n,)
    preds: torch.Tensor  # (n,)

    @property
    def correct(self) -> torch.Tensor:
        return self.labels == self.preds


def _originals(dataset: Any, idx: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """The 28x28 originals when the dataset keeps them, else X shrunk back to 28x28."""
    images = getattr(dataset, "images", None)
    if images is not None:
        return images[idx.to(images.device)].cpu()
    return F.interpolate(X.float().cpu(), size=(28, 28), mode="area")[:, 0]


def predict(net: nn.Module, test_iter: Any, n: int = 6,
            device: str | torch.device | None = None, start: int = 0) -> Predictions:
    """Predict the classes of test examples ``start .. start+n-1`` (dataset order).

    The model sees what ``test_iter`` feeds it (e.g. 224x224); the returned images are the
    28x28 originals kept by the dataset, so nothing is loaded a second time.
    """
    device = next(net.parameters()).device if device is None else torch.device(device)
    dataset = getattr(test_iter, "dataset", test_iter)
    # A DeviceLoader is its own .dataset, and its len() counts batches, not examples.
    n_examples = len(dataset.images) if isinstance(dataset, DeviceLoader) else len(dataset)
    idx = torch.arange(start, min(start + n, n_examples))
    if isinstance(dataset, DeviceLoader):
        X = _resize_batch(dataset.images[idx.to(dataset.device)].unsqueeze(1).float() / 255,
                          dataset.resize)
        y = dataset.labels[idx.to(dataset.device)]
    else:
        X, y = (torch.stack(t) for t in zip(*(dataset[int(i)] for i in idx)))
    with _eval_mode(net), torch.inference_mode():
        preds = net(X.to(device)).argmax(dim=1).cpu()
    return Predictions(_originals(dataset, idx, X), torch.as_tensor(y).cpu(), preds)


def show_predictions(p: Predictions, lang: str = "en", num_cols: int = 6, scale: float = 1.6):
    """Show predictions in a grid: true label on top, prediction below, green if right, red if
    wrong (and marked ✓/✗ so the difference does not rely on colour alone). Returns the axes."""
    trues = get_fashion_mnist_labels(p.labels, lang)
    preds = get_fashion_mnist_labels(p.preds, lang)
    ok = p.correct.tolist()
    titles = [f"{t}\n{'✓' if c else '✗'} {q}" for t, q, c in zip(trues, preds, ok)]
    colors = ["tab:green" if c else "tab:red" for c in ok]
    rows = math.ceil(len(titles) / num_cols)
    return show_images(p.images, rows, num_cols, titles, scale, colors)


def predict_all(net: nn.Module, data_iter: Iterable, device: str | torch.device | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """All true labels and predictions over ``data_iter`` as two CPU tensors."""
    device = next(net.parameters()).device if device is None else torch.device(device)
    ys, ps = [], []
    with _eval_mode(net), torch.inference_mode():
        for X, y in data_iter:
            ps.append(net(X.to(device)).argmax(dim=1).cpu())
            ys.append(torch.as_tensor(y).cpu())
    return torch.cat(ys), torch.cat(ps)


def confusion_matrix(labels: torch.Tensor, preds: torch.Tensor, num_classes: int = 10
                     ) -> torch.Tensor:
    """Counts ``C[i, j]`` of examples of true class i predicted as class j."""
    labels, preds = labels.long().flatten(), preds.long().flatten()
    return torch.bincount(labels * num_classes + preds,
                          minlength=num_classes * num_classes).reshape(num_classes, num_classes)


# --- Looking inside the network ----------------------------------------------------------------

_SHORT_NAMES = {"Conv2d": "conv", "Linear": "fc", "MaxPool2d": "pool", "AvgPool2d": "pool"}


def _layer_names(net: nn.Sequential) -> list[str]:
    """Short names for the layers of a Sequential, numbered by kind: conv1, relu1, pool1, ..."""
    counts: dict[str, int] = {}
    names = []
    for layer in net:
        kind = _SHORT_NAMES.get(type(layer).__name__, type(layer).__name__.lower())
        counts[kind] = counts.get(kind, 0) + 1
        names.append(f"{kind}{counts[kind]}")
    return names


def _find_layer(net: nn.Module, layer: str | nn.Module | None) -> nn.Module:
    """The module that ``layer`` names. None: the last convolution's ReLU (else the last
    convolution); a string: a name from :func:`feature_maps` or from ``net.named_modules()``."""
    if isinstance(layer, nn.Module):
        if not any(m is layer for m in net.modules()):
            raise ValueError("layer is not a module of net.")
        return layer
    if layer is None:
        mods = list(net) if isinstance(net, nn.Sequential) else list(net.modules())
        convs = [i for i, m in enumerate(mods) if isinstance(m, nn.Conv2d)]
        if not convs:
            raise ValueError("net has no Conv2d layer: pass layer= explicitly.")
        i = convs[-1]
        return mods[i + 1] if i + 1 < len(mods) and isinstance(mods[i + 1], nn.ReLU) else mods[i]
    named = dict(net.named_modules())
    if isinstance(net, nn.Sequential):
        named.update(zip(_layer_names(net), net))
    if layer not in named:
        raise ValueError(f"net has no layer {layer!r}; try one of {list(named)[1:]}.")
    return named[layer]


@contextlib.contextmanager
def _frozen(net: nn.Module):
    """Turn off ``requires_grad`` on every parameter and put each flag back afterwards, so a
    gradient with respect to activations computes no weight gradients (and writes no .grad)."""
    flags = [(p, p.requires_grad) for p in net.parameters()]
    try:
        for p, _ in flags:
            p.requires_grad_(False)
        yield net
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def _targets(target: int | torch.Tensor | None, scores: torch.Tensor) -> torch.Tensor:
    """One class per image: the predicted one (None), the same for all (int), or as given."""
    if target is None:
        return scores.argmax(dim=1)
    t = torch.as_tensor(target, device=scores.device).long().flatten()
    return t.expand(len(scores)) if t.numel() == 1 else t


def feature_maps(net: nn.Sequential, X: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
    """Run ``X`` through ``net`` layer by layer and return every layer's output with its name.

    Names count each kind of layer: ``conv1, relu1, pool1, conv2, ...``, ``fc1``, ``dropout1``.
    The outputs are CPU tensors; the shapes are those :func:`trace_shapes` lists. Runs in eval
    mode under ``inference_mode`` and restores the model's mode afterwards.
    """
    if not isinstance(net, nn.Sequential):
        raise TypeError(f"feature_maps walks an nn.Sequential, got {type(net).__name__}.")
    out = []
    with _eval_mode(net), torch.inference_mode():
        for name, layer in zip(_layer_names(net), net):
            X = layer(X)
            out.append((name, X.cpu()))
    return out


def grad_cam(net: nn.Module, X: torch.Tensor, target: int | torch.Tensor | None = None,
             layer: str | nn.Module | None = None) -> torch.Tensor:
    """Grad-CAM heat maps (Selvaraju et al., 2017): where ``layer`` saw evidence for ``target``.

    With ``A`` the layer's output (B, K, h, w) and ``y`` the target class's score (the logit,
    before softmax), each channel gets the weight ``alpha_k = mean over (h, w) of dy/dA_k``;
    the map is ``ReLU(sum_k alpha_k A_k)``, enlarged bilinearly to X's height and width and
    divided by its maximum (an all-zero map stays zero). Returns a (B, H, W) CPU tensor in [0, 1].

    ``target``: None for the predicted class, an int, or one class per image. ``layer``: a
    name from :func:`feature_maps` (``"relu5"``) or a module of ``net``; by default the last
    convolution's output after its ReLU. Runs in eval mode; mode and ``requires_grad`` flags
    are restored and the one forward hook it uses is removed, also when it fails.
    """
    module = _find_layer(net, layer)
    saved: dict[str, torch.Tensor] = {}

    def keep(_module, _inputs, output):
        saved["A"] = output.detach().requires_grad_(True)  # the graph starts at A
        return saved["A"].clone()  # a copy: an in-place layer after it cannot change A

    with _eval_mode(net), _frozen(net), torch.inference_mode(False), torch.enable_grad():
        handle = module.register_forward_hook(keep)
        try:
            scores = net(X.detach().clone())  # (B, classes)
        finally:
            handle.remove()
        t = _targets(target, scores)
        (grads,) = torch.autograd.grad(scores.gather(1, t[:, None]).sum(), saved["A"])
    A = saved["A"].detach()
    weights = grads.mean(dim=(2, 3), keepdim=True)  # (B, K, 1, 1): alpha_k
    cam = F.relu((weights * A).sum(dim=1, keepdim=True))  # (B, 1, h, w)
    cam = F.interpolate(cam, size=X.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    peak = cam.amax(dim=(1, 2), keepdim=True)
    return (cam / torch.where(peak > 0, peak, torch.ones_like(peak))).cpu()


def _window_starts(n: int, patch: int, stride: int) -> list[int]:
    """Window positions along one side, the last one flush with the edge."""
    if not 1 <= patch <= n:
        raise ValueError(f"patch must be between 1 and the image side {n}, got {patch}.")
    starts = list(range(0, n - patch + 1, stride))
    return starts if starts[-1] == n - patch else [*starts, n - patch]


def occlusion(net: nn.Module, X: torch.Tensor, target: int | torch.Tensor | None = None,
              patch: int = 32, stride: int = 16, baseline: float = 0.0,
              batch_size: int = 64) -> torch.Tensor:
    """Occlusion sensitivity (Zeiler & Fergus, 2014): how much the target class's probability
    drops when a ``patch`` x ``patch`` square of the input is set to ``baseline``.

    The square slides with ``stride`` (the last window flush with each edge); each pixel gets
    the mean drop over the windows that cover it. Positive: that region was evidence for the
    target; negative: hiding it makes the target more likely. ``target``: None for the
    predicted class, an int, or one class per image. Returns a (B, H, W) CPU tensor; it costs
    one forward pass per window and image, run ``batch_size`` at a time in eval mode.
    """
    _check_batch_size(batch_size)
    H, W = X.shape[-2:]
    windows = [(i, j) for i in _window_starts(H, patch, stride)
               for j in _window_starts(W, patch, stride)]
    maps = torch.zeros(len(X), H, W)
    with _eval_mode(net), torch.inference_mode():
        probs = torch.softmax(net(X).float(), dim=1)
        t = _targets(target, probs)
        for b in range(len(X)):
            total, count = torch.zeros(H, W), torch.zeros(H, W)
            for s in range(0, len(windows), batch_size):
                chunk = windows[s:s + batch_size]
                Xs = X[b:b + 1].repeat(len(chunk), *([1] * (X.dim() - 1)))
                for k, (i, j) in enumerate(chunk):
                    Xs[k, ..., i:i + patch, j:j + patch] = baseline
                drops = probs[b, t[b]] - torch.softmax(net(Xs).float(), dim=1)[:, t[b]]
                for (i, j), d in zip(chunk, drops.cpu()):
                    total[i:i + patch, j:j + patch] += d
                    count[i:i + patch, j:j + patch] += 1
            maps[b] = total / count
    return maps


def filter_grid(weight: torch.Tensor, num_cols: int = 12, pad: int = 1) -> torch.Tensor:
    """Tile the filters of a one-input-channel convolution, (out, 1, kh, kw) or (out, kh, kw),
    into one 2-D image for ``imshow``. Each filter is divided by its largest absolute weight
    (so it spans [-1, 1]: show it with ``vmin=-1, vmax=1``); the ``pad``-pixel gaps are NaN,
    which matplotlib leaves blank. For a layer with more input channels, pass one of them:
    ``weight[:, c]``."""
    w = weight.detach().float().cpu()
    if w.dim() == 4:
        if w.shape[1] != 1:
            raise ValueError(f"filter_grid shows one input channel, got {w.shape[1]}: pass "
                             "weight[:, c] for channel c.")
        w = w[:, 0]
    if w.dim() != 3:
        raise ValueError(f"weight must be (out, 1, kh, kw) or (out, kh, kw), got {tuple(w.shape)}.")
    n, kh, kw = w.shape
    rows = math.ceil(n / num_cols)
    grid = torch.full((rows * (kh + pad) - pad, num_cols * (kw + pad) - pad), float("nan"))
    peak = w.abs().amax(dim=(1, 2), keepdim=True)
    w = w / torch.where(peak > 0, peak, torch.ones_like(peak))
    for k in range(n):
        r, c = divmod(k, num_cols)
        grid[r * (kh + pad):r * (kh + pad) + kh, c * (kw + pad):c * (kw + pad) + kw] = w[k]
    return grid


def show_heatmaps(images: Sequence, maps: Sequence, num_cols: int = 4,
                  titles: Sequence[str] | None = None, scale: float = 1.8,
                  title_colors: Sequence[str] | None = None, cmap: str = "jet",
                  alpha: float = 0.5, vmin: float | None = 0.0, vmax: float | None = 1.0):
    """Draw each grayscale image with its heat map laid over it, stretched to the image's
    extent (so a 224x224 map lies on a 28x28 original). Returns the flat array of axes, as
    :func:`show_images` does; the last overlay is ``axes[k].images[-1]``, for a colour bar."""
    rows = math.ceil(len(images) / num_cols)
    axes = show_images(images, rows, num_cols, titles, scale, title_colors)
    for ax, img, heat in zip(axes, images, maps):
        h, w = np.shape(img.squeeze() if torch.is_tensor(img) else img)[-2:]
        heat = heat.detach().cpu().squeeze().numpy() if torch.is_tensor(heat) else heat
        ax.imshow(heat, cmap=cmap, alpha=alpha, vmin=vmin, vmax=vmax,
                  extent=(-0.5, w - 0.5, h - 0.5, -0.5), interpolation="bilinear")
    return axes


# ----------------------------------------------------------------------------------------------
# Command line: python -m d2lite train
# ----------------------------------------------------------------------------------------------

# The chapter 4 settings, for a terminal or a cluster job. batch_size is per process.
CLI_SETTINGS = {
    "quick": dict(subset=(384, 192), budget_minutes=None, batch_size=32, epochs=1),
    "cpu": dict(subset=None, budget_minutes=15, batch_size=128, epochs=2),
    "full": dict(subset=None, budget_minutes=None, batch_size=128, epochs=10),
}
BASE_LR = 0.01  # chapter 4's rate for one process's batch; N processes: N x BASE_LR


def _typed(convert: Callable[[str], Any], ok: Callable[[Any], bool], need: str):
    """An argparse type: ``convert`` the text, then require ``ok(value)`` ("must be ``need``")."""
    noun = "an integer" if convert is int else "a number"

    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {noun}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"{text!r} must be {need}")
        return value

    return parse


_positive_int = _typed(int, lambda v: v >= 1, "at least 1")
_count = _typed(int, lambda v: v >= 0, "0 or more (0 only evaluates)")
_positive_float = _typed(float, lambda v: math.isfinite(v) and v > 0, "a finite number > 0")
_fraction = _typed(float, lambda v: 0 <= v < 1, "in [0, 1)")


def _subset_arg(text: str) -> tuple[int, int | None]:
    """``N`` training images, or ``N,M`` training and test images."""
    parts = text.split(",")
    try:
        sizes = [int(p) for p in parts]
    except ValueError:
        sizes = []
    if not 1 <= len(sizes) <= 2 or min(sizes) < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give N training images or N,M training and test images, e.g. 384,192")
    return sizes[0], sizes[1] if len(sizes) == 2 else None


def _by_setting(key: str) -> str:
    """'quick 1, cpu 2, full 10': a setting-dependent default, for --help."""
    def shown(v):
        return "all" if v is None else ",".join(map(str, v)) if isinstance(v, tuple) else v
    return "default by --setting: " + ", ".join(f"{name} {shown(values[key])}"
                                                for name, values in CLI_SETTINGS.items())


def _cli_parser():
    class Help(argparse.ArgumentDefaultsHelpFormatter):  # no "(default: None)"
        def _get_help_string(self, action):
            return action.help if action.default is None else super()._get_help_string(action)

    parser = argparse.ArgumentParser(
        prog="python -m d2lite",
        description="Train AlexNet on Fashion-MNIST from a terminal, alone or as "
                    "`torchrun --nproc_per_node=N -m d2lite train ...` (DDP).")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = commands.add_parser(
        "train", help="train AlexNet (see python -m d2lite train --help)",
        formatter_class=Help,
        description="Train AlexNet on Fashion-MNIST with d2lite.train. Under torchrun every "
                    "process trains on its own shard and DDP averages the gradients. "
                    "The defaults that depend on --setting are chapter 4's quick / cpu / full "
                    "settings (CLI_SETTINGS in d2lite.py).")
    p.add_argument("--setting", choices=SETTINGS, default=None,
                   help="quick (seconds), cpu (fits --budget-minutes) or full (GPU); default: "
                        "D2LITE_SETTING, else full with a GPU and cpu without")
    p.add_argument("--epochs", type=_count, default=None,
                   help=f"passes over the training data; {_by_setting('epochs')}")
    p.add_argument("--batch-size", type=_positive_int, default=None,
                   help="examples per step in EACH process; the global batch is this times "
                        f"the number of processes; {_by_setting('batch_size')}")
    p.add_argument("--lr", type=_positive_float, default=None,
                   help=f"learning rate for the global batch; default {BASE_LR} x the number "
                        "of processes (the linear scaling rule: N processes make the global "
                        "batch N times the batch that rate was chosen for)")
    p.add_argument("--momentum", type=float, default=0.9, help="SGD momentum")
    p.add_argument("--weight-decay", type=float, default=5e-4, help="L2 weight decay (paper)")
    p.add_argument("--dropout", type=_fraction, default=0.5,
                   help="dropout in the two hidden dense layers")
    p.add_argument("--amp", choices=("auto", "bf16", "fp16", "fp32"), default="auto",
                   help="autocast dtype; auto: bf16 where it is fast, fp16 + scaler on V100/T4, "
                        "else fp32")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=True,
                   help="NHWC memory layout")
    p.add_argument("--compile", action="store_true", help="wrap the model in torch.compile")
    p.add_argument("--device", default=None,
                   help="cpu, cuda, mps; default the best there is (cuda:LOCAL_RANK under "
                        "torchrun)")
    p.add_argument("--data-dir", default=None,
                   help="folder holding Fashion-MNIST (default: $D2LITE_DATA, then data/)")
    p.add_argument("--subset", type=_subset_arg, default=None, metavar="N[,M]",
                   help="train on N images (and test on M): a fixed random choice; "
                        f"{_by_setting('subset')}")
    p.add_argument("--budget-minutes", type=_positive_float, default=None,
                   help="size the training set to fit this many minutes, measured first; "
                        f"{_by_setting('budget_minutes').replace('all', 'none')}")
    p.add_argument("--checkpoint", default=None, help="checkpoint file, written every epoch")
    p.add_argument("--checkpoint-every", default=None, metavar="N|DURATION",
                   help="also write it inside epochs: every N steps, or e.g. 10min")
    p.add_argument("--resume", action="store_true", help="continue from --checkpoint")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the weights, the data order and dropout")
    p.add_argument("--deterministic", action="store_true",
                   help="deterministic kernels: identical runs on a CPU (slower on a GPU)")
    p.add_argument("--history", default=None, metavar="FILE.json",
                   help="write the History (per-epoch loss, accuracy, speed) as JSON")
    p.add_argument("--progress", choices=Progress.MODES, default=None,
                   help="progress line mode (default: tty in a terminal, else lines)")
    return parser


def _cli_options(args, parser) -> dict:
    """The run's options: the setting's values, overridden by the ones given."""
    name = args.setting or setting()
    options = dict(CLI_SETTINGS[name], setting=name)
    for key in ("subset", "budget_minutes", "batch_size", "epochs"):
        if getattr(args, key) is not None:
            options[key] = getattr(args, key)
    if args.subset is not None and args.budget_minutes is None:
        options["budget_minutes"] = None  # an explicit size wins over the setting's budget
    if args.resume and not args.checkpoint:
        parser.error("--resume needs --checkpoint FILE to resume from")
    if args.checkpoint_every is not None:
        every = args.checkpoint_every
        args.checkpoint_every = int(every) if every.isdigit() else every
        try:
            _parse_every(args.checkpoint_every, args.checkpoint)
        except ValueError as err:
            parser.error(f"--checkpoint-every: {err}")
    if args.device is not None:
        try:
            torch.device(args.device)
        except RuntimeError:
            parser.error(f"--device {args.device!r} is not a device: use cpu, cuda or mps")
    return options


def _cli_data(args, options: dict, device: torch.device, subset):
    return load_data_fashion_mnist(options["batch_size"], resize=224, data_dir=args.data_dir,
                                   subset=subset, device=device,
                                   channels_last=args.channels_last, seed=args.seed)


def _cli_budget(args, options: dict, net: nn.Module, loaders, device, world: Distributed):
    """Size the training set to the budget; under torchrun the slowest process decides."""
    plan = plan_budget(net, *loaders, options["budget_minutes"], max(options["epochs"], 1),
                       device=device, amp=_cli_amp(args), channels_last=args.channels_last)
    per_process = min(_gather(plan.n_train))
    n_train = min(per_process * world.world_size, len(loaders[0].images))
    if world.is_main:
        print(plan)
        if world.world_size > 1:
            print(f"{world.world_size} processes: {n_train:,} training images in all")
    test_n = options["subset"][1] if options["subset"] else None
    return _cli_data(args, options, device, (n_train, test_n))


def _cli_amp(args) -> bool | str:
    return True if args.amp == "auto" else args.amp


def _write_history(path: str | None, history: History | None) -> None:
    if path and history is not None and distributed().is_main:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(history.to_dict(), indent=1) + "\n")
        print(f"history written to {path}")


def _cli_train(args, parser) -> int:
    options = _cli_options(args, parser)
    world, device = init_distributed(args.device)
    set_seed(args.seed, deterministic=args.deterministic)  # the same weights on every rank
    loaders = _cli_data(args, options, device, options["subset"])
    net = init_weights(alexnet(dropout=args.dropout), seed=args.seed)
    if options["budget_minutes"] and options["epochs"]:
        loaders = _cli_budget(args, options, net, loaders, device, world)
    global_batch = options["batch_size"] * world.world_size
    lr = args.lr or BASE_LR * world.world_size
    if world.is_main:
        rule = ("as given" if args.lr else
                f"= {BASE_LR} x {world.world_size} process(es), the linear scaling rule")
        print(f"{options['setting']} setting: {options['epochs']} epoch(s), "
              f"{len(loaders[0])} steps per epoch, batch {options['batch_size']} per process "
              f"x {world.world_size} process(es) = global batch {global_batch}; lr {lr:g} "
              f"({rule})", flush=True)
    # Under torchrun each rank's dropout and other random draws get their own stream.
    torch.manual_seed(args.seed + 1 + world.rank)
    history = None
    try:
        history = train(net, *loaders, options["epochs"], lr, device,
                        momentum=args.momentum, weight_decay=args.weight_decay,
                        amp=_cli_amp(args), channels_last=args.channels_last,
                        compile=args.compile, animator=False, checkpoint=args.checkpoint,
                        resume=args.resume, checkpoint_every=args.checkpoint_every,
                        progress=args.progress)
    except (SystemExit, CheckpointError) as err:  # SIGTERM (143), a failed write: keep both
        _write_history(args.history, getattr(err, "history", None))
        if world.is_main and args.checkpoint and getattr(err, "history", None) is not None:
            print("To continue from the checkpoint: run the same command again with --resume.",
                  flush=True)
        raise
    _write_history(args.history, history)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m d2lite train [options]``; ``--help`` lists the options with their
    defaults. Bad arguments exit with status 2, a run stopped by SIGTERM with 143."""
    parser = _cli_parser()
    args = parser.parse_args(argv)
    try:
        return _cli_train(args, parser)
    except (DataError, CheckpointError, InputSizeError, TrainingDivergedError) as err:
        print(f"python -m d2lite train: error: {err}", file=sys.stderr)
        return 1
    finally:
        if distributed().world_size > 1:
            torch.distributed.destroy_process_group()


if __name__ == "__main__":
    import d2lite as _module  # the importable module, so that its classes are the ones in use

    sys.exit(_module.main())
