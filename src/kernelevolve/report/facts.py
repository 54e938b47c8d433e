"""What a run report shows, read from the store alone: the run, each node with its files, the best
kernel per shape, and where the numbers were measured. Nothing here is computed that the store
does not hold; what it lacks stays None, and the page says it is not recorded."""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, TypeVar

from kernelevolve.eval.result import ShapeTiming, TimingStop
from kernelevolve.llm.usage import Usage
from kernelevolve.search.retime import RETIMED_FROM
from kernelevolve.search.winners import ShapeWinner, shape_winners
from kernelevolve.store import NodeRecord, ObjectMissingError, RunRecord, Store

# The named objects an expansion may leave, in the order the node panel shows them.
OBJECT_ORDER = ("diagnosis.md", "prompt.md", "reply.md", "error.md")
T = TypeVar("T")


@dataclass
class CaseRow:
    """A shape's correctness trials: how many passed, and the first mismatch's numbers."""

    shape: str
    distributions: list[str]
    correct: int
    first_mismatch: dict[str, Any] | None


@dataclass(frozen=True)
class NodeFacts:
    id: int
    step: int  # 1-based: the order in which the run recorded its nodes
    parent_id: int | None
    operator: str  # seed, tuner, warm-start, llm
    label: str  # the operator, with the LLM's model where one answered: "llm gpt-4.1"
    status: str
    score: float
    is_buggy: bool
    change: str
    cached: bool
    created_at: datetime
    result: dict[str, Any]  # the stored EvalResult (JSON); {} when result.json is gone
    timings: list[ShapeTiming]
    usage: dict[str, Any] | None  # the LLM request's tokens, cost, model, latency; None: no LLM wrote it
    source: str | None  # None when kernel.py is gone
    diff: list[str] | None  # unified diff against the parent's kernel; None without a parent or its source
    objects: dict[str, str | None]  # prompt.md, reply.md … (None: listed but the file is gone)
    missing: list[str]  # names of the node's own files that are gone
    timing_stop: str | None  # why its timing was abandoned early (its score then is an estimate)
    duplicate_of: int | None  # the node of the run whose launches it repeats (its timings were reused)
    retimed_from: int | None  # in a run made by ``retime``: the node of the searched run it times again

    @property
    def reason(self) -> str:
        return str(self.result.get("reason") or "")

    def case_rows(self) -> list[CaseRow]:
        """The correctness cases by shape, in the order they ran."""
        rows: dict[str, CaseRow] = {}
        for case in self.result.get("cases") or []:
            row = rows.setdefault(case["shape"], CaseRow(case["shape"], [], 0, None))
            row.distributions.append(str(case.get("distribution", "")))
            row.correct += bool(case.get("correct"))
            if row.first_mismatch is None and case.get("mismatch"):
                row.first_mismatch = case["mismatch"]
        return list(rows.values())

    @property
    def elapsed_s(self) -> float | None:
        value = self.result.get("elapsed_s")
        return float(value) if isinstance(value, (int, float)) else None


@dataclass(frozen=True)
class Measured:
    """One combination of device, versions, timing method and sandbox, and how many nodes it judged."""

    device: str
    versions: str
    timing_method: str
    sandbox: str
    nodes: int


@dataclass(frozen=True)
class StatusRow:
    """One status the run's nodes ended in: how often, when, and the first such node's reason."""

    status: str
    count: int
    first_step: int
    last_step: int
    example_node: int
    example_reason: str


@dataclass
class RunFacts:
    run: RunRecord
    nodes: list[NodeFacts]
    best: NodeFacts | None
    winners: list[ShapeWinner]  # each timed shape's fastest correct node
    measured: list[Measured]
    expanding: set[int]  # nodes a live claim is expanding now (a running run)
    copy_gbps: float | None  # measured copy bandwidth, where the caller recorded one (bench)
    made_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    @property
    def command(self) -> str | None:
        return self.run.config.get("command") or None

    @property
    def steps_planned(self) -> int | None:
        steps = self.run.config.get("steps")
        return steps if isinstance(steps, int) else None

    @property
    def timed(self) -> bool:
        return any(n.timings for n in self.nodes)

    def faster_variants(self) -> dict[str, ShapeWinner]:
        """The shapes at which a correct node other than the best was the fastest, with that node."""
        if self.best is None:
            return {}
        return {w.shape: w for w in self.winners if w.node_id != self.best.id}

    def status_rows(self) -> list[StatusRow]:
        """Each status, correct first, then failures by how often they happened."""
        groups: dict[str, list[NodeFacts]] = {}
        for n in self.nodes:
            groups.setdefault(n.status, []).append(n)
        order = sorted(groups, key=lambda s: (s != "ok", -len(groups[s]), s))
        return [StatusRow(s, len(groups[s]), groups[s][0].step, groups[s][-1].step, groups[s][0].id,
                          groups[s][0].reason) for s in order]

    def usage(self) -> Usage:
        """The run's LLM requests, tokens and cost, summed over its nodes."""
        return Usage.of_nodes(n.usage for n in self.nodes)

    def unpriced_models(self) -> list[str]:
        """The models of requests whose cost is unknown (no price): the run's cost is unknown then."""
        return sorted({str(n.usage.get("model") or "unnamed") for n in self.nodes
                       if n.usage is not None and n.usage.get("cost_usd") is None})

    def status_counts(self) -> dict[str, Counter[str]]:
        """For each operator label, how many of its nodes ended in each status."""
        counts: dict[str, Counter[str]] = {}
        for n in self.nodes:
            counts.setdefault(n.label, Counter())[n.status] += 1
        return counts


