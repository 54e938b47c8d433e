"""Platforms are objects, one module each, found by name: what each says of itself, and the names refused."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kernelevolve.platform import (
    PLATFORMS,
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
