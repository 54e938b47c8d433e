"""Evaluation on a Ray cluster: one actor per GPU (per CPU on the interpreter), each holding a
``Harness`` whose isolated worker subprocesses run the candidates on that actor's node.

The controller keeps generating where it runs; a problem file (as text) and a candidate source
travel to an actor, an ``EvalResult`` comes back. A Ray worker that dies mid-evaluation (killed,
out of memory, its node lost) costs that evaluation only: it is retried once on a fresh actor,
then recorded as a ``crash``. ``ray`` is the optional ``[distributed]`` extra.
"""

from __future__ import annotations

import logging
import queue
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import GetTimeoutError, RayActorError, WorkerCrashedError

from kernelevolve.eval.harness import Harness, HarnessError, References
from kernelevolve.eval.pool import START_TIMEOUT_S
from kernelevolve.eval.result import EvalResult, Incumbent, Status
from kernelevolve.graph import source_hash
from kernelevolve.platform import RUNNABLE, Platform, PlatformError, detect, named
from kernelevolve.problem import Problem, load_problem

RETRIES = 1  # fresh actors tried after the one that died
CLOSE_TIMEOUT_S = 30.0
# What Ray raises when the process of an actor died during a call: the call is lost, not judged.
LOST = (RayActorError, WorkerCrashedError)


class ExecutorError(HarnessError):
    """The cluster cannot evaluate: unreachable, no node with the resources, or actors that die."""


@dataclass(frozen=True)
class ProblemFile:
    """A problem as it travels to an actor: the file's text, its name, and the hash to check."""

    name: str
    text: str
    hash: str
    trials: int

    @classmethod
    def of(cls, problem: Problem) -> ProblemFile:
        return cls(problem.path.name, problem.source, problem.hash, problem.trials)


class EvaluationActor:
    """Runs inside a Ray worker process: a Harness on that node and the problem files it was sent."""

    def __init__(self, platform: str, timeout_s: float, sandbox: str = "best-effort", profile: bool = False):
        self.harness = Harness(detect(platform), workers=1, timeout_s=timeout_s, sandbox=sandbox, profile=profile)
        self.folder = Path(tempfile.mkdtemp(prefix="kernelevolve-actor-"))
        self.problems: dict[str, Problem] = {}

    def platform(self) -> Platform:
        return self.harness.platform

    def reference_set(self, file: ProblemFile) -> References:
        return self.harness.reference_set(self._problem(file))

    def evaluate(self, file: ProblemFile, source: str, incumbent: Incumbent | None = None,
                 timeout_s: float | None = None) -> dict[str, Any]:
        result = self.harness.evaluate(self._problem(file), source, incumbent=incumbent, timeout_s=timeout_s)
        return result.model_dump(mode="json")

    def close(self) -> None:
        self.harness.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _problem(self, file: ProblemFile) -> Problem:
        if file.hash not in self.problems:
            path = self.folder / file.hash[:16] / file.name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(file.text.encode())
            problem = load_problem(path, trials=file.trials)
            if problem.hash != file.hash:
                raise HarnessError(f"problem file {file.name} changed on its way to the Ray node")
            self.problems[file.hash] = problem
        return self.problems[file.hash]


