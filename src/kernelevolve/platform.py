"""Targets kernels run on: cuda, rocm, the CPU interpreter (and mtia, documented, not runnable here).

A platform says which device tensors live on, what environment a worker needs (the interpreter
needs ``TRITON_INTERPRET=1`` before triton is imported), whether timing means anything, and the
vendor's peak numbers used for roofline fractions.
"""

from __future__ import annotations

from dataclasses import dataclass

PLATFORMS = ("cuda", "rocm", "interpreter")


class PlatformError(Exception):
    """The requested platform is not available on this machine."""


@dataclass(frozen=True)
class Platform:
    name: str  # cuda | rocm | interpreter
    device: str  # torch device string for inputs and outputs
    device_name: str = ""  # the GPU's model ("" on the interpreter): cached results never cross models

    @property
    def timed(self) -> bool:
        """Timing the interpreter measures Python, not the kernel: speedups mean nothing there."""
        return self.name != "interpreter"

    def worker_env(self) -> dict[str, str]:
        if self.name == "interpreter":
            return {"TRITON_INTERPRET": "1", "CUDA_VISIBLE_DEVICES": ""}
        return {"TRITON_INTERPRET": "0"}


def detect(requested: str = "auto") -> Platform:
    """Resolve ``auto`` to the best platform here; check that an explicit one is really present."""
    if requested == "interpreter":
        return Platform("interpreter", "cpu")
    if requested not in ("auto", "cuda", "rocm"):
        raise PlatformError(f"unknown platform {requested!r}; choose auto, cuda, rocm or interpreter")
    import torch

    has_gpu = torch.cuda.is_available()
    vendor = "rocm" if getattr(torch.version, "hip", None) else "cuda"
    if requested == "auto":
        return Platform(vendor, "cuda", torch.cuda.get_device_name()) if has_gpu else Platform("interpreter", "cpu")
    if not has_gpu or vendor != requested:
        found = f"a {vendor} device" if has_gpu else "no GPU"
        raise PlatformError(
            f"--platform {requested} asked for, but torch sees {found}; "
            "use --platform interpreter to check correctness on the CPU"
        )
    return Platform(requested, "cuda", torch.cuda.get_device_name())


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
