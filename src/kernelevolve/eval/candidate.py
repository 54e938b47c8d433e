"""One candidate inside a candidate worker: load it, call it on every case under the guard, save
its outputs for the parent to compare, and time it against the baselines, each timed repetition on
its own input set, with every timed output saved for the parent to compare as well.

Nothing here decides correctness: the parent compares the saved outputs with references computed
in another process. What is decided here is what only the running process can see (launches,
operators, threads, patches) and it ends the evaluation with ``rejected``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import time
import types
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from kernelevolve.eval.kernel_profile import compiled_kernels
from kernelevolve.eval.inputs import Case, clone_value, digest, make_inputs, on_device
from kernelevolve.eval.outputs import flatten
from kernelevolve.eval.parameters import perturb_like
from kernelevolve.eval.rules import violations
from kernelevolve.eval.storage import storage_key
from kernelevolve.eval.protocol import CandidateFailure, classify
from kernelevolve.eval.result import Failure
from kernelevolve.problem import CANDIDATE_CLASSES

def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _bytes(t: torch.Tensor) -> torch.Tensor:
    return t.detach().reshape(-1).view(torch.uint8) if t.numel() else t


def _same_bits(a: Any, b: Any) -> bool:
    if not isinstance(a, torch.Tensor):
        return True
    return a.shape == b.shape and a.dtype == b.dtype and torch.equal(_bytes(a), _bytes(b))


def _instantiate(module: Any, entry: dict[str, Any], device: str, kernel_path: str) -> torch.nn.Module:
    cls = next((getattr(module, n) for n in CANDIDATE_CLASSES if isinstance(getattr(module, n, None), type)), None)
    if cls is None:
        raise CandidateFailure.of("rejected", "the candidate defines no ModelNew (or TritonModel) class")
    torch.manual_seed(0)  # the reference was built after the same seed: same parameters
    try:
        model = cls(*entry["init"]).to(device)
    except Exception as exc:  # candidate code: every failure is a status
        raise classify(exc, kernel_path, during=f"constructing {cls.__name__}") from exc
    perturb_like(model, entry["perturbations"])  # the reference's perturbation, tensor by matching tensor
    return model


def load_candidate(path: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("kernelevolve_candidate", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["kernelevolve_candidate"] = module
    spec.loader.exec_module(module)
    return module


def _patched(guard: Any, when: str = "") -> dict[str, Any] | None:
    """A rejection for a candidate that replaced functions the harness relies on (the worker retires)."""
    patched = guard.patched()
    if not patched:
        return None
    failure = CandidateFailure.of("rejected", f"patches functions the harness relies on{when}: {', '.join(patched)}")
    return {**failure.reply(), "dirty": True}


def _sources(model: torch.nn.Module, inputs: list[Any]) -> list[torch.Tensor]:
    """The tensors a call computes from: its inputs, the model's parameters and buffers."""
    return [t for t in inputs if isinstance(t, torch.Tensor)] + list(model.parameters()) + list(model.buffers())


def _scale(model: torch.nn.Module, inputs: list[Any]) -> int:
    return max((t.numel() for t in _sources(model, inputs)), default=1)


