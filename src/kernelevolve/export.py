"""``kernelevolve export RUN``: the run's best kernel as a standalone module that drops in for the
reference, registers the kernel as a custom op, and dispatches each input signature to the kernel
only where it was measured faster than the best PyTorch path."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import jinja2

from kernelevolve.eval.result import ShapeTiming
from kernelevolve.problem import CANDIDATE_CLASSES, Problem, import_problem_module, init_inputs, load_problem, reference_class
from kernelevolve.reference import describe_reference
from kernelevolve.store import Store

TEMPLATES = Path(__file__).parent / "templates"


class ExportError(Exception):
    """The run cannot be exported; the message says why."""


def export_run(store: Store, run_name: str) -> str:
    run = store.get_run(run_name)
    if run is None:
        raise ExportError(f"no run named {run_name!r} in {store.display_url}")
    node = store.best(run.id)
    if node is None:
        raise ExportError(f"run {run_name!r} has no correct kernel to export")
    store.require_files(node)
    problem_path = Path(run.problem_path)
    if not problem_path.is_file():
        raise ExportError(f"the run's problem file is gone: {problem_path}")
    problem = load_problem(problem_path)
    if problem.hash != run.problem_hash:
        raise ExportError(f"{problem_path} changed since run {run_name!r} measured it (content hash differs)")
    result = store.read_result(node)
    kernel = _renamed_kernel(store.read_source(node))
    _check_no_clash(problem.source, kernel)
    module = import_problem_module(problem_path)
    ref_cls = reference_class(module)
    # The problem file's text is embedded whole, so ModelNew subclasses the name it binds (Model),
    # which need not be the class's own name (``from mylib.layers import GatedScale as Model``).
    reference = describe_reference(problem)
    evidence, signatures = _dispatch(problem, module, result)
    versions = ", ".join(f"{k} {v}" for k, v in (result.get("versions") or {}).items())
    template = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
                                  keep_trailing_newline=True).get_template("export.py.j2")
    return template.render(
        problem_name=problem.name, reference_class=reference.bound_name,
        reference_qualname=reference.qualname, init_signature=reference.init_signature, run_name=run.name, node_id=node.id,
        operator=node.operator, problem_file=problem_path.name, problem_hash=problem.hash,
        device=result.get("device", ""), versions=versions or "versions unknown",
        timing_method=result.get("timing_method", ""), platform=run.platform, evidence=evidence,
        triton_signatures=signatures, single_output=_single_output(module, ref_cls, problem),
        reference_source=problem.source.strip(), kernel_source=kernel.strip(),
        op_namespace="kernelevolve", op_name=_op_name(f"{problem.name}_{run.name}_{node.id}"),
    )


def _renamed_kernel(source: str) -> str:
    tree = ast.parse(source)
    names = {n.name for n in tree.body if isinstance(n, ast.ClassDef)} & set(CANDIDATE_CLASSES)
    if not names:
        raise ExportError("the best kernel defines no ModelNew class")
    for name in names:
        source = re.sub(rf"\b{name}\b", "_TritonModel", source)
    return source


def _top_level_names(source: str) -> set[str]:
    names = set()
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


def _check_no_clash(reference: str, kernel: str) -> None:
    clash = _top_level_names(reference) & _top_level_names(kernel)
    if clash:
        raise ExportError(f"the problem file and the kernel both define {sorted(clash)}: rename them in the kernel")


def _signature_of(module: Any, params: dict[str, Any]) -> tuple | None:
    """(shape, dtype) of each tensor input of a shape."""
    import torch

    from kernelevolve.eval.inputs import sized_inputs

    inputs = sized_inputs(lambda _device: module.get_inputs(**params))
    if not all(isinstance(t, torch.Tensor) for t in inputs):
        return None
    return tuple((tuple(t.shape), t.dtype) for t in inputs)


def _dispatch(problem: Problem, module: Any, result: dict[str, Any]) -> tuple[list[dict[str, str]], list[str]]:
    timings = {t["shape"]: t for t in result.get("timings") or []}
    evidence, signatures = [], []
    for shape in problem.production_shapes:
        t = timings.get(shape.name)
        if t is None:
            continue
        name, best = ShapeTiming.model_validate(t).best_pytorch()
        signature = _signature_of(module, shape.params)
        faster = t["candidate_ms"] < best and signature is not None
        if faster:
            signatures.append(_literal(signature))
        evidence.append({
            "shape": shape.name,
            "inputs": ", ".join(f"{list(s)} {str(d).replace('torch.', '')}" for s, d in signature or ()),
            "kernel_ms": f"{t['candidate_ms']:.4f}", "pytorch": f"{best:.4f} ({name})",
            "path": f"Triton ({best / t['candidate_ms']:.2f}x)" if faster else "PyTorch",
        })
    return evidence, signatures


def _literal(signature: tuple) -> str:
    return "(" + ", ".join(f"({shape!r}, _torch.{str(dtype).replace('torch.', '')})" for shape, dtype in signature) + ",)"


def _single_output(module: Any, ref_cls: type, problem: Problem) -> bool:
    import torch

    shape = min(problem.shapes, key=lambda s: sum(v for v in s.params.values() if isinstance(v, int)))
    torch.manual_seed(0)
    with torch.no_grad():
        out = ref_cls(*init_inputs(module))(*module.get_inputs(**shape.params))
    return not isinstance(out, (tuple, list))


def _op_name(text: str) -> str:
    return re.sub(r"\W", "_", text).strip("_").lower()
