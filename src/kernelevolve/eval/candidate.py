"""One candidate inside a candidate worker: load it, call it on every case under the guard, save
its outputs for the parent to compare, and time it against the baselines.

Nothing here decides correctness: the parent compares the saved outputs with references computed
in another process. What is decided here is what only the running process can see (launches,
operators, threads, patches) and it ends the evaluation with ``rejected``.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from kernelevolve.eval.guard import storage_key
from kernelevolve.eval.inputs import Case, digest, make_inputs
from kernelevolve.eval.static import CANDIDATE_CLASSES
from kernelevolve.eval.worker import CandidateFailure, classify, clone_value, load_candidate, outputs_of, send

def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _bytes(t: torch.Tensor) -> torch.Tensor:
    return t.detach().reshape(-1).view(torch.uint8) if t.numel() else t


def _same_bits(a: Any, b: Any) -> bool:
    if not isinstance(a, torch.Tensor):
        return True
    return a.shape == b.shape and a.dtype == b.dtype and torch.equal(_bytes(a), _bytes(b))


def _instantiate(module: Any, init: list[Any], device: str, kernel_path: str) -> torch.nn.Module:
    cls = next((getattr(module, n) for n in CANDIDATE_CLASSES if isinstance(getattr(module, n, None), type)), None)
    if cls is None:
        raise CandidateFailure("rejected", "the candidate defines no ModelNew (or TritonModel) class")
    torch.manual_seed(0)  # the reference was built after the same seed: same parameters
    try:
        return cls(*init).to(device)
    except Exception as exc:  # candidate code: every failure is a status
        failure = classify(exc, kernel_path)
        raise CandidateFailure(failure.status, f"constructing {cls.__name__} failed: {failure.reason}")


def _scale(model: torch.nn.Module, inputs: list[Any]) -> int:
    tensors = [t for t in inputs if isinstance(t, torch.Tensor)] + list(model.parameters()) + list(model.buffers())
    return max((t.numel() for t in tensors), default=1)


def run_candidate(worker: Any, entry: dict[str, Any], req: dict[str, Any]) -> dict[str, Any]:
    guard, device, kernel = worker.guard, worker.device, req["kernel"]
    problem, module = entry["problem"], entry["module"]
    cases = [Case(**c) for c in req["cases"]]
    timed_inputs = _prepare_baselines(worker, entry, cases, req.get("baselines", []))
    send({"event": "candidate_start"})
    try:
        cand_module = load_candidate(kernel)
    except SyntaxError as exc:
        raise CandidateFailure("syntax_error", f"SyntaxError: {exc.msg} (line {exc.lineno})")
    except Exception as exc:  # candidate import-time code
        failure = classify(exc, kernel)
        raise CandidateFailure(failure.status, f"importing the candidate failed: {failure.reason}")
    patched = guard.patched()
    if patched:
        return {"status": "rejected", "reason": f"patches functions the harness relies on: {', '.join(patched)}",
                "dirty": True}
    model = _instantiate(cand_module, entry["init"], device, kernel)
    out_dir = Path(req["out_dir"])
    previous: list[torch.Tensor] = []
    results = []
    for case in cases:
        inputs = make_inputs(module, problem, case, device)
        if digest(inputs) != req["digests"][case.id]:
            raise RuntimeError(f"inputs of {case.id} differ from the reference worker's: nondeterministic get_inputs()")
        files = []
        for variant in (0, 1) if case.sentinel_pair else (0,):
            outputs = _checked_call(guard, model, inputs, case, variant, previous, device, kernel)
            path = out_dir / f"{case.id}.s{variant}.pt"
            torch.save([o.detach().cpu() for o in outputs], path)
            files.append(path.name)
            previous = outputs
        results.append({"id": case.id, "files": files})
    reply: dict[str, Any] = {"status": "ran", "cases": results}
    if req.get("timing"):
        reply["timings"] = _time(worker, entry, model, timed_inputs, req.get("baselines", []), out_dir)
    return reply


def _checked_call(guard, model, inputs, case: Case, variant: int, previous, device, kernel) -> list[torch.Tensor]:
    call_inputs = [clone_value(x) for x in inputs]
    try:
        with torch.no_grad(), guard.watch(variant) as record:
            result = model(*call_inputs)
            _sync(device)
    except CandidateFailure:
        raise
    except Exception as exc:  # candidate code: classified, never swallowed
        failure = classify(exc, kernel)
        raise CandidateFailure(failure.status, f"shape {case.shape}, trial {case.trial}: {failure.reason}",
                               failure.poisoned)
    outputs = outputs_of(result)
    where = f"shape {case.shape}, trial {case.trial}"
    for i, out in enumerate(outputs):
        if not isinstance(out, torch.Tensor):
            raise CandidateFailure("mismatch", f"{where}: output {i} is a {type(out).__name__}, not a tensor")
        if type(out) is not torch.Tensor:
            raise CandidateFailure("rejected", f"{where}: output {i} is a {type(out).__name__}, a Tensor subclass")
        if out.device.type != torch.device(device).type:
            raise CandidateFailure("mismatch", f"{where}: output {i} is on {out.device}, expected {device}")
    reasons = guard.violations(record, outputs, _scale(model, inputs))
    patched = guard.patched()
    if patched:
        reasons.append(f"patches functions the harness relies on: {', '.join(patched)}")
    if any(not _same_bits(a, b) for a, b in zip(call_inputs, inputs)):
        reasons.append("modifies its inputs in place")
    earlier = {storage_key(p) for p in previous}
    if any(storage_key(o) in earlier for o in outputs if o.numel()):
        reasons.append("returns the storage of an earlier call's output (a cached or reused output)")
    if reasons:
        raise CandidateFailure("rejected", f"{where}: " + "; ".join(reasons[:3]))
    return outputs


def _prepare_baselines(worker, entry, cases: list[Case], baselines: list[str]) -> dict[str, list[Any]]:
    """Inputs of the timed cases, and baselines warmed up (torch.compile compiles here, untimed)."""
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
    return entry[key]


def _time(worker, entry, model, timed_inputs, baselines: list[str], out_dir: Path) -> list[dict[str, Any]]:
    from kernelevolve.eval.timing import TimingError, time_interleaved

    rows = []
    for shape, inputs in timed_inputs.items():
        last: list[Any] = [None]

        def candidate(inputs=inputs, last=last):
            last[0] = model(*inputs)

        fns = {"candidate": candidate}
        for name in baselines:
            fns[name] = (lambda m=_baseline(worker, entry, name), inputs=inputs: m(*inputs))
        try:
            with torch.no_grad():
                timings = time_interleaved(fns)
        except TimingError as exc:
            raise CandidateFailure("runtime_error", f"shape {shape}: {exc}")
        torch.save([o.detach().cpu() for o in outputs_of(last[0])], out_dir / f"{shape}.timed.pt")
        rows.append({"shape": shape, **{name: asdict(t) for name, t in timings.items()}})
    return rows
