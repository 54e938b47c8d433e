"""The short ``overview.md`` stored with every node: what a person reads first about it.

Text that comes from an LLM, a candidate or the harness's account of one (the change, the reason,
flags, model and device names) is untrusted: each is shown on one line with HTML escaped, so that a
markdown viewer renders it as the text it is, never as markup or a new heading."""

from __future__ import annotations

import html
from typing import Any

from kernelevolve.llm.usage import format_cost
from kernelevolve.operators.base import Proposal


def overview_markdown(run: str, parent_id: int | None, proposal: Proposal, result: dict[str, Any], score: float) -> str:
    lines = [
        f"# {_text(result.get('status', '?'))}: {_text(proposal.operator)} candidate in run {run}",
        "",
        f"- parent: {parent_id if parent_id is not None else 'none (root)'}",
        f"- change: {_text(proposal.reason) or '-'}",
        f"- score (speedup over torch.compile; 0 if incorrect): {score:.4g}",
        f"- reason: {_text(result.get('reason', ''))}",
    ]
    if result.get("device"):
        lines.append(f"- platform: {_text(result.get('platform'))} on {_text(result.get('device'))}")
    usage = proposal.usage or {}
    if usage:
        cached = usage.get("cached_input_tokens") or 0
        lines.append(f"- LLM: {_text(usage.get('model', '?'))}, {usage.get('input_tokens', 0):,} input tokens"
                     f"{f' ({cached:,} cached)' if cached else ''} / {usage.get('output_tokens', 0):,} output, "
                     f"{format_cost(usage.get('cost_usd'))}")
    timings = result.get("timings") or []
    if timings:
        lines += ["", "| shape | candidate ms | compile ms | eager ms | vs compile | GB/s |",
                  "| --- | ---: | ---: | ---: | ---: | ---: |"]
        for t in timings:
            lines.append(
                f"| {_text(t['shape'])} | {t['candidate_ms']:.4f} | {_f(t.get('compile_ms'))} | {_f(t.get('eager_ms'))} "
                f"| {_f(t.get('speedup'), 2)}x | {_f(t.get('gbps'), 0)} |"
            )
    for flag in result.get("flags") or []:
        lines.append(f"- flag: {_text(flag)}")
    return "\n".join(lines) + "\n"


def _text(value: object) -> str:
    """Untrusted text as one markdown line: whitespace collapsed, HTML escaped."""
    return html.escape(" ".join(str(value).split()), quote=False)


def _f(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