class CompileClock:
    """Seconds Triton spent compiling, from its own hooks around each compilation (0 where the
    installed Triton has none: then the phase breakdown says compile time was not measured)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.count = 0  # compilations finished
        self._began: float | None = None
        runtime = getattr(getattr(sys.modules.get("triton"), "knobs", None), "runtime", None)
        self.available = runtime is not None and hasattr(runtime, "jit_post_compile_hook")
        if self.available:
            runtime.jit_cache_hook = self._before
            runtime.jit_post_compile_hook = self._after

    def _before(self, *args: Any, **kwargs: Any) -> bool:
        self._began = time.perf_counter()
        return False  # False: compile as usual

    def _after(self, *args: Any, **kwargs: Any) -> None:
        if self._began is not None:
            self.seconds += time.perf_counter() - self._began
            self.count += 1
            self._began = None


def run_candidate(worker: Any, entry: dict[str, Any], req: dict[str, Any]) -> dict[str, Any]:
    guard, device, kernel = worker.guard, worker.device, req["kernel"]
    cases = [Case(**c) for c in req["cases"]]
    clock = worker.compile_clock
    started, compiled_before, compiles_before = time.perf_counter(), clock.seconds, clock.count
    warmup_inputs = _prepare_baselines(worker, entry, cases, req.get("baselines", []))
    worker.channel.send({"event": "candidate_start"})
    prepared = time.perf_counter()
    try:
        cand_module = load_candidate(kernel)
    except SyntaxError as exc:
        raise CandidateFailure("syntax_error", Failure(error_class="SyntaxError",
                                                       message=f"{exc.msg} (line {exc.lineno})")) from exc
    except Exception as exc:  # candidate import-time code
        raise classify(exc, kernel, during="importing the candidate") from exc
    refused = _patched(guard)
    if refused:
        return refused
    model = _instantiate(cand_module, entry, device, kernel)
    out_dir = Path(req["out_dir"])
    previous: list[torch.Tensor] = []
    results = []
    trace: list[str] = []  # every launch and PyTorch compute op of the checked calls, for duplicate detection
    for case in cases:
        inputs = _same_inputs(entry, case, req["digests"][case.id], device)
        files = []
        for variant in (0, 1) if case.sentinel_pair else (0,):
            outputs = _checked_call(guard, model, inputs, case, variant, previous, device, kernel,
                                    req["structures"][case.id], trace, _allowed(entry))
            path = out_dir / f"{case.id}.s{variant}.pt"
            torch.save([o.detach().cpu() for o in outputs], path)
            files.append(path.name)
            previous = outputs
        results.append({"id": case.id, "files": files})
    reply: dict[str, Any] = {"status": "ran", "cases": results,
                             "fingerprint": hashlib.sha256("\n".join(trace).encode()).hexdigest() if trace else None,
                             "kernels": compiled_kernels(cand_module, device)}
    checked = timed_from = timed_until = time.perf_counter()
    fed_s: float | None = None  # seconds reading the timing sets
    compiled, compiles = clock.seconds - compiled_before, clock.count - compiles_before
    if req.get("timing"):
        worker.channel.send({"event": "timing_ready", "baselines": bool(req.get("baselines")),
                             "fingerprint": reply["fingerprint"]})
        go = worker.channel.receive()  # the harness's gate: this GPU is ours until the reply
        if go is None or go.get("op") not in ("time", "skip"):
            raise RuntimeError(f"expected the harness's go-ahead to time, got {go!r}")
        timed_from = timed_until = time.perf_counter()  # after the wait at the gate
        if go["op"] == "time":  # "skip": the same launches were timed before, for another candidate
            kept: list[tuple[Path, list[torch.Tensor]]] = []
            reply["timings"], stopped, fed_s = _time(worker, entry, model, warmup_inputs, req, kept)
            if stopped:
                reply["timing_stopped"] = stopped
            refused = _patched(guard, " while timed")
            if refused:
                return refused
            worker.channel.send({"event": "timed"})  # the GPU is free: the files are written without it
            timed_until = time.perf_counter()
            for path, outputs in kept:
                torch.save(outputs, path)
    reply["phases"] = {"prepare_s": prepared - started, "check_s": checked - prepared - compiled,
                       "compile_s": compiled if clock.available else None,
                       "compiles": compiles if clock.available else None,
                       "time_s": timed_until - timed_from, "feed_s": fed_s,  # time_s: with the GPU alone
                       "save_s": time.perf_counter() - timed_until}  # the timed outputs written after
    return reply


def run_for_profiler(worker: Any, entry: dict[str, Any], req: dict[str, Any]) -> dict[str, Any]:
    """A correct candidate's calls at one shape for the profiler that started this worker: warm-up
    calls (compilation, autotuning), then, once the harness says go (its GPU gate held), one call
    between ``cudaProfilerStart`` and ``Stop``, the only launches the profiler measures."""
    device, kernel = worker.device, req["kernel"]
    case = Case(**req["case"])
    try:
        module = load_candidate(kernel)
    except Exception as exc:  # candidate import-time code
        raise classify(exc, kernel, during="importing the candidate") from exc
    model = _instantiate(module, entry, device, kernel)
    inputs = _same_inputs(entry, case, req["digest"], device)

    def call() -> None:
        args = [clone_value(x) for x in inputs]
        try:
            with torch.no_grad():
                model(*args)
                _sync(device)
        except Exception as exc:  # candidate code: classified, never swallowed
            raise classify(exc, kernel, case=case) from exc

    for _ in range(req["warmup"]):
        call()
    worker.channel.send({"event": "profile_ready"})
    go = worker.channel.receive()
    if go is None or go.get("op") != "profile":
        raise RuntimeError(f"expected the harness's go-ahead to profile, got {go!r}")
    profiled = device.startswith("cuda")  # elsewhere nothing is profiled: the calls run all the same
    if profiled:
        torch.cuda.profiler.start()
    try:
        call()
    finally:
        if profiled:
            torch.cuda.profiler.stop()
    return {"status": "ran", "dirty": True}  # a profiled worker serves no other candidate


def _allowed(entry: dict[str, Any]) -> frozenset[str]:
    """The PyTorch operators the problem lets a candidate compute with (``ALLOW_TORCH_OPS``)."""
    return frozenset(entry["problem"].allow_torch_ops)


def _checked_call(guard, model, inputs, case: Case, variant: int, previous, device, kernel,
                  structure: str, trace: list[str], allowed: frozenset[str]) -> list[torch.Tensor]:
    call_inputs = [clone_value(x) for x in inputs]
    try:
        with torch.no_grad(), guard.watch(variant, _sources(model, call_inputs), trace=True) as record:
            result = model(*call_inputs)
            _sync(device)
    except CandidateFailure:
        raise
    except Exception as exc:  # candidate code: classified, never swallowed
        raise classify(exc, kernel, case=case) from exc
    returned, outputs = flatten(result)
    if returned != structure:
        raise CandidateFailure.of("mismatch", f"returns {returned}, the reference returns {structure}", case)
    for i, out in enumerate(outputs):
        if not isinstance(out, torch.Tensor):
            raise CandidateFailure.of("mismatch", f"output {i} is a {type(out).__name__}, not a tensor", case)
        if type(out) is not torch.Tensor:
            raise CandidateFailure.of("rejected", f"output {i} is a {type(out).__name__}, a Tensor subclass", case)
        if out.device.type != torch.device(device).type:
            raise CandidateFailure.of("mismatch", f"output {i} is on {out.device}, expected {device}", case)
    trace.extend(record.launch_signatures or [])
    trace.extend(f"aten.{op.name}" for op in record.compute_ops)
    reasons = violations(record, outputs, _scale(model, inputs), allowed)
    patched = guard.patched()
    if patched:
        reasons.append(f"patches functions the harness relies on: {', '.join(patched)}")
    if any(not _same_bits(a, b) for a, b in zip(call_inputs, inputs)):
        reasons.append("modifies its inputs in place")
    earlier = {storage_key(p) for p in previous}
    if any(storage_key(o) in earlier for o in outputs if o.numel()):
        reasons.append("returns the storage of an earlier call's output (a cached or reused output)")
    if reasons:
        raise CandidateFailure.of("rejected", "; ".join(reasons[:3]), case)
    return outputs


def _prepare_baselines(worker, entry, cases: list[Case], baselines: list[str]) -> dict[str, list[Any]]:
    """Warm-up inputs of each timed shape (its first trial's), and baselines warmed up on them
    (torch.compile compiles here, untimed)."""
    timed = {}
    for case in cases:
        if case.timed:
            timed[case.shape] = make_inputs(entry["module"], entry["problem"], case, worker.device)
    if "compile" in baselines:
        compiled = worker.compiled(entry)
        with torch.no_grad():
            for inputs in timed.values():
                compiled(*inputs)
    return timed


def _baseline(worker, entry, name: str):
    if name == "eager":
        return entry["model"]
    if name == "compile":
        return worker.compiled(entry)
    key = f"extra:{name}"
    if key not in entry:
        torch.manual_seed(0)
        entry[key] = entry["module"].EXTRA_BASELINES[name](*entry["init"]).to(worker.device)
        perturb_like(entry[key], entry["perturbations"])
    return entry[key]


def _time(worker, entry, model, warmup_inputs, req: dict[str, Any],
          kept: list[tuple[Path, list[torch.Tensor]]]) -> tuple[list[dict[str, Any]], dict[str, Any] | None, float]:
    """Each production shape's timings in order; with an incumbent, the rest are abandoned after a
    shape where the candidate is clearly slower than it (what was measured is said). Each timed
    call's outputs are copied to the host as it returns, into ``kept`` (file, tensors), for the
    harness to compare: written once the GPU is no longer needed. Also the seconds spent reading
    the input sets."""
    from kernelevolve.eval.timing import TimingError, clearly_slower, clock_for, time_interleaved

    clock = clock_for(worker.device)
    out_dir = Path(req["out_dir"])
    rows = []
    loaded = [0.0]  # seconds spent reading the sets the harness placed
    incumbent = req.get("incumbent") or {}
    for shape, inputs in warmup_inputs.items():
        sets: list[str] = req["timing_sets"][shape]  # ids
        feed = _timing_feed(worker, sets, loaded)
        watched = _WatchedCalls(worker.guard, model, _allowed(entry))
        fns: dict[str, Any] = {"candidate": watched}
        for name in req.get("baselines", []):
            fns[name] = (lambda args, m=_baseline(worker, entry, name): m(*args))

        def keep(name: str, k: int, result: Any, sets=sets, watched=watched) -> None:
            if name == "candidate":
                watched.check(result, shape, k)
                kept.append((out_dir / f"{sets[k]}.timed.pt", [o.detach().cpu() for o in flatten(result)[1]]))

        try:
            with torch.no_grad():
                timings = time_interleaved(fns, inputs, feed, len(sets), keep, clock)
        except TimingError as exc:
            raise CandidateFailure.of("runtime_error", str(exc), shape=shape) from exc
        rows.append({"shape": shape, **{name: asdict(t) for name, t in timings.items()}})
        best_ms = incumbent.get("shape_ms", {}).get(shape)
        if len(rows) < len(warmup_inputs) and clearly_slower(timings["candidate"].median_ms, best_ms,
                                                             incumbent.get("ratio", 0.0)):
            return rows, {"shape": shape, "node": incumbent.get("node"), "candidate_ms": timings["candidate"].median_ms,
                          "incumbent_ms": best_ms, "untimed": list(warmup_inputs)[len(rows):]}, loaded[0]
    return rows, None, loaded[0]


def _timing_feed(worker, sets: list[str], loaded: list[float]):
    """Set k's inputs, as the reference worker drew them: the harness places their file when
    repetition k begins (eval/feed.py), so that no later set exists while an earlier one is timed;
    read, moved to the device and the file removed. ``loaded[0]`` adds up the seconds it takes."""

    def feed(k: int) -> list[Any]:
        began = time.perf_counter()
        worker.channel.send({"event": "feed", "set": sets[k]})
        placed = worker.channel.receive()
        if placed is None or placed.get("op") != "fed":
            raise RuntimeError(f"timing set {sets[k]} was not placed: {placed!r}")
        path = Path(placed["path"])
        values = torch.load(path, weights_only=True)
        path.unlink()
        inputs = on_device(values, worker.device)
        loaded[0] += time.perf_counter() - began
        return inputs

    return feed


def _same_inputs(entry, case: Case, expected_digest: str, device: str) -> list[Any]:
    """The case's inputs, made here as the reference worker made them (its digest proves it)."""
    inputs = make_inputs(entry["module"], entry["problem"], case, device)
    if digest(inputs) != expected_digest:
        raise RuntimeError(f"inputs of {case.id} differ from the reference worker's: nondeterministic get_inputs()")
    return inputs


class _WatchedCalls:
    """The candidate as timing calls it: under the guard's watch (no sentinel fills: they would be
    device work inside the timed region), its last record checked outside the timed region."""

    def __init__(self, guard, model, allowed: frozenset[str]):
        self.guard, self.model, self.allowed = guard, model, allowed
        self.record = None
        self.scale = 1

    def __call__(self, inputs: list[Any]) -> Any:
        with self.guard.watch(None, _sources(self.model, inputs)) as record:
            result = self.model(*inputs)
        self.record, self.scale = record, _scale(self.model, inputs)
        return result

    def check(self, result: Any, shape: str, repetition: int) -> None:
        """Graph replays run no Python: only calls made since the last check leave a record."""
        record, self.record = self.record, None
        if record is None:
            return
        reasons = violations(record, [o for o in flatten(result)[1] if isinstance(o, torch.Tensor)], self.scale,
                             self.allowed)
        if reasons:
            raise CandidateFailure.of("rejected", "; ".join(reasons[:3]), shape=shape, repetition=repetition)
