"""Load a problem file: its reference model, the shapes it runs on, its inputs and tolerances.

A problem file is trusted user code. Two formats are accepted:

* KernelBench: ``Model``, ``get_inputs()``, ``get_init_inputs()``;
* the KernelEvolve artifact format: ``PytorchModel``, ``get_inputs()`` (``get_init_inputs`` optional).

Optional module-level names (documented in docs/problems.md):

``SHAPES``        production shapes, a dict ``{name: {param: value}}`` (or a list of dicts); each is
                  passed to ``get_inputs(**params)``. Timed and used for correctness.
``CHECK_SHAPES``  extra correctness-only shapes (sizes that are not powers of two, ragged tails).
``TOLERANCES``    ``{dtype name: (atol, rtol)}`` overriding the defaults below.
``ALLOW_TF32``    whether TF32 in ``tl.dot`` is acceptable for float32 outputs (default False).
``EXTRA_BASELINES`` ``{name: nn.Module subclass}``: faster PyTorch formulations timed beside eager.
``ALLOW_TORCH_OPS`` PyTorch operators a candidate may compute with (``["aten.mm", "aten.addmm"]``):
                  library GEMMs or convolutions in a hybrid candidate; the 10% rule holds for all else.
``PERTURB_PARAMETERS`` False keeps parameters and buffers as the model builds them (default True:
                  both models' floating parameters and buffers get the same perturbation).
``get_inputs(..., dist=...)``  a problem whose floating inputs carry structure (sorted borders,
                  probabilities) takes a ``dist`` keyword and draws its own floats from that
                  distribution; otherwise the harness redraws every floating input itself (except
                  in each shape's first trial, which runs get_inputs exactly as written).
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import signal
import sys
import threading
import types
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

# (atol, rtol) by output dtype. fp32 is strict unless the problem allows TF32 in tl.dot.
DEFAULT_TOLERANCES: dict[str, tuple[float, float]] = {
    "float64": (1e-7, 1e-7),
    "float32": (1e-4, 1e-4),
    "float32_tf32": (5e-3, 5e-3),
    "float16": (1e-2, 1e-2),
    "bfloat16": (2e-2, 2e-2),
}
REFERENCE_CLASSES = ("Model", "PytorchModel")  # the reference's name: KernelBench's, then the paper's
CANDIDATE_CLASSES = ("ModelNew", "TritonModel")  # what a candidate kernel file defines, in the same two formats
DISTRIBUTIONS = ("normal", "uniform", "heavy_tailed", "large")  # the harness's redraws of floating inputs
OWN = "own"  # the problem's own inputs: get_inputs exactly as written, under the trial's seed
MIN_TRIALS = 3


class ProblemError(Exception):
    """The problem file cannot be used: the message says what is missing."""


@dataclass(frozen=True)
class Shape:
    name: str
    params: dict[str, Any]
    timed: bool  # production shapes are timed; check shapes only prove correctness


@dataclass
class Problem:
    path: Path
    source: str
    hash: str
    shapes: list[Shape]
    tolerances: dict[str, tuple[float, float]]
    allow_tf32: bool
    trials: int
    extra_baselines: list[str] = field(default_factory=list)
    allow_torch_ops: list[str] = field(default_factory=list)  # aten operator names, without "aten."
    perturb_parameters: bool = True
    # module-level size constants set before use (check sizes on a platform that cannot run the
    # file's own), and the sentence that says which sizes were judged
    sizes: dict[str, int] = field(default_factory=dict)
    sizes_note: str = ""

    @property
    def name(self) -> str:
        return self.path.parent.name if self.path.stem == "problem" else self.path.stem

    @property
    def production_shapes(self) -> list[Shape]:
        return [s for s in self.shapes if s.timed]

    def tolerance(self, dtype_name: str) -> tuple[float, float]:
        if dtype_name == "float32" and self.allow_tf32:
            return self.tolerances.get("float32_tf32", DEFAULT_TOLERANCES["float32_tf32"])
        return self.tolerances.get(dtype_name, (0.0, 0.0))


@contextmanager
def _bounded(seconds: float | None, path: Path) -> Iterator[None]:
    """Stop an import that runs past ``seconds`` (main thread only: SIGALRM is delivered there)."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise ProblemError(f"importing {path.name} took longer than {seconds:g} s (--timeout); "
                           "does it compute or download something at import?")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def load_problem(path: str | Path, trials: int = MIN_TRIALS, timeout_s: float | None = None) -> Problem:
    """Read a problem file's metadata (importing it: problem files are trusted), the import
    bounded by ``timeout_s`` when called from the main thread."""
    path = Path(path).resolve()
    if not path.is_file():
        raise ProblemError(f"problem file not found: {path}")
    source = path.read_text()
    with _bounded(timeout_s, path):
        module = import_problem_module(path)
    reference_class(module)  # fails early with a clear message
    shapes = _shapes(module)
    tolerances = dict(DEFAULT_TOLERANCES)
    for key, pair in (getattr(module, "TOLERANCES", None) or {}).items():
        tolerances[str(key).replace("torch.", "")] = (float(pair[0]), float(pair[1]))
    return Problem(
        path=path,
        source=source,
        hash=hashlib.sha256(source.encode()).hexdigest(),
        shapes=shapes,
        tolerances=tolerances,
        allow_tf32=bool(getattr(module, "ALLOW_TF32", False)),
        trials=max(MIN_TRIALS, trials),
        extra_baselines=sorted((getattr(module, "EXTRA_BASELINES", None) or {}).keys()),
        allow_torch_ops=allowed_torch_ops(module),
        perturb_parameters=bool(getattr(module, "PERTURB_PARAMETERS", True)),
    )


