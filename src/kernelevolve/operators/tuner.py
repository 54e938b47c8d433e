"""The mechanical tuner: a new kernel variant that differs from its parent only in launch and
compile-time integers (block sizes, num_warps, num_stages, maxnreg, GROUP_SIZE_M, triton.Config
values).

Literals are found with ``ast`` and rewritten in place, so formatting and comments survive.
With a joint search (``operators/config_search.py``, Optuna) the sampler picks the next point of
the whole configuration space; without one, or when it has nothing left, a parameter moves to a
neighbouring value (×2 / ÷2 for powers of two, ±step otherwise), one or two at a time, and moves
that raised the score earlier in the same lineage are tried first.
"""

from __future__ import annotations

import ast
import random
import re
import sys
from collections import defaultdict
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import metadata
from itertools import combinations
from typing import Protocol

from kernelevolve.graph import Graph, NodeView, source_hash
from kernelevolve.operators.base import ExpansionContext, Proposal

SiteKey = tuple[str, int]  # (parameter name, its occurrence in source order)
# A variant gets a time limit of its own: a few times what its parent took to compile and check, at
# least a minute. Large tiles of an unrolled loop can take ptxas minutes to build, and such a
# configuration is no winner anyway; stopping it frees a worker, and the joint search then skips the
# configurations larger still (operators/space.py).
TUNING_LIMIT_FACTOR = 4.0
TUNING_LIMIT_MIN_S = 60.0
History = dict[tuple[SiteKey, int], float]  # (site, direction ±1) -> summed score change


