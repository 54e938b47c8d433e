"""The package's imports go one way: a module never imports a layer above its own, and the
package's parts never import each other in a circle. The layers are read from the table in
docs/architecture.md, so the document and the code cannot drift apart."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "kernelevolve"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
DATA = PACKAGE / "knowledge" / "base"  # the knowledge base's sample kernels: data, not the package's code


def layers() -> dict[str, int]:
    """Each part's layer from the architecture table, 0 for the top one."""
    text = ARCHITECTURE.read_text().split("## Layers", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in text.splitlines() if line.startswith("|") and "`" in line]
    return {part: depth for depth, row in enumerate(rows) for part in re.findall(r"`([\w.]+)`", row.split("|")[2])}


def part_of(module: str) -> str:
    """``kernelevolve.eval.harness`` -> ``eval``; the package's own ``__init__`` is ``kernelevolve``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(parts)


def imported(path: Path) -> set[str]:
    """The kernelevolve modules a file imports, wherever the statement stands (relative ones resolved)."""
    here = module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) - node.level + 1]) if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            if module.split(".")[0] != "kernelevolve":
                continue
            found.add(module)
            if module == "kernelevolve":  # from kernelevolve import eval: names that are modules
                found |= {f"kernelevolve.{a.name}" for a in node.names if is_module(a.name)}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "kernelevolve"}
    return found


def is_module(name: str) -> bool:
    return (PACKAGE / f"{name}.py").is_file() or (PACKAGE / name / "__init__.py").is_file()


def sources() -> list[Path]:
    return [p for p in PACKAGE.rglob("*.py") if DATA not in p.parents]


def test_every_part_of_the_package_has_a_layer():
    placed = layers()
    missing = {part_of(module_name(p)) for p in sources()} - placed.keys()
    assert not missing, f"parts missing from the layer table of docs/architecture.md: {sorted(missing)}"


def test_no_module_imports_a_layer_above_its_own():
    placed = layers()
    upward = []
    for path in sources():
        me = part_of(module_name(path))
        for target in imported(path):
            if placed[part_of(target)] < placed[me]:
                upward.append(f"{path.relative_to(PACKAGE)} imports {target}")
    assert not upward, "\n".join(sorted(upward))


def test_the_parts_import_each_other_without_a_cycle():
    edges: dict[str, set[str]] = {}
    for path in sources():
        me = part_of(module_name(path))
        edges.setdefault(me, set()).update(part_of(t) for t in imported(path) if part_of(t) != me)
    state: dict[str, str] = {}

    def visit(part: str, trail: list[str]) -> None:
        state[part] = "open"
        for target in sorted(edges.get(part, ())):
            assert state.get(target) != "open", "import cycle: " + " -> ".join([*trail, part, target])
            if target not in state:
                visit(target, [*trail, part])
        state[part] = "done"

    for part in sorted(edges):
        if part not in state:
            visit(part, [])
