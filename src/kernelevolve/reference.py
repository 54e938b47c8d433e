"""What the reference is, wherever the problem file gets it from: the class's own source and the
user code it reaches, its constructor and the values it is built with, and what its inputs look like.

Read in the search process from the trusted problem file (already imported by ``load_problem``);
candidate code never runs here. The prompt and the export read these facts.
"""

from __future__ import annotations

import ast
import inspect
import linecache
import site
import sys
import textwrap
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kernelevolve.problem import (
    DISTRIBUTIONS,
    REFERENCE_CLASSES,
    Problem,
    Shape,
    import_problem_module,
    init_inputs,
    reference_class,
    takes_dist,
)

CODE_CHARS = 16_000  # the source shown beside the problem file, all pieces together
MAX_PIECES = 40  # objects followed from the reference, shown or not
VALUE_ELEMENTS = 1 << 21  # value facts are computed only on inputs this small (cheap, bounded)
SORTED_MIN = 8  # rows shorter than this come out sorted by chance too often to call them sorted
REPR_CHARS = 120  # one constructor argument or non-tensor input, as the facts show it
CUT = "# [… cut to fit]"
# Never followed: the model knows them, and their internals are what the kernel replaces.
FRAMEWORKS = frozenset({"torch", "triton", "numpy"})
_CONSTANTS = (bool, int, float, complex, str, bytes, type(None))


@dataclass(frozen=True)
class CodePiece:
    """One object's source as the prompt shows it, headed by where it lives."""

    where: str  # ``mylib.layers.GatedScale (layers.py:12)``
    text: str


@dataclass(frozen=True)
class InputFact:
    name: str  # the forward parameter the input is passed to, else ``input 0``
    kind: str  # ``float32 [4096, 1024]``, ``int 3``
    values: str  # ``integers in [0, 999], sorted along the last dim``; empty when unknown


@dataclass(frozen=True)
class ReferenceFacts:
    bound_name: str  # the name the problem file binds the class to: Model or PytorchModel
    qualname: str  # where the class is defined: ``mylib.layers.GatedScale``
    defined_inline: bool  # defined in the problem file itself, which the prompt shows whole
    code: list[CodePiece]  # the class (unless inline) and the user code reached outside the problem file
    model_source: str  # the class and the user code it reaches, wherever defined: what it computes
    init_signature: str  # ``def __init__(self, hidden: int, alpha: float=0.5)``
    forward_signature: str
    init_arguments: str  # what get_init_inputs() passes, as call arguments: ``64``
    init_bound: str  # the same bound to the parameters: ``hidden=64, alpha=0.5 by default``
    init_count: int | None  # how many values get_init_inputs() passes; None when it raised
    shape_name: str  # the shape whose inputs ``inputs`` describe
    values_shape: str | None  # the (small) shape the value facts were computed on
    inputs: list[InputFact]
    notes: list[str] = field(default_factory=list)  # what could not be shown, or was cut


# One entry per problem file content: every expansion of a run asks again, and the import and the
# input draws it saves are the slow part.
_modules: dict[tuple[Path, str], types.ModuleType] = {}
_described: dict[tuple[Path, str], ReferenceFacts] = {}
_traced: dict[tuple[Path, str], list[str]] = {}


def _module(problem: Problem) -> types.ModuleType:
    """The problem file imported once per content, for the facts and the trace alike."""
    key = (problem.path, problem.hash)
    if key not in _modules:
        _modules[key] = import_problem_module(problem.path)
    return _modules[key]


def describe_reference(problem: Problem) -> ReferenceFacts:
    """The facts of ``problem``'s reference, computed once per problem file content."""
    key = (problem.path, problem.hash)
    if key not in _described:
        _described[key] = _describe(_module(problem), problem.path, problem.shapes)
    return _described[key]


