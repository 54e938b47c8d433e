"""Checks made on a candidate's source without running it: it parses, defines the model class,
and has at least one Triton kernel."""

from __future__ import annotations

import ast

from kernelevolve.eval.result import EvalResult, Failure, Status
from kernelevolve.problem import CANDIDATE_CLASSES


def _decorator_names(node: ast.FunctionDef) -> list[str]:
    names = []
    for dec in node.decorator_list:
        target = dec.func if isinstance(dec, ast.Call) else dec
        names.append(ast.unparse(target))
    return names


def check_source(source: str) -> EvalResult | None:
    """A finished result for sources that cannot be run, None for the rest."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        line = (exc.text or "").strip()
        failure = Failure(error_class="SyntaxError", message=f"{exc.msg} at line {exc.lineno}" + (f": {line}" if line else ""))
        return EvalResult(status=Status.syntax_error, reason=failure.sentence(), failure=failure)
    top_names = {n.name for n in tree.body if isinstance(n, ast.ClassDef)}
    top_names |= {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
    if not top_names & set(CANDIDATE_CLASSES):
        return EvalResult(
            status=Status.rejected,
            reason="the candidate defines no ModelNew class (TritonModel is accepted too) at module level",
        )
    kernels = [
        n for n in ast.walk(tree)
        if isinstance(n, ast.FunctionDef) and any(d.split(".")[-1] == "jit" for d in _decorator_names(n))
    ]
    if not kernels:
        return EvalResult(
            status=Status.rejected,
            reason="the candidate defines no @triton.jit kernel: the result must be computed by Triton",
        )
    return None
