"""Targets kernels run on: cuda, rocm, the CPU interpreter (and mtia, documented, not runnable here).

A platform (``base.Platform``) says which device tensors live on, what environment a worker needs
(the interpreter needs ``TRITON_INTERPRET=1`` before triton is imported), whether timing means
anything, what retrieval and prompts say of it; the vendors' peak numbers for roofline fractions
are in ``peaks``. Each platform is a module of this package; ``PLATFORMS`` lists them by name.
"""

from __future__ import annotations

from kernelevolve.platform.base import Platform, PlatformError
from kernelevolve.platform.cuda import CudaPlatform
from kernelevolve.platform.gpu import gpu_vendor
from kernelevolve.platform.interpreter import InterpreterPlatform
from kernelevolve.platform.mtia import MTIAPlatform
from kernelevolve.platform.peaks import Peak, peak_for
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
