"""NVIDIA GPUs."""

from __future__ import annotations

from dataclasses import dataclass

from kernelevolve.platform.gpu import GPUPlatform


@dataclass(frozen=True)
class CudaPlatform(GPUPlatform):
    name = "cuda"
    vendor = "nvidia"
    search_terms = "nvidia gpu"
    prompt_note = "an NVIDIA GPU (platform `cuda`); timed against eager PyTorch and torch.compile"
    profiler = "ncu"  # Nsight Compute (eval/ncu.py)
