"""Platforms are objects, one module each, found by name: what each says of itself, and the names refused."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kernelevolve.platform import (
    PLATFORMS,
    CudaPlatform,
    InterpreterPlatform,
    PlatformError,
    detect,
    named,
)


def test_the_interpreter_is_found_without_a_gpu_and_says_it_does_not_time():
    platform = detect("interpreter")
    assert isinstance(platform, InterpreterPlatform) and platform.device == "cpu"
    assert not platform.timed and not platform.needs_gpu and platform.max_input_elements
    assert platform.worker_env()["TRITON_INTERPRET"] == "1"


def test_every_platform_names_its_vendor_folder_and_its_words():
    for name, platform in PLATFORMS.items():
        assert platform.name == name and platform.vendor and platform.search_terms and f"`{name}`" in platform.prompt_note


def test_a_gpu_is_described_by_its_detected_device_and_its_peaks():
    described = CudaPlatform("NVIDIA H200").describe()
    assert "the device is NVIDIA H200" in described and "4.80 TB/s memory bandwidth" in described
    assert "H100" not in described
    assert CudaPlatform("NVIDIA L4").describe().endswith("the device is NVIDIA L4")  # no peaks known: none made up
    assert CudaPlatform().describe() == CudaPlatform.prompt_note  # nothing detected: the generic note
    assert InterpreterPlatform().describe() == InterpreterPlatform.prompt_note


@pytest.mark.gpu
def test_the_detected_gpu_names_the_device_torch_sees():
    import torch

    platform = detect("auto")
    assert f"the device is {torch.cuda.get_device_name()}" in platform.describe()


@pytest.mark.parametrize("name, message", [("tpu", "unknown platform 'tpu'; choose auto, cuda, rocm or interpreter"),
                                           ("mtia", "no MTIA backend")])
def test_a_platform_that_cannot_run_here_is_refused_in_a_sentence(name, message):
    with pytest.raises(PlatformError, match=message):
        named(name).detect() if name in PLATFORMS else detect(name)


def test_no_module_outside_the_platforms_branches_on_a_platforms_name():
    package = Path(__file__).resolve().parents[1] / "src" / "kernelevolve"
    branch = re.compile(r"""(?:\bplatform\b|\.name)\s*(?:[!=]=|\bin\b)\s*\(?["'](?:cuda|rocm|interpreter|mtia)["']""")
    found = [str(p.relative_to(package)) for p in package.rglob("*.py")
             if p.parent.name != "platform" and "knowledge/base" not in str(p) and branch.search(p.read_text())]
    assert found == []
