"""A run on a platform without timing stops at its first correct kernel, and `kernelevolve retime`
evaluates its correct kernels again elsewhere, into a run of their own. In-process CLI; the
candidates still run in sandboxed workers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kernelevolve.cli import app
from kernelevolve.search.retime import RETIMED_FROM

ROOT = Path(__file__).resolve().parents[1]
PROBLEM = ROOT / "tests" / "eval" / "problems" / "scale_add.py"
SEED = ROOT / "tests" / "search" / "data" / "seed_scale_add.py"


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("KERNELEVOLVE_STORE", "KERNELEVOLVE_OBJECTS", "KERNELEVOLVE_LLM"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def invoke(*args):
    done = CliRunner().invoke(app, [str(a) for a in args])
    return done.exit_code, " ".join(done.stdout.split()), done.stderr  # stdout as one line, however wrapped


def shown(run: str) -> dict:
    code, stdout, stderr = invoke("show", run, "--json")
    assert code == 0, stderr
    return json.loads(stdout)


def test_an_untimed_run_stops_at_its_first_correct_kernel_and_retime_evaluates_it_again(workdir):
    code, stdout, stderr = invoke("optimize", PROBLEM, "--seed", SEED, "--steps", 6, "--platform", "interpreter",
                                  "--run", "found")
    assert code == 0, stderr
    assert "stopped on correct: node 1 is correct, and this platform does not time kernels" in stdout
    assert "kernelevolve retime found --platform cuda" in stdout
    assert [n["status"] for n in shown("found")["nodes"]] == ["ok"]  # not six steps that all score 1

    code, stdout, stderr = invoke("retime", "found", "--platform", "interpreter")
    assert code == 0, stderr
    retimed = shown("found.interpreter")
    assert retimed["run"]["platform"] == "interpreter"
    (node,) = retimed["nodes"]  # the correct kernel only
    assert node["status"] == "ok" and node["tags"][RETIMED_FROM] == 1
    assert Path(node["kernel_path"]).read_text() == SEED.read_text()
    assert "best: node" in stdout and "kernelevolve export found.interpreter" in stdout

    code, stdout, _ = invoke("retime", "found", "--platform", "interpreter")  # again: nothing new to evaluate
    assert code == 0 and "0 kernels of run found evaluated on interpreter (1 retimed before)" in stdout
    assert len(shown("found.interpreter")["nodes"]) == 1


def test_retime_of_an_unknown_run_is_one_sentence(workdir):
    code, _, stderr = invoke("retime", "nope", "--platform", "interpreter")
    assert code == 2 and "no run named 'nope'" in stderr


@pytest.mark.gpu
def test_retime_on_cuda_records_timings_of_kernels_found_on_the_interpreter(workdir):
    code, _, stderr = invoke("optimize", PROBLEM, "--seed", SEED, "--steps", 3, "--platform", "interpreter",
                             "--search-untimed", "--run", "found")
    assert code == 0, stderr
    correct = [n for n in shown("found")["nodes"] if not n["is_buggy"]]
    code, _, stderr = invoke("retime", "found", "--platform", "cuda")
    assert code == 0, stderr
    nodes = shown("found.cuda")["nodes"]
    assert {n["tags"][RETIMED_FROM] for n in nodes} <= {n["id"] for n in correct} and nodes
    for node in nodes:
        assert node["status"] == "ok"
        result = json.loads(Path(node["result_path"]).read_text())
        assert result["platform"] == "cuda" and result["timings"] and result["speedup"] > 0
        assert node["score"] == pytest.approx(result["speedup"])
