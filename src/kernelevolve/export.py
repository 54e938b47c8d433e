"""``kernelevolve export RUN``: the run's best kernel (or, with ``--per-shape``, each production
shape's own fastest kernel) as a standalone module that drops in for the reference, registers the
kernels as a custom op, and dispatches each measured input signature to its kernel only where that
was measured faster than the best PyTorch path."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from kernelevolve.problem import CANDIDATE_CLASSES, Problem, import_problem_module, init_inputs, load_problem, reference_class
from kernelevolve.reference import describe_reference
from kernelevolve.search.winners import ShapeWinner, run_winners, shape_winners
from kernelevolve.store import NodeRecord, Store

TEMPLATES = Path(__file__).parent / "templates"


class ExportError(Exception):
    """The run cannot be exported; the message says why."""


@dataclass(frozen=True)
class Variant:
    """One kernel the module carries: its node, its source and the name of the class that runs it."""

    node: NodeRecord
    source: str
    model_class: str


def export_run(store: Store, run_name: str, per_shape: bool = False) -> str:
    """The module for run ``run_name``: its best kernel, or with ``per_shape`` each production
    shape's own fastest kernel; each measured signature goes to its kernel where that was faster
    than the best PyTorch path, every other one to the reference."""
    run = store.get_run(run_name)
    if run is None:
        raise ExportError(f"no run named {run_name!r} in {store.display_url}")
    best = store.best(run.id)
    if best is None:
        raise ExportError(f"run {run_name!r} has no correct kernel to export")
    store.require_files(best)
    problem_path = Path(run.problem_path)
    if not problem_path.is_file():
        raise ExportError(f"the run's problem file is gone: {problem_path}")
    problem = load_problem(problem_path)
    if problem.hash != run.problem_hash:
        raise ExportError(f"{problem_path} changed since run {run_name!r} measured it (content hash differs)")
    result = store.read_result(best)
    winners = run_winners(store, run.id)[0] if per_shape else shape_winners({best.id: result}, best.id)
    choice = {w.shape: w.node_id for w in winners if w.triton_wins}
    nodes = {best.id: best} | {i: store.node(i) for i in choice.values() if i != best.id}
    variants = [_variant(store, nodes[i]) for i in sorted(nodes)]
    index = {v.node.id: i for i, v in enumerate(variants)}
    module = import_problem_module(problem_path)
    ref_cls = reference_class(module)
    # The problem file's text is embedded whole, so ModelNew subclasses the name it binds (Model),
    # which need not be the class's own name (``from mylib.layers import GatedScale as Model``).
    reference = describe_reference(problem)
    evidence, routes = _dispatch(problem, module, winners, {s: index[n] for s, n in choice.items()})
    versions = ", ".join(f"{k} {v}" for k, v in (result.get("versions") or {}).items())
    template = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
                                  keep_trailing_newline=True).get_template("export.py.j2")
    return template.render(
        problem_name=problem.name, reference_class=reference.bound_name,
        reference_qualname=reference.qualname, init_signature=reference.init_signature, run_name=run.name,
        best=best, per_shape=per_shape, variants=variants, problem_file=problem_path.name,
        problem_hash=problem.hash, device=result.get("device", ""), versions=versions or "versions unknown",
        timing_method=result.get("timing_method", ""), platform=run.platform, evidence=evidence,
        routes=routes, single_output=_single_output(module, ref_cls, problem),
        reference_source=problem.source.strip(), literal=_source_literal,
        op_namespace="kernelevolve", op_name=_op_name(f"{problem.name}_{run.name}_{best.id}"),
    )


def _variant(store: Store, node: NodeRecord) -> Variant:
    store.require_files(node)
    source = store.read_source(node)
    names = [n.name for n in ast.parse(source).body if isinstance(n, ast.ClassDef) and n.name in CANDIDATE_CLASSES]
    if not names:
        raise ExportError(f"node {node.id}'s kernel defines no ModelNew class")
    return Variant(node, source, names[0])


def _source_literal(source: str) -> str:
    """A kernel's text as a string literal a reader can still read: raw and triple-quoted where it can be."""
    if "'''" not in source and not source.endswith(("'", "\\")):
        return "r'''" + source + "'''"
    return repr(source)


def _signature_of(module: Any, params: dict[str, Any]) -> tuple | None:
    """(shape, dtype) of each tensor input of a shape."""
    import torch

    from kernelevolve.eval.inputs import sized_inputs

    inputs = sized_inputs(lambda _device: module.get_inputs(**params))
    if not all(isinstance(t, torch.Tensor) for t in inputs):
        return None
    return tuple((tuple(t.shape), t.dtype) for t in inputs)


def _dispatch(problem: Problem, module: Any, winners: list[ShapeWinner],
              choice: dict[str, int]) -> tuple[list[dict[str, str]], list[tuple[str, int]]]:
    """The docstring's evidence, one row per timed production shape, and the routes: (signature
    literal, variant index) for each shape a kernel serves."""
    by_shape = {w.shape: w for w in winners}
    evidence, routes = [], []
    for shape in problem.production_shapes:
        w = by_shape.get(shape.name)
        if w is None or w.kernel_ms is None:
            continue
        signature = _signature_of(module, shape.params)
        served = shape.name in choice and signature is not None
        if served:
            routes.append((_literal(signature), choice[shape.name]))
        evidence.append({
            "shape": shape.name,
            "inputs": ", ".join(f"{list(s)} {str(d).replace('torch.', '')}" for s, d in signature or ()),
            "node": str(w.node_id), "kernel_ms": f"{w.kernel_ms:.4f}",
            "best_ms": "-" if w.best_node_ms is None else f"{w.best_node_ms:.4f}",
            "pytorch": f"{w.pytorch_ms:.4f} ({w.pytorch})",
            "path": f"node {w.node_id} ({w.speedup:.2f}x)" if served else "PyTorch",
        })
    return evidence, routes


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
