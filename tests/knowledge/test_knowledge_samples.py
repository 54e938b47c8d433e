"""The shipped samples compute what their references compute, at the harness's tolerances, on odd
sizes and every float dtype: under the CPU interpreter, and on a GPU when there is one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

RUNNER = Path(__file__).with_name("sample_runs.py")
SKIP = 77  # sample_runs.py: the interpreter itself cannot run the samples
ROOT = Path(__file__).resolve().parents[2]


def run_samples(device: str, interpret: bool) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    env.pop("TRITON_INTERPRET", None)
    if interpret:
        env["TRITON_INTERPRET"] = "1"
    command = [sys.executable, str(RUNNER), device]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.slow
def test_samples_match_their_references_under_the_interpreter():
    done = run_samples("cpu", interpret=True)
    if done.returncode == SKIP:
        pytest.skip(done.stdout.strip())
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.gpu
def test_samples_match_their_references_on_the_gpu():
    done = run_samples("cuda", interpret=False)
    assert done.returncode == 0, done.stdout + done.stderr