@dataclass(frozen=True)
class Domain:
    """The values a kind of parameter may take: powers of two, or steps of ``step``."""

    kind: str  # block, warps, stages, group, registers
    low: int
    high: int
    powers_of_two: bool
    step: int = 1

    def contains(self, value: int) -> bool:
        in_range = self.low <= value <= self.high
        return in_range and (not self.powers_of_two or value & (value - 1) == 0)

    def neighbours(self, value: int) -> list[int]:
        steps = (value // 2, value * 2) if self.powers_of_two else (value - self.step, value + self.step)
        return [v for v in steps if v != value and self.contains(v)]

    def within(self, low: int, high: int) -> Domain:
        return replace(self, low=max(self.low, low), high=min(self.high, high))


BLOCK = Domain("block", 16, 8192, powers_of_two=True)
WARPS = Domain("warps", 1, 16, powers_of_two=True)
STAGES = Domain("stages", 1, 5, powers_of_two=False)
GROUP = Domain("group", 1, 16, powers_of_two=True)
# maxnreg: registers per thread the compiler may use (ptxas allows 24 to 255)
REGISTERS = Domain("registers", 32, 255, powers_of_two=False, step=32)

# Names that are unmistakably tile sizes: BLOCK, BLOCK_SIZE_M, XBLOCK, block_size, TILE_N ...
_BLOCK_NAME = re.compile(r"[A-Z]?BLOCK(_SIZE)?(_[A-Z0-9]+)?|block(_size)?(_[a-z])?|TILE(_SIZE)?(_[A-Z0-9]+)?")
_GROUP_NAME = re.compile(r"GROUP(_SIZE)?(_[A-Z])?")


@lru_cache(maxsize=1)
def triton_launch_options() -> frozenset[str]:
    """The launch and ``triton.Config`` options of the installed Triton that the tuner may move,
    read from its version (the harness's process never imports triton): ``maxnreg`` from 3.0."""
    try:
        major = int(metadata.version("triton").split(".")[0])
    except (metadata.PackageNotFoundError, ValueError):
        return frozenset({"num_warps", "num_stages"})
    return frozenset({"num_warps", "num_stages"} | ({"maxnreg"} if major >= 3 else set()))


def domain_of(name: str) -> Domain | None:
    """The domain of a tunable parameter name, or None when the name is not clearly a tunable."""
    if name == "num_warps":
        return WARPS
    if name == "num_stages":
        return STAGES
    if name == "maxnreg" and name in triton_launch_options():
        return REGISTERS
    if _GROUP_NAME.fullmatch(name):
        return GROUP
    if _BLOCK_NAME.fullmatch(name):
        return BLOCK
    return None


@dataclass(frozen=True)
class Site:
    """One tunable integer literal: its parameter, value and character span in the source."""

    name: str
    index: int
    value: int
    start: int
    end: int
    domain: Domain  # the name's domain, narrowed by bounds the kernel asserts

    @property
    def key(self) -> SiteKey:
        return (self.name, self.index)


@dataclass(frozen=True)
class Move:
    site: Site
    new: int

    @property
    def direction(self) -> int:
        return 1 if self.new > self.site.value else -1


# --- finding the literals -------------------------------------------------------------------------


def _is_int(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) is int


def _call_name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _named_literals(tree: ast.AST) -> list[tuple[str, ast.Constant]]:
    """(name, literal) pairs where an integer literal is bound to a parameter name."""
    found: list[tuple[str, ast.AST | None]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg:
            found.append((node.arg, node.value))
        elif isinstance(node, ast.Assign):
            found += [pair for target in node.targets for pair in _bindings(target, node.value)]
        elif isinstance(node, (ast.AnnAssign, ast.NamedExpr)):
            found += _bindings(node.target, node.value)
        elif isinstance(node, ast.Dict):
            found += _dict_items(node)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found += _defaults(node.args)
    return [(name, literal) for name, value in found for literal in _branches(value) if _is_int(literal)]


def _tunable_literals(tree: ast.AST) -> list[tuple[str, ast.Constant, Domain]]:
    """Each literal bound to a tunable name once, under the first such name (``BLOCK_M = BLOCK_N =
    64`` is one literal), with its domain narrowed by the bounds the source asserts."""
    bounds = declared_bounds(tree)
    literals: dict[int, tuple[str, ast.Constant, Domain]] = {}
    for name, lit in _named_literals(tree):
        domain = domain_of(name)
        if domain is not None and id(lit) not in literals:
            domain = domain.within(*bounds.get(name, (0, sys.maxsize)))
            if domain.contains(lit.value):
                literals[id(lit)] = (name, lit, domain)
    return sorted(literals.values(), key=lambda item: (item[1].lineno, item[1].col_offset))


def _bindings(target: ast.AST | None, value: ast.AST | None) -> list[tuple[str, ast.AST | None]]:
    """The names an assignment binds, with their values: ``BLOCK_M, BLOCK_N = 64, 64`` pairs
    element by element, ``self.BLOCK = 64`` binds the attribute's name; ``A = B = 64`` arrives
    here once per target."""
    if isinstance(target, ast.Name):
        return [(target.id, value)]
    if isinstance(target, ast.Attribute):
        return [(target.attr, value)]
    if (
        isinstance(target, (ast.Tuple, ast.List))
        and isinstance(value, (ast.Tuple, ast.List))
        and len(target.elts) == len(value.elts)
        and not any(isinstance(e, ast.Starred) for e in target.elts + value.elts)
    ):
        return [pair for t, v in zip(target.elts, value.elts) for pair in _bindings(t, v)]
    return []


def _branches(value: ast.AST | None) -> list[ast.AST | None]:
    """The values a name may be bound to: both arms of ``4 if block <= 2048 else 8``, and the
    literal caps of ``min(triton.next_power_of_2(n), 1024)`` (or floors of ``max``)."""
    if isinstance(value, ast.IfExp):
        return _branches(value.body) + _branches(value.orelse)
    if isinstance(value, ast.Call) and _call_name(value) in ("min", "max") and not value.keywords:
        return [branch for arg in value.args for branch in _branches(arg)]
    return [value]


def _dict_items(d: ast.Dict) -> list[tuple[str, ast.AST | None]]:
    """String-keyed entries of a dict literal: ``triton.Config({"BLOCK_M": 64}, ...)``, or
    ``kernel[grid](..., **{"BLOCK": 64})``."""
    return [
        (key.value, value)
        for key, value in zip(d.keys, d.values)
        if isinstance(key, ast.Constant) and isinstance(key.value, str)
    ]


def _defaults(args: ast.arguments) -> list[tuple[str, ast.AST | None]]:
    """Parameter defaults: a kernel's ``BLOCK: tl.constexpr = 64`` and a launcher's
    ``def softmax(x, BLOCK_SIZE=1024)`` alike (the name decides whether it is tunable)."""
    positional = args.posonlyargs + args.args
    pairs = list(zip(positional[len(positional) - len(args.defaults) :], args.defaults))
    pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None]
    return [(arg.arg, default) for arg, default in pairs]


# ``NAME op LITERAL`` in an assert keeps NAME within (low, high)
_BOUND_OF = {
    ast.GtE: lambda v: (v, sys.maxsize),
    ast.Gt: lambda v: (v + 1, sys.maxsize),
    ast.LtE: lambda v: (0, v),
    ast.Lt: lambda v: (0, v - 1),
}


def _asserted(tree: ast.AST) -> list[ast.AST]:
    """Conditions a kernel states about itself: ``assert c`` and ``tl.static_assert(c, ...)``,
    split at ``and``."""
    tests: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assert):
            tests.append(node.test)
        elif isinstance(node, ast.Call) and _call_name(node) == "static_assert" and node.args:
            tests.append(node.args[0])
    return [
        c
        for t in tests
        for c in (t.values if isinstance(t, ast.BoolOp) and isinstance(t.op, ast.And) else [t])
    ]


