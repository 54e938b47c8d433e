"""Typed configuration of an ``optimize`` run (every CLI flag maps to one field here), and the
environment switches the CLI itself reads."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, Field, field_validator
from sqlalchemy.engine import make_url


DEBUG_ENV = "KERNELEVOLVE_DEBUG"


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

    @field_validator("policy")
    @classmethod
    def _known_policy(cls, value: str) -> str:
        if value not in ("greedy", "mcts", "evolve"):
            raise ValueError(f"unknown policy {value!r}; choose greedy, mcts or evolve")
        return value

    @field_validator("sandbox")
    @classmethod
    def _known_sandbox(cls, value: str) -> str:
        if value not in ("strict", "best-effort", "off"):
            raise ValueError(f"unknown sandbox mode {value!r}; choose strict, best-effort or off")
        return value

    @field_validator("executor")
    @classmethod
    def _known_executor(cls, value: str) -> str:
        if value not in ("local", "ray"):
            raise ValueError(f"unknown executor {value!r}; choose local or ray")
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
