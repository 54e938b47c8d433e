"""Configuration is read in config.py: no other module reads the environment to configure
kernelevolve, and every variable the package names is listed in ``config.ENVIRONMENT``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kernelevolve.config import ENVIRONMENT, OptimizeConfig, cache_dir

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "kernelevolve"
# Modules that hand the environment on to worker processes or check a worker's own, not configuration.
PLUMBING = {"config.py", "eval/pool.py", "eval/sandbox.py", "eval/interpreter_limits.py", "eval/interpreter_probe.py"}


def sources() -> dict[str, str]:
    return {str(p.relative_to(PACKAGE)): p.read_text() for p in PACKAGE.rglob("*.py")
            if "knowledge/base" not in str(p.relative_to(PACKAGE))}


def test_only_config_reads_the_environment():
    readers = {name for name, text in sources().items() if re.search(r"os\.environ|getenv", text)}
    assert readers <= PLUMBING, sorted(readers - PLUMBING)


def test_every_variable_the_package_names_is_listed():
    named = {v for text in sources().values() for v in re.findall(r"\bKERNELEVOLVE_[A-Z_]+\b", text)}
    assert named <= ENVIRONMENT.keys(), sorted(named - ENVIRONMENT.keys())


def test_the_cache_follows_its_variables():
    assert cache_dir({"KERNELEVOLVE_CACHE": "/c"}) == Path("/c")
    assert cache_dir({"XDG_CACHE_HOME": "/x"}) == Path("/x/kernelevolve")


def test_the_chosen_policys_knobs_are_checked_and_handed_on():
    config = OptimizeConfig(problem=Path("p.py"), policy="evolve", evolve={"n_islands": 2})
    assert config.policy_options() == {"n_islands": 2, "migration_interval": 10, "tournament_size": 3}
    with pytest.raises(ValueError, match="epsilon"):
        OptimizeConfig(problem=Path("p.py"), greedy={"epsilon": 2.0})
