"""Which setting runs, on which device, from which seed.

    device = d2lite.try_gpu()  # cuda -> mps -> cpu, never an error
    d2lite.set_seed(0)  # Python, NumPy and PyTorch in one call

The settings are read from the environment when a function is called, never at import:
``D2LITE_SETTING`` ("quick", "cpu" or "full") and its shorthand ``D2LITE_QUICK=1``. Under
torchrun the environment also says which GPU this process drives (``LOCAL_RANK``).
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

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


def sync(device: str | torch.device) -> None:
    """Wait until ``device`` has done the work queued on it (a no-op on the CPU).

    A GPU runs asynchronously: a host clock read right after a step measures only the queuing,
    so every timing calls this first.
    """
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# --- Seeds and random states ------------------------------------------------------------------


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


def _rng_state() -> dict:
    """Every random generator's state (PyTorch, CUDA, Python, NumPy) as plain types, so that a
    checkpoint holding it loads with ``torch.load(weights_only=True)``."""
    _kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": [keys.tolist(), int(pos), int(has_gauss), float(gauss)],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    """Put back what :func:`_rng_state` returned (CUDA's part only where there is CUDA)."""
    torch.set_rng_state(state["torch"])
    random.setstate(_tuplify(state["python"]))  # a checkpoint turns its tuples into lists
    keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state(("MT19937", np.array(keys, dtype=np.uint32), pos, has_gauss, gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _tuplify(x):
    return tuple(_tuplify(v) for v in x) if isinstance(x, (list, tuple)) else x


# --- torchrun's environment -------------------------------------------------------------------
#
# `torchrun --nproc_per_node=N script.py` starts N copies of the script and tells each one who
# it is through environment variables: RANK (0 .. WORLD_SIZE-1 over all machines), LOCAL_RANK
# (0 .. N-1 on this machine: which GPU to use) and WORLD_SIZE. The process group itself is in
# ddp.py.


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value) if value.strip() else default
    except ValueError:
        raise ValueError(
            f"{name}={value!r} is not an integer; torchrun sets it, so unset it "
            "when not running under torchrun."
        ) from None


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
            f"cuda:{local}."
        )
    return torch.device("cuda", local)
