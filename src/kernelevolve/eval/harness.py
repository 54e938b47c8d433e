"""The evaluation harness: one candidate, one problem, one platform -> an EvalResult.

Static checks here; references from a reference worker (cached on disk); the candidate in a
candidate worker; comparison and every verdict about numbers back here, in the harness's process.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from kernelevolve.config import cache_dir as default_cache_dir
from kernelevolve.eval import ncu
from kernelevolve.eval.check_sizes import Unfittable, fitted
from kernelevolve.eval.compare import EXACT_SLACK, OutputUnreadable, check_outputs, load_outputs, timed_output_mismatch
from kernelevolve.eval.confine import Limits
from kernelevolve.eval.feed import SetFeeder
from kernelevolve.eval.inputs import Case, cases_for, timing_cases
from kernelevolve.eval.interpreter_limits import InterpreterLimits
from kernelevolve.eval.pool import SandboxRefused, WorkerCrashed, WorkerPool, WorkerProcess, WorkerTimeout
from kernelevolve.eval.result import (
    CaseResult,
    EvalResult,
    Failure,
    Incumbent,
    KernelProfile,
    Mismatch,
    NcuProfile,
    ShapeTiming,
    Status,
    TimingStop,
)
from kernelevolve.eval.scoring import estimate_from_incumbent, shape_timing, summarise
from kernelevolve.eval.sandbox import Redactor
from kernelevolve.eval.static import check_signatures, check_source
from kernelevolve.graph import source_hash
from kernelevolve.platform import Platform, peak_for
from kernelevolve.problem import Problem
from kernelevolve.reference import describe_reference

HARNESS_VERSION = "5"  # bump to invalidate every cached reference and result
CANARY = "README.kernelevolve"


class HarnessError(Exception):
    """The harness itself or the problem failed (not the candidate): the run cannot go on."""


@dataclass
class References:
    directory: Path
    cases: dict[str, dict[str, Any]]  # case id -> digest, flops, bytes, dtypes
    device_name: str
    versions: dict[str, str]
    copy_gbps: float | None


def kept_paths(extra: tuple[Path, ...] = ()) -> tuple[str, ...]:
    """What kernelevolve keeps that no candidate may see: the cache (references), the default
    store beside the working directory, and ``extra`` (the files of the store in use)."""
    paths = [default_cache_dir(), Path.cwd() / ".kernelevolve", *extra]
    return tuple(sorted({str(p.resolve()) for p in paths}))


class Harness:
    """Evaluates candidates with reusable workers; safe to call from several threads.

    Every phase a user waits on (loading the problem and computing references, preparing
    baselines, the candidate itself) is bounded by ``timeout_s``. Candidate workers run in the OS
    sandbox of ``eval/confine.py`` (``sandbox``: strict, best-effort or off), with ``hidden``
    (and the cache) out of their sight. With ``profile``, each correct candidate is also profiled
    by Nsight Compute at its first production shape (``EvalResult.ncu``, eval/ncu.py)."""

    def __init__(self, platform: Platform, workers: int = 1, timeout_s: float = 180.0, cache_dir: Path | None = None,
                 sandbox: str = "best-effort", hidden: tuple[Path, ...] = (), limits: Limits | None = None,
                 gpus: list[str] | None = None, profile: bool = False):
        self.platform = platform
        # why --profile cannot profile here (no GPU, no ncu): said once by the CLI, the run goes on
        self.profile_unavailable = ncu.unavailable(platform) if profile else None
        self.profile = profile and self.profile_unavailable is None
        self.timeout_s = timeout_s
        self.redact = Redactor()
        self.cache_root = cache_dir or default_cache_dir()
        self.cache_dir = self.cache_root / "references"
        self.workers = workers
        self.gpus = list(gpus or [])  # device ids the candidate workers are spread over (eval/placement.py)
        self.candidates = WorkerPool("candidate", platform, workers, self.redact, sandbox,
                                     kept_paths((self.cache_root, *hidden)), limits, self.gpus)
        self.references = WorkerPool("reference", platform, 1, self.redact, gpus=self.gpus[:1])
        self._refs: dict[str, References] = {}
        # (problem, shape, GPU) -> baseline timings: a candidate is compared with baselines timed on its GPU
        self._baselines: dict[tuple[str, str, str | None], dict[str, dict[str, Any]]] = {}
        # (problem, GPU, launch fingerprint) -> the first correct result with those launches
        self._launches: dict[tuple[str, str | None, str], EvalResult] = {}
        self._as_judged: dict[str, Problem] = {}
        self._lock = threading.Lock()
        self.interpreter_limits = InterpreterLimits(self.cache_root)

    def __enter__(self) -> Harness:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.candidates.close()
        self.references.close()

    def sandbox(self, problem: Problem) -> str:
        """What confines this problem's candidates here (starts a candidate worker, kept for use)."""
        try:
            return self._with_candidate_worker(problem, lambda worker: worker.sandbox).summary()
        except (WorkerCrashed, WorkerTimeout) as exc:
            raise HarnessError(f"a candidate worker could not start: {exc}") from exc

    def _with_candidate_worker(self, problem: Problem, use: Callable[[WorkerProcess], Any]) -> Any:
        """``use`` a candidate worker that may read the problem's directory; a sandbox that
        ``strict`` refuses is the run's end, with the way out."""
        try:
            return self.candidates.run(use, readable=frozenset({str(problem.path.resolve().parent)}))
        except SandboxRefused as exc:
            raise HarnessError(f"{exc}; run with --sandbox best-effort to evaluate with what this machine "
                               "offers (each result then says what is missing)") from exc

    # -- references ---------------------------------------------------------------------------------
    def judged(self, problem: Problem) -> Problem:
        """The problem as this platform judges it: on the interpreter, a KernelBench-style file too
        large for it at check sizes (eval/check_sizes.py); HarnessError when it cannot be shrunk."""
        limit = self.platform.max_input_elements
        if limit is None:
            return problem
        with self._lock:
            if problem.hash not in self._as_judged:
                try:
                    self._as_judged[problem.hash] = fitted(problem, limit)
                except Unfittable as exc:
                    raise HarnessError(str(exc)) from exc
            return self._as_judged[problem.hash]

    def reference_set(self, problem: Problem) -> References:
        problem = self.judged(problem)
        with self._lock:
            if problem.hash not in self._refs:
                self._refs[problem.hash] = self._load_or_compute_references(problem)
            return self._refs[problem.hash]

    def _load_or_compute_references(self, problem: Problem) -> References:
        cases = cases_for(problem)
        key = hashlib.sha256(
            json.dumps([HARNESS_VERSION, problem.hash, self.platform.name, self.platform.device_name,
                        self.platform.max_input_elements,
                        [c.to_json() for c in cases]]).encode()
        ).hexdigest()[:24]
        directory = self.cache_dir / key
        meta_path = directory / "references.json"
        if meta_path.is_file():
            meta = json.loads(meta_path.read_text())
            return References(directory, meta["cases"], meta["device_name"], meta["versions"], meta["copy_gbps"])
        staging = Path(tempfile.mkdtemp(prefix="refs-", dir=self._ensure(self.cache_dir)))
        request = {"op": "reference", **_problem_fields(problem),
                   "out_dir": str(staging), "cases": [c.to_json() for c in cases], "timing": self.platform.timed,
                   "max_elements": self.platform.max_input_elements}

        def use(worker: WorkerProcess) -> tuple[dict[str, Any], WorkerProcess]:
            worker.send(request)
            return worker.receive(self.timeout_s), worker

        try:
            reply, worker = self.references.run(use)
        except WorkerTimeout as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise HarnessError(f"loading {problem.name} and computing its reference outputs took longer than "
                               f"--timeout {self.timeout_s:g} s; its worker was killed") from exc
        except WorkerCrashed as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise HarnessError(f"computing the reference outputs failed: {exc}") from exc
        if reply.get("status") == "internal_error":
            shutil.rmtree(staging, ignore_errors=True)
            raise HarnessError(f"the reference model failed: {reply['reason']}\n{reply.get('traceback', '')}")
        if reply.get("status") == "problem_fault":
            shutil.rmtree(staging, ignore_errors=True)
            raise HarnessError(f"{problem.name}: {reply['reason']}")
        if all(c.get("skipped") for c in reply["cases"]):
            shutil.rmtree(staging, ignore_errors=True)
            why = "; ".join(sorted({c["why"] for c in reply["cases"]}))
            raise HarnessError(
                f"no shape of {problem.name} can be judged on the interpreter ({why}): declare small CHECK_SHAPES "
                "in the problem file, or run on a GPU"
            )
        meta = {"cases": {c["id"]: c for c in reply["cases"]}, "device_name": worker_device(worker),
                "versions": worker_versions(worker), "copy_gbps": reply.get("copy_gbps")}
        (staging / "references.json").write_text(json.dumps(meta))
        try:
            staging.rename(directory)
        except OSError:  # another process cached the same references first: use those
            shutil.rmtree(staging, ignore_errors=True)
        return References(directory, meta["cases"], meta["device_name"], meta["versions"], meta["copy_gbps"])

    @staticmethod
    def _ensure(path: Path) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        return path

    # -- one candidate ------------------------------------------------------------------------------
    def evaluate(self, problem: Problem, source: str, incumbent: Incumbent | None = None,
                 timeout_s: float | None = None) -> EvalResult:
        """Judge ``source``; with ``incumbent`` (the run's best), its timing may stop early where it is
        clearly slower (``EvalResult.timing_stopped`` says where and by how much). ``timeout_s``
        replaces the harness's time limit for this candidate."""
        started = time.monotonic()
        result = check_source(source) or check_signatures(source, describe_reference(problem))
        if result is None:
            judged = self.judged(problem)
            refs = self.reference_set(judged)
            result = self._run(judged, source, refs, timeout_s or self.timeout_s, incumbent)
            result.notes = problem_notes(judged, refs)
            result.device = refs.device_name
            result.versions = refs.versions
            if self.profile and result.correct:
                result.ncu = self._profile(judged, source, refs, result)
            if self.platform.triton_interpreter:
                dtypes = frozenset(d for c in refs.cases.values() for d in c.get("dtypes", []))
                self.interpreter_limits.mark(result, source, dtypes, refs.versions.get("triton", ""))
        if result.status is not Status.ok and result.failure is None:  # the harness's own verdicts
            result.failure = Failure(message=result.reason)
        if result.failure is not None:
            result.failure.message = self.redact(result.failure.message)
        result.platform = self.platform.name
        result.source_hash = source_hash(source)
        result.problem_hash = problem.hash
        result.reason = self.redact(result.reason)
        result.elapsed_s = round(time.monotonic() - started, 3)
        return result

    def _run(self, problem: Problem, source: str, refs: References, timeout_s: float,
             incumbent: Incumbent | None) -> EvalResult:
        cases = judged_cases(problem, refs)
        request = {
            "op": "evaluate", **_problem_fields(problem),
            "cases": [c.to_json() for c in cases],
            "digests": {c.id: refs.cases[c.id]["digest"] for c in cases},
            "structures": {c.id: refs.cases[c.id]["structure"] for c in cases},
            "timing": self.platform.timed,
            "incumbent": incumbent.model_dump() if incumbent is not None and self.platform.timed else None,
            # each timed shape's input sets, by id: the worker asks for each as its repetition begins
            "timing_sets": {c.shape: [t.id for t in _timing_cases(c, refs)]
                            for c in cases if c.timed and self.platform.timed},
        }

        def use(worker: WorkerProcess) -> EvalResult:
            # The evaluation's files live in the worker's home: the one place its sandbox may write.
            work = Path(tempfile.mkdtemp(prefix="eval-", dir=worker.home))
            baselines = self._missing_baselines(problem, worker.gpu) if self.platform.timed else []
            try:
                result = self._judged(problem, source, refs, cases, worker, work,
                                      {**request, "baselines": baselines}, timeout_s, incumbent)
            finally:
                shutil.rmtree(work, ignore_errors=True)
            if worker.retire:
                worker.close()  # a CUDA error, a patched process or a limit hit must not judge the next one
            result.flags += worker.sandbox.flags()
            result.sandbox = worker.sandbox.summary()
            result.gpu = worker.gpu
            return result

        return self._with_candidate_worker(problem, use)

    def _judged(self, problem: Problem, source: str, refs: References, cases: list[Case], worker: WorkerProcess,
                work: Path, request: dict[str, Any], timeout_s: float, incumbent: Incumbent | None) -> EvalResult:
        scratch, out_dir = work / "scratch", work / "outputs"
        scratch.mkdir()
        out_dir.mkdir()
        kernel = scratch / "kernel.py"
        kernel.write_text(source)
        (scratch / CANARY).write_text("kernelevolve: candidates must not touch files they did not create\n")
        request = {**request, "kernel": str(kernel), "scratch": str(scratch), "out_dir": str(out_dir)}
        set_ids = [set_id for ids in request["timing_sets"].values() for set_id in ids]
        with SetFeeder(refs.directory, work, set_ids) as feeder:
            reply, log_tail = self._exchange(worker, request, timeout_s,
                                             lambda fp: self._earlier(problem, worker.gpu, fp, source) is not None,
                                             feeder)
        if not _scratch_intact(scratch, source):
            return EvalResult(status=Status.rejected, log_tail=self.redact(log_tail),
                              reason="deletes or rewrites files it did not create in its working directory")
        if reply["status"] != "ran":
            return self._failed(reply, log_tail)
        result = self._judge(problem, cases, refs, reply, out_dir, worker.gpu, incumbent)
        result.phases = reply.get("phases", {})
        result.launch_fingerprint = reply.get("fingerprint")
        result.kernels = [KernelProfile.model_validate(k) for k in reply.get("kernels") or []]
        if result.correct:
            self._same_launches(problem, worker.gpu, source, result)
        result.log_tail = log_tail
        result.skipped_shapes = sorted({c.shape for c in cases_for(problem) if refs.cases[c.id].get("skipped")})
        return result

    def _profile(self, problem: Problem, source: str, refs: References, result: EvalResult) -> NcuProfile:
        """Nsight Compute's profile of a correct candidate at its first production shape, in a fresh
        candidate worker (confined as every other) that ncu starts on the GPU that judged it."""
        case = next((c for c in judged_cases(problem, refs) if c.timed), None)
        if case is None:
            return NcuProfile(error="the problem has no production shape to profile")
        pool = self.candidates

        def start(profiler: tuple[str, ...]) -> WorkerProcess:
            return WorkerProcess("candidate", self.platform, self.redact, None, pool.sandbox,
                                 frozenset({str(problem.path.resolve().parent)}), pool.hidden, pool.limits,
                                 result.gpu, pool.gates.get(result.gpu), profiler)

        def request(worker: WorkerProcess) -> dict[str, Any]:
            scratch = Path(tempfile.mkdtemp(prefix="profile-", dir=worker.home))
            (scratch / "kernel.py").write_text(source)
            return {"op": "profile", **_problem_fields(problem),
                    "kernel": str(scratch / "kernel.py"), "scratch": str(scratch), "case": case.to_json(),
                    "digest": refs.cases[case.id]["digest"], "warmup": ncu.WARMUP_CALLS}

        profiled = ncu.profile(start, request, [k.name for k in result.kernels], case.shape, self.timeout_s)
        profiled.error = self.redact(profiled.error)
        return profiled

    def _earlier(self, problem: Problem, gpu: str | None, fingerprint: str | None, source: str) -> EvalResult | None:
        """The first correct result of *another* candidate with these launches on this GPU (the same
        source judged again is judged, and timed, again)."""
        if fingerprint is None:
            return None
        with self._lock:
            earlier = self._launches.get((problem.hash, gpu, fingerprint))
        return earlier if earlier is not None and earlier.source_hash != source_hash(source) else None

    def _same_launches(self, problem: Problem, gpu: str | None, source: str, result: EvalResult) -> None:
        """A correct candidate whose checked calls launched exactly what an earlier one's did is its
        duplicate: it takes the earlier one's timings (its own were skipped) and says so. A
        duplicate scores what the original scored and, ties going to the earlier node, never
        becomes a run's best in its place, so a candidate that forged its launches gains nothing."""
        fingerprint = result.launch_fingerprint
        earlier = self._earlier(problem, gpu, fingerprint, source)
        if earlier is None:
            if fingerprint is not None and (result.timings or not self.platform.timed):
                with self._lock:  # the first with these launches stays (a source judged again is no duplicate)
                    self._launches.setdefault((problem.hash, gpu, fingerprint),
                                              result.model_copy(update={"source_hash": source_hash(source)}))
            return
        result.duplicate_of = earlier.source_hash
        if self.platform.timed:
            result.timings = [t.model_copy() for t in earlier.timings]
            result.speedup, result.speedup_eager = earlier.speedup, earlier.speedup_eager
            result.timing_method, result.timing_stopped = earlier.timing_method, earlier.timing_stopped
        result.reason += (f"; its checked calls launch exactly what candidate {earlier.source_hash[:12]} launched: "
                          + ("its timings are reused, not measured again" if self.platform.timed else "a duplicate"))

    def _exchange(self, worker: WorkerProcess, request: dict[str, Any], timeout_s: float,
                  known: Callable[[str | None], bool], feeder: SetFeeder) -> tuple[dict[str, Any], str]:
        """The worker's reply to ``request``; it times only with its GPU to itself, and not at all
        when ``known`` says its launches were timed before; ``feeder`` places each input set it
        asks for while it times."""
        worker.clear_log()
        try:
            worker.send(request)
            message = worker.receive(timeout_s)  # loading the problem and preparing baselines
            if message.get("event") == "candidate_start":
                message = worker.receive(timeout_s)  # the candidate's checks (its compilation among them)
            if message.get("event") == "timing_ready" and known(message.get("fingerprint")):
                worker.send({"op": "skip"})
                message = worker.receive(timeout_s)
            elif message.get("event") == "timing_ready":  # timing needs the GPU alone: wait at its gate
                with worker.gate.alone(worker, drain_others=bool(message.get("baselines"))) as waited:
                    worker.send({"op": "time"})
                    message = worker.receive(timeout_s)
                    while message.get("event") == "feed":
                        worker.send(feeder.place(message.get("set")))
                        message = worker.receive(timeout_s)
                if message.get("event") == "timed":  # timing done: its outputs are written with the GPU free
                    message = worker.receive(timeout_s)
                message.setdefault("phases", {})["gate_s"] = waited
        except WorkerTimeout:
            hits = _limits_note(worker.limit_hits())
            return {"status": "timeout",
                    "reason": f"the candidate did not finish within {timeout_s:g} s; its worker was killed{hits}"}, worker.log_tail()
        except WorkerCrashed as exc:
            hits = worker.limit_hits()
            if hits:
                return {"status": "crash", "reason": f"{exc}: stopped by the sandbox's {' and '.join(hits)}"}, worker.log_tail()
            return {"status": "crash", "reason": f"{exc} (a segfault, an out-of-bounds access or an exit call)"}, worker.log_tail()
        hits = worker.limit_hits()
        worker.retire = bool(message.get("poisoned") or message.get("dirty") or hits)
        if hits:
            before = _reply_failure(message).sentence()
            message = {**message, "status": "rejected", "failure": Failure(
                message=f"ran into the sandbox's {' and '.join(hits)} (a fork bomb or a runaway allocation): {before}"
            ).model_dump()}
        return message, worker.log_tail()

    def _failed(self, reply: dict[str, Any], log_tail: str) -> EvalResult:
        status, failure = reply["status"], _reply_failure(reply)
        if status == "internal_error":
            status, failure = "crash", Failure(during="the worker, outside the candidate's code,", message=failure.message)
            log_tail = f"{log_tail}\n{reply.get('traceback', '')}"
        return EvalResult(status=Status(status), reason=failure.sentence(), failure=failure,
                          log_tail=self.redact(log_tail))

    # -- verdicts -----------------------------------------------------------------------------------
    def _judge(self, problem: Problem, cases: list[Case], refs: References, reply: dict[str, Any], out_dir: Path,
               gpu: str | None = None, incumbent: Incumbent | None = None) -> EvalResult:
        case_results: list[CaseResult] = []
        seen: dict[str, str] = {}  # digest of a candidate output -> the case that produced it
        for case, row in zip(cases, reply["cases"]):
            expected = load_outputs(refs.directory / f"{case.id}.pt")
            by_exact = False
            for name in row["files"]:
                try:
                    got = load_outputs(out_dir / name)
                except OutputUnreadable as exc:
                    return EvalResult(status=Status.rejected, reason=f"its outputs are not plain tensors: {exc}")
                mismatch, decided = check_outputs(problem, refs.directory, case.id, got, expected)
                if mismatch is not None:
                    return self._mismatch(case, name, mismatch, case_results, refs.cases[case.id]["no_exact"])
                by_exact = by_exact or decided
                fingerprint = _fingerprint(got)
                earlier = seen.get(fingerprint)
                if earlier is not None and earlier != case.id and refs.cases[earlier]["digest"] != refs.cases[case.id]["digest"]:
                    return EvalResult(status=Status.rejected,
                                      reason=f"returns the same output for {earlier} and {case.id}, whose inputs differ")
                seen[fingerprint] = case.id
            case_results.append(CaseResult(shape=case.shape, trial=case.trial, distribution=case.dist, correct=True,
                                           by_exact=by_exact))
        reason = "correct on every case"
        if any(c.by_exact for c in case_results):
            reason += (f" ({sum(c.by_exact for c in case_results)} of {len(case_results)} cases outside tolerance of "
                       "PyTorch's output but within the float64 rule: PyTorch's own result is further from the "
                       "exact answer there)")
        result = EvalResult(status=Status.ok, correct=True, reason=reason, cases=case_results)
        if reply.get("timings"):
            self._score(problem, refs, reply["timings"], out_dir, result, gpu)
        if reply.get("timing_stopped") and incumbent is not None and result.correct:
            stop = TimingStop(**reply["timing_stopped"])
            stop.estimated_speedup = result.speedup = estimate_from_incumbent(result.timings, incumbent)
            result.speedup_eager = None
            result.timing_stopped = stop
            result.reason += f"; {stop.sentence()}"
        return result

    def _mismatch(self, case: Case, name: str, mismatch: Mismatch, done: list[CaseResult], no_exact: str | None) -> EvalResult:
        if name.endswith(".s1.pt"):
            mismatch.pattern = ("output depends on uninitialised memory: correct with one sentinel fill, wrong with "
                                "another (elements left unwritten?); " + mismatch.pattern)
        detail = mismatch.pattern
        if mismatch.max_abs_error is not None:
            detail += (f"; {mismatch.mismatched}/{mismatch.total} elements off, max abs error "
                       f"{mismatch.max_abs_error:.3g}, max rel error {mismatch.max_rel_error:.3g} "
                       f"(atol {mismatch.atol:g}, rtol {mismatch.rtol:g})")
            if mismatch.first_bad_index is not None:
                detail += f"; first at {mismatch.first_bad_index}: got {mismatch.got:.6g}, expected {mismatch.expected:.6g}"
        if mismatch.exact is not None:
            detail += (f"; against the float64 reference too: max error {mismatch.exact.candidate_max_error:.3g}, "
                       f"PyTorch's own {mismatch.exact.reference_max_error:.3g}, {mismatch.exact.mismatched} elements "
                       f"beyond atol + rtol·|exact| + {EXACT_SLACK:g}·|PyTorch's error|")
        elif no_exact is not None:
            detail += f"; no float64 reference for this case: {no_exact}"
        failed = CaseResult(shape=case.shape, trial=case.trial, distribution=case.dist, correct=False, mismatch=mismatch)
        failure = Failure(shape=case.shape, trial=case.trial, distribution=case.dist,
                          message=f"output {mismatch.output_index}: {detail}")
        return EvalResult(status=Status.mismatch, reason=failure.sentence(), failure=failure, cases=[*done, failed])

    def _missing_baselines(self, problem: Problem, gpu: str | None) -> list[str]:
        wanted = ["eager", "compile", *problem.extra_baselines]
        with self._lock:
            have = [self._baselines.get((problem.hash, s.name, gpu), {}) for s in problem.production_shapes]
        return [b for b in wanted if not all(b in h for h in have)]

    def _score(self, problem: Problem, refs: References, timings: list[dict[str, Any]], out_dir: Path,
               result: EvalResult, gpu: str | None) -> None:
        peak = peak_for(refs.device_name)
        timed_cases = {c.shape: c for c in cases_for(problem) if c.timed}
        rows: list[ShapeTiming] = []
        for row in timings:
            shape = row["shape"]
            with self._lock:
                cached = self._baselines.setdefault((problem.hash, shape, gpu), {})
                for name, timing in row.items():
                    if name not in ("shape", "candidate"):
                        cached[name] = timing
                base = dict(cached)
            timed_case = timed_cases[shape]
            wrong = timed_output_mismatch(problem, _timing_cases(timed_case, refs), refs.directory, out_dir)
            if wrong is not None:
                result.status, result.correct, result.reason = Status.mismatch, False, wrong
                return
            meta = refs.cases[timed_case.id]
            rows.append(shape_timing(shape, row["candidate"], base, meta, peak, problem.allow_tf32, refs.copy_gbps,
                                     result.flags))
        summarise(result, rows)