def reference_aten_ops(problem: Problem) -> list[str]:
    """The ATen operators the reference's forward dispatches, in order (traced on the meta device,
    else on the smallest shape's real inputs), computed once per problem file content. Apart from
    the other facts: running the reference here loads torch's compiler stack (and with it
    triton), which the harness's own process never does."""
    key = (problem.path, problem.hash)
    if key not in _traced:
        module = _module(problem)
        cls = reference_class(module)
        small = min(problem.shapes, key=lambda s: sum(v for v in s.params.values() if isinstance(v, int)))
        _traced[key] = (traced_operators(module, cls, problem.shapes[0], "meta")
                        or traced_operators(module, cls, small, "cpu"))
    return _traced[key]


def _describe(module: types.ModuleType, path: Path, shapes: list[Shape]) -> ReferenceFacts:
    cls = reference_class(module)
    bound = next(n for n in REFERENCE_CLASSES if getattr(module, n, None) is cls)
    notes: list[str] = []
    pieces, model_source, inline = _reached_code(module, cls, path, notes)
    init_sig = _method_signature(cls, "__init__")
    init_arguments, init_bound = _init_call(module, cls, init_sig, notes)
    forward_names = _parameter_names(cls.forward)
    shape_name, values_shape, inputs = _input_facts(module, shapes, forward_names, notes)
    return ReferenceFacts(
        bound_name=bound, qualname=f"{cls.__module__}.{cls.__qualname__}" if not inline else bound,
        defined_inline=inline, code=_within_budget(pieces, notes), model_source=model_source, init_signature=init_sig,
        forward_signature=_method_signature(cls, "forward"), init_arguments=init_arguments,
        init_bound=init_bound, init_count=_init_count(module), shape_name=shape_name,
        values_shape=values_shape, inputs=inputs, notes=notes,
    )


# -- the operators the reference calls -------------------------------------------------------------

# Dispatches that move or view data without computing: they say nothing about what the kernel does.
PLUMBING_OPS = frozenset({
    "view", "reshape", "_unsafe_view", "t", "transpose", "permute", "expand", "contiguous", "clone",
    "copy_", "detach", "alias", "empty", "empty_like", "empty_strided", "zeros", "zeros_like", "ones",
    "ones_like", "full", "fill_", "lift_fresh", "as_strided", "_to_copy", "to", "unsqueeze", "squeeze",
    "select", "slice", "split", "split_with_sizes", "unbind"
})


def traced_operators(module: types.ModuleType, cls: type, shape: Shape, device: str) -> list[str]:
    """The ATen operators the reference's forward dispatches for ``shape`` (``addmm``, ``gelu`` …),
    in order of first call, traced with a TorchDispatchMode on ``device``: on meta it costs no
    memory nor time, but a reference with data-dependent shapes (``.item()``, ``nonzero``) runs
    only on real inputs (the smallest shape's, on the CPU). Empty where it does not run."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    class Recorder(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.ops: list[str] = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
            self.ops.append(func.overloadpacket.__name__)
            return func(*args, **(kwargs or {}))

    try:
        inputs = _draws(module, shape, device, takes_dist(module.get_inputs))[0]
        if device != "meta" and _elements(inputs) > VALUE_ELEMENTS:
            return []
        with torch.random.fork_rng(devices=[]), torch.device(device):
            model = cls(*init_inputs(module))
        recorder = Recorder()
        with torch.no_grad(), recorder:
            model(*inputs)
    except Exception:  # the user's code, on a device it may not support: retrieval does without
        return []
    return list(dict.fromkeys(op for op in recorder.ops if op not in PLUMBING_OPS))


# -- the code the reference reaches ---------------------------------------------------------------

def installation_dirs() -> list[Path]:
    """Where the interpreter and third-party packages live: code there is not the user's."""
    dirs = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, site.getusersitepackages()}
    dirs |= set(site.getsitepackages())
    return [Path(d).resolve() for d in dirs if d]


