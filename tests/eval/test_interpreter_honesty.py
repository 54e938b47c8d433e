"""A failing verdict that touches a limit the installed Triton interpreter really has (measured by
probe kernels, cached per Triton version) says so and how to write around it."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kernelevolve.eval.interpreter_limits import probed_limits
from kernelevolve.problem import load_problem

EVAL = Path(__file__).parent
BF16_PROBLEM = """
    import torch
    class Model(torch.nn.Module):
        def forward(self, x, y):
            return 2 * x + y
    SHAPES = {"n1000": {"n": 1000}}
    def get_inputs(n=1000):
        return [torch.randn(n, dtype=torch.bfloat16), torch.randn(n, dtype=torch.bfloat16)]
"""
KERNEL = """
    import torch
    import triton
    import triton.language as tl
    from triton.language.extra import libdevice

    @triton.jit
    def scale_add_kernel(x_ptr, y_ptr, out_ptr, n, two, BLOCK: tl.constexpr):
        offs = tl.arange(0, BLOCK)
        mask = offs < n
        x = tl.load(x_ptr + offs, mask=mask){load}
        y = tl.load(y_ptr + offs, mask=mask){load}
        tl.store(out_ptr + offs, ({body}).to(out_ptr.dtype.element_ty), mask=mask)

    class ModelNew(torch.nn.Module):
        def forward(self, x, y):
            out = torch.empty_like(x)
            scale_add_kernel[(1,)](x, y, out, x.numel(), 2.0, BLOCK=triton.next_power_of_2(x.numel()))
            return out
"""


def kernel(body="two * x + y", load=""):
    return textwrap.dedent(KERNEL.format(body=body, load=load))


@pytest.fixture(scope="module")
def limits(interpreter_harness):
    version = interpreter_harness.reference_set(load_problem(EVAL / "problems" / "scale_add.py")).versions["triton"]
    return probed_limits(interpreter_harness.cache_root, version)


@pytest.fixture
def bf16_problem(tmp_path):
    path = tmp_path / "problem.py"
    path.write_text(textwrap.dedent(BF16_PROBLEM))
    return load_problem(path)


def need(limits, name):
    if name not in limits:
        pytest.skip(f"this Triton's interpreter does not have the {name} limit")


def test_bf16_arithmetic_failing_on_the_interpreter_says_it_may_be_the_interpreter(limits, interpreter_harness,
                                                                                    bf16_problem):
    need(limits, "bf16_arithmetic")
    result = interpreter_harness.evaluate(bf16_problem, kernel())
    assert result.status.value == "mismatch" and result.interpreter_limits == ["bf16_arithmetic"]
    assert "interpreter's limit, not the kernel's" in result.reason and "tl.float32" in result.reason


def test_the_way_around_bf16_arithmetic_passes(interpreter_harness, bf16_problem):
    result = interpreter_harness.evaluate(bf16_problem, kernel(load=".to(tl.float32)"))
    assert result.status.value == "ok", result.reason


def test_a_libdevice_failure_names_the_libdevice_limit(limits, interpreter_harness):
    need(limits, "libdevice_functions")
    problem = load_problem(EVAL / "problems" / "scale_add.py")
    result = interpreter_harness.evaluate(problem, kernel(body="libdevice.fma(two, x, y)"))
    assert not result.correct and result.interpreter_limits == ["libdevice_functions"]
    assert "tl.sigmoid" in result.reason


def test_a_method_on_a_float_argument_names_the_float_argument_limit(limits, interpreter_harness):
    need(limits, "float_argument_methods")
    problem = load_problem(EVAL / "problems" / "scale_add.py")
    result = interpreter_harness.evaluate(problem, kernel(body="two.to(tl.float32) * x + y"))
    assert not result.correct and result.interpreter_limits == ["float_argument_methods"]


def test_a_block_mask_and_a_scalar_one_together_name_the_mask_limit(limits, interpreter_harness):
    need(limits, "block_and_scalar_masks")
    problem = load_problem(EVAL / "problems" / "scale_add.py")
    source = kernel().replace("mask=mask)\n\n", "mask=mask & (tl.program_id(0) < 1))\n\n")
    assert "tl.program_id(0) < 1" in source
    result = interpreter_harness.evaluate(problem, source)
    assert not result.correct and result.interpreter_limits == ["block_and_scalar_masks"]
    assert "offs * 0 + row < rows" in result.reason


def test_a_wrong_kernel_touching_no_limit_is_not_excused(limits, interpreter_harness):
    problem = load_problem(EVAL / "problems" / "scale_add.py")
    result = interpreter_harness.evaluate(problem, (EVAL / "kernels" / "wrong_result.py").read_text())
    assert result.status.value == "mismatch" and result.interpreter_limits == []
    assert "interpreter's limit" not in result.reason


def test_the_probe_is_cached_per_triton_version(limits, interpreter_harness):
    cached = list((interpreter_harness.cache_root / "interpreter-limits").glob("triton-*.json"))
    assert len(cached) == 1 and json.loads(cached[0].read_text())["limits"] == limits


def test_the_harness_process_never_imports_triton(tmp_path):
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from kernelevolve.eval.harness import Harness
        from kernelevolve.platform import InterpreterPlatform
        from kernelevolve.problem import load_problem
        kernel = {kernel(body="libdevice.fma(two, x, y)")!r}
        with Harness(InterpreterPlatform(), cache_dir=Path({str(tmp_path)!r})) as harness:
            result = harness.evaluate(load_problem({str(EVAL / "problems" / "scale_add.py")!r}), kernel)
        print(result.interpreter_limits, "triton" in sys.modules)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(EVAL.parents[1] / "src")})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == "False"
    assert list((tmp_path / "interpreter-limits").glob("triton-*.json"))
