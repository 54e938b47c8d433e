"""The composition root: a run assembled from its configuration (problem, evaluator: the local
worker pool or Ray, store, operator, policy, termination, seeds) and handed to the controller.
``optimize`` opens every part (``plan``); ``bench`` and the benchmarks bring an evaluator and a
store of their own (``assemble``); all of them run it through ``execute``."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kernelevolve.config import OptimizeConfig
from kernelevolve.eval.harness import Harness
from kernelevolve.eval.placement import PlacementError, default_workers, gpus_here
from kernelevolve.operators.base import Operator
from kernelevolve.operators.config_search import (
    NO_OPTUNA,
    OptunaSearch,
    optuna_available,
)
from kernelevolve.operators.mix import OperatorMix
from kernelevolve.operators.tuner import Tuner
from kernelevolve.platform import Platform, detect
from kernelevolve.problem import Problem, load_problem
from kernelevolve.search.controller import (
    Controller,
    Evaluator,
    Outcome,
    Progress,
    SearchError,
    seed_sources,
    warm_start_sources,
)
from kernelevolve.search.policies import make_policy
from kernelevolve.search.termination import Termination
from kernelevolve.store import Store, open_store


@dataclass
class Plan:
    """A run ready to start, with what the display says before it does."""

    config: OptimizeConfig
    problem: Problem
    evaluator: Evaluator
    store: Store
    operator: Operator
    operator_note: str

    @property
    def platform(self) -> Platform:
        return self.evaluator.platform

    def close(self) -> None:
        try:
            self.evaluator.close()
        finally:
            self.store.close()


def build_operator(config: OptimizeConfig) -> tuple[Operator, str]:
    """The tuner alone without an LLM; otherwise the LLM's universal operator mixed with the tuner.

    The LLM endpoints are checked here, before any work: a missing key or an unreachable server
    fails the run at start, never silently falling back to the tuner.
    """
    tuner, tuning = build_tuner(config)
    if not config.llm:
        return OperatorMix(None, tuner, 0.0), f"no LLM configured: the mechanical tuner alone ({tuning})"
    from kernelevolve.knowledge.retrieval import KnowledgeBase
    from kernelevolve.llm import Ensemble
    from kernelevolve.operators.universal import UniversalOperator

    ensemble = Ensemble.from_specs(config.llm)
    ensemble.check()
    knowledge = KnowledgeBase.load(config.knowledge)
    llm = UniversalOperator(ensemble, knowledge)
    note = (f"LLM {', '.join(config.llm)} for {config.llm_fraction:.0%} of expansions, the tuner for the rest "
            f"({tuning})")
    return OperatorMix(llm, tuner, config.llm_fraction), note


def build_tuner(config: OptimizeConfig) -> tuple[Tuner, str]:
    """The tuner with Optuna's sampler over each kernel's configuration space, or, with
    ``--sampler neighbours`` or without Optuna, the tuner that moves to untried neighbours."""
    if config.sampler == "neighbours":
        return Tuner(), "moves to untried neighbours"
    if not optuna_available():
        return Tuner(), NO_OPTUNA
    if config.sampler == "cmaes" and importlib.util.find_spec("cmaes") is None:
        raise SearchError("--sampler cmaes needs the cmaes package: pip install cmaes")
    return Tuner(OptunaSearch(config.sampler)), f"Optuna's {config.sampler} sampler over each kernel's tunables"


def local_harness(platform: Platform, workers: int | None, timeout: float, sandbox: str,
                  hidden: tuple[Path, ...] = (), gpus: str | None = None, profile: bool = False) -> Harness:
    """This machine's worker pool: ``workers`` candidate workers (default: a few per GPU, one on the
    interpreter) spread over the GPUs ``gpus`` names (``--gpus``; default: all visible)."""
    try:
        chosen = gpus_here(gpus) if platform.timed else []
    except PlacementError as exc:
        raise SearchError(str(exc)) from exc
    return Harness(platform, workers=workers or default_workers(len(chosen), os.cpu_count() or 1),
                   timeout_s=timeout, sandbox=sandbox, hidden=hidden, gpus=chosen, profile=profile)


def open_evaluator(config: OptimizeConfig, hidden: tuple[Path, ...] = ()) -> Evaluator:
    """The local worker pool, or with ``--executor ray`` actors on a Ray cluster (whose nodes, not
    this machine, decide the platform). ``hidden``: the store's directories, out of candidates' sight."""
    if config.executor == "local":
        return local_harness(detect(config.platform), config.workers, config.timeout, config.sandbox, hidden,
                             config.gpus, config.profile)
    if importlib.util.find_spec("ray") is None:
        raise SearchError("--executor ray needs Ray here and on every evaluation host: "
                          "pip install 'kernelevolve[distributed]'")
    from kernelevolve.eval.ray_executor import ExecutorError, RayExecutor

    try:
        return RayExecutor(config.platform, workers=config.workers or 1, timeout_s=config.timeout, sandbox=config.sandbox,
                           address=config.ray_address, profile=config.profile)
    except ExecutorError as exc:
        raise SearchError(str(exc)) from exc


def plan(config: OptimizeConfig) -> Plan:
    problem = load_problem(config.problem, timeout_s=config.timeout)
    if not config.seeds and not config.llm and not config.warm_start:
        raise SearchError(
            "nothing to start from: pass --seed KERNEL (a first Triton kernel defining ModelNew), "
            "or --llm openai:MODEL / anthropic:MODEL (or set KERNELEVOLVE_LLM) to draft one, "
            "or --warm-start to reuse kernels of earlier runs on this problem"
        )
    # The store and the run name are checked before the LLM is called or a worker starts.
    store = open_store(config.store, objects=config.objects)
    try:
        store.check_run(config.run_name(problem.name), str(problem.path), problem.hash)
        operator, note = build_operator(config)
        evaluator = open_evaluator(config, store.private_paths())
    except BaseException:
        store.close()
        raise
    return Plan(config, problem, evaluator, store, operator, note)


def assemble(config: OptimizeConfig, problem: Problem, evaluator: Evaluator, store: Store) -> Plan:
    """A run of ``config`` over an evaluator and a store the caller keeps open (and closes)."""
    store.check_run(config.run_name(problem.name), str(problem.path), problem.hash)
    operator, note = build_operator(config)
    return Plan(config, problem, evaluator, store, operator, note)


def execute(p: Plan, on_progress: Callable[[Progress], None] | None = None) -> Outcome:
    config = p.config
    run = p.store.ensure_run(config.run_name(p.problem.name), str(p.problem.path), p.problem.hash,
                             p.platform.name, config.recorded())
    seeds = seed_sources(config.seeds)
    if config.warm_start:
        seeds += warm_start_sources(p.store, p.problem, exclude_run_id=run.id)
    if not seeds and not config.llm and p.store.count_nodes(run.id) == 0:
        raise SearchError(
            f"--warm-start found no earlier correct kernel for {p.problem.name} in {p.store.display_url}; "
            "pass --seed KERNEL or --llm SPEC"
        )
    termination = Termination(max_steps=config.steps, max_seconds=config.max_seconds,
                              stall_steps=config.stall_steps, target_score=config.target_score,
                              first_correct=not p.platform.timed and not config.search_untimed)
    policy = make_policy(config.policy, **config.policy_options())
    controller = Controller(p.store, p.evaluator, p.problem, p.operator, policy, termination,
                            workers=p.evaluator.workers, seed=config.seed, on_progress=on_progress,
                            early_stop=config.early_stop)
    try:
        return controller.run(run, config.steps, seeds)
    except BaseException:
        p.store.finish_run(run.id, controller.owner, "interrupted")
        raise
