"""Checks made on a candidate's source without running it: it parses, defines the model class,
has at least one Triton kernel, and its constructor and forward take what the reference's take
(from the reference's facts, kernelevolve/reference.py)."""

from __future__ import annotations

import ast

from kernelevolve.eval.result import EvalResult, Failure, Status
from kernelevolve.problem import CANDIDATE_CLASSES
from kernelevolve.reference import ReferenceFacts


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


def _accepts(args: ast.arguments, count: int) -> bool:
    """Whether a method with ``args`` (``self`` first) takes ``count`` positional arguments."""
    positional = (args.posonlyargs + args.args)[1:]
    required = len(positional) - len(args.defaults)
    keyword_only_required = any(d is None for d in args.kw_defaults)
    return not keyword_only_required and required <= count and (count <= len(positional) or args.vararg is not None)


def _methods(tree: ast.Module) -> tuple[ast.ClassDef, dict[str, ast.FunctionDef]] | None:
    cls = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name in CANDIDATE_CLASSES), None)
    if cls is None:
        return None
    return cls, {n.name: n for n in cls.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


def _module_base_only(cls: ast.ClassDef) -> bool:
    """Whether the class's only base is nn.Module, whose constructor takes no argument."""
    return [ast.unparse(b) for b in cls.bases] in (["nn.Module"], ["torch.nn.Module"], ["Module"])


def check_signatures(source: str, facts: ReferenceFacts) -> EvalResult | None:
    """A finished result for a candidate class that cannot be built with the reference's
    ``get_init_inputs()`` or whose forward cannot take the reference's inputs, naming the expected
    signature; None when both fit or cannot be told from the source (an inherited method)."""
    found = _methods(ast.parse(source))
    if found is None:
        return None
    cls, methods = found
    init, forward = methods.get("__init__"), methods.get("forward")
    inputs = len(facts.inputs)
    if facts.init_count is not None and (
            (init is not None and not _accepts(init.args, facts.init_count))
            or (init is None and _module_base_only(cls) and facts.init_count > 0)):
        written = f"def __init__({ast.unparse(init.args)})" if init is not None else "nn.Module's __init__(self)"
        return _signature_failure(
            f"constructing {cls.name}",
            f"the harness builds it as the reference is built, {cls.name}({facts.init_arguments}) with the values of "
            f"get_init_inputs(), and `{written}` does not take {facts.init_count} positional argument(s); "
            f"write it as the reference's `{facts.init_signature}`")
    if forward is not None and facts.inputs and not _accepts(forward.args, inputs):
        names = ", ".join(i.name for i in facts.inputs)
        return _signature_failure(
            f"calling {cls.name}.forward",
            f"the harness calls it with the reference's {inputs} input(s) ({names}), and "
            f"`def forward({ast.unparse(forward.args)})` does not take them; write it as the reference's "
            f"`{facts.forward_signature}`")
    return None


def _signature_failure(during: str, message: str) -> EvalResult:
    failure = Failure(during=during, error_class="TypeError", message=message)
    return EvalResult(status=Status.runtime_error, reason=failure.sentence(), failure=failure)
