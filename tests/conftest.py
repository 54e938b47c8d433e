"""Shared fixtures: a warm interpreter harness, and the GPU marker's skip."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# postgres_url and friends, for the store's and scale-out tests; isolated_imports, for references
# that problem files import from elsewhere
pytest_plugins = ["tests.store.postgres", "tests.reference_layouts"]


def pytest_collection_modifyitems(config, items):
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    if has_cuda:
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def cache_dir(tmp_path_factory) -> Iterator[Path]:
    """One cache (references, interpreter probes) for the whole session, also for the commands tests
    start: its keys hold everything that changes an answer, so sharing it only saves recomputing,
    and nothing is written under the user's ~/.cache."""
    path = tmp_path_factory.mktemp("kernelevolve-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KERNELEVOLVE_CACHE", str(path))
        yield path


@pytest.fixture(scope="session")
def interpreter_harness(cache_dir):
    from kernelevolve.eval.harness import Harness
    from kernelevolve.platform import InterpreterPlatform

    with Harness(InterpreterPlatform(), timeout_s=30, cache_dir=cache_dir) as harness:
        yield harness
