"""Configuration, read in this module alone: the typed configuration of an ``optimize`` run (every
CLI flag maps to one field here, the policies' knobs too; an LLM's are options of its spec) and the environment
variables kernelevolve reads (``ENVIRONMENT`` lists every one; ``environ()`` is the one read).

Elsewhere the environment is only handed on to worker processes, stripped of secrets
(eval/pool.py, eval/sandbox.py, eval/interpreter_limits.py), or checked inside a worker
(eval/interpreter_probe.py); none of that configures kernelevolve."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, Field, ValidationInfo, field_validator
from sqlalchemy.engine import make_url

DEBUG_ENV = "KERNELEVOLVE_DEBUG"
STORE_ENV = "KERNELEVOLVE_STORE"
OBJECTS_ENV = "KERNELEVOLVE_OBJECTS"
CACHE_ENV = "KERNELEVOLVE_CACHE"
LLM_ENV = "KERNELEVOLVE_LLM"
PRICES_ENV = "KERNELEVOLVE_LLM_PRICES"
# Every environment variable kernelevolve reads, and what it sets.
ENVIRONMENT = {
    STORE_ENV: "the store's URL where --store is not given",
    OBJECTS_ENV: "the store's object directory where --objects is not given",
    CACHE_ENV: "where references are cached (default: $XDG_CACHE_HOME/kernelevolve)",
    "XDG_CACHE_HOME": "the user's cache directory (default: ~/.cache)",
    LLM_ENV: "the LLM specs where --llm is not given (comma-separated)",
    PRICES_ENV: "LLM prices beside the built-in list (JSON)",
    "OPENAI_API_KEY": "the key of openai: specs",
    "OPENAI_BASE_URL": "where openai: specs send requests (an OpenAI-compatible server)",
    "ANTHROPIC_API_KEY": "the key of anthropic: specs",
    "ANTHROPIC_BASE_URL": "where anthropic: specs send requests",
    DEBUG_ENV: "print the traceback of any failure (as --debug)",
    "CUDA_VISIBLE_DEVICES": "the GPUs kernelevolve may place workers on (each worker then sees its own)",
}
# How candidate workers are confined by the OS (eval/confine.py): every layer or refuse, every layer
# this machine offers, or none.
SANDBOX_MODES = ("strict", "best-effort", "off")
# The fields that take one of a few words: what each is called in a message, and its words.
CHOICES = {
    "policy": ("policy", ("greedy", "mcts", "evolve")),
    "sandbox": ("sandbox mode", SANDBOX_MODES),
    "executor": ("executor", ("local", "ray")),
    "sampler": ("sampler", ("tpe", "random", "grid", "cmaes", "neighbours")),
}


def environ() -> dict[str, str]:
    """The variables of ``ENVIRONMENT`` that are set: kernelevolve's one read of its environment."""
    return {name: os.environ[name] for name in ENVIRONMENT if name in os.environ}


def debug_from_env() -> bool:
    """Whether ``KERNELEVOLVE_DEBUG`` asks for tracebacks (any value but '', 0, false, no, off)."""
    return environ().get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no", "off")


def cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where references are cached: ``$KERNELEVOLVE_CACHE``, else ``kernelevolve`` in the user's cache."""
    env = environ() if env is None else env
    base = env.get(CACHE_ENV) or os.path.join(env.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "kernelevolve")
    return Path(base)


class GreedyOptions(BaseModel):
    epsilon: float = Field(0.1, ge=0, le=1, description="chance of expanding a random working node, not the best")


class MCTSOptions(BaseModel):
    exploration: float = Field(math.sqrt(2), ge=0, description="the UCT constant c (0: pure exploitation)")


class EvolveOptions(BaseModel):
    n_islands: int = Field(4, ge=1)
    migration_interval: int = Field(10, ge=1, description="every this many selections, a migration")
    tournament_size: int = Field(3, ge=1)


