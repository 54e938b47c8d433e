"""`kernelevolve bench` on the interpreter: every operator evaluated and searched, results saved."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_saves_json_and_markdown_with_the_command(tmp_path):
    suite, samples = tmp_path / "suite", tmp_path / "samples"
    suite.mkdir()
    samples.mkdir()
    shutil.copy(ROOT / "tests" / "eval" / "problems" / "scale_add.py", suite / "scale_add.py")
    shutil.copy(ROOT / "tests" / "search" / "data" / "seed_scale_add.py", samples / "scale_add.py")
    env = dict(os.environ, KERNELEVOLVE_CACHE=str(tmp_path / "cache"))
    env.pop("KERNELEVOLVE_LLM", None)
    proc = subprocess.run(
        [sys.executable, "-m", "kernelevolve.cli", "bench", str(suite), "--platform", "interpreter", "--steps", "3",
         "--samples", str(samples), "--out", str(tmp_path / "results")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "results" / "suite-interpreter.json").read_text())
    assert result["operators"][0]["name"] == "scale_add"
    assert result["operators"][0]["sample_status"] == "ok"
    assert "tuner alone" in result["operators"][0]["search"]
    assert "scale_add: step 3/3, best score" in proc.stderr  # progress while the search runs
    assert "stopped by" in result["operators"][0]["search"]
    assert result["command"].startswith("kernelevolve bench")
    assert "Measured" in (tmp_path / "results" / "suite-interpreter.md").read_text()


def test_missing_sample_is_a_clear_error(tmp_path):
    suite = tmp_path / "suite"
    suite.mkdir()
    shutil.copy(ROOT / "tests" / "eval" / "problems" / "scale_add.py", suite / "scale_add.py")
    proc = subprocess.run(
        [sys.executable, "-m", "kernelevolve.cli", "bench", str(suite), "--platform", "interpreter",
         "--samples", str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2 and "no sample kernel for scale_add.py" in proc.stderr


def test_only_benchmarks_the_named_operators_and_names_unknown_ones(tmp_path):
    suite, samples = tmp_path / "suite", tmp_path / "samples"
    suite.mkdir()
    samples.mkdir()
    for name in ("scale_add", "zz_other"):  # no sample for zz_other: only scale_add may be looked at
        shutil.copy(ROOT / "tests" / "eval" / "problems" / "scale_add.py", suite / f"{name}.py")
    shutil.copy(ROOT / "tests" / "search" / "data" / "seed_scale_add.py", samples / "scale_add.py")
    env = dict(os.environ, KERNELEVOLVE_CACHE=str(tmp_path / "cache"))
    base = [sys.executable, "-m", "kernelevolve.cli", "bench", str(suite), "--platform", "interpreter",
            "--samples", str(samples), "--out", str(tmp_path / "results")]
    proc = subprocess.run([*base, "--only", "nope"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and "not in" in proc.stderr and "nope" in proc.stderr
    proc = subprocess.run([*base, "--only", "scale_add"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "saved 1/1 operators" in proc.stderr
    result = json.loads((tmp_path / "results" / "suite-interpreter.json").read_text())
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
    suite, samples = tmp_path / "suite", tmp_path / "samples"
    suite.mkdir()
    samples.mkdir()
    shutil.copy(ROOT / "tests" / "eval" / "problems" / "scale_add.py", suite / "scale_add.py")
    shutil.copy(ROOT / "tests" / "search" / "data" / "seed_scale_add.py", samples / "scale_add.py")
    env = dict(os.environ, KERNELEVOLVE_CACHE=str(tmp_path / "cache"))
    env.pop("KERNELEVOLVE_LLM", None)
    proc = subprocess.run(
        [sys.executable, "-m", "kernelevolve.cli", "bench", str(suite), "--platform", "interpreter", "--steps", "500",
         "--search-seconds", "1", "--samples", str(samples), "--out", str(tmp_path / "results")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    search = json.loads((tmp_path / "results" / "suite-interpreter.json").read_text())["operators"][0]["search"]
    assert "stopped by time:" in search
