"""`kernelevolve export`: a drop-in module with shape-aware dispatch, on CPU (fallback and the op
through the interpreter) and on a GPU (dispatch and torch.compile)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROBLEM = ROOT / "tests" / "eval" / "problems" / "scale_add.py"
SEED = ROOT / "tests" / "search" / "data" / "seed_scale_add.py"


def cli(tmp_path, *args, env=None):
    return subprocess.run([sys.executable, "-m", "kernelevolve.cli", *map(str, args)], cwd=tmp_path,
                          env=env or dict(os.environ),
                          capture_output=True, text=True, timeout=600)


def exported(tmp_path, platform="interpreter"):
    problem = tmp_path / "scale_add.py"
    shutil.copy(PROBLEM, problem)
    run = cli(tmp_path, "optimize", problem, "--seed", SEED, "--steps", 2, "--platform", platform, "--run", "r")
    assert run.returncode == 0, run.stderr
    proc = cli(tmp_path, "export", "r", "--out", tmp_path / "exported.py")
    assert proc.returncode == 0, proc.stderr
    return tmp_path / "exported.py"


def load(path: Path):
    spec = importlib.util.spec_from_file_location(f"exported_{abs(hash(path))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cpu_falls_back_to_the_reference_and_compiles_fullgraph(tmp_path):
    import torch

    module = load(exported(tmp_path))
    model, reference = module.ModelNew(), module.Model()
    x, y = torch.randn(1000), torch.randn(1000)
    assert torch.equal(model(x, y), reference(x, y))
    assert list(model.state_dict()) == list(reference.state_dict())
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    assert torch.equal(compiled(x, y), reference(x, y))
    assert "every shape takes the PyTorch reference" in module.__doc__


def test_the_registered_op_runs_the_kernel_and_its_fake(tmp_path):
    path = exported(tmp_path)
    script = textwrap.dedent(f"""
        import importlib.util, torch
        spec = importlib.util.spec_from_file_location("exported", {str(path)!r})
        m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
        model = m.ModelNew()
        x, y = torch.randn(1000), torch.randn(1000)
        out = m._kernel_op(model._kernelevolve_key, [x, y], m._state(model))
        assert torch.allclose(out[0], 2 * x + y), "kernel path differs"
        torch.library.opcheck(m._kernel_op, (model._kernelevolve_key, [x, y], m._state(model)),
                              test_utils=("test_schema", "test_faketensor"))
        print("op ok")
    """)
    env = dict(os.environ, TRITON_INTERPRET="1")
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "op ok" in proc.stdout, proc.stderr


def test_export_of_an_unknown_run_is_a_clear_error(tmp_path):
    from kernelevolve.store import open_store

    with open_store(root=tmp_path / ".kernelevolve"):
        pass  # a store without that run (reading commands never make one)
    proc = cli(tmp_path, "export", "nope", "--out", tmp_path / "x.py")
    assert proc.returncode == 2 and "no run named 'nope'" in proc.stderr


@pytest.mark.gpu
def test_gpu_dispatches_measured_shapes_to_the_kernel_under_compile(tmp_path):
    import torch

    module = load(exported(tmp_path, platform="cuda"))
    assert "| n4096 |" in module.__doc__  # the evidence of the measured production shape
    model = module.ModelNew().cuda()
    x, y = torch.randn(4096, device="cuda"), torch.randn(4096, device="cuda")
    module._TRITON_SIGNATURES.add(module._signature((x, y)))  # whatever was measured, force the kernel path
    calls = []
    original = module._TritonModel.forward

    def counted(self, *a):
        calls.append(1)
        return original(self, *a)

    module._TritonModel.forward = counted
    assert torch.allclose(model(x, y), 2 * x + y)
    compiled = torch.compile(model, fullgraph=True)
    assert torch.allclose(compiled(x, y), 2 * x + y)
    assert len(calls) >= 2
    small = torch.randn(7, device="cuda"), torch.randn(7, device="cuda")
    before = len(calls)
    assert torch.allclose(model(*small), 2 * small[0] + small[1])
    assert len(calls) == before  # an unmeasured shape takes the reference


IDENTITY_KERNEL = '''
import torch
import triton
import triton.language as tl


@triton.jit
def copy_kernel(x_ptr, y_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(y_ptr + offs, tl.load(x_ptr + offs, mask=offs < n), mask=offs < n)


class ModelNew(torch.nn.Module):
    def __init__(self, hidden, alpha=0.5):
        super().__init__()
'''


def test_an_imported_reference_exports_as_a_subclass_of_the_name_the_problem_binds(tmp_path, isolated_imports):
    import torch

    from kernelevolve.export import export_run
    from kernelevolve.graph import NewNode
    from kernelevolve.problem import load_problem
    from kernelevolve.store import open_store
    from tests.reference_layouts import INIT_SIGNATURE, write_layout

    path = write_layout("installed", tmp_path, isolated_imports)
    problem = load_problem(path)
    with open_store(root=tmp_path / "store") as store:
        run = store.ensure_run("r", str(path), problem.hash, "interpreter", {})
        store.add_node(run.id, NewNode(None, "seed", IDENTITY_KERNEL, result={}, score=1.0, is_buggy=False,
                                       status="ok"))
        text = export_run(store, "r")
    assert f"`ModelNew` subclasses `Model` (`instlib.layers.GatedScale`): it takes the\nsame constructor arguments, `{INIT_SIGNATURE}`" in text
    (tmp_path / "exported.py").write_text(text)
    module = load(tmp_path / "exported.py")
    torch.manual_seed(0)
    model = module.ModelNew(64, 0.25)
    torch.manual_seed(0)
    reference = module.Model(64, 0.25)
    x, idx = torch.randn(5, 64), torch.tensor([0, 3, 4])
    assert type(reference).__name__ == "GatedScale" and torch.equal(model(x, idx), reference(x, idx))
