"""The `--device auto|cpu|cuda[:N]` convention of every command, resolved in one place."""
from __future__ import annotations

import os
import platform
import re

import torch

from redge.core.errors import RedgeInputError


def resolve_device(name: str | None) -> torch.device:
    """"auto" (or None): the first GPU when CUDA is available, else the CPU; "cpu", "cuda", "cuda:N" as given.
    A name of another shape, or CUDA asked for where there is none (or not that many GPUs), is an input error."""
    name = (name or "auto").strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    match = re.fullmatch(r"cuda(?::(\d+))?", name)
    if match is None:
        raise RedgeInputError(f"--device must be auto, cpu, cuda or cuda:N, got {name!r}")
    if not torch.cuda.is_available():
        raise RedgeInputError(f"--device {name}: CUDA is not available on this machine (use --device cpu or auto)")
    index = int(match.group(1) or 0)
    if index >= torch.cuda.device_count():
        raise RedgeInputError(f"--device {name}: this machine has {torch.cuda.device_count()} GPU(s)")
    return torch.device("cuda", index)


def describe_device(device: torch.device | str) -> str:
    """The device in words, for records that must say where a number was measured: the GPU's name, or the CPU's
    architecture with the intra-op threads in use and the machine's cores."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.machine()} CPU, {torch.get_num_threads()} threads, {os.cpu_count()} cores"
