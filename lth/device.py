"""Which device training uses, and a plain message when a GPU is present but unusable.

`gpu_hardware()` works without TensorFlow (the dashboard calls it); `training_device()` asks
TensorFlow and is called inside training processes.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from dataclasses import dataclass

GPU_FIX_HINT = (
    "run `make setup` on this machine (it installs tensorflow[and-cuda] when `nvidia-smi` works), "
    "and check that `nvidia-smi` lists the GPU with a driver recent enough for CUDA 12"
)


def gpu_hardware() -> list[str]:
    """Names of the NVIDIA GPUs the driver reports, without importing TensorFlow."""
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@dataclass(frozen=True)
class DeviceInfo:
    kind: str  # "GPU" or "CPU"
    name: str  # "GPU:0 (NVIDIA H100 80GB HBM3)" or "CPU (AMD EPYC, 2 cores)"
    tf_device: str  # "/GPU:0" or "/CPU:0"
    warning: str | None  # a GPU exists but TensorFlow cannot use it

    def as_dict(self) -> dict:
        return {"kind": self.kind, "name": self.name, "warning": self.warning}


def training_device() -> DeviceInfo:
    """The device TensorFlow will train on: the first GPU it sees, else the CPU."""
    from lth.tf_setup import tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        label = details.get("device_name", gpus[0].name)
        return DeviceInfo("GPU", f"GPU:0 ({label})", "/GPU:0", None)
    warning = None
    hardware = gpu_hardware()
    if hardware:
        warning = (
            f"An NVIDIA GPU ({hardware[0]}) is present but TensorFlow cannot use it, so training "
            f"runs on the CPU; to fix it, {GPU_FIX_HINT}."
        )
    cpu = f"CPU ({cpu_name()}, {os.cpu_count()} cores)"
    return DeviceInfo("CPU", cpu, "/CPU:0", warning)
