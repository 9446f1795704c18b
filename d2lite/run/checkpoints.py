"""Checkpoints: written atomically, loaded safely, one run at a time.

    d2lite.save_checkpoint("run.pt", net, optimizer, epoch=3, history=history)
    state = d2lite.load_checkpoint("run.pt", net, optimizer)  # weights_only=True: no code runs

A checkpoint is a plain dict of tensors and numbers (no d2lite class is pickled), written under
a temporary name and renamed over the old file, so a crash leaves the previous one whole. Files
of every earlier d2lite load (format 1: epoch ends only; 2: mid-epoch positions). While
:func:`train` writes one, ``<checkpoint>.lock`` keeps a second run off it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import socket
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.modules.utils import consume_prefix_in_state_dict_if_present

from d2lite.device import _rng_state
from d2lite.metrics import History

CHECKPOINT_FORMAT = 2  # 1: epoch ends only (files without a "format" key); 2: mid-epoch positions


class CheckpointError(RuntimeError):
    """A checkpoint file is damaged, belongs to a different model, or cannot be used here."""


class CheckpointWriteError(CheckpointError, OSError):
    """A checkpoint could not be written: a full disk, a read-only or unwritable folder, a
    parent folder that cannot be created. Also an ``OSError`` (``.errno`` is the system's).

    ``.path`` is the checkpoint. When :func:`train` raises it, ``.history`` holds the epochs
    finished so far (the model keeps its weights) and the previous checkpoint file is intact.
    """

    def __init__(
        self,
        message: str,
        path: str | os.PathLike,
        errno_: int | None = None,
        history: History | None = None,
    ):
        RuntimeError.__init__(self, message)
        self.errno, self.strerror, self.filename = errno_, message, os.fspath(path)
        self.path, self.history = Path(path), history

    def __str__(self) -> str:  # OSError's own would print "[Errno 28] ..." before the message
        return str(self.args[0])


class CheckpointLockError(CheckpointError):
    """Another run is writing the same checkpoint file: it holds ``<checkpoint>.lock``."""


# errno -> (what went wrong, what to do); {dir} is the folder concerned.
_DISK_FULL = (
    "the disk is full",
    "free space there (check with: df -h {dir}) or pass checkpoint= a path on another disk",
)
_NOT_WRITABLE = (
    "permission denied",
    "make the folder writable (chmod u+w {dir}) or pass "
    "checkpoint= a path in a folder you can write to",
)
_WRITE_FAULTS = {
    errno.ENOSPC: _DISK_FULL,
    getattr(errno, "EDQUOT", errno.ENOSPC): ("your disk quota is used up", _DISK_FULL[1]),
    errno.EROFS: ("the file system is read-only", "pass checkpoint= a path on a writable disk"),
    errno.EACCES: _NOT_WRITABLE,
    errno.EPERM: _NOT_WRITABLE,
    errno.ENOTDIR: (
        "a file stands where a folder of the path should be",
        "remove or rename that file, or pass checkpoint= another path",
    ),
}


def _write_error(
    path: Path, err: OSError, what: str = "write the checkpoint", folder: Path | None = None
) -> CheckpointWriteError:
    """A CheckpointWriteError that names the path, the cause in words, and the fix."""
    reason, fix = _WRITE_FAULTS.get(
        err.errno, (err.strerror or str(err), "pass checkpoint= a path on a writable disk")
    )
    system = f"{err.strerror or err}, errno {err.errno}" if err.errno else str(err)
    return CheckpointWriteError(
        f"Cannot {what} {path}: {reason} ({system}). To fix it, "
        f"{fix.format(dir=folder or path.parent)}.",
        path,
        err.errno,
    )


def _make_parent(path: Path) -> None:
    """Create the checkpoint's folder, or say why it cannot be created."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError as err:  # a file where a folder should be
        err.errno = errno.ENOTDIR
        raise _write_error(path.parent, err, "create the checkpoint folder", path.parent) from None
    except OSError as err:
        raise _write_error(path.parent, err, "create the checkpoint folder", path.parent) from None


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


def _plain_keys(state: dict, own_keys: Iterable[str]) -> dict:
    """A state dict saved from a wrapped model (every key starts with ``_orig_mod.`` or
    ``module.``, nested too) renamed in place as the plain model names it, by PyTorch's own
    ``consume_prefix_in_state_dict_if_present``. Left alone when the model's own keys carry the
    prefix (a model with a submodule really named ``module``)."""
    own_keys = list(own_keys)
    stripped = True
    while stripped and state:
        stripped = False
        for prefix in _WRAPPER_PREFIXES:
            if all(k.startswith(prefix) for k in state) and not any(
                k.startswith(prefix) for k in own_keys
            ):
                consume_prefix_in_state_dict_if_present(state, prefix)
                stripped = True
    return state


# --- Saving and loading --------------------------------------------------------------------------


def _disk_error(err: BaseException) -> OSError | None:
    """The OSError behind ``err``: torch.save reports a failed write (disk full) as a
    RuntimeError "unexpected pos ..." whose context is the OSError."""
    if isinstance(err, OSError):
        return err
    return err.__context__ if isinstance(err.__context__, OSError) else None


def save_checkpoint(
    path: str | os.PathLike,
    net: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    epoch: int = 0,
    history: History | None = None,
    scheduler: Any = None,
    scaler: torch.amp.GradScaler | None = None,
    *,
    position: dict | None = None,
    rank_rng: list | None = None,
) -> Path:
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
        "rng": _rng_state(),
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


def _read_state(path: Path, map_location, mmap: bool = False) -> dict:
    """The checkpoint's dict, checked; ``mmap``: tensors stay on disk until touched (cheap when
    only a small entry is read)."""
    try:
        state = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
        state["model"]  # noqa: B018 - a dict without weights is not a checkpoint
    except Exception as err:  # noqa: BLE001 - unpickling errors come in many types
        # Only PyTorch's first sentence: the rest advises weights_only=False, unsafe here.
        reason = (str(err).strip().splitlines() or [""])[0].split(". ")[0][:200]
        raise CheckpointError(
            f"{path} is not a readable d2lite checkpoint: it may be truncated or damaged. "
            f"Delete it and train again. ({type(err).__name__}: {reason})"
        ) from None
    version = state.get("format", 1)
    if not isinstance(version, int) or version > CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path} is in checkpoint format {version!r}, written by a newer d2lite; this one "
            f"reads formats up to {CHECKPOINT_FORMAT}. Update d2lite (git pull in the book's "
            "folder) to load it, or train a new checkpoint."
        )
    return state