def is_user_module(module_name: str | None, file: str | None, reference_package: str) -> bool:
    """User code is the reference's own top-level package wherever it is installed, and any module
    whose file lies outside the interpreter and its site-packages; torch, triton and numpy never are."""
    package = (module_name or "").partition(".")[0]
    if package in FRAMEWORKS:
        return False
    if package == reference_package:
        return True
    if file is None:
        return False
    resolved = Path(file).resolve()
    return not any(resolved.is_relative_to(d) for d in installation_dirs())


def _reached_code(module: types.ModuleType, cls: type, problem_path: Path,
                  notes: list[str]) -> tuple[list[CodePiece], str, bool]:
    """The reference class, ``get_inputs`` and ``get_init_inputs``, and the user code they reach
    (base classes, functions, classes, constants), breadth first. What the problem file defines is
    followed but not repeated: the prompt shows that file whole. Also the source of everything
    reached from the class alone (input generation left out), and whether the file defines the class."""
    package = cls.__module__.partition(".")[0]
    problem_file = str(problem_path)
    roots = [cls] + [getattr(module, n) for n in ("get_inputs", "get_init_inputs") if callable(getattr(module, n, None))]
    queue: list[tuple[str, Any, dict[str, Any], bool]] = [(r.__name__, r, vars(module), r is cls) for r in roots]
    seen: set[Any] = set()
    pieces: list[CodePiece] = []
    model: list[str] = []
    while queue and len(seen) < MAX_PIECES:
        name, obj, scope, of_model = queue.pop(0)
        if _key(name, obj, scope) in seen:
            continue
        seen.add(_key(name, obj, scope))
        if _is_constant(obj):
            pieces.append(CodePiece(f"{scope['__name__']}.{name}", f"{name} = {_short_repr(obj)}"))
            continue
        found = _object_source(obj)
        if found is None:
            notes.append(f"`{_qualname(obj)}` has no Python source to show (a C extension or compiled module)")
            continue
        source, file, line = found
        if of_model:
            model.append(source)
        if file != problem_file:
            pieces.append(CodePiece(f"{_qualname(obj)} ({Path(file).name}:{line})", source))
        inner = _globals_of(obj) or scope
        # a constant is shown where a user module defines it; the problem file's are in view already
        user_scope = (inner.get("__file__") != problem_file
                      and is_user_module(inner.get("__name__"), inner.get("__file__"), package))
        for dep_name, dep in _referenced(source, inner, obj):
            if _key(dep_name, dep, inner) in seen:
                continue
            if (user_scope if _is_constant(dep) else _is_code(dep) and
                    is_user_module(getattr(dep, "__module__", None), _source_file(dep), package)):
                queue.append((dep_name, dep, inner, of_model))
    if any(_key(*item[:3]) not in seen for item in queue):
        notes.append(f"only the first {MAX_PIECES} objects the reference reaches were followed")
    return pieces, "\n\n".join(model), _source_file(cls) == problem_file


def _key(name: str, obj: Any, scope: dict[str, Any]) -> Any:
    """What makes an object seen: itself, or for a constant its name and module (equal small
    numbers are one object)."""
    return (scope.get("__name__"), name) if _is_constant(obj) else id(obj)


def _is_constant(obj: Any) -> bool:
    return isinstance(obj, _CONSTANTS) or (isinstance(obj, tuple) and all(isinstance(v, _CONSTANTS) for v in obj))


def _is_code(obj: Any) -> bool:
    return inspect.isclass(obj) or inspect.isfunction(obj) or inspect.isbuiltin(obj)