def with_sizes(problem: Problem, sizes: dict[str, int], note: str) -> Problem:
    """``problem`` judged with its module-level constants set to ``sizes``: one shape named by them,
    and a hash of its own (references and caches of the file's own sizes are other ones)."""
    name = ",".join(f"{k}={v}" for k, v in sizes.items())
    digest = hashlib.sha256(f"{problem.hash}:{sorted(sizes.items())}".encode()).hexdigest()
    return replace(problem, shapes=[Shape(name, {}, timed=True)], sizes=dict(sizes), sizes_note=note, hash=digest)


def allowed_torch_ops(module: types.ModuleType) -> list[str]:
    """``ALLOW_TORCH_OPS`` as operator names without the ``aten.`` prefix."""
    names = getattr(module, "ALLOW_TORCH_OPS", None) or []
    if isinstance(names, str) or not all(isinstance(n, str) for n in names):
        raise ProblemError('ALLOW_TORCH_OPS must be a list of operator names, such as ["aten.mm", "aten.addmm"]')
    return sorted({n.strip().removeprefix("aten.").partition(".")[0] for n in names})


def import_problem_module(path: Path, sizes: dict[str, int] | None = None) -> types.ModuleType:
    """The problem file as a fresh module; ``sizes`` overrides its module-level size constants
    (check sizes), set before anything reads them."""
    name = f"kernelevolve_problem_{hashlib.sha1(str(path).encode()).hexdigest()[:12]}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ProblemError(f"cannot import problem file {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the user's file: report whatever it raised, with its type
        raise ProblemError(f"importing {path.name} raised {type(exc).__name__}: {exc}") from exc
    if not callable(getattr(module, "get_inputs", None)):
        raise ProblemError(f"{path.name} defines no get_inputs()")
    for constant, value in (sizes or {}).items():
        setattr(module, constant, value)
    return module


def reference_class(module: types.ModuleType) -> type:
    for name in REFERENCE_CLASSES:
        cls = getattr(module, name, None)
        if isinstance(cls, type):
            return cls
    raise ProblemError("the problem file defines neither Model (KernelBench) nor PytorchModel")


def init_inputs(module: types.ModuleType) -> list[Any]:
    get = getattr(module, "get_init_inputs", None)
    return list(get()) if callable(get) else []


def _shapes(module: types.ModuleType) -> list[Shape]:
    production = _named_shapes(getattr(module, "SHAPES", None), timed=True)
    if not production:
        production = [Shape("default", {}, timed=True)]
    checks = _named_shapes(getattr(module, "CHECK_SHAPES", None), timed=False)
    names = [s.name for s in production + checks]
    if len(set(names)) != len(names):
        raise ProblemError(f"shape names repeat: {names}")
    return production + checks


def _named_shapes(spec: Any, timed: bool) -> list[Shape]:
    if not spec:
        return []
    if isinstance(spec, dict):
        items = list(spec.items())
    elif isinstance(spec, (list, tuple)):
        items = [(",".join(f"{k}={v}" for k, v in params.items()), params) for params in spec]
    else:
        raise ProblemError("SHAPES and CHECK_SHAPES must be a dict {name: params} or a list of dicts")
    return [Shape(str(name), dict(params), timed) for name, params in items]


def takes_dist(get_inputs: Any) -> bool:
    """Whether the problem draws its own floating inputs for a named distribution."""
    try:
        return "dist" in inspect.signature(get_inputs).parameters
    except (TypeError, ValueError):
        return False
