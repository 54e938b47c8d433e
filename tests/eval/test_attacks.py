"""Every attack in kernels/ is refused with the right status and a reason; correct kernels pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernelevolve.problem import load_problem

HERE = Path(__file__).parent
KERNELS = HERE / "kernels"

# kernel file -> (status, words the reason must contain)
EXPECTED = {
    "correct_scale_add": ("ok", "correct"),
    "no_triton": ("rejected", "no @triton.jit kernel"),
    "unlaunched_kernel": ("rejected", "launches no Triton kernel"),
    "token_kernel": ("rejected", "PyTorch operator"),
    "token_kernel_inplace": ("rejected", "PyTorch operator"),
    "cached_output": ("rejected", "earlier call"),
    "cached_clone": ("rejected", "not written by any Triton kernel"),
    "own_inputs": ("rejected", "random numbers"),
    "patch_compare": ("rejected", "torch.allclose"),
    "patch_timer": ("rejected", "time.perf_counter"),
    "patch_event": ("rejected", "elapsed_time"),
    "thread_escape": ("rejected", "thread"),
    "modifies_input": ("rejected", "modifies its inputs"),
    "subclass_output": ("rejected", "Tensor subclass"),
    "delete_files": ("rejected", "files it did not create"),
    "copy_into_output": ("rejected", "overwritten by a PyTorch copy"),
    "numpy_view_write": ("rejected", "NumPy view"),
    "host_numpy_compute": ("rejected", "into the host"),
    "host_tolist_compute": ("rejected", "into the host"),
    "triton_copy_then_torch": ("rejected", "computes in PyTorch"),
    "syntax_error": ("syntax_error", "line 6"),
    "compile_error": ("compile_error", "constexpr"),
    "runtime_error": ("runtime_error", "invalid for input"),
    "hardcoded_shape": ("runtime_error", "shape n1000"),
    "out_of_bounds": ("crash", "SIGSEGV"),
    "exit_mid_call": ("crash", "exited"),
    "unwritten_tail": ("mismatch", "NaN/Inf positions differ"),
    "wrong_result": ("mismatch", "elements off"),
    "secret_read": ("runtime_error", "leaking"),
}


@pytest.fixture(scope="module")
def problem():
    return load_problem(HERE / "problems" / "scale_add.py")


def test_every_cpu_attack_has_an_expectation():
    on_disk = {p.stem for p in KERNELS.glob("*.py")} - {"side_stream", "hang"}  # side_stream needs a GPU; hang has its own test
    assert on_disk == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_candidate_gets_its_status(name, problem, interpreter_harness):
    status, words = EXPECTED[name]
    result = interpreter_harness.evaluate(problem, (KERNELS / f"{name}.py").read_text())
    assert result.status.value == status, result.reason
    assert words in result.reason
    assert result.correct is (status == "ok")
    assert result.score == (1.0 if status == "ok" else 0.0)


def test_hang_is_killed_within_its_timeout(problem, interpreter_harness):
    import time

    started = time.monotonic()
    result = interpreter_harness.evaluate(problem, (KERNELS / "hang.py").read_text(), timeout_s=3)
    assert result.status.value == "timeout"
    assert time.monotonic() - started < 3 * 3


def test_secret_values_never_reach_a_result(problem, interpreter_harness, monkeypatch):
    # The harness reads its environment when it starts workers and redactors: use a fresh one.
    from kernelevolve.eval.harness import Harness

    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok-abcdef-0123456789")
    with Harness(interpreter_harness.platform, cache_dir=interpreter_harness.cache_dir.parent) as harness:
        result = harness.evaluate(problem, (KERNELS / "secret_read.py").read_text())
    assert result.status.value == "runtime_error"
    assert "tok-abcdef-0123456789" not in result.model_dump_json()


def test_worker_survives_nothing_after_a_crash(problem, interpreter_harness):
    crashed = interpreter_harness.evaluate(problem, (KERNELS / "out_of_bounds.py").read_text())
    after = interpreter_harness.evaluate(problem, (KERNELS / "correct_scale_add.py").read_text())
    assert crashed.status.value == "crash"
    assert after.status.value == "ok"


def test_patched_worker_is_replaced(problem, interpreter_harness):
    patched = interpreter_harness.evaluate(problem, (KERNELS / "patch_compare.py").read_text())
    after = interpreter_harness.evaluate(problem, (KERNELS / "correct_scale_add.py").read_text())
    assert patched.status.value == "rejected"
    assert after.status.value == "ok", after.reason
