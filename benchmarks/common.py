"""Small helpers shared by the benchmark scripts: what we run on, clocks, argparse help.

The scripts run as `python benchmarks/NAME.py`, so Python finds this file beside them.
"""

from __future__ import annotations

import argparse
import os
import platform

import torch


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's model name from /proc/cpuinfo (platform as a fallback)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def sync(device: torch.device) -> None:
    """Wait for queued device work, so a host clock read afterwards means something."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def load_avg() -> str:
    """The 1/5/15-minute load average (the machine may be shared: timings are noisy then)."""
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


class Help(argparse.ArgumentDefaultsHelpFormatter):
    """Show "(default: ...)" except where the help text already explains a None default."""

    def _get_help_string(self, action):
        return action.help if action.default is None else super()._get_help_string(action)


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1, with a message that says what was wrong."""
    return _int_at_least(text, 1)


def count(text: str) -> int:
    """argparse type: a whole number >= 0 (e.g. worker processes)."""
    return _int_at_least(text, 0)


def _int_at_least(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
    return value