def load_checkpoint(
    path: str | os.PathLike,
    net: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    map_location: str | torch.device | None = "cpu",
    *,
    scaler: torch.amp.GradScaler | None = None,
) -> dict:
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
    problems = [
        f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}"
        for k, v in model_state.items()
        if k in own and own[k].shape != v.shape
    ]
    missing = sorted(set(own) - set(model_state))
    unexpected = sorted(set(model_state) - set(own))
    if problems or missing or unexpected:
        detail = "; ".join(
            problems[:3]
            + [f"missing {m}" for m in missing[:3]]
            + [f"unexpected {u}" for u in unexpected[:3]]
        )
        raise CheckpointError(
            f"{path} was saved from a different model ({detail}). Build the same architecture "
            "with the same num_classes before loading, or train a new checkpoint."
        )
    plain.load_state_dict(model_state)
    for target, key in ((optimizer, "optimizer"), (scheduler, "scheduler"), (scaler, "scaler")):
        if target is not None and state.get(key) is not None:
            target.load_state_dict(state[key])  # the optimizer moves its state to the params
    return state


def _check_free_space(path: Path, net: nn.Module, optimizer=None) -> None:
    """Refuse to start when the disk cannot hold what the run will write: a checkpoint (the
    weights, and SGD's momentum buffer beside each parameter) and, while the next one is being
    written, a second copy under a temporary name (the previous file stays until the new one is
    complete). A file already at ``path`` is that previous copy."""
    plain = _unwrap(net)
    weights = sum(t.numel() * t.element_size() for t in plain.state_dict().values())
    momentum = optimizer is not None and any(g.get("momentum", 0) for g in optimizer.param_groups)
    buffers = sum(p.numel() * p.element_size() for p in plain.parameters()) if momentum else 0
    one = weights + buffers
    need = one if path.exists() else 2 * one
    free = shutil.disk_usage(path.parent).free
    if free < need:
        raise CheckpointWriteError(
            f"Cannot write the checkpoint {path}: the disk is full (the run needs "
            f"{need / 2**20:.1f} MB there: a checkpoint of about {one / 2**20:.1f} MB, the "
            f"model's weights{' and momentum' if momentum else ''}, and a second copy while "
            f"the next one is written; {free / 2**20:.1f} MB are free). To fix it, free space "
            f"there (check with: df -h {path.parent}) or pass checkpoint= a path on another "
            "disk.",
            path,
            errno.ENOSPC,
        )


