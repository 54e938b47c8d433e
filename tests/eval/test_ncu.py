"""Nsight Compute profiles: reading ncu's CSV report, the summary a diagnosis takes from it, the ncu
command line, and a worker started behind a profiler's command line on this machine.

``ncu/details.csv`` is ncu's ``--csv --page details`` format: the header and the rows of the ``add``
launch's SpeedOfLight, Occupancy and WarpStateStats sections (its CPIStall rule row included) as
ncu 2025.3.1 wrote them on an H200; the ``Command line profiler metrics`` rows that ``--metrics``
adds and the second launch are written in the same format.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from kernelevolve.eval import ncu
from kernelevolve.eval.inputs import cases_for
from kernelevolve.eval.pool import WorkerProcess
from kernelevolve.eval.result import NcuProfile
from kernelevolve.eval.sandbox import Redactor
from kernelevolve.platform import CudaPlatform, InterpreterPlatform
from kernelevolve.problem import load_problem

HERE = Path(__file__).parent
REPORT = HERE / "ncu" / "details.csv"


def test_a_details_report_gives_each_launch_longest_first():
    add, bias = ncu.parse(REPORT.read_text())
    assert (add.name, bias.name) == ("add", "add_bias")
    assert add.duration_ns == 31392 and bias.duration_ns == pytest.approx(2910)  # "31,392" ns, "2.91" us
    assert add.dram_throughput == pytest.approx(0.7281)
    assert add.compute_throughput == pytest.approx(0.0878)
    assert add.achieved_occupancy == pytest.approx(0.8211) and add.theoretical_occupancy == 1.0
    assert add.cycles_per_issue == pytest.approx(137.42)


def test_stall_reasons_are_shares_of_the_cycles_between_issues():
    add = ncu.parse(REPORT.read_text())[0]
    assert list(add.stalls)[:3] == ["long scoreboard", "lg throttle", "wait"]
    assert add.stalls["long scoreboard"] == pytest.approx(111.82 / 137.42)  # what ncu's CPIStall rule says: 81.4%
    assert add.top_stalls(2) == [("long scoreboard", pytest.approx(0.8137, abs=1e-4)),
                                 ("lg throttle", pytest.approx(0.0718, abs=1e-4))]


def test_the_summary_names_the_bound_dram_occupancy_and_top_stall():
    profile = NcuProfile(shape="n16m", kernels=ncu.parse(REPORT.read_text()))
    assert profile.main.summary() == ("memory-bound: DRAM 73% of peak, compute 9% of peak, achieved occupancy 82%, "
                                      "top stall: long scoreboard 81%")
    assert profile.main.bound() == "memory-bound"
    assert profile.kernels[1].bound() == "latency-bound"  # 4% memory, 2% compute: neither roof is near


def test_only_rows_after_the_header_with_known_metrics_count():
    header = REPORT.read_text().splitlines()[6]
    row = ('"9","1","p","h","{name}","1","7","(1, 1, 1)","(1, 1, 1)","0","9.0","{section}","{metric}","{unit}",'
           '"{value}","","","","",""')
    text = "\n".join([
        row.format(name="forged", section="Occupancy", metric="Achieved Occupancy", unit="%", value="99"),  # before
        header,
        row.format(name="k", section="Memory Workload Analysis", metric="Memory Throughput", unit="byte/s",
                   value="1,000,000"),
        row.format(name="k", section="Occupancy", metric="Achieved Occupancy", unit="%", value="n/a"),
        row.format(name="k", section="GPU Speed Of Light Throughput", metric="DRAM Throughput", unit="%", value="12.5"),
        'not "csv" at all',
    ])
    (kernel,) = ncu.parse(text)
    assert kernel.name == "k" and kernel.dram_throughput == 0.125
    assert kernel.memory_throughput is None and kernel.achieved_occupancy is None


def test_a_report_keeps_a_bounded_number_of_launches():
    header = REPORT.read_text().splitlines()[6]
    rows = [f'"{i}","1","p","h","k{i}","1","7","(1, 1, 1)","(1, 1, 1)","0","9.0","Occupancy","Achieved Occupancy",'
            f'"%","50"' for i in range(500)]
    assert len(ncu.parse("\n".join([header, *rows]))) == ncu.MAX_LAUNCHES * 4


def test_a_counter_permission_error_is_explained_in_one_line(tmp_path):
    report = tmp_path / "report.csv"
    report.write_text("==PROF== Connected to process 578 (/usr/bin/python3.12)\n"
                      "==ERROR== ERR_NVGPUCTRPERM - The user does not have permission to access NVIDIA GPU "
                      "Performance Counters on the target device 0.\n")
    kernels, error = ncu.read_report(report)
    assert kernels == [] and "ERR_NVGPUCTRPERM" in error and "\n" not in error
    assert "NVreg_RestrictProfilingToAdminUsers" in error


def test_no_report_and_no_profiled_kernel_say_so(tmp_path):
    assert "ncu wrote no report" in ncu.read_report(tmp_path / "missing.csv")[1]
    (tmp_path / "empty.csv").write_text("==PROF== Connected to process 1\n==WARNING== No kernels were profiled.\n")
    assert ncu.read_report(tmp_path / "empty.csv")[1] == "No kernels were profiled."


def test_the_command_profiles_the_named_kernels_between_profiler_start_and_stop(tmp_path):
    argv = ncu.command("/opt/ncu", tmp_path / "r.csv", ["add_kernel", "fused.x", "add_kernel"])
    assert argv[0] == "/opt/ncu"
    assert argv[argv.index("--target-processes") + 1] == "all"
    assert argv[argv.index("--profile-from-start") + 1] == "off"
    assert argv[argv.index("--kernel-name") + 1] == r"regex:add_kernel|fused\.x"
    assert argv[argv.index("--log-file") + 1] == str(tmp_path / "r.csv")
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "--section"] == list(ncu.SECTIONS)
    assert "--kernel-name" not in ncu.command("/opt/ncu", tmp_path / "r.csv", [])


def test_profile_is_unavailable_without_a_gpu_or_without_ncu(monkeypatch, tmp_path):
    assert "interpreter platform has none" in ncu.unavailable(InterpreterPlatform())
    monkeypatch.setenv("PATH", str(tmp_path))
    assert "ncu is not on PATH" in ncu.unavailable(CudaPlatform())


def test_a_worker_behind_a_profilers_command_line_runs_the_candidate(tmp_path):
    """The path a profile takes, with ``env`` where ncu would stand: the worker starts without a
    lifeline, runs the candidate's warm-up calls, waits for the go-ahead at its gate, runs the
    profiled call and exits; ncu's report is then missing, and the profile says so."""
    problem = load_problem(HERE / "problems" / "scale_add.py")
    case = next(c for c in cases_for(problem) if c.timed)
    source = (HERE / "kernels" / "correct_scale_add.py").read_text()
    started: list[WorkerProcess] = []

    def start(profiler):
        started.append(WorkerProcess("candidate", InterpreterPlatform(), Redactor(), sandbox="best-effort",
                                     readable=frozenset({str(problem.path.parent)}), profiler=profiler))
        return started[-1]

    def request(worker):
        scratch = Path(tempfile.mkdtemp(dir=worker.home))
        (scratch / "kernel.py").write_text(source)
        digest = _digest(problem, case)
        return {"op": "profile", "problem": str(problem.path), "trials": problem.trials, "sizes": problem.sizes,
                "kernel": str(scratch / "kernel.py"), "scratch": str(scratch), "case": case.to_json(),
                "digest": digest, "warmup": 1}

    assert ncu._profiled_run(start, request, ["env"], timeout_s=120) == ""
    (worker,) = started
    assert not worker.alive and not os.path.exists(worker.home)  # single use: closed, its home removed
    assert "ncu wrote no report" in ncu.read_report(tmp_path / "report.csv")[1]


def _digest(problem, case):
    from kernelevolve.eval.inputs import digest, make_inputs
    from kernelevolve.problem import import_problem_module

    return digest(make_inputs(import_problem_module(problem.path, problem.sizes or {}), problem, case, "cpu"))
