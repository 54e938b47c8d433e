"""A run on a platform without timing stops at its first correct kernel, and `kernelevolve retime`
evaluates its correct kernels again elsewhere, into a run of their own. In-process CLI; the
candidates still run in sandboxed workers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kernelevolve.cli import app
from kernelevolve.search.retime import RETIMED_FROM, retime_run
from kernelevolve.store import open_store

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


def test_an_untimed_run_stops_at_its_first_correct_kernel_and_retime_evaluates_it_again(workdir, interpreter_harness):
    code, stdout, stderr = invoke("optimize", PROBLEM, "--seed", SEED, "--steps", 6, "--platform", "interpreter",
                                  "--run", "found")
    assert code == 0, stderr
    assert "stopped on correct: node 1 is correct, and this platform does not time kernels" in stdout
    assert "kernelevolve retime found --platform cuda" in stdout
    assert [n["status"] for n in shown("found")["nodes"]] == ["ok"]  # not six steps that all score 1

    with open_store() as store:  # the command's work, on this session's warm interpreter workers
        first = retime_run(store, "found", interpreter_harness)
        again = retime_run(store, "found", interpreter_harness)
    assert first.run.name == "found.interpreter" and first.run.platform == "interpreter"
    assert [source for source, _ in first.added] == [1] and (len(again.added), again.already) == (0, 1)
    (node,) = shown("found.interpreter")["nodes"]  # the correct kernel only, once
    assert node["status"] == "ok" and node["tags"][RETIMED_FROM] == 1
    assert Path(node["kernel_path"]).read_text() == SEED.read_text()


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
