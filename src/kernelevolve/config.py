"""Typed configuration of an ``optimize`` run: every CLI flag maps to one field here."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, Field, field_validator


class OptimizeConfig(BaseModel):
    problem: Path
    seeds: list[Path] = Field(default_factory=list)
    llm: list[str] = Field(default_factory=list)  # resolved specs; empty: the tuner alone
    steps: int = Field(20, ge=1, description="total evaluated candidates in the run")
    policy: str = "greedy"
    platform: str = "auto"
    store: str | None = None
    run: str | None = None
    workers: int = Field(1, ge=1)
    warm_start: bool = False
    max_seconds: float | None = Field(None, gt=0)
    stall_steps: int | None = Field(None, ge=1)
    target_score: float | None = Field(None, gt=0)
    timeout: float = Field(180.0, gt=0, description="seconds per candidate evaluation")
    llm_fraction: float = Field(0.7, ge=0, le=1, description="share of expansions given to the LLM")
    knowledge: list[Path] = Field(default_factory=list)
    seed: int = 0  # the search's random seed

    @field_validator("policy")
    @classmethod
    def _known_policy(cls, value: str) -> str:
        if value not in ("greedy", "mcts", "evolve"):
            raise ValueError(f"unknown policy {value!r}; choose greedy, mcts or evolve")
        return value

    def run_name(self, problem_name: str) -> str:
        return self.run or problem_name

    def recorded(self) -> dict:
        """What is stored with the run (no secrets: LLM specs name models, never keys)."""
        data = self.model_dump(mode="json")
        data["cwd"] = os.getcwd()
        return data
