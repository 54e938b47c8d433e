"""Known limits of the Triton interpreter: probed once per Triton version, and the failing verdicts
they may explain.

The probes run in their own process (eval/interpreter_probe.py; this process never imports Triton)
and their answer is cached as ``<cache>/interpreter-limits/triton-<version>.json``. A failing
verdict on the interpreter whose problem or kernel touches a limit that is present gets the limit's
name in ``EvalResult.interpreter_limits`` and a sentence in its reason on how to write around it
(knowledge base: hardware/cpu/triton-interpreter.md).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kernelevolve.eval.result import EvalResult, Status

PROBE_TIMEOUT_S = 300.0  # importing torch and Triton on a cold machine, then five tiny kernels
FAILING = (Status.mismatch, Status.compile_error, Status.runtime_error)
NOTE = "hardware/cpu/triton-interpreter.md"
LIBDEVICE_CALL = re.compile(r"\blibdevice\.\w+\s*\(")  # a call, not the import


class ProbeFailed(Exception):
    """The probe process could not say what the interpreter's limits are."""


@dataclass(frozen=True)
class Suspect:
    """What a failing verdict's problem and kernel touch."""

    dtypes: frozenset[str]  # of the problem's inputs and outputs
    source: str
    reason: str


@dataclass(frozen=True)
class Limit:
    name: str  # the probe's name in eval/interpreter_probe.py
    what: str
    way_around: str
    touches: Callable[[Suspect], bool]


LIMITS = (
    Limit("bf16_arithmetic", "arithmetic on bfloat16 values gives wrong values there",
          "convert bfloat16 loads to float32 at once (`tl.load(p).to(tl.float32)`), compute in float32 and "
          "cast back at the store", lambda s: "bfloat16" in s.dtypes),
    Limit("bf16_dot", "tl.dot on bfloat16 tiles gives wrong values there",
          "cast both tiles to float32 before tl.dot when the tensors are not on a GPU",
          lambda s: "bfloat16" in s.dtypes and "tl.dot" in s.source),
    Limit("float_argument_methods", "float kernel arguments arrive as Python floats, without methods like .to()",
          "use the argument in arithmetic as it is (`x * scale`), or pass a 1-element tensor and tl.load it",
          lambda s: "'float' object has no attribute" in s.reason),
    Limit("libdevice_functions", "libdevice functions return None there",
          "use tl.exp, tl.log, tl.sqrt, tl.rsqrt, tl.erf, tl.sigmoid, tl.abs, tl.floor, tl.ceil and build the rest "
          "from them (tanh(x) = 2·sigmoid(2x) − 1)", lambda s: LIBDEVICE_CALL.search(s.source) is not None),
    Limit("block_and_scalar_masks", "a mask that combines a block condition with a scalar one "
          "(`(offs < n) & (row < rows)`) is refused with 'mask has unsupported dtype'",
          "make the scalar condition a block first (`(offs < n) & (offs * 0 + row < rows)`) or fold it into the "
          "block one (`offs < tl.where(row < rows, n, 0)`)", lambda s: "mask has unsupported dtype" in s.reason),
)
# The cached answer names the probes it ran: a kernelevolve that knows more limits probes again.
PROBED = sorted(limit.name for limit in LIMITS)


def probed_limits(cache_root: Path, triton_version: str) -> dict[str, str]:
    """{limit name: what its probe saw} for the limits this Triton version's interpreter has."""
    path = cache_root / "interpreter-limits" / f"triton-{triton_version}.json"
    if path.is_file():
        cached = json.loads(path.read_text())
        if cached.get("probes") == PROBED:
            return cached["limits"]
    found = _run_probe(cache_root)
    if found.get("triton") != triton_version:
        raise ProbeFailed(f"the probe ran Triton {found.get('triton')}, the workers run {triton_version}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False) as staging:
        json.dump(found, staging)
    os.replace(staging.name, path)  # several harnesses may probe at once: each writes a whole file
    return found["limits"]


def _run_probe(cwd: Path) -> dict:
    env = dict(os.environ, TRITON_INTERPRET="1", CUDA_VISIBLE_DEVICES="",
               PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    cwd.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run([sys.executable, "-m", "kernelevolve.eval.interpreter_probe"], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        raise ProbeFailed(f"the probe did not finish within {PROBE_TIMEOUT_S:g} s") from exc
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise ProbeFailed(f"the probe exited with {done.returncode}: {done.stderr.strip()[-300:]}")
    try:
        return json.loads(lines[-1])
    except ValueError as exc:
        raise ProbeFailed(f"the probe printed no JSON: {lines[-1][:200]}") from exc


class InterpreterLimits:
    """The limits of the interpreter a harness runs, probed on first need, at most once per harness
    however many threads ask."""

    def __init__(self, cache_root: Path):
        self.cache_root = cache_root
        self._found: dict[str, str] | ProbeFailed | None = None
        self._lock = threading.Lock()

    def mark(self, result: EvalResult, source: str, dtypes: frozenset[str], triton_version: str) -> None:
        """Name the present limits a failing verdict touches, and say in its reason how to write
        around each; a probe that failed is a review flag instead."""
        if result.status not in FAILING:
            return
        with self._lock:
            if self._found is None:
                try:
                    self._found = probed_limits(self.cache_root, triton_version)
                except ProbeFailed as exc:
                    self._found = exc
        if isinstance(self._found, ProbeFailed):
            result.flags.append(f"review: the interpreter's known limits could not be probed: {self._found}")
            return
        suspect = Suspect(dtypes, source, result.reason)
        hits = [limit for limit in LIMITS if limit.name in self._found and limit.touches(suspect)]
        result.interpreter_limits = [limit.name for limit in hits]
        for limit in hits:
            result.reason = result.reason.rstrip(". ") + (
                f". This may be the Triton {triton_version} interpreter's limit, not the kernel's: {limit.what}; "
                f"{limit.way_around} (knowledge base: {NOTE}).")
