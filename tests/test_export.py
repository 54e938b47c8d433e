"""`kernelevolve export`: a drop-in module with shape-aware dispatch, on CPU (fallback and the op
through the interpreter) and on a GPU (dispatch and torch.compile)."""

from __future__ import annotations

import importlib.util
import json
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
        out = m._kernel_op(model._kernelevolve_key, 0, [x, y], m._state(model))
        assert torch.allclose(out[0], 2 * x + y), "kernel path differs"
        torch.library.opcheck(m._kernel_op, (model._kernelevolve_key, 0, [x, y], m._state(model)),
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
    module._ROUTES[module._signature((x, y))] = 0  # whatever was measured, force the kernel path
    calls = []
    original = module._VARIANTS[0].forward

    def counted(self, *a):
        calls.append(1)
        return original(self, *a)

    module._VARIANTS[0].forward = counted
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


THREE_SHAPES = '''
import torch
import torch.nn as nn


class Model(nn.Module):
    def forward(self, x, y):
        return 2 * x + y


SHAPES = {"n4096": {"n": 4096}, "n8192": {"n": 8192}, "n16384": {"n": 16384}}


def get_inputs(n=4096):
    return [torch.randn(n), torch.randn(n)]


def get_init_inputs():
    return []
'''


def timed(ms: dict[str, float], pytorch_ms: dict[str, float]) -> dict:
    """A result as the harness writes it, with these per-shape times (eager = torch.compile here)."""
    return {"status": "ok", "correct": True, "device": "NVIDIA H200", "versions": {"torch": "2.11"},
            "timing_method": "cuda-events",
            "timings": [{"shape": s, "candidate_ms": t, "eager_ms": pytorch_ms[s], "compile_ms": pytorch_ms[s],
                         "speedup": pytorch_ms[s] / t} for s, t in ms.items()]}


def per_shape_store(tmp_path):
    """A run of two kernels: node A wins n4096, node B wins n8192, PyTorch wins n16384; A is the best."""
    from kernelevolve.graph import NewNode
    from kernelevolve.problem import load_problem
    from kernelevolve.store import open_store

    path = tmp_path / "three.py"
    path.write_text(THREE_SHAPES)
    problem = load_problem(path)
    seed = SEED.read_text()
    pytorch = {"n4096": 0.015, "n8192": 0.03, "n16384": 0.04}
    store = open_store(root=tmp_path / ".kernelevolve")
    run = store.ensure_run("r", str(path), problem.hash, "cuda", {})
    a = store.add_node(run.id, NewNode(None, "seed", seed, timed({"n4096": 0.01, "n8192": 0.04, "n16384": 0.05},
                                                                   pytorch), 1.2, False, "ok"))
    b = store.add_node(run.id, NewNode(a.id, "tuner", seed.replace("BLOCK_SIZE = 256", "BLOCK_SIZE = 512"),
                                       timed({"n4096": 0.02, "n8192": 0.02, "n16384": 0.06}, pytorch), 1.1, False, "ok"))
    return store, a, b


RUN_ROUTES = """
import importlib.util, sys, torch
for i, path in enumerate(sys.argv[1:]):
    spec = importlib.util.spec_from_file_location(f"exported{i}", path)
    m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
    model = m.ModelNew()
    for n in (4096, 8192, 16384):
        x, y = torch.randn(n), torch.randn(n)
        variant = m._ROUTES.get(m._signature((x, y)))
        assert torch.equal(model(x, y), 2 * x + y)  # CPU tensors: the reference
        if variant is not None:
            out = m._kernel_op(model._kernelevolve_key, variant, [x, y], m._state(model))
            assert torch.allclose(out[0], 2 * x + y)
        node = None if variant is None else m._KERNEL_SOURCES[variant][0]
        block = None if variant is None else m._KERNEL_SOURCES[variant][2].split("BLOCK_SIZE = ")[1].split()[0]
        print(path, n, node, block)
"""


def routes_run(*paths: Path) -> list[str]:
    """Each module's route for each shape, the kernel run for real (on the interpreter) where one serves it."""
    env = dict(os.environ, TRITON_INTERPRET="1")
    proc = subprocess.run([sys.executable, "-c", RUN_ROUTES, *map(str, paths)], check=False, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return [line.split(" ", 1)[1] for line in proc.stdout.splitlines()]


def test_per_shape_export_sends_each_shape_to_its_own_fastest_kernel(tmp_path):
    from kernelevolve.export import export_run

    store, a, b = per_shape_store(tmp_path)
    with store:
        per_shape, single = export_run(store, "r", per_shape=True), export_run(store, "r")
    (tmp_path / "per_shape.py").write_text(per_shape)
    (tmp_path / "single.py").write_text(single)
    assert routes_run(tmp_path / "per_shape.py", tmp_path / "single.py") == [
        f"4096 {a.id} 256", f"8192 {b.id} 512", "16384 None None",  # each shape's fastest kernel, else PyTorch
        f"4096 {a.id} 256", "8192 None None", "16384 None None",  # the best kernel where it wins
    ]
    assert f"| n8192 | [8192] float32, [8192] float32 | {b.id} | 0.0200 | 0.0400 | 0.0300 (eager) | node {b.id} (1.50x) |" \
        in per_shape
    assert "| n16384 |" in per_shape and "| PyTorch |" in per_shape


def test_show_and_export_give_the_fastest_node_of_each_shape(tmp_path):
    from typer.testing import CliRunner

    from kernelevolve.cli import app

    store, a, b = per_shape_store(tmp_path)
    store.close()
    shown = CliRunner().invoke(app, ["show", "r", "--store", store.url, "--objects", str(store.objects.root), "--json"])
    per_shape = json.loads(shown.stdout)["per_shape"]
    assert [(w["shape"], w["node_id"], w["path"]) for w in per_shape] == [
        ("n4096", a.id, "triton"), ("n8192", b.id, "triton"), ("n16384", a.id, "pytorch")]
    exported = CliRunner().invoke(app, ["export", "r", "--per-shape", "--out", str(tmp_path / "m.py"), "--store",
                                        store.url, "--objects", str(store.objects.root)])
    assert exported.exit_code == 0, exported.output
    assert f"Kernels: node {a.id} (seed, score 1.2), node {b.id} (tuner, score 1.1)." in (tmp_path / "m.py").read_text()
