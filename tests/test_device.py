"""device.py: which setting runs, on which device, from which seed.

References: PyTorch's own view of the machine (torch.cuda, torch.backends.mps), /proc/cpuinfo,
and the random streams of Python, NumPy and PyTorch drawn again after seeding. The last tests
check the device cases of docs/when-things-go-wrong.md: the behaviour, and the words the user
reads.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import (
    loaders,
    tiny_cnn,
)

import d2lite


def test_devices():
    expected = (
        "cuda:0"
        if torch.cuda.is_available()
        else ("mps" if torch.backends.mps.is_available() else "cpu")
    )
    assert str(d2lite.try_gpu()) == expected
    assert d2lite.try_gpu(99) == torch.device("cpu")  # no such GPU: the CPU, never an error
    assert d2lite.resolve_device(None) == d2lite.try_gpu()
    assert d2lite.resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="try_gpu"):
            d2lite.resolve_device("cuda")
    with pytest.raises(RuntimeError, match="CUDA device"):
        d2lite.resolve_device(f"cuda:{torch.cuda.device_count()}")
    if not torch.backends.mps.is_available():
        with pytest.raises(RuntimeError, match="mps"):
            d2lite.resolve_device("mps")


def test_set_seed_reproducible():

    d2lite.set_seed(123)
    a = (torch.rand(5), np.random.rand(3), random.random())
    d2lite.set_seed(123)
    b = (torch.rand(5), np.random.rand(3), random.random())
    assert torch.equal(a[0], b[0]) and (a[1] == b[1]).all() and a[2] == b[2]
    d2lite.set_seed(124)
    assert not torch.equal(torch.rand(5), a[0])


@pytest.mark.parametrize(
    ("value", "on"),
    [
        ("1", True),
        ("true", True),
        ("TRUE", True),
        ("yes", True),
        ("", False),
        ("0", False),
        ("false", False),
        ("off", False),
        (None, False),
    ],
)
def test_is_quick(value, on, monkeypatch):
    monkeypatch.delenv("D2LITE_SETTING", raising=False)
    if value is None:
        monkeypatch.delenv("D2LITE_QUICK", raising=False)
    else:
        monkeypatch.setenv("D2LITE_QUICK", value)
    assert d2lite.is_quick() is on


@pytest.fixture
def no_setting_env(monkeypatch):
    monkeypatch.delenv("D2LITE_SETTING", raising=False)
    monkeypatch.delenv("D2LITE_QUICK", raising=False)
    return monkeypatch


@pytest.mark.parametrize("value", ["quick", "cpu", "full", " CPU ", "Full"])
def test_setting_explicit(value, no_setting_env):
    no_setting_env.setenv("D2LITE_SETTING", value)
    no_setting_env.setenv("D2LITE_QUICK", "1")  # D2LITE_SETTING wins over the shorthand
    assert d2lite.setting() == value.strip().lower()
    assert d2lite.setting() in d2lite.SETTINGS
    assert d2lite.is_quick() is (value.strip().lower() == "quick")


@pytest.mark.parametrize("gpu, expected", [("cpu", "cpu"), ("cuda:0", "full"), ("mps", "full")])
def test_setting_by_device(gpu, expected, no_setting_env):
    no_setting_env.setattr(d2lite.device, "try_gpu", lambda i=0: torch.device(gpu))
    assert d2lite.setting() == expected
    no_setting_env.setenv("D2LITE_QUICK", "0")  # "not quick" still lets the device decide
    assert d2lite.setting() == expected
    no_setting_env.setenv("D2LITE_QUICK", "1")
    assert d2lite.setting() == "quick"


def test_setting_rejects_unknown_value(no_setting_env):
    no_setting_env.setenv("D2LITE_SETTING", "fast")
    for fn in (d2lite.setting, d2lite.is_quick):
        with pytest.raises(ValueError, match=r"D2LITE_SETTING='fast'.*quick, cpu, full"):
            fn()


def test_device_name_names_this_cpu():
    name = d2lite.device_name("cpu")
    assert isinstance(name, str) and name
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        assert f": {name}" in cpuinfo.read_text()


# ----------------------------------------------------------------------------------------------
# Devices asked for that are not there
# ----------------------------------------------------------------------------------------------


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_asking_for_cuda_without_one(device):
    with pytest.raises(RuntimeError, match=r"this machine has 0 CUDA device\(s\)") as err:
        d2lite.train(tiny_cnn(), *loaders(), 1, 0.1, device=device, animator=False)
    assert "try_gpu()" in str(err.value) and "device='cpu'" in str(err.value)


def test_asking_for_mps_without_it(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="Device 'mps' was requested"):
        d2lite.train(tiny_cnn(), *loaders(), 1, 0.1, device="mps", animator=False)


def test_sync_waits_for_a_gpu_and_does_nothing_on_the_cpu(monkeypatch):
    waited = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: waited.append(device))
    d2lite.sync("cpu")
    d2lite.sync(torch.device("cpu"))
    assert waited == []
    d2lite.sync("cuda:1")  # nothing runs on the device: only the call is checked
    assert waited == [torch.device("cuda", 1)]
