"""Targets kernels run on: cuda, rocm, the CPU interpreter (and mtia, documented, not runnable here).

A platform (``base.Platform``) says which device tensors live on, what environment a worker needs
(the interpreter needs ``TRITON_INTERPRET=1`` before triton is imported), whether timing means
anything, what retrieval and prompts say of it; the vendor's peak numbers for roofline fractions
are here. Each platform is a module of this package; ``PLATFORMS`` lists them by name.
"""

from __future__ import annotations

from dataclasses import dataclass

from kernelevolve.platform.base import Platform, PlatformError
from kernelevolve.platform.cuda import CudaPlatform
from kernelevolve.platform.gpu import gpu_vendor
from kernelevolve.platform.interpreter import InterpreterPlatform
from kernelevolve.platform.mtia import MTIAPlatform
from kernelevolve.platform.rocm import RocmPlatform

PLATFORMS: dict[str, type[Platform]] = {p.name: p for p in (CudaPlatform, RocmPlatform, InterpreterPlatform, MTIAPlatform)}
RUNNABLE = ("cuda", "rocm", "interpreter")  # what --platform offers besides auto

__all__ = ["PLATFORMS", "RUNNABLE", "CudaPlatform", "InterpreterPlatform", "MTIAPlatform", "Peak", "Platform",
           "PlatformError", "RocmPlatform", "detect", "named", "peak_for"]


def named(name: str) -> type[Platform]:
    """The platform called ``name``; PlatformError for a name that is none."""
    if name not in PLATFORMS:
        raise PlatformError(f"unknown platform {name!r}; choose auto, {', '.join(RUNNABLE[:-1])} or {RUNNABLE[-1]}")
    return PLATFORMS[name]


def detect(requested: str = "auto") -> Platform:
    """Resolve ``auto`` to the best platform here (the GPU torch sees, else the interpreter); check
    that an explicit one is really present."""
    if requested != "auto":
        return named(requested).detect()
    found = gpu_vendor()
    return named(found).detect() if found else InterpreterPlatform()


@dataclass(frozen=True)
class Peak:
    """Vendor datasheet peaks (dense, no sparsity) for roofline fractions."""

    bandwidth_gbps: float
    tflops: dict[str, float]  # by math dtype: bf16, fp16, tf32, fp32


# Dense figures: H100 SXM bf16 is ~989 TFLOP/s (1979 is the 2:4-sparse figure).
_PEAKS: list[tuple[tuple[str, ...], Peak]] = [
    (("H100", "PCIE"), Peak(2000.0, {"bf16": 756.0, "fp16": 756.0, "tf32": 378.0, "fp32": 51.0})),
    (("H100",), Peak(3350.0, {"bf16": 989.0, "fp16": 989.0, "tf32": 494.0, "fp32": 67.0})),
    (("H200",), Peak(4800.0, {"bf16": 989.0, "fp16": 989.0, "tf32": 494.0, "fp32": 67.0})),
    (("A100",), Peak(2039.0, {"bf16": 312.0, "fp16": 312.0, "tf32": 156.0, "fp32": 19.5})),
    (("MI300X",), Peak(5300.0, {"bf16": 1307.0, "fp16": 1307.0, "tf32": 654.0, "fp32": 163.4})),
    (("MI325X",), Peak(6000.0, {"bf16": 1307.0, "fp16": 1307.0, "tf32": 654.0, "fp32": 163.4})),
]


def peak_for(device_name: str) -> Peak | None:
    upper = device_name.upper()
    for keys, peak in _PEAKS:
        if all(k in upper for k in keys):
            return peak
    return None
