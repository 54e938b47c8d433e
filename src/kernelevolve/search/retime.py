"""Time a run's correct kernels on another platform: kernels found where nothing times them (the
interpreter) are evaluated again where something does (a GPU). Each becomes a node of a run of its
own (``RUN.cuda`` by default), tagged with the node it came from, so that ``show``, ``best`` and
``export`` read the timings as they read any run's. Running it again evaluates only the kernels not
yet retimed there."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kernelevolve.graph import NewNode
from kernelevolve.operators.base import Proposal
from kernelevolve.problem import load_problem
from kernelevolve.search.controller import Evaluator, SearchError
from kernelevolve.search.overview import overview_markdown
from kernelevolve.store import NodeRecord, RunRecord, Store

RETIMED_FROM = "retimed_from"  # node tag: the id of the node in the run that was retimed


@dataclass
class Retimed:
    """The run that holds the timings, and each node added to it beside the node it retimes."""

    run: RunRecord
    added: list[tuple[int, NodeRecord]]  # (the retimed node's id, its node in ``run``)
    already: int  # correct kernels retimed there by an earlier call


def retimed_run_name(run: str, platform: str) -> str:
    return f"{run}.{platform}"


def retime_run(store: Store, run_name: str, evaluator: Evaluator, into: str | None = None,
               on_node: Callable[[int, NodeRecord], None] | None = None) -> Retimed:
    """Evaluate every correct node of ``run_name`` (one per distinct source) with ``evaluator`` and
    record each in the run ``into`` (default ``RUN.PLATFORM``)."""
    source = store.get_run(run_name)
    if source is None:
        raise SearchError(f"no run named {run_name!r} in {store.display_url}")
    problem_path = Path(source.problem_path)
    if not problem_path.is_file():
        raise SearchError(f"run {run_name}'s problem file {problem_path} is gone: restore it to retime the run")
    problem = load_problem(problem_path)
    if problem.hash != source.problem_hash:
        raise SearchError(f"the problem file {problem_path} changed since run {run_name} searched it: "
                          "its kernels were judged against another reference")
    platform = evaluator.platform.name
    target = store.ensure_run(into or retimed_run_name(run_name, platform), str(problem.path), problem.hash,
                              platform, {"retime_of": run_name, "platform": platform})
    done = {n.tags.get(RETIMED_FROM) for n in store.nodes(target.id)}
    seen = {n.source_hash for n in store.nodes(target.id)}
    added: list[tuple[int, NodeRecord]] = []
    for node in store.nodes(source.id):
        if node.is_buggy or node.id in done or node.source_hash in seen:
            continue
        seen.add(node.source_hash)
        store.require_files(node)
        kernel = store.read_source(node)
        result = evaluator.evaluate(problem, kernel)
        payload = result.model_dump(mode="json")
        proposal = Proposal(source=kernel, operator=node.operator,
                            reason=f"node {node.id} of run {run_name}, retimed on {platform}")
        record = store.add_node(target.id, NewNode(
            parent_id=None, operator=node.operator, source=kernel, result=payload, score=result.score,
            is_buggy=result.is_buggy, status=result.status.value,
            metrics={"speedup": result.speedup, "speedup_eager": result.speedup_eager, "elapsed_s": result.elapsed_s},
            tags={RETIMED_FROM: node.id, "change": str(node.tags.get("change", ""))},
            overview=overview_markdown(target.name, None, proposal, payload, result.score),
        ))
        added.append((node.id, record))
        if on_node is not None:
            on_node(node.id, record)
    store.set_run_status(target.id, "done")
    return Retimed(target, added, len(done - {None}))
