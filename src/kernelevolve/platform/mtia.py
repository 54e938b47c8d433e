"""Meta's MTIA accelerators: where an MTIA plug-in goes. The knowledge base documents them
(hardware/mtia/), and retrieval and prompts can name them; running kernels needs an MTIA build of
torch and Triton, which this package does not have. A plug-in implements ``detect`` (and, if its
workers need one, ``worker_env``) and is listed in ``PLATFORMS``."""

from __future__ import annotations

from dataclasses import dataclass

from kernelevolve.platform.base import Platform, PlatformError


@dataclass(frozen=True)
class MTIAPlatform(Platform):
    name = "mtia"
    device = "mtia"
    vendor = "mtia"
    search_terms = "mtia accelerator"
    prompt_note = "a Meta MTIA accelerator (platform `mtia`)"

    @classmethod
    def detect(cls) -> MTIAPlatform:
        raise PlatformError("--platform mtia cannot run here: kernelevolve has no MTIA backend "
                            "(kernelevolve/platform/mtia.py says what one needs); choose auto, cuda, rocm or interpreter")
