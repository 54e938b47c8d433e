"""`kernelevolve bench` on the interpreter: every operator evaluated and searched, results saved."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


SCALE_ADD = ROOT / "tests" / "eval" / "problems" / "scale_add.py"
SEED = ROOT / "tests" / "search" / "data" / "seed_scale_add.py"


def _bench(tmp_path: Path, *args: str, problems=("scale_add",), timeout: float = 600) -> subprocess.CompletedProcess:
    """`kernelevolve bench` on a suite of scale_add copies named ``problems``, with a sample for
    scale_add only, on the interpreter, without an LLM; results under tmp_path/results."""
    suite, samples = tmp_path / "suite", tmp_path / "samples"
    suite.mkdir(exist_ok=True)
    samples.mkdir(exist_ok=True)
    for name in problems:
        shutil.copy(SCALE_ADD, suite / f"{name}.py")
    shutil.copy(SEED, samples / "scale_add.py")
    # PYTHONPATH: the command must run this checkout's code, not whichever copy is installed
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    env.pop("KERNELEVOLVE_LLM", None)
    return subprocess.run(
        [sys.executable, "-m", "kernelevolve.cli", "bench", str(suite), "--platform", "interpreter",
         "--samples", str(samples), "--out", str(tmp_path / "results"), *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout,
    )


def _saved(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "results" / "suite-interpreter.json").read_text())


def test_bench_saves_json_and_markdown_with_the_command(tmp_path):
    proc = _bench(tmp_path, "--steps", "3")
    assert proc.returncode == 0, proc.stderr
    result = _saved(tmp_path)
    assert result["operators"][0]["name"] == "scale_add"
    assert result["operators"][0]["sample_status"] == "ok"
    assert "tuner alone" in result["operators"][0]["search"]
    assert "scale_add: step 3/3, best score" in proc.stderr  # progress while the search runs
    assert "stopped by" in result["operators"][0]["search"]
    assert result["command"].startswith("kernelevolve bench")
    markdown = (tmp_path / "results" / "suite-interpreter.md").read_text()
    assert "Measured" in markdown
    report = result["operators"][0]["report"]  # the search run's page, linked from the results
    assert report == "suite-interpreter-reports/bench-scale_add.html" and f"]({report})" in markdown
    assert "kernelevolve bench" in (tmp_path / "results" / report).read_text()


def test_missing_sample_is_a_clear_error(tmp_path):
    suite = tmp_path / "suite"
    suite.mkdir()
    shutil.copy(SCALE_ADD, suite / "scale_add.py")
    proc = subprocess.run(
        [sys.executable, "-m", "kernelevolve.cli", "bench", str(suite), "--platform", "interpreter",
         "--samples", str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2 and "no sample kernel for scale_add.py" in proc.stderr


def test_only_benchmarks_the_named_operators_and_names_unknown_ones(tmp_path):
    problems = ("scale_add", "zz_other")  # no sample for zz_other: only scale_add may be looked at
    proc = _bench(tmp_path, "--only", "nope", problems=problems, timeout=120)
    assert proc.returncode == 2 and "not in" in proc.stderr and "nope" in proc.stderr
    proc = _bench(tmp_path, "--only", "scale_add", problems=problems)
    assert proc.returncode == 0, proc.stderr
    assert "saved 1/1 operators" in proc.stderr
    result = _saved(tmp_path)
    assert [op["name"] for op in result["operators"]] == ["scale_add"]
    assert result["operators_planned"] == 1


def test_markdown_shows_every_extra_baseline_with_the_kernels_speedup_over_it():
    from kernelevolve.bench import markdown

    saved = json.loads((ROOT / "benchmarks" / "results" / "recsys-cuda.json").read_text())
    row = next(s for s in saved["shapes"] if s["extra_ms"])
    name, ms = next(iter(row["extra_ms"].items()))
    text = markdown(saved)
    assert f"{name} {ms:.4f} ({row['speedup_vs_extra'][name]:.2f}x)" in text
    assert text == (ROOT / "benchmarks" / "results" / "recsys-cuda.md").read_text()


def test_search_seconds_bounds_each_operators_search(tmp_path):
    proc = _bench(tmp_path, "--steps", "500", "--search-seconds", "1")
    assert proc.returncode == 0, proc.stderr
    search = _saved(tmp_path)["operators"][0]["search"]
    assert "stopped by time:" in search


def test_a_drafted_level_is_tabled_with_its_correct_rate_speedups_and_cost():
    from kernelevolve.bench import DraftedBench, drafted_markdown, drafted_report
    from kernelevolve.eval.result import EvalResult, Status
    from kernelevolve.platform import CudaPlatform

    rows = [DraftedBench("19_ReLU", "19_ReLU.py", EvalResult(status=Status.ok, correct=True, speedup=2.0,
                                                              speedup_eager=8.0), 4, 0.25, "LLM; 4 nodes"),
            DraftedBench("66_dropout", "66_dropout.py", None, 0, 0.0, "not judged: the reference is random")]
    report = drafted_report(rows, CudaPlatform(), "kernelevolve bench level1 --steps 4", 4)
    assert report["summary"] == {"correct": 1, "problems": 2, "correct_rate": 0.5, "cost_usd": 0.25,
                                 "geomean_vs_compile": pytest.approx(2.0), "geomean_vs_eager": pytest.approx(8.0)}
    table = drafted_markdown(report)
    assert "| 19_ReLU | yes | ok | 2.00x | 8.00x | 4 | $0.2500 |" in table
    assert "Correct: 1/2 (50%)" in table and "- 66_dropout: not judged: the reference is random" in table