# --- One writer per checkpoint: a lock file -----------------------------------------------------


def _lock_path(path: Path) -> Path:
    return path.with_name(path.name + ".lock")


def _read_owner(raw: str | bytes) -> dict | None:
    """The run a lock file names (pid, host, start time), or None when it names none."""
    try:
        owner = json.loads(raw)
    except ValueError:
        return None
    return owner if isinstance(owner, dict) and isinstance(owner.get("pid"), int) else None


def _lock_message(path: Path, lock: Path, owner: dict | None) -> str:
    who = (
        "a run that is starting"
        if owner is None
        else f"pid {owner['pid']} on {owner.get('host')}, started {owner.get('started')}"
    )
    return (
        f"Another training run is writing the checkpoint {path}: {lock} names {who}. Two "
        "runs on one checkpoint would overwrite each other's progress. Wait for it to "
        "finish, stop it, or pass checkpoint= another file. If no such run exists any more "
        f"(e.g. it ran on another machine), delete {lock}."
    )


def _lock(path: Path, verbose: bool):
    """Hold ``<checkpoint>.lock`` for this run, or raise :class:`CheckpointLockError` naming the
    run that holds it. The lock is ``filelock``'s (``fcntl.flock`` on POSIX): the operating
    system releases it when its process ends, even by SIGKILL, so a killed run never blocks the
    next one. The file names its holder (pid, host, start time) for that message."""
    from filelock import FileLock, Timeout  # here: `import d2lite` stays cheap

    lock_path = _lock_path(path)
    lock = FileLock(lock_path)
    try:
        lock.acquire(timeout=0)  # one try: a second run is refused, never kept waiting
    except Timeout:
        try:
            holder = _read_owner(lock_path.read_bytes())
        except OSError:  # gone meanwhile, or unreadable: the message names no one
            holder = None
        raise CheckpointLockError(_lock_message(path, lock_path, holder)) from None
    except OSError as err:
        raise _write_error(path, err) from None
    owner = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": datetime.now().astimezone().isoformat(timespec="seconds"),
    }
    try:
        with open(lock_path, "r+b") as f:  # ours now: what it holds is a killed run's name
            left = f.read()
            f.seek(0)
            f.truncate()
            f.write(json.dumps(owner).encode())  # on a full disk this fails: nothing is trained
    except OSError as err:
        _unlock(lock)
        raise _write_error(path, err) from None
    if verbose and left:
        stale = _read_owner(left)
        who = "an unreadable lock" if stale is None else f"pid {stale['pid']}"
        print(f"removed the stale lock {lock_path} ({who}, no longer running)")
    return lock


def _unlock(lock) -> None:
    """Release the run's lock and remove its file (removed first, while still held: a run that
    waits on the old file then finds it gone and takes a new one)."""
    with contextlib.suppress(OSError):
        os.unlink(lock.lock_file)
    lock.release()


def _open_checkpoint(path: Path, net: nn.Module, verbose: bool, optimizer=None):
    """Before the first step: the folder exists and takes a file (the lock naming this run),
    the disk holds the checkpoint and its next copy, and leftovers of killed runs are gone.
    Returns the lock to release (:func:`_unlock`) when training ends."""
    _make_parent(path)
    lock = _lock(path, verbose)
    try:
        _check_free_space(path, net, optimizer)
        _remove_stale_tmp(path)  # after the lock: never another live run's temp file
    except BaseException:
        _unlock(lock)
        raise
    return lock