def _referenced(source: str, scope: dict[str, Any], owner: Any) -> list[tuple[str, Any]]:
    """The module-level objects a piece of source names, directly or through ``module.attr``
    chains, in order; a class's base classes come first."""
    found: list[tuple[str, Any]] = []
    if inspect.isclass(owner):
        found += [(base.__name__, base) for base in owner.__mro__[1:] if base is not object]
    try:
        tree = ast.parse(textwrap.dedent(source))
    except SyntaxError:  # a lambda's lines cut out of a larger expression
        return found
    nodes = sorted((n for n in ast.walk(tree) if isinstance(n, (ast.Name, ast.Attribute))),
                   key=lambda n: (n.lineno, n.col_offset))
    for node in nodes:
        chain = _dotted(node)
        if chain is None or chain[0] not in scope:
            continue
        obj, name = scope[chain[0]], chain[0]
        for part in chain[1:]:
            if not isinstance(obj, types.ModuleType) or not hasattr(obj, part):
                break
            obj, name = getattr(obj, part), part
        if not isinstance(obj, types.ModuleType):
            found.append((name, obj))
    return found


def _dotted(node: ast.AST) -> list[str] | None:
    """``a.b.c`` for a load of a name or of an attribute chain rooted at a name."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
        return [node.id, *reversed(parts)]
    return None


def _source_file(obj: Any) -> str | None:
    """The file that defines ``obj``: a function's code object knows it; a class is found through
    one of its methods first, because a module loaded with importlib need not be in sys.modules."""
    if isinstance(obj, types.ModuleType):
        return getattr(obj, "__file__", None)
    code = getattr(inspect.unwrap(obj), "__code__", None) if callable(obj) and not inspect.isclass(obj) else None
    if code is not None:
        return code.co_filename
    if inspect.isclass(obj):
        for member in vars(obj).values():
            member = getattr(member, "__func__", member)
            if inspect.isfunction(member):
                return member.__code__.co_filename
    return getattr(sys.modules.get(getattr(obj, "__module__", None) or ""), "__file__", None)


def _globals_of(obj: Any) -> dict[str, Any] | None:
    """The module namespace ``obj``'s source names resolve in."""
    if inspect.isfunction(inspect.unwrap(obj)):
        return inspect.unwrap(obj).__globals__
    if inspect.isclass(obj):
        for member in vars(obj).values():
            member = getattr(member, "__func__", member)
            if inspect.isfunction(member):
                return member.__globals__
        module = sys.modules.get(obj.__module__)
        return vars(module) if module is not None else None
    return None


def _object_source(obj: Any) -> tuple[str, str, int] | None:
    """(source, file, first line) of a Python function or class; None for compiled code."""
    file = _source_file(obj)
    if file is None or not file.endswith(".py"):
        return None
    lines = linecache.getlines(file)
    if inspect.isclass(obj):
        node = _class_node(lines, obj.__qualname__)
        if node is None:
            return None
        first = min([node.lineno] + [d.lineno for d in node.decorator_list])
        return textwrap.dedent("".join(lines[first - 1 : node.end_lineno])).rstrip(), file, first
    try:
        source_lines, first = inspect.getsourcelines(inspect.unwrap(obj))
    except (OSError, TypeError):
        return None
    return textwrap.dedent("".join(source_lines)).rstrip(), file, first


def _class_node(lines: list[str], qualname: str) -> ast.ClassDef | None:
    """The last definition of the class ``qualname`` in a file (the one that stands)."""
    try:
        body = ast.parse("".join(lines)).body
    except SyntaxError:
        return None
    node = None
    for part in qualname.split("."):
        node = next((n for n in reversed(body) if isinstance(n, ast.ClassDef) and n.name == part), None)
        if node is None:
            return None
        body = node.body
    return node


