"""The worker process: ``python -m kernelevolve.eval.worker reference|candidate``.

A *reference* worker computes the problem's outputs and never loads candidate code. A *candidate*
worker loads one candidate at a time in its scratch directory, runs it under the guard, saves its
outputs for the parent to compare, and times it against the baselines. Requests and replies are
JSON lines on private copies of stdin/stdout; fds 0-2 are pointed away so candidate prints cannot
reach the protocol (eval/protocol.py). It imports only problem, platform and eval internals.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from kernelevolve.eval.protocol import CandidateFailure, Channel


class Worker:
    def __init__(self, role: str, device: str, channel: Channel):
        self.role = role
        self.device = device
        self.channel = channel
        self.problems: dict[str, dict[str, Any]] = {}
        self.guard = None
        if role == "candidate":
            from kernelevolve.eval import candidate, inputs, protocol, rules, timing
            from kernelevolve.eval.guard import Guard

            if device == "cpu":
                from kernelevolve.eval.interpreter import support_autotune

                support_autotune()
            self.guard = Guard(device, (candidate, inputs, protocol, rules, timing, sys.modules[__name__]))
            self.compile_clock = candidate.CompileClock()

    # -- shared -----------------------------------------------------------------------------------
    def _problem(self, req: dict[str, Any]) -> dict[str, Any]:
        """The problem of a request, imported at its sizes, and its reference built (after seed 0)
        with its parameters and buffers perturbed; kept for the requests that follow."""
        from kernelevolve.problem import import_problem_module, init_inputs, load_problem, reference_class, with_sizes

        problem = load_problem(req["problem"], req["trials"])
        sizes = req.get("sizes") or {}
        if sizes:
            problem = with_sizes(problem, sizes, "")
        entry = self.problems.get(problem.hash)
        if entry is None:
            module = import_problem_module(Path(req["problem"]), sizes)
            import torch

            from kernelevolve.eval.parameters import perturb_reference

            init = init_inputs(module)
            torch.manual_seed(0)
            model = reference_class(module)(*init).to(self.device)
            perturbations = perturb_reference(model) if problem.perturb_parameters else []
            entry = {"problem": problem, "module": module, "init": init, "model": model, "compiled": None,
                     "perturbations": perturbations}
            self.problems[problem.hash] = entry
        return entry

    def _save(self, values: list[Any], path: Path) -> None:
        import torch

        torch.save([v.detach().cpu() if isinstance(v, torch.Tensor) else v for v in values], path)

    # -- reference --------------------------------------------------------------------------------
    def reference(self, req: dict[str, Any]) -> dict[str, Any]:
        import torch
        from torch.utils.flop_counter import FlopCounterMode

        from kernelevolve.eval import problem_checks
        from kernelevolve.eval.inputs import Case, clone_value, digest, make_inputs
        from kernelevolve.eval.outputs import OutputTypeError, reference_outputs
        from kernelevolve.problem import OWN

        entry = self._problem(req)
        module, problem = entry["module"], entry["problem"]
        out_dir = Path(req["out_dir"])
        cases: list[dict[str, Any]] = []
        counted: dict[str, Any] = {}
        own_finite: dict[str, bool] = {}  # shape -> whether the reference is finite on the problem's own inputs
        sound = False  # the problem's inputs and reference checked, on the first case judged
        for raw in req["cases"]:
            case = Case(**raw)
            skipped = req.get("max_elements") and problem_checks.oversized(module, problem, case, req["max_elements"],
                                                                            counted)
            if skipped:
                cases.append(skipped)
                continue
            drawing = time.perf_counter()
            inputs = make_inputs(module, problem, case, self.device)
            drawn_s = time.perf_counter() - drawing
            counter = FlopCounterMode(display=False)  # for TFLOP/s, and to bound the float64 reference
            with torch.no_grad(), counter:
                result = entry["model"](*[clone_value(x) for x in inputs])
            flops = counter.get_total_flops()
            try:
                structure, outputs = reference_outputs(result)
            except OutputTypeError as exc:  # the problem's fault: one line for the user, no traceback
                return {"status": "problem_fault", "reason": f"{exc} (shape {case.shape})"}
            if not sound:
                fault = (problem_checks.unseeded_inputs(module, problem, case, inputs)
                         or problem_checks.random_reference(entry["model"], problem, case, inputs, outputs))
                if fault:
                    return {"status": "problem_fault", "reason": fault}
                sound = True
            if case.dist == OWN:
                own_finite[case.shape] = problem_checks.finite(outputs)
            elif own_finite.get(case.shape) and not problem_checks.finite(outputs):
                cases.append({"id": case.id, "dropped": case.dist})
                continue
            self._save(outputs, out_dir / f"{case.id}.pt")
            tensors = [x for x in inputs + outputs if isinstance(x, torch.Tensor)]
            meta = {
                "id": case.id,
                "structure": structure,
                "no_exact": self._save_exact(entry, inputs, outputs, structure, flops, out_dir / f"{case.id}.exact.pt"),
                "digest": digest(inputs),
                "flops": flops,
                "bytes": sum(t.numel() * t.element_size() for t in tensors),
                "dtypes": sorted({str(t.dtype).replace("torch.", "") for t in tensors}),
            }
            if case.timed and req.get("timing"):
                fault = problem_checks.unloadable(inputs, case)  # the timing sets are drawn alike
                if fault:
                    return {"status": "problem_fault", "reason": fault}
                meta["timing_digests"] = self._timing_references(entry, case, meta, drawn_s, out_dir)
            cases.append(meta)
        copy_gbps = None
        if self.device == "cuda":
            from kernelevolve.eval.timing import copy_bandwidth_gbps

            copy_gbps = copy_bandwidth_gbps()
        return {"cases": cases, "copy_gbps": copy_gbps}

    def _timing_references(self, entry: dict[str, Any], case: Any, meta: dict[str, Any], drawn_s: float,
                           out_dir: Path) -> list[str]:
        """The input sets a timed shape's repetitions run on (as many as its bytes and the ``drawn_s``
        seconds of one draw allow), saved for the harness to hand to candidate workers one at a time
        (eval/feed.py), with their reference outputs (and float64 ones); their digests."""
        import torch

        from kernelevolve.eval.feed import set_file
        from kernelevolve.eval.inputs import clone_value, digest, make_inputs, timing_cases
        from kernelevolve.eval.outputs import reference_outputs
        from kernelevolve.eval.timing import timing_set_count

        digests = []
        for timing_case in timing_cases(case, timing_set_count(meta["bytes"], drawn_s)):
            inputs = make_inputs(entry["module"], entry["problem"], timing_case, self.device)
            self._save(inputs, out_dir / set_file(timing_case.id))
            with torch.no_grad():
                outputs = reference_outputs(entry["model"](*[clone_value(x) for x in inputs]))[1]
            self._save(outputs, out_dir / f"{timing_case.id}.pt")
            self._save_exact(entry, inputs, outputs, meta["structure"], meta["flops"], out_dir / f"{timing_case.id}.exact.pt")
            digests.append(digest(inputs))
        return digests

    def _save_exact(self, entry: dict[str, Any], inputs: list[Any], outputs: list[Any], structure: str, flops: int,
                    path: Path) -> str | None:
        """Save the case's float64 reference; or say why it has none."""
        from kernelevolve.eval.exact import NoExactReference, exact_outputs, float64_model

        try:
            if "model64" not in entry:
                entry["model64"] = float64_model(entry["model"])
            exact = exact_outputs(entry["model64"], inputs, outputs, structure, flops)
        except NoExactReference as exc:
            return str(exc)
        if exact is not None:
            self._save(exact, path)
        return None

    # -- candidate --------------------------------------------------------------------------------
    def evaluate(self, req: dict[str, Any]) -> dict[str, Any]:
        from kernelevolve.eval.candidate import run_candidate

        entry = self._problem(req)
        os.chdir(req["scratch"])
        before = own_processes()
        try:
            reply = run_candidate(self, entry, req)
        except CandidateFailure as failure:
            reply = failure.reply()
        # A process whose functions a candidate replaced must not judge the next one.
        reply["dirty"] = reply.get("dirty", False) or bool(self.guard.patched())
        left = own_processes() - before
        if left:
            kill_processes(left)
            left_behind = CandidateFailure.of(
                "rejected", f"leaves {len(left)} process(es) running after its call (they were killed): "
                            "work must happen in the call, in Triton kernels")
            reply.update(left_behind.reply(), dirty=True)
        return reply

    def profile(self, req: dict[str, Any]) -> dict[str, Any]:
        """Run a correct candidate for a profiler that started this worker (eval/ncu.py)."""
        from kernelevolve.eval.candidate import run_for_profiler

        entry = self._problem(req)
        os.chdir(req["scratch"])
        try:
            return run_for_profiler(self, entry, req)
        except CandidateFailure as failure:
            return failure.reply()

    def compiled(self, entry: dict[str, Any]) -> Any:
        if entry["compiled"] is None:
            import torch

            entry["compiled"] = torch.compile(entry["model"])
        return entry["compiled"]


