"""The optimize loop: select → propose → evaluate → record, with N expansions in flight.

The controller knows a Store, an Evaluator (the local Harness or a remote executor), an Operator
and a Policy, and nothing of SQL, HTTP or Ray. Every evaluated candidate becomes a node; the step
budget is claimed from the store, so a run resumed after a clean stop or a ``kill -9`` (or shared
by several processes) never evaluates more than ``--steps`` candidates and loses only what was in
flight. Each claim names the parent it expands: a parent that another expansion holds is left
alone while the policy has any other choice, and only one controller records a run's seeds.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from kernelevolve.eval.harness import HARNESS_VERSION, References
from kernelevolve.eval.result import EvalResult, Incumbent
from kernelevolve.graph import Graph, NewNode, NodeView, Pending, Status, source_hash
from kernelevolve.llm.errors import LLMRequestError
from kernelevolve.operators.base import ExpansionContext, Operator, Proposal
from kernelevolve.platform import Platform
from kernelevolve.problem import Problem
from kernelevolve.search.overview import overview_markdown
from kernelevolve.search.policies import Policy, Selection
from kernelevolve.search.policies.base import choose
from kernelevolve.search.termination import Termination
from kernelevolve.store import DuplicateChildError, NodeRecord, ParentBusyError, RunRecord, Store, new_owner

GIVE_UP_AFTER_EMPTY = 8  # consecutive expansions without a source before the run stops
CLAIM_ATTEMPTS = 4  # selections per step before a parent another expansion holds is shared
SEED_POLL_S = 0.5  # how often a controller checks whether another one has recorded the seeds


class Evaluator(Protocol):
    """What judges the candidates: the local ``Harness`` or a remote executor (``eval.ray_executor``)."""

    platform: Platform
    workers: int  # evaluations it runs at once
    profile: bool  # whether correct candidates are profiled by Nsight Compute (their results carry it)
    timeout_s: float  # seconds per candidate, unless a call gives its own

    def reference_set(self, problem: Problem) -> References: ...

    def evaluate(self, problem: Problem, source: str, incumbent: Incumbent | None = None,
                 timeout_s: float | None = None) -> EvalResult: ...

    def close(self) -> None: ...


class SearchError(Exception):
    """The run cannot start or go on; the message says why and what to do."""


@dataclass
class Progress:
    """What the live view shows; updated by the controller after every recorded node."""

    steps_done: int = 0
    steps_total: int = 0
    best_score: float | None = None
    best_node: int | None = None
    buggy: int = 0
    operator: str = ""
    started: float = field(default_factory=time.monotonic)
    last: str = ""
    timed: bool = True
    steps_at_start: int | None = None  # steps already stored when this process began

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    @property
    def eta_s(self) -> float | None:
        here = self.steps_done - (self.steps_at_start or 0)
        if here <= 0:
            return None
        return self.elapsed_s / here * max(0, self.steps_total - self.steps_done)


@dataclass
class Outcome:
    run: RunRecord
    stop_reason: str
    best: NodeRecord | None
    nodes: int


class Controller:
    def __init__(
        self,
        store: Store,
        harness: Evaluator,
        problem: Problem,
        operator: Operator,
        policy: Policy,
        termination: Termination,
        workers: int = 1,
        seed: int = 0,
        on_progress: Callable[[Progress], None] | None = None,
        early_stop: float = 0.0,
    ):
        self.store, self.harness, self.problem = store, harness, problem
        self.operator, self.policy, self.termination = operator, policy, termination
        self.workers = workers
        self.early_stop = early_stop  # abandon timing past this many times the best's time on a shape (0: off)
        self.rng = random.Random(seed)
        self.on_progress = on_progress or (lambda p: None)
        self.owner = new_owner()
        self._views: dict[int, NodeView] = {}
        self._exhausted: set[int] = set()  # parents the operator found nothing new to make from
        self._lost: set[int] = set()  # nodes whose files are gone: in the graph, never expanded
        self._in_flight: dict[int, Selection] = {}  # claim -> what it expands (the loop's thread alone)
        self._lock = threading.Lock()

    # -- the loop -----------------------------------------------------------------------------------
    def run(self, run: RunRecord, steps: int, seeds: list[tuple[str, str]]) -> Outcome:
        """Grow ``run`` to ``steps`` evaluated candidates (seeds first, if the graph is empty)."""
        progress = Progress(steps_total=steps, timed=self.harness.platform.timed)
        graph = self._graph(run, progress)
        if graph.nodes and all(i in self._lost for i in graph.nodes):
            raise SearchError(f"every node of run {run.name!r} has lost its files under {self.store.objects.root}: "
                              "point --objects at the directory the run wrote, or start a new run with --run")
        self.store.set_run_status(run.id, "running")
        if seeds and not graph.nodes:
            self._evaluate_seeds(run, steps, seeds, progress)
        stop = self._expand_until_done(run, steps, progress)
        self.store.finish_run(run.id, self.owner, "done")  # stays 'running' while others still work
        return Outcome(run, stop, self.store.best(run.id), self.store.count_nodes(run.id))

    def _expand_until_done(self, run: RunRecord, steps: int, progress: Progress) -> str:
        in_flight: dict[Future, int] = {}
        empty_in_a_row = 0
        with ThreadPoolExecutor(self.workers, thread_name_prefix="expand") as pool:
            while True:
                graph = self._graph(run, progress)
                stop = self.termination.should_stop(graph, progress.steps_done, progress.elapsed_s)
                if empty_in_a_row >= GIVE_UP_AFTER_EMPTY:
                    stop = f"no new candidate in {empty_in_a_row} expansions in a row"
                while stop is None and len(in_flight) < self.workers:
                    claimed = self._claim_expansion(run, graph, steps)
                    if claimed is None:
                        stop = f"budget: {steps} evaluated candidates"
                        break
                    claim, selection = claimed
                    self._in_flight[claim] = selection
                    in_flight[pool.submit(self._expand, run, graph, selection, claim, progress)] = claim
                if not in_flight:
                    return stop or "nothing left to expand"
                done, _ = wait(in_flight, timeout=30, return_when=FIRST_COMPLETED)
                self.store.heartbeat(self.owner)
                for future in done:
                    claim = in_flight.pop(future)
                    del self._in_flight[claim]
                    try:
                        produced = future.result()
                    except BaseException:
                        self.store.release_claim(claim)
                        for other in in_flight:
                            other.cancel()
                        raise
                    empty_in_a_row = 0 if produced else empty_in_a_row + 1
                if stop is not None and not in_flight:
                    return stop

    def _claim_expansion(self, run: RunRecord, graph: Graph, steps: int) -> tuple[int, Selection] | None:
        """A step of the budget and the parent it expands; None when the budget is spent.

        The claim on a parent is exclusive unless every choice is held by another expansion: a
        lost race (another controller claimed the parent since ``busy`` was read) selects again.
        """
        busy = self.store.expanding_parents(run.id)
        attempts = 1
        while True:
            selection = self._select(graph, busy)
            parent_id = selection.parent.id if selection.parent else None
            exclusive = parent_id is not None and parent_id not in busy and attempts < CLAIM_ATTEMPTS
            try:
                claim = self.store.claim_slot(run.id, self.owner, steps, parent_id=parent_id, exclusive=exclusive)
            except ParentBusyError as exc:
                busy, attempts = set(exc.busy), attempts + 1
                continue
            return None if claim is None else (claim, selection)

    # -- one expansion ------------------------------------------------------------------------------
    def _expand(self, run: RunRecord, graph: Graph, selection: Selection, claim: int, progress: Progress) -> bool:
        """Propose from the selected parent, evaluate, record. False if no source came out."""
        parent = selection.parent
        # Seeded by the claim too: controllers started with the same --seed must not propose alike.
        rng = random.Random(f"{self.rng.random()}:{claim}")
        ctx = ExpansionContext(self.problem, parent, graph, self.harness.platform, rng)
        try:
            proposal = self.operator.propose(ctx)
        except LLMRequestError as exc:  # the backend gave up after its retries: a failed expansion, not a failed run
            proposal = Proposal(source=None, operator="llm", reason=f"LLM request failed: {exc}",
                                objects={"error.md": f"# LLM request failed\n\n{exc}\n"})
        if proposal.source is None:
            if not proposal.objects:  # nothing to keep (a tuner with no variant left): give the step back
                self.store.release_claim(claim)
                if parent is not None:
                    with self._lock:
                        self._exhausted.add(parent.id)
                return False
            self._record(run, parent, proposal, None, selection.tags, claim, progress)
            return False
        result, cached = self._evaluate(proposal.source, self._incumbent(graph), proposal.timeout_s)
        try:
            self._record(run, parent, proposal, result, {**selection.tags, "cached": cached}, claim, progress)
        except DuplicateChildError:  # a controller sharing the run made the same child first: the step is given back
            return False
        return True

    def _incumbent(self, graph: Graph) -> Incumbent | None:
        """The best node so far with every production shape timed, for early stop; None when off."""
        if not self.early_stop:
            return None
        best = graph.best()
        if best is None or best.result.get("timing_stopped"):
            return None
        return Incumbent.of(best.id, best.score, best.result.get("timings", []), self.early_stop)

    def _evaluate(self, source: str, incumbent: Incumbent | None = None,
                  timeout_s: float | None = None) -> tuple[EvalResult, bool]:
        """Identical sources are evaluated once per problem, platform and device (and once more
        where a profile is asked for that the first result lacks); ``timeout_s`` tightens the
        harness's time limit, never loosens it."""
        refs = self.harness.reference_set(self.problem)
        key = "|".join([HARNESS_VERSION, source_hash(source), self.problem.hash, self.harness.platform.name,
                        refs.device_name, refs.versions.get("torch", ""), refs.versions.get("triton", ""),
                        *(["ncu"] if self.harness.profile else [])])
        cached = self.store.cached_result(key)
        if cached is not None:
            return EvalResult.model_validate(cached), True
        limit = min(timeout_s, self.harness.timeout_s) if timeout_s else None
        result = self.harness.evaluate(self.problem, source, incumbent=incumbent, timeout_s=limit)
        if result.status.value not in ("timeout", "crash"):  # those may pass on a quieter machine
            self.store.put_cached_result(key, result.model_dump(mode="json"))
        return result, False

    def _evaluate_seeds(self, run: RunRecord, steps: int, seeds: list[tuple[str, str]], progress: Progress) -> None:
        """Record the seeds as the run's first nodes, unless another controller does: then wait for
        its nodes (or for its claims to die, and seed in its place)."""
        while (claims := self.store.claim_seeding(run.id, self.owner, len(seeds), steps)) is None:
            if self.store.count_nodes(run.id):
                return
            progress.last = "waiting for another process to record the seeds"
            self.on_progress(progress)
            time.sleep(SEED_POLL_S)
        unrecorded = list(claims)
        try:
            for claim, (operator, source) in zip(claims, seeds):
                result, cached = self._evaluate(source)
                proposal = Proposal(source=source, operator=operator, reason=f"{operator} kernel")
                self._record(run, None, proposal, result, {"cached": cached}, claim, progress)
                unrecorded.remove(claim)
                self.store.heartbeat(self.owner)
        finally:
            for claim in unrecorded:
                self.store.release_claim(claim)

    def _record(self, run, parent: NodeView | None, proposal: Proposal, result: EvalResult | None,
                tags: dict[str, Any], claim: int, progress: Progress) -> NodeRecord:
        if result is None:
            status, score, buggy = Status.no_candidate.value, 0.0, True
            payload = {"status": status, "reason": proposal.reason}
        else:
            status, score, buggy, payload = result.status.value, result.score, result.is_buggy, result.model_dump(mode="json")
        metrics = {"speedup": payload.get("speedup"), "speedup_eager": payload.get("speedup_eager"),
                   "elapsed_s": payload.get("elapsed_s"), "usage": proposal.usage}
        node_tags = {**tags, "change": proposal.reason}
        overview = overview_markdown(run.name, parent.id if parent else None, proposal, payload, score)
        new = NewNode(parent_id=parent.id if parent else None, operator=proposal.operator,
                      source=proposal.source or "", result=payload, score=score, is_buggy=buggy, status=status,
                      metrics=metrics, tags=node_tags, overview=overview, objects=dict(proposal.objects))
        node = self.store.add_node(run.id, new, claim_id=claim)
        with self._lock:
            progress.last = f"node {node.id}: {status} ({proposal.operator})"
            progress.operator = proposal.operator
        self.on_progress(progress)
        return node

    # -- the graph as the policy sees it ---------------------------------------------------------------
    def _select(self, graph: Graph, busy: set[int]) -> Selection:
        """The policy's choice (``policies.base.choose``), told which nodes are busy or exhausted and
        which expansions of this controller are under way."""
        with self._lock:
            exhausted = set(self._exhausted)
        pending = [Pending(s.parent.id if s.parent else None, s.tags) for s in self._in_flight.values()]
        return choose(self.policy, graph, 1, self.rng, busy, exhausted, pending)[0]

    def _view(self, record: NodeRecord) -> NodeView:
        """The node as the graph holds it. One whose files are gone (an object directory lost or not
        shared) keeps its place, score and source hash, without source or result, and is never
        expanded: the run resumes from the nodes whose files remain."""
        if not record.missing_files():
            return record.to_view()
        with self._lock:
            self._lost.add(record.id)
            self._exhausted.add(record.id)
        return record.to_view(with_source=False, with_result=False)

    def _graph(self, run: RunRecord, progress: Progress) -> Graph:
        ids = self.store.node_ids(run.id)
        with self._lock:
            new = [i for i in ids if i not in self._views]
        loaded = {r.id: self._view(r) for r in self.store.nodes_by_ids(new)} if new else {}
        with self._lock:
            self._views.update(loaded)
            views = [self._views[i] for i in ids]
        graph = Graph(views)
        best = graph.best()
        progress.steps_done = len(views)
        if progress.steps_at_start is None:
            progress.steps_at_start = len(views)
        progress.buggy = sum(1 for v in views if v.is_buggy)
        progress.best_score = best.score if best else None
        progress.best_node = best.id if best else None
        self.on_progress(progress)
        return graph


def seed_sources(paths: list[Path]) -> list[tuple[str, str]]:
    return [("seed", Path(p).read_text()) for p in paths]


def warm_start_sources(store: Store, problem: Problem, exclude_run_id: int, limit: int = 3) -> list[tuple[str, str]]:
    """The best kernels earlier runs found for the same problem (matched by content hash)."""
    seen, sources = set(), []
    for record in store.best_across_runs(problem.hash, limit=limit * 4, exclude_run_id=exclude_run_id):
        if record.source_hash in seen:
            continue
        seen.add(record.source_hash)
        sources.append(("warm-start", store.read_source(record)))
        if len(sources) == limit:
            break
    return sources