def _qualname(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', getattr(obj, '__name__', '?'))}"


def _within_budget(pieces: list[CodePiece], notes: list[str]) -> list[CodePiece]:
    """The pieces in order until ``CODE_CHARS`` runs out: the first (the class itself) is cut at a
    line, later ones that do not fit are named in a note."""
    shown: list[CodePiece] = []
    left = CODE_CHARS
    for piece in pieces:
        if len(piece.text) <= left:
            shown.append(piece)
            left -= len(piece.text)
        elif not shown:
            head = piece.text[: left - len(CUT)].rpartition("\n")[0]
            shown.append(CodePiece(piece.where, f"{head}\n{CUT}"))
            notes.append(f"`{piece.where}` is cut to {CODE_CHARS} characters")
            left = 0
        else:
            notes.append(f"`{piece.where}` ({len(piece.text)} characters) is left out for length")
    return shown


# -- constructor and forward ------------------------------------------------------------------------

def _method_signature(cls: type, name: str) -> str:
    """``def name(...)`` as the class (or the base that defines it) writes it; a class that
    inherits nn.Module's constructor is built without arguments."""
    owner = next((k for k in cls.__mro__ if name in vars(k)), object)
    if owner is object or (name == "__init__" and owner.__module__.partition(".")[0] == "torch"):
        return f"def {name}(self)"
    func = inspect.unwrap(getattr(vars(owner)[name], "__func__", vars(owner)[name]))
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
        node = next(n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)))
        return f"def {name}({ast.unparse(node.args)})"
    except (OSError, TypeError, SyntaxError, StopIteration):  # compiled, or a lambda assigned as a method
        return f"def {name}{inspect.signature(func)}"