def _bound(condition: ast.AST) -> tuple[str, int, int] | None:
    """(name, low, high) from a condition such as ``BLOCK_SIZE >= 128``."""
    if not (isinstance(condition, ast.Compare) and isinstance(condition.left, ast.Name)):
        return None
    if len(condition.ops) != 1 or not _is_int(condition.comparators[0]):
        return None
    bound = _BOUND_OF.get(type(condition.ops[0]))
    return None if bound is None else (condition.left.id, *bound(condition.comparators[0].value))


def declared_bounds(tree: ast.AST) -> dict[str, tuple[int, int]]:
    """Bounds the source asserts on parameter names, e.g. ``tl.static_assert(BLOCK_SIZE >= 128)``."""
    bounds: dict[str, tuple[int, int]] = {}
    for name, low, high in filter(None, map(_bound, _asserted(tree))):
        known_low, known_high = bounds.get(name, (0, sys.maxsize))
        bounds[name] = (max(known_low, low), min(known_high, high))
    return bounds


def _char_offset(source: str, line_starts: list[int], lineno: int, col_bytes: int) -> int:
    """ast columns count UTF-8 bytes; text is rewritten by characters."""
    start = line_starts[lineno - 1]
    line = source[start : line_starts[lineno] if lineno < len(line_starts) else len(source)]
    return start + len(line.encode()[:col_bytes].decode())


