"""AMD GPUs under ROCm: the same Triton source, 64-lane wavefronts."""

from __future__ import annotations

from dataclasses import dataclass

from kernelevolve.platform.gpu import GPUPlatform


@dataclass(frozen=True)
class RocmPlatform(GPUPlatform):
    name = "rocm"
    vendor = "amd"
    search_terms = "amd gpu"
    prompt_note = "an AMD GPU (platform `rocm`, 64-lane wavefronts); timed against eager PyTorch and torch.compile"