def gather(store: Store, run: RunRecord, copy_gbps: float | None = None) -> RunFacts:
    records = store.nodes(run.id)
    sources = {r.id: _read(store.read_source, r) for r in records}
    first_of_hash: dict[str, int] = {}
    for r in records:
        first_of_hash.setdefault(r.source_hash, r.id)
    nodes = [_node(store, r, step, sources, first_of_hash) for step, r in enumerate(records, 1)]
    best_record = store.best(run.id)
    best = next((n for n in nodes if best_record is not None and n.id == best_record.id), None)
    winners = shape_winners({n.id: n.result for n in nodes if not n.is_buggy}, best.id if best else None)
    return RunFacts(run=run, nodes=nodes, best=best, winners=winners, measured=_measured(nodes),
                    expanding=store.expanding_parents(run.id) if run.status == "running" else set(),
                    copy_gbps=copy_gbps)


def _node(store: Store, r: NodeRecord, step: int, sources: dict[int, str | None],
          first_of_hash: dict[str, int]) -> NodeFacts:
    result = _read(store.read_result, r) or {}
    stopped = result.get("timing_stopped")
    source = sources[r.id]
    parent_source = sources.get(r.parent_id) if r.parent_id is not None else None
    diff = None
    if source is not None and parent_source is not None:
        diff = list(difflib.unified_diff(parent_source.splitlines(), source.splitlines(),
                                         f"node {r.parent_id} kernel.py", f"node {r.id} kernel.py", lineterm=""))
    usage = r.metrics.get("usage")
    usage = usage if isinstance(usage, dict) and "input_tokens" in usage else None
    names = sorted(r.objects, key=lambda name: (OBJECT_ORDER.index(name) if name in OBJECT_ORDER else len(OBJECT_ORDER),
                                                name))
    return NodeFacts(
        id=r.id, step=step, parent_id=r.parent_id, operator=r.operator,
        label=f"{r.operator} {usage['model']}" if usage and usage.get("model") else r.operator,
        status=r.status, score=r.score, is_buggy=r.is_buggy, change=str(r.tags.get("change") or ""),
        cached=bool(r.tags.get("cached")), created_at=r.created_at, result=result,
        timings=[ShapeTiming.model_validate(t) for t in result.get("timings") or []],
        usage=usage, source=source, diff=diff,
        objects={name: _read(store.read_object, r, name) for name in names},
        missing=[p.name for p in r.missing_files()],
        timing_stop=TimingStop.model_validate(stopped).sentence() if stopped else None,
        duplicate_of=first_of_hash.get(result.get("duplicate_of") or ""),
        retimed_from=r.tags.get(RETIMED_FROM),
    )


def _read(read: Callable[..., T], record: NodeRecord, *args: str) -> T | None:
    """What ``read(record, *args)`` returns, or None when the file is gone (the page marks it)."""
    try:
        return read(record, *args)
    except ObjectMissingError:
        return None


def _measured(nodes: list[NodeFacts]) -> list[Measured]:
    """The distinct places the run's results were measured (several for a run shared across hosts)."""
    seen: Counter[tuple[str, str, str, str]] = Counter()
    for n in nodes:
        r = n.result
        if not r.get("device"):
            continue
        versions = ", ".join(f"{k} {v}" for k, v in (r.get("versions") or {}).items())
        seen[(str(r["device"]), versions, str(r.get("timing_method") or ""), str(r.get("sandbox") or ""))] += 1
    return [Measured(*key, nodes=count) for key, count in seen.items()]