def own_processes() -> set[int]:
    """Other processes in this worker's PID namespace (empty outside one: the host's are not ours)."""
    if os.getpid() != 1:
        return set()
    return {int(name) for name in os.listdir("/proc") if name.isdigit() and name != "1"}


def kill_processes(pids: set[int]) -> None:
    """As PID 1 of the namespace: kill and reap what a candidate left behind."""
    for pid in pids:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG) == (0, 0):
                break
        except ChildProcessError:
            break


def _describe(device: str, home: Path) -> dict[str, Any]:
    import platform

    import torch
    import triton

    from kernelevolve.eval.confine import SANDBOX_REPORT

    name = torch.cuda.get_device_name() if device == "cuda" else platform.processor() or platform.machine()
    versions = {"python": platform.python_version(), "torch": torch.__version__, "triton": triton.__version__}
    if device == "cuda":
        versions["cuda" if torch.version.hip is None else "hip"] = str(torch.version.cuda or torch.version.hip)
    report = home / SANDBOX_REPORT  # written by the launcher before this process started
    sandbox = json.loads(report.read_text()) if report.is_file() else {"mode": "off"}
    return {"device_name": name, "versions": versions, "sandbox": sandbox}


def main() -> None:
    role, device, log_path = sys.argv[1], sys.argv[2], sys.argv[3]
    channel = Channel(log_path)
    try:
        worker = Worker(role, device, channel)
    except Exception as exc:  # report why the worker cannot start, then stop
        channel.send({"event": "fatal", "reason": f"worker failed to start: {type(exc).__name__}: {exc}"})
        return
    channel.send({"event": "ready", "pid": os.getpid(), **_describe(device, Path(log_path).parent)})
    for req in channel.requests():
        if req["op"] == "shutdown":
            return
        try:
            handle = {"reference": worker.reference, "profile": worker.profile}.get(req["op"], worker.evaluate)
            reply = handle(req)
        except Exception as exc:  # a harness-side failure: the parent reports it as an internal error
            reply = {"status": "internal_error", "reason": f"{type(exc).__name__}: {exc}",
                     "traceback": traceback.format_exc()}
        reply["event"] = "done"
        channel.send(reply)
        if reply.get("poisoned") or reply.get("dirty"):
            return


if __name__ == "__main__":
    main()