POLICY_OPTIONS: dict[str, type[BaseModel]] = {"greedy": GreedyOptions, "mcts": MCTSOptions, "evolve": EvolveOptions}


class OptimizeConfig(BaseModel):
    problem: Path
    seeds: list[Path] = Field(default_factory=list)
    llm: list[str] = Field(default_factory=list)  # resolved specs; empty: the tuner alone
    steps: int = Field(20, ge=1, description="total evaluated candidates in the run")
    policy: str = "greedy"
    platform: str = "auto"
    store: str | None = None
    objects: Path | None = None  # the store's object directory; shared by every process of a run
    run: str | None = None
    workers: int | None = Field(None, ge=1, description="expansions in flight (evaluations at once); None: "
                                "1 on the interpreter, a few per GPU on a GPU (eval/placement.py)")
    gpus: str | None = None  # --gpus 0,1: the visible GPUs candidate workers are spread over (None: all)
    early_stop: float = Field(1.5, ge=0, description="abandon a candidate's timing after a shape where it "
                              "takes more than this many times the best node's time there (0: off)")
    executor: str = "local"  # local: this machine's worker pool; ray: one actor per GPU of a cluster
    ray_address: str | None = None  # None: $RAY_ADDRESS, a Ray instance on this machine, or a new one
    warm_start: bool = False
    max_seconds: float | None = Field(None, gt=0)
    stall_steps: int | None = Field(None, ge=1)
    target_score: float | None = Field(None, gt=0)
    # On a platform without timing (the interpreter) the run stops at its first correct kernel unless
    # this asks for variants, for `kernelevolve retime` to time on a GPU.
    search_untimed: bool = False
    timeout: float = Field(180.0, gt=0, description="seconds per evaluation phase (problem, baselines, candidate)")
    sandbox: str = "best-effort"  # strict | best-effort | off: the OS confinement of candidate workers
    # Profile each correct candidate with Nsight Compute (ncu) at its first production shape, for the
    # diagnosis of its expansions (CUDA with ncu on PATH; elsewhere the run says so and goes on).
    profile: bool = False
    llm_fraction: float = Field(0.7, ge=0, le=1, description="share of expansions given to the LLM")
    knowledge: list[Path] = Field(default_factory=list)
    seed: int = 0  # the search's random seed
    sampler: str = "tpe"  # the tuner's search of the configuration space (Optuna's), or neighbours
    greedy: GreedyOptions = Field(default_factory=GreedyOptions)
    mcts: MCTSOptions = Field(default_factory=MCTSOptions)
    evolve: EvolveOptions = Field(default_factory=EvolveOptions)
    command: str = ""  # the command line that started the run, recorded with it (for its report)

    @field_validator("policy", "sandbox", "executor", "sampler")
    @classmethod
    def _one_of_its_choices(cls, value: str, info: ValidationInfo) -> str:
        what, choices = CHOICES[info.field_name]
        if value not in choices:
            raise ValueError(f"unknown {what} {value!r}; choose {', '.join(choices[:-1])} or {choices[-1]}")
        return value

    def policy_options(self) -> dict:
        """The knobs of the chosen policy, as ``make_policy`` takes them."""
        return getattr(self, self.policy).model_dump()

    @field_validator("early_stop")
    @classmethod
    def _off_or_above_one(cls, value: float) -> float:
        if 0 < value <= 1:
            raise ValueError("early stop needs a ratio above 1 (a candidate must be slower than the best), or 0 for off")
        return value

    def run_name(self, problem_name: str) -> str:
        return self.run or problem_name

    def recorded(self) -> dict:
        """What is stored with the run (no secrets: LLM specs name models, never keys; the store URL
        loses its password)."""
        data = self.model_dump(mode="json")
        if self.store:
            data["store"] = make_url(self.store).render_as_string(hide_password=True)
        data["cwd"] = os.getcwd()
        return data
