"""The harness's modules import each other one way: no module of eval/ reaches itself again through
its imports (function-level imports included), and the worker side never imports the harness."""

from __future__ import annotations

import ast
from pathlib import Path

EVAL = Path(__file__).resolve().parents[2] / "src" / "kernelevolve" / "eval"
PACKAGE = "kernelevolve.eval"
WORKER_SIDE = {"worker", "candidate", "guard", "rules", "hostreads", "storage", "protocol", "timing", "inputs",
               "problem_checks", "parameters", "check_sizes"}


def imports_of(path: Path) -> set[str]:
    """The eval modules a module imports, wherever in it the import statement stands."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == PACKAGE:
                found |= {alias.name for alias in node.names}
            elif node.module.startswith(PACKAGE + "."):
                found.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[2] for a in node.names if a.name.startswith(PACKAGE + ".")}
    return found - {path.stem}


def graph() -> dict[str, set[str]]:
    return {path.stem: imports_of(path) for path in EVAL.glob("*.py") if path.stem != "__init__"}


def test_eval_modules_import_each_other_without_a_cycle():
    edges = graph()
    state: dict[str, str] = {}

    def visit(module: str, trail: list[str]) -> None:
        state[module] = "open"
        for target in sorted(edges.get(module, ())):
            assert state.get(target) != "open", "import cycle: " + " -> ".join([*trail, module, target])
            if target not in state:
                visit(target, [*trail, module])
        state[module] = "done"

    for module in sorted(edges):
        if module not in state:
            visit(module, [])


def test_the_worker_side_never_imports_the_harness_or_the_pool():
    edges = graph()
    for module in WORKER_SIDE:
        assert not edges[module] & {"harness", "pool", "compare", "ray_executor"}, module
