"""Typed configuration of an ``optimize`` run (every CLI flag maps to one field here), and the
environment switches the CLI itself reads."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, Field, ValidationInfo, field_validator
from sqlalchemy.engine import make_url

DEBUG_ENV = "KERNELEVOLVE_DEBUG"
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


def debug_from_env() -> bool:
    """Whether ``KERNELEVOLVE_DEBUG`` asks for tracebacks (any value but '', 0, false, no, off)."""
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no", "off")


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
    workers: int = Field(1, ge=1, description="expansions in flight (evaluations at once)")
    executor: str = "local"  # local: this machine's worker pool; ray: one actor per GPU of a cluster
    ray_address: str | None = None  # None: $RAY_ADDRESS, a Ray instance on this machine, or a new one
    warm_start: bool = False
    max_seconds: float | None = Field(None, gt=0)
    stall_steps: int | None = Field(None, ge=1)
    target_score: float | None = Field(None, gt=0)
    timeout: float = Field(180.0, gt=0, description="seconds per evaluation phase (problem, baselines, candidate)")
    sandbox: str = "best-effort"  # strict | best-effort | off: the OS confinement of candidate workers
    llm_fraction: float = Field(0.7, ge=0, le=1, description="share of expansions given to the LLM")
    knowledge: list[Path] = Field(default_factory=list)
    seed: int = 0  # the search's random seed
    sampler: str = "tpe"  # the tuner's search of the configuration space (Optuna's), or neighbours

    @field_validator("policy", "sandbox", "executor", "sampler")
    @classmethod
    def _one_of_its_choices(cls, value: str, info: ValidationInfo) -> str:
        what, choices = CHOICES[info.field_name]
        if value not in choices:
            raise ValueError(f"unknown {what} {value!r}; choose {', '.join(choices[:-1])} or {choices[-1]}")
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