def _parameter_names(func: Any) -> list[str]:
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return []
    return [p.name for p in params[1:] if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def _init_call(module: types.ModuleType, cls: type, init_sig: str,
               notes: list[str]) -> tuple[str, str]:
    """get_init_inputs()'s values, as the call's arguments (``64``) and bound to the constructor's
    parameters, defaults included (``hidden=64, alpha=0.5 by default``)."""
    try:
        values = tuple(init_inputs(module))
    except Exception as exc:  # the user's get_init_inputs: report whatever it raised
        notes.append(f"get_init_inputs() raised {type(exc).__name__}: {exc}")
        return "…", ""
    arguments = ", ".join(_short_repr(v) for v in values)
    signature = inspect.signature(cls)
    try:
        bound = signature.bind(*values)
    except TypeError as exc:
        notes.append(f"get_init_inputs() returns {_short_repr(values)}, which `{init_sig}` does not accept ({exc})")
        return arguments, ""
    parts = []
    for param in signature.parameters.values():
        if param.name in bound.arguments:
            parts.append(f"{param.name}={_short_repr(bound.arguments[param.name])}")
        elif param.default is not param.empty:
            parts.append(f"{param.name}={_short_repr(param.default)} by default")
    return arguments, ", ".join(parts)


def _init_count(module: types.ModuleType) -> int | None:
    try:
        return len(init_inputs(module))
    except Exception:  # noqa: BLE001 (the user's get_init_inputs: _init_call notes what it raised)
        return None


def _short_repr(value: Any) -> str:
    import torch

    if isinstance(value, torch.Tensor):
        return f"tensor({str(value.dtype).replace('torch.', '')} {list(value.shape)})"
    text = repr(value)
    return text if len(text) <= REPR_CHARS else text[: REPR_CHARS - 1] + "…"



# -- inputs -------------------------------------------------------------------------------------------

def _input_facts(module: types.ModuleType, shapes: list[Shape], names: list[str],
                 notes: list[str]) -> tuple[str, str | None, list[InputFact]]:
    """Each input's dtype and shape for the first shape (made on the meta device: no memory nor
    time), and what its values look like under a fixed seed: from the first shape when it is
    small enough to make cheaply, else from the smallest."""
    first = shapes[0]
    small = min(shapes, key=lambda s: sum(v for v in s.params.values() if isinstance(v, int)))
    own_floats = takes_dist(module.get_inputs)
    try:
        sized = _draws(module, first, "meta", own_floats)[0]
    except Exception:  # a recipe needing real data (sorting, unique, item()) cannot run on meta
        sized = None
    valued = first if sized is not None and _elements(sized) <= VALUE_ELEMENTS else small
    try:
        draws = _value_draws(module, valued, own_floats, notes)
    except Exception as exc:  # the user's get_inputs: say what it raised
        notes.append(f"get_inputs(**{valued.params}) raised {type(exc).__name__}: {exc}")
        draws = []
    shape_name = first.name
    if sized is None:
        if not draws:
            return shape_name, None, []
        sized, shape_name = draws[0], valued.name
    facts = []
    for i, value in enumerate(sized):
        name = names[i] if i < len(names) else f"input {i}"
        values = _value_facts([d[i] for d in draws if i < len(d)], own_floats) if draws else ""
        facts.append(InputFact(name, _kind(value), values))
    return shape_name, valued.name if draws else None, facts


def _elements(inputs: list[Any]) -> int:
    import torch

    return sum(v.numel() for v in inputs if isinstance(v, torch.Tensor))


def _draws(module: types.ModuleType, shape: Shape, device: str, own_floats: bool) -> list[list[Any]]:
    """The inputs get_inputs makes for ``shape`` under seed 0 (the caller's RNG state untouched):
    one list per distribution when the problem draws its own floats, else one."""
    import torch

    made = []
    with torch.random.fork_rng(devices=[]), torch.device(device):
        for dist in DISTRIBUTIONS if own_floats else (None,):
            torch.manual_seed(0)
            made.append(list(module.get_inputs(**shape.params, **({"dist": dist} if dist else {}))))
    return made


def _value_draws(module: types.ModuleType, shape: Shape, own_floats: bool, notes: list[str]) -> list[list[Any]]:
    """Real inputs of ``shape`` when they are small enough to describe cheaply."""
    try:
        meta = _draws(module, shape, "meta", own_floats)
    except Exception:  # cannot be sized for free; it is the smallest shape, so make it for real
        meta = []
    elements = max((_elements(d) for d in meta), default=0)
    if elements > VALUE_ELEMENTS:
        notes.append(f"input values are not described: shape `{shape.name}` has {elements} input elements "
                     f"(over {VALUE_ELEMENTS})")
        return []
    return _draws(module, shape, "cpu", own_floats)


def _kind(value: Any) -> str:
    import torch

    if isinstance(value, torch.Tensor):
        return f"{str(value.dtype).replace('torch.', '')} {list(value.shape)}"
    return f"{type(value).__name__} {_short_repr(value)}"


def _value_facts(values: list[Any], own_floats: bool) -> str:
    """What holds for every draw of one input: its range and structure (sorted, probabilities…)."""
    import torch

    if not values or not all(isinstance(v, torch.Tensor) for v in values):
        return ""
    first = values[0]
    redrawn = ("; as get_inputs draws it in each shape's first trial, and redrawn by the harness in the others "
               "(normal, uniform on [-1, 1), heavy-tailed, large), same shape and dtype")
    if first.is_complex() or any(v.numel() == 0 for v in values):
        return redrawn[2:] if first.is_floating_point() and not own_floats else ""
    if first.dtype == torch.bool:
        return f"booleans, {sum(v.float().mean().item() for v in values) / len(values):.0%} True"
    low, high = min(v.min().item() for v in values), max(v.max().item() for v in values)
    facts = [f"values in [{low:.4g}, {high:.4g}]" if first.is_floating_point() else f"integers in [{low}, {high}]"]
    if first.is_floating_point() and all(torch.equal(v, v.round()) for v in values):
        facts.append("whole numbers")
    if first.dim() and first.shape[-1] >= SORTED_MIN and all(bool((v[..., 1:] >= v[..., :-1]).all()) for v in values):
        facts.append("sorted along the last dimension")
    if first.is_floating_point() and first.dim() and low >= 0 and all(
            torch.allclose(v.double().sum(-1), torch.ones(()).double(), atol=1e-3) for v in values):
        facts.append("probabilities: each row (last dimension) sums to 1")
    if own_floats and len(values) > 1:
        facts.append(f"over the distributions {', '.join(DISTRIBUTIONS)}")
    return ", ".join(facts) + (redrawn if first.is_floating_point() and not own_floats else "")