class RayExecutor:
    """Evaluates candidates on Ray actors, ``workers`` at a time; safe to call from several threads.

    Offers what the controller uses of a Harness: ``platform``, ``reference_set``, ``evaluate``,
    ``close``. The platform is the one the actors found on their node, so the controller's machine
    needs no GPU.
    """

    def __init__(self, platform: str = "auto", workers: int = 1, timeout_s: float = 180.0,
                 address: str | None = None, sandbox: str = "best-effort", profile: bool = False):
        try:
            wanted = None if platform == "auto" else named(platform)  # detected on the actors' nodes
        except PlatformError as exc:
            raise ExecutorError(str(exc)) from exc
        if wanted is not None and wanted.name not in RUNNABLE:
            raise ExecutorError(f"--platform {platform} cannot run here: choose auto, {', '.join(RUNNABLE)}")
        self.workers = workers
        self.profile = profile
        self.timeout_s = timeout_s
        self._disconnect_at_close = _connect(address)
        self._actors: list[Any] = []
        try:
            resources = _resources(wanted)
            self._actor_class = ray.remote(EvaluationActor).options(**resources)
            self._actor_args = (platform, timeout_s, sandbox, profile)
            self._actors = [self._actor_class.remote(*self._actor_args) for _ in range(workers)]
            self.platform = self._actor_platform(self._actors[0], resources)
        except BaseException:
            self._release()
            raise
        self._idle: queue.Queue[Any] = queue.Queue()
        for actor in self._actors:
            self._idle.put(actor)
        self._refs: dict[str, References] = {}
        self._refs_lock = threading.Lock()
        self._actors_lock = threading.Lock()

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reference_set(self, problem: Problem) -> References:
        """The problem's references as an actor computed them; the controller reads their device
        and versions (their directory lies on the actor's node)."""
        with self._refs_lock:
            if problem.hash not in self._refs:
                file = ProblemFile.of(problem)
                try:
                    self._refs[problem.hash] = self._on_an_actor(lambda a: a.reference_set.remote(file))
                except LOST as exc:
                    raise ExecutorError(f"computing the references of {problem.name}: {_lost(exc)}") from exc
            return self._refs[problem.hash]

    def evaluate(self, problem: Problem, source: str, incumbent: Incumbent | None = None,
                 timeout_s: float | None = None) -> EvalResult:
        file = ProblemFile.of(problem)
        try:
            payload = self._on_an_actor(lambda a: a.evaluate.remote(file, source, incumbent, timeout_s))
        except LOST as exc:
            return EvalResult(status=Status.crash, platform=self.platform.name, source_hash=source_hash(source),
                              problem_hash=problem.hash, reason=f"{_lost(exc)}, on {1 + RETRIES} Ray workers in a row")
        return EvalResult.model_validate(payload)

    def close(self) -> None:
        """Let every actor stop its workers, then end the actors (and the Ray connection made here)."""
        closing = [actor.close.remote() for actor in self._actors]
        try:
            ray.wait(closing, num_returns=len(closing), timeout=CLOSE_TIMEOUT_S)
        finally:
            self._release()

    def _on_an_actor(self, call: Callable[[Any], Any]) -> Any:
        """``call`` on an idle actor; one that dies is replaced, and the call retried RETRIES times."""
        attempts_left = 1 + RETRIES
        while True:
            actor = self._idle.get()
            try:
                return ray.get(call(actor))
            except LOST:
                actor = self._replace(actor)
                attempts_left -= 1
                if not attempts_left:
                    raise
            finally:
                self._idle.put(actor)

    def _replace(self, dead: Any) -> Any:
        ray.kill(dead)
        fresh = self._actor_class.remote(*self._actor_args)
        with self._actors_lock:
            self._actors = [fresh if a is dead else a for a in self._actors]
        return fresh

    def _actor_platform(self, actor: Any, resources: dict[str, float]) -> Platform:
        try:
            found = ray.get(actor.platform.remote(), timeout=START_TIMEOUT_S)
        except GetTimeoutError as exc:
            raise ExecutorError(f"no Ray node took an evaluation actor ({resources}) within "
                                f"{START_TIMEOUT_S:.0f} s: is the cluster busy or short of them?") from exc
        except RayActorError as exc:
            raise ExecutorError(f"the evaluation actor could not start on its Ray node: {exc}") from exc
        return found

    def _release(self) -> None:
        for actor in self._actors:
            ray.kill(actor)
        if self._disconnect_at_close:
            ray.shutdown()


def _connect(address: str | None) -> bool:
    """Join the cluster at ``address`` (None: $RAY_ADDRESS, a Ray instance running on this machine,
    or a new local one); True if this call connected, so that closing should disconnect."""
    if ray.is_initialized():
        return False
    try:
        ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
    except ConnectionError as exc:
        raise ExecutorError(f"cannot reach the Ray cluster at {address}: {exc}") from exc
    return True


def _resources(platform: type[Platform] | None) -> dict[str, float]:
    """One GPU per actor on a platform that needs one, one CPU otherwise; ``auto`` (None) takes a
    GPU where the cluster has any."""
    gpus = ray.cluster_resources().get("GPU", 0)
    if (platform is not None and not platform.needs_gpu) or (platform is None and gpus < 1):
        return {"num_cpus": 1}
    if gpus < 1:
        raise ExecutorError(f"--platform {platform.name}: no node of the Ray cluster offers a GPU; add GPU "
                            "hosts (ray start --address ... on each) or use --platform interpreter")
    return {"num_gpus": 1}


def _lost(exc: BaseException) -> str:
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"the Ray worker died during the call ({type(exc).__name__}: {first_line})"