def find_sites(source: str) -> list[Site]:
    """Every tunable literal of ``source`` in source order. Raises SyntaxError if it does not parse."""
    literals = _tunable_literals(ast.parse(source))
    line_starts = [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", source)]
    seen: dict[str, int] = defaultdict(int)
    sites = []
    for name, lit, domain in literals:
        start = _char_offset(source, line_starts, lit.lineno, lit.col_offset)
        end = _char_offset(source, line_starts, lit.end_lineno, lit.end_col_offset)
        sites.append(Site(name, seen[name], lit.value, start, end, domain))
        seen[name] += 1
    return sites


def tunable_parameters(source: str) -> dict[str, list[int]]:
    """Each tunable parameter name with its values, one per occurrence in source order."""
    params: dict[str, list[int]] = defaultdict(list)
    for site in find_sites(source):
        params[site.name].append(site.value)
    return dict(params)


def rewrite(source: str, moves: tuple[Move, ...]) -> str:
    """``source`` with each moved literal replaced by its new value, every other character kept."""
    for move in sorted(moves, key=lambda m: m.site.start, reverse=True):
        source = source[: move.site.start] + str(move.new) + source[move.site.end :]
    return source


# --- learning from the lineage --------------------------------------------------------------------


@lru_cache(maxsize=4096)  # a family's sources are compared again at every expansion
def sites_or_none(source: str) -> tuple[Site, ...] | None:
    try:
        return tuple(find_sites(source))
    except (SyntaxError, ValueError):  # ValueError: null bytes, on Python < 3.12
        return None


def tuning_step(parent_source: str, child_source: str) -> tuple[Move, ...] | None:
    """The moves that turn parent into child when the child differs only in tunable literals."""
    before, after = sites_or_none(parent_source), sites_or_none(child_source)
    if before is None or after is None or [s.key for s in before] != [s.key for s in after]:
        return None
    moves = tuple(Move(b, a.value) for b, a in zip(before, after) if a.value != b.value)
    if not moves or rewrite(parent_source, moves) != child_source:
        return None
    return moves


def lineage_history(graph: Graph, node: NodeView) -> History:
    """Score change credited to each (site, direction) over the pure tuning steps of the family."""
    history: History = defaultdict(float)
    for child in graph.subtree(graph.lineage(node.id)[0].id):
        parent = graph.parent(child.id)
        moves = None if parent is None else tuning_step(parent.source, child.source)
        for move in moves or ():
            history[(move.site.key, move.direction)] += child.score - parent.score
    return history


# --- choosing the variant -------------------------------------------------------------------------


def ranked_candidates(sites: list[Site], history: History, rng: random.Random) -> list[tuple[Move, ...]]:
    """Single and paired moves: those that helped before first (by gain), then untried ones
    (singles before pairs, in random order), then those that hurt."""
    moves = [Move(site, value) for site in sites for value in site.domain.neighbours(site.value)]
    candidates = [(m,) for m in moves]
    candidates += [(a, b) for a, b in combinations(moves, 2) if a.site.key != b.site.key]
    rng.shuffle(candidates)

    def rank(candidate: tuple[Move, ...]) -> tuple[int, float, int]:
        gain = candidate_gain(candidate, history)
        bucket = 0 if gain > 0 else 1 if gain == 0 else 2
        return (bucket, -gain, len(candidate))

    return sorted(candidates, key=rank)


def candidate_gain(candidate: tuple[Move, ...], history: History) -> float:
    return sum(history.get((m.site.key, m.direction), 0.0) for m in candidate)


def describe(candidate: tuple[Move, ...], sites: list[Site]) -> str:
    """``BLOCK_SIZE 1024->512, num_warps 4->8``; names that occur more than once get ``[index]``."""
    counts = defaultdict(int)
    for site in sites:
        counts[site.name] += 1

    def label(site: Site) -> str:
        return site.name if counts[site.name] == 1 else f"{site.name}[{site.index}]"

    return ", ".join(f"{label(m.site)} {m.site.value}->{m.new}" for m in candidate)


class JointSearch(Protocol):
    """A search over the joint space of a parent's tunables (``operators/config_search.py``)."""

    def propose(self, ctx: ExpansionContext) -> Proposal | None: ...


class Tuner:
    """Operator that rewrites a parent kernel's tunable integers: with ``search``, into the point
    its sampler picks from the whole configuration space; without one (or when it finds none), into
    an untried neighbour one or two notches away."""

    name = "tuner"

    def __init__(self, search: JointSearch | None = None) -> None:
        self.search = search

    def propose(self, ctx: ExpansionContext) -> Proposal:
        if ctx.parent is None or not ctx.parent.source:
            return self._nothing("the tuner rewrites an existing kernel and there is no parent source")
        try:
            sites = find_sites(ctx.parent.source)
        except (SyntaxError, ValueError) as err:
            return self._nothing(f"the parent kernel does not parse: {err}")
        if not sites:
            return self._nothing(
                "no tunable parameter in the parent kernel (integer literals for block sizes, "
                "num_warps, num_stages, maxnreg, GROUP_SIZE_M or triton.Config values)"
            )
        searched = self.search.propose(ctx) if self.search is not None else None
        if searched is not None:
            return replace(searched, timeout_s=tuning_limit(ctx.parent))
        history = lineage_history(ctx.graph, ctx.parent)
        tried = ctx.graph.source_hashes()
        candidates = ranked_candidates(sites, history, ctx.rng)
        for candidate in candidates:
            source = rewrite(ctx.parent.source, candidate)
            if source_hash(source) not in tried:
                return Proposal(source, self.name, self._reason(candidate, sites, history),
                                timeout_s=tuning_limit(ctx.parent))
        names = ", ".join(sorted({s.name for s in sites}))
        return self._nothing(
            f"all {len(candidates)} variants one or two steps away in {names} were already tried"
        )

    def _nothing(self, reason: str) -> Proposal:
        return Proposal(None, self.name, reason)

    def _reason(self, candidate: tuple[Move, ...], sites: list[Site], history: History) -> str:
        return f"{describe(candidate, sites)} ({_motive(candidate_gain(candidate, history))})"


def tuning_limit(parent: NodeView) -> float | None:
    """The time limit of a variant of ``parent``, from the seconds the parent's compilation and
    checks took (None, the harness's own limit, where its result does not say)."""
    phases = parent.result.get("phases") or {}
    built = [phases.get(k) for k in ("compile_s", "check_s")]
    if any(v is None for v in built):
        return None
    return max(TUNING_LIMIT_MIN_S, TUNING_LIMIT_FACTOR * sum(built))


def _motive(gain: float) -> str:
    if gain > 0:
        return "continuing what raised the score in this lineage"
    if gain < 0:
        return "the untried neighbours left went against this lineage's history"
    return "an untried neighbour"
