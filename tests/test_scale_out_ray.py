"""The Ray executor on a local Ray instance, on the interpreter platform.

A run completes through `optimize --executor ray` and its best kernel passes `kernelevolve eval`;
a Ray worker killed mid-evaluation costs that evaluation only (retried once, then a crash), never
the run. One Ray instance serves the whole module: starting one takes seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from kernelevolve.eval.ray_executor import ExecutorError, RayExecutor  # noqa: E402
from kernelevolve.eval.result import Status  # noqa: E402
from kernelevolve.operators.base import ExpansionContext, Proposal  # noqa: E402
from kernelevolve.operators.tuner import Tuner  # noqa: E402
from kernelevolve.problem import load_problem  # noqa: E402
from kernelevolve.search.controller import Controller, seed_sources  # noqa: E402
from kernelevolve.search.policies import make_policy  # noqa: E402
from kernelevolve.search.termination import Termination  # noqa: E402
from kernelevolve.store import open_store  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PROBLEM = ROOT / "tests" / "eval" / "problems" / "scale_add.py"
SEED = ROOT / "tests" / "search" / "data" / "seed_scale_add.py"

pytestmark = pytest.mark.slow

# Kills the Ray worker holding the harness (the parent of its worker's launcher), once per marker
# file; then behaves like the seed kernel. Only possible unconfined: these tests run --sandbox off
# to stand for an actor that dies mid-evaluation.
KILLER = '''import os, signal
from pathlib import Path

_MARKER = Path({marker!r})
if {every_time!r} or not _MARKER.exists():
    _MARKER.write_text("killed")
    with open(f"/proc/{{os.getppid()}}/stat") as _stat:
        os.kill(int(_stat.read().rsplit(")", 1)[1].split()[1]), signal.SIGKILL)

'''


def killer(tmp_path: Path, every_time: bool) -> str:
    header = KILLER.format(marker=str(tmp_path / "killed-once"), every_time=every_time)
    return header + SEED.read_text()


@pytest.fixture(scope="module")
def ray_address():
    # Ray's workers inherit the environment of the instance: the session's cache (tests/conftest.py).
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


@pytest.fixture
def executor(ray_address):
    with RayExecutor("interpreter", workers=1, timeout_s=60, address=ray_address, sandbox="off") as ex:
        yield ex


def test_optimize_on_ray_completes_a_run_whose_best_kernel_passes_eval(tmp_path, ray_address):
    def kernelevolve(*args, timeout=300):
        return subprocess.run([sys.executable, "-m", "kernelevolve.cli", *map(str, args)], cwd=tmp_path,
                              env=dict(os.environ),
                              capture_output=True, text=True, timeout=timeout)

    run = kernelevolve("optimize", PROBLEM, "--seed", SEED, "--steps", 4, "--platform", "interpreter", "--search-untimed",
                       "--executor", "ray", "--ray-address", ray_address, "--workers", 2, "--run", "on-ray")
    assert run.returncode == 0, run.stderr
    nodes = json.loads(kernelevolve("show", "on-ray", "--json").stdout)["nodes"]
    assert len(nodes) == 4 and all(n["status"] == "ok" for n in nodes)
    assert kernelevolve("best", "on-ray", "--out", tmp_path / "best.py").returncode == 0
    check = kernelevolve("eval", PROBLEM, tmp_path / "best.py", "--platform", "interpreter", "--json")
    assert check.returncode == 0 and json.loads(check.stdout)["correct"] is True


def test_worker_killed_mid_evaluation_is_retried_on_a_fresh_one(tmp_path, executor):
    result = executor.evaluate(load_problem(PROBLEM), killer(tmp_path, every_time=False))
    assert (tmp_path / "killed-once").exists()
    assert result.status is Status.ok and result.correct


def test_worker_killed_twice_is_a_crash_and_the_run_goes_on(tmp_path, executor):
    class KillerFirst:
        """Proposes the killer once, then tunes."""

        name = "mix"

        def __init__(self):
            self.proposed = False

        def propose(self, ctx: ExpansionContext) -> Proposal:
            if self.proposed:
                return Tuner().propose(ctx)
            self.proposed = True
            return Proposal(killer(tmp_path, every_time=True), "killer", "kills its Ray worker")

    problem = load_problem(PROBLEM)
    with open_store(root=tmp_path / ".kernelevolve") as store:
        run = store.ensure_run("r", str(problem.path), problem.hash, "interpreter", {})
        controller = Controller(store, executor, problem, KillerFirst(), make_policy("greedy"), Termination(max_steps=4))
        outcome = controller.run(run, 4, seed_sources([SEED]))
        statuses = {n.operator: n.status for n in store.nodes(run.id)}
        crash = store.read_result(next(n for n in store.nodes(run.id) if n.operator == "killer"))
    assert outcome.nodes == 4
    assert statuses == {"seed": "ok", "killer": "crash", "tuner": "ok"}
    assert "Ray worker died" in crash["reason"] and "2 Ray workers in a row" in crash["reason"]


def test_gpu_platform_on_a_cluster_without_gpus_is_refused(ray_address):
    with pytest.raises(ExecutorError, match="no node of the Ray cluster offers a GPU"):
        RayExecutor("cuda", address=ray_address)