def judged_cases(problem: Problem, refs: References) -> list[Case]:
    """The cases a candidate is judged on: those the reference worker neither skipped (too large
    for the platform) nor dropped (redraws on which the reference is not finite)."""
    return [c for c in cases_for(problem) if not {"skipped", "dropped"} & refs.cases[c.id].keys()]


def problem_notes(problem: Problem, refs: References) -> list[str]:
    """How the problem was judged, where that is not as its file says: check sizes, dropped redraws."""
    notes = [problem.sizes_note] if problem.sizes_note else []
    dropped = sorted({c["dropped"] for c in refs.cases.values() if "dropped" in c})
    if dropped:
        notes.append(f"the reference gives NaN or Inf on redrawn {', '.join(dropped)} inputs but not on the problem's "
                     "own, so those redraws were dropped; a get_inputs with a dist keyword draws structured inputs "
                     "itself (docs/problems.md)")
    return notes


def _reply_failure(reply: dict[str, Any]) -> Failure:
    """The typed failure a worker reply carries (the harness's own replies carry a reason only)."""
    return Failure(**reply["failure"]) if reply.get("failure") else Failure(message=reply.get("reason", ""))


def _limits_note(hits: list[str]) -> str:
    return f" (it had run into the sandbox's {' and '.join(hits)})" if hits else ""


def _problem_fields(problem: Problem) -> dict[str, Any]:
    """What a worker request says of the problem, for the worker to load it as the harness did."""
    return {"problem": str(problem.path), "trials": problem.trials, "sizes": problem.sizes}


def _timing_cases(case: Case, refs: References) -> list[Case]:
    return timing_cases(case, len(refs.cases[case.id]["timing_digests"]))


def _scratch_intact(scratch: Path, source: str) -> bool:
    kernel, canary = scratch / "kernel.py", scratch / CANARY
    return canary.is_file() and kernel.is_file() and kernel.read_text() == source


def _fingerprint(outputs: list[Any]) -> str:
    h = hashlib.sha256()
    for o in outputs:
        c = o.contiguous()
        h.update(str((tuple(c.shape), c.dtype)).encode())
        if c.numel():
            h.update(c.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def worker_device(worker: WorkerProcess) -> str:
    return worker.ready.get("device_name", "")


def worker_versions(worker: WorkerProcess) -> dict[str, str]:
    return dict(worker.ready.get("versions", {}))
