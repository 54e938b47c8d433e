"""``kernelevolve report RUN``: one self-contained HTML page about a run, finished or running — the
score over steps, the search graph with every node's kernel, diff, diagnosis, prompt and reply,
the best kernel per shape against the baselines, failures, tokens and cost, and where and how it
was measured. It fetches nothing: plots are inline SVG, the script and styles are in the page,
and its Content-Security-Policy forbids loading anything else."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import jinja2
from markupsafe import Markup

import kernelevolve
from kernelevolve.llm.usage import format_cost
from kernelevolve.store import Store

from . import plots
from .facts import RunFacts, gather
from .layout import tree_layout
from .palette import status_colour

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


class ReportError(Exception):
    """The report cannot be made as asked; the message says why."""


def report_path(out_dir: Path, run_name: str) -> Path:
    """Where ``write_report`` puts a run's page in ``out_dir`` (run names are safe file names)."""
    return out_dir / f"{run_name}.html"


def write_report(store: Store, run_name: str, out_dir: Path, copy_gbps: float | None = None) -> Path:
    """Write the page of run ``run_name`` into ``out_dir`` (created if needed); its path.

    ``copy_gbps``: the device's measured copy bandwidth, where the caller measured it (``bench``):
    runs do not record it, and without it the page leaves the fraction of the copy ceiling out."""
    run = store.get_run(run_name)
    if run is None:
        names = ", ".join(s.run.name for s in store.list_runs()) or "none"
        raise ReportError(f"no run named {run_name!r} in {store.display_url} (runs there: {names})")
    page = render(gather(store, run, copy_gbps))
    path = report_path(out_dir, run.name)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"cannot write the report to {path}: {exc.strerror or exc}") from exc
    return path


def render(facts: RunFacts) -> str:
    """The page's HTML. Every text from the store goes through the template's autoescaping: kernels,
    replies and diagnoses are untrusted, and a ``</script>`` in one stays text."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
                             autoescape=True, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(csp_hash=_csp_hash, status_colour=status_colour, num=_num, ratio=_ratio, pct=_pct,
                       cost=format_cost, json_text=lambda value: json.dumps(value, ensure_ascii=False))
    svgs = plots.draw(facts)
    return env.get_template("report.html.j2").render(
        facts=facts, run=facts.run, layout=tree_layout(facts.nodes),
        plots={name: Markup(svg) if svg else None for name, svg in svgs.items()},  # matplotlib escapes its text
        matplotlib=plots.available(), version=kernelevolve.__version__,
    )


def _csp_hash(script: str) -> str:
    """The Content-Security-Policy source that lets exactly this inline script run."""
    digest = hashlib.sha256(str(script).encode("utf-8")).digest()
    return Markup(f"'sha256-{base64.b64encode(digest).decode()}'")  # base64 and quotes: nothing to escape


NOT_RECORDED = "\u2013"  # an en dash: the store holds no value here


def _num(value: float | None, digits: int) -> str:
    return NOT_RECORDED if value is None else f"{value:.{digits}f}"


def _ratio(value: float | None) -> str:
    return NOT_RECORDED if value is None else f"{value:.2f}x"


def _pct(value: float | None) -> str:
    return NOT_RECORDED if value is None else f"{value:.0%}"
