"""The report's plots: matplotlib figures written as SVG text to inline in the page. matplotlib is
an optional dependency (``pip install 'kernelevolve[report]'``) and is imported here only; without
it ``draw`` returns no plots and the page says how to get them."""

from __future__ import annotations

import importlib.util
import io
import itertools
import math
import re
from collections import Counter
from typing import TYPE_CHECKING, Any

from .facts import RunFacts
from .palette import operator_colours, status_colour

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# Text stays text (selectable, small); "$" is a dollar, not mathtext; ids are stable between runs.
RC = {"svg.fonttype": "none", "text.parse_math": False, "svg.hashsalt": "kernelevolve", "font.size": 9,
      "axes.spines.top": False, "axes.spines.right": False}
BUCKETS = 20  # most bars the failure plot draws: steps are grouped beyond that
_SVG_START = re.compile(r"^.*?(?=<svg\b)", re.DOTALL)
_ID_USE = re.compile(r'(\bid="|url\(#|href="#)')


def available() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


def draw(facts: RunFacts) -> dict[str, str | None]:
    """SVG text of each plot the run has data for (None where it has none, or without matplotlib)."""
    names = ("progress", "shapes", "failures", "usage")
    if not available() or not facts.nodes:
        return dict.fromkeys(names)
    import matplotlib

    drawers = {"progress": _progress, "shapes": _shapes, "failures": _failures, "usage": _usage}
    with matplotlib.rc_context(RC):
        return {name: _svg(fig, name) if (fig := drawers[name](facts)) is not None else None for name in names}


def _figure(width: float = 6.4, height: float = 3.4) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _svg(fig: Figure, name: str) -> str:
    """The figure as an ``<svg>`` element whose ids are prefixed with ``name``: several plots share
    one page, and matplotlib numbers its ids the same way in each."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    text = _SVG_START.sub("", buffer.getvalue(), count=1)
    return _ID_USE.sub(lambda m: f"{m.group(1)}{name}-", text)


def _progress(facts: RunFacts) -> Figure:
    """Every node's score at its step, coloured by operator, crossed when buggy; the running best."""
    fig = _figure()
    ax = fig.add_subplot()
    colours = operator_colours([n.label for n in facts.nodes])
    for label, colour in colours.items():
        mine = [n for n in facts.nodes if n.label == label]
        good = [n for n in mine if not n.is_buggy]
        bad = [n for n in mine if n.is_buggy]
        if good:
            ax.scatter([n.step for n in good], [n.score for n in good], s=28, color=colour, label=f"{label} (correct)",
                       zorder=3)
        if bad:
            ax.scatter([n.step for n in bad], [n.score for n in bad], s=28, color=colour, marker="x",
                       label=f"{label} (failed)", zorder=3)
    best, running = [], None
    for n in facts.nodes:
        if not n.is_buggy:
            running = n.score if running is None else max(running, n.score)
        best.append(running if running is not None else math.nan)
    ax.step([n.step for n in facts.nodes], best, where="post", color="black", linewidth=1.2, label="best so far")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("step (node in the order recorded)")
    ax.set_ylabel("score (speedup over torch.compile)")
    ax.set_ylim(bottom=-0.05 * max(1.0, max(n.score for n in facts.nodes)))
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def _shapes(facts: RunFacts) -> Figure | None:
    """The best kernel's speedup at each shape against every baseline measured there."""
    if facts.best is None or not facts.best.timings:
        return None
    timings = facts.best.timings
    series: dict[str, list[float | None]] = {"vs eager": [t.speedup_eager for t in timings],
                                             "vs torch.compile": [t.speedup for t in timings]}
    for name in sorted({k for t in timings for k in t.extra_baselines_ms}):
        series[f"vs {name}"] = [t.extra_baselines_ms[name] / t.candidate_ms if name in t.extra_baselines_ms
                                and t.candidate_ms else None for t in timings]
    fig = _figure(width=max(8.0, 1.2 * len(timings) + 3.5))
    ax = fig.add_subplot()
    width = 0.8 / len(series)
    for i, (label, values) in enumerate(series.items()):
        xs = [x + i * width for x, v in enumerate(values) if v]
        ax.bar(xs, [v for v in values if v], width, label=label)
    ax.axhline(1.0, color="black", linewidth=0.8)
    _speedup_axis(ax)
    ax.set_xticks([x + width * (len(series) - 1) / 2 for x in range(len(timings))], [t.shape for t in timings],
                  rotation=30, ha="right")
    ax.set_ylabel(f"speedup of node {facts.best.id} (log)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def _speedup_axis(ax: Any) -> None:
    """A log axis labelled 0.5x, 1x, 1.5x, 2x …: plain text, since mathtext (matplotlib's default for log
    ticks) is off for the page's untrusted labels."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 1.5, 2.0, 3.0, 5.0, 7.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}x"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def _failures(facts: RunFacts) -> Figure:
    """How many nodes of each status every group of steps produced (stacked; correct ones too)."""
    size = max(1, math.ceil(len(facts.nodes) / BUCKETS))
    groups = [facts.nodes[i:i + size] for i in range(0, len(facts.nodes), size)]
    statuses = list(dict.fromkeys(["ok", *sorted({n.status for n in facts.nodes} - {"ok"})]))
    counts = [Counter(n.status for n in group) for group in groups]
    fig = _figure()
    ax = fig.add_subplot()
    xs = list(range(len(groups)))
    bottom = [0] * len(groups)
    for status in statuses:
        heights = [c[status] for c in counts]
        if any(heights):
            ax.bar(xs, heights, 0.8, bottom=bottom, color=status_colour(status), label=status)
            bottom = [b + h for b, h in zip(bottom, heights)]
    ax.set_xticks(xs, [_steps_label(group) for group in groups], rotation=30 if size > 1 else 0,
                  ha="right" if size > 1 else "center")
    ax.set_xlabel("steps")
    ax.set_ylabel("nodes")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def _steps_label(group: list[Any]) -> str:
    first, last = group[0].step, group[-1].step
    return str(first) if first == last else f"{first}-{last}"


def _usage(facts: RunFacts) -> Figure | None:
    """Tokens (and dollars, where every price is known) summed over the steps, at each LLM request."""
    asked = [n for n in facts.nodes if n.usage is not None]
    if not asked:
        return None
    steps = [n.step for n in asked]
    fig = _figure(width=9.0)
    ax = fig.add_subplot()
    ax.plot(steps, list(itertools.accumulate(n.usage["input_tokens"] for n in asked)), marker="o", markersize=3,
            label="input tokens")
    ax.plot(steps, list(itertools.accumulate(n.usage.get("output_tokens") or 0 for n in asked)), marker="o", markersize=3,
            label="output tokens")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("step")
    ax.set_ylabel("tokens, summed")
    ax.set_xlim(0.5, len(facts.nodes) + 0.5)
    handles, labels = ax.get_legend_handles_labels()
    if all(n.usage.get("cost_usd") is not None for n in asked):
        dollars = ax.twinx()
        dollars.spines["right"].set_visible(True)
        dollars.plot(steps, list(itertools.accumulate(n.usage["cost_usd"] for n in asked)), color="black",
                     linestyle="--", label="cost (USD)")
        dollars.set_ylabel("USD, summed")
        more_handles, more_labels = dollars.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    ax.legend(handles, labels, fontsize=7, loc="upper left")
    return fig
