"""What the GPU platforms share: detection through torch, which reports NVIDIA and AMD devices alike
(``torch.version.hip`` tells them apart)."""

from __future__ import annotations

from kernelevolve.platform.base import Platform, PlatformError


def gpu_vendor() -> str | None:
    """'cuda' or 'rocm' for the GPU torch sees here; None without one."""
    import torch

    if not torch.cuda.is_available():
        return None
    return "rocm" if getattr(torch.version, "hip", None) else "cuda"


class GPUPlatform(Platform):
    device = "cuda"  # torch names ROCm devices "cuda" too

    @classmethod
    def detect(cls) -> Platform:
        import torch

        found = gpu_vendor()
        if found != cls.name:
            seen = f"a {found} device" if found else "no GPU"
            raise PlatformError(f"--platform {cls.name} asked for, but torch sees {seen}; "
                                "use --platform interpreter to check correctness on the CPU")
        return cls(torch.cuda.get_device_name())
