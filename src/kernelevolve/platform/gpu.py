"""What the GPU platforms share: detection through torch, which reports NVIDIA and AMD devices alike
(``torch.version.hip`` tells them apart)."""

from __future__ import annotations

from kernelevolve.platform.base import Platform, PlatformError
from kernelevolve.platform.peaks import peak_for


def gpu_vendor() -> str | None:
    """'cuda' or 'rocm' for the GPU torch sees here; None without one."""
    import torch

    if not torch.cuda.is_available():
        return None
    return "rocm" if getattr(torch.version, "hip", None) else "cuda"


class GPUPlatform(Platform):
    device = "cuda"  # torch names ROCm devices "cuda" too

    def describe(self) -> str:
        """The note, then the detected device by name with its datasheet peaks where they are known:
        the roofline the prompt's figures refer to is this device's, not a generic GPU's."""
        if not self.device_name:
            return self.prompt_note
        peak = peak_for(self.device_name)
        figures = "" if peak is None else (
            f" (datasheet peaks: {peak.bandwidth_gbps / 1000:.2f} TB/s memory bandwidth, "
            f"{peak.tflops['bf16']:g} TFLOP/s dense bf16, {peak.tflops['fp32']:g} TFLOP/s fp32)")
        return f"{self.prompt_note}; the device is {self.device_name}{figures}"

    @classmethod
    def detect(cls) -> Platform:
        import torch

        found = gpu_vendor()
        if found != cls.name:
            seen = f"a {found} device" if found else "no GPU"
            raise PlatformError(f"--platform {cls.name} asked for, but torch sees {seen}; "
                                "use --platform interpreter to check correctness on the CPU")
        return cls(torch.cuda.get_device_name())
