"""The live view of a running search: steps, best speedup, buggy rate, operator, elapsed and ETA."""

from __future__ import annotations

import threading

from rich.console import Console
from rich.live import Live
from rich.table import Table

from kernelevolve.search.controller import Progress


class LiveView:
    def __init__(self, console: Console):
        self.console = console
        self._live = Live(console=console, refresh_per_second=4, transient=False)
        self._lock = threading.Lock()

    def __enter__(self) -> LiveView:
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.__exit__(*exc)
        self.console.line()  # what is printed next starts on a line of its own

    def update(self, p: Progress) -> None:
        with self._lock:
            self._live.update(render(p))


def render(p: Progress) -> Table:
    table = Table.grid(padding=(0, 2))
    if p.best_score is None:
        best = "none correct yet"
    elif not p.timed:
        best = f"node {p.best_node} correct (no speedup on the interpreter)"
    else:
        best = f"{p.best_score:.2f}x over torch.compile (node {p.best_node})"
    rate = f"{p.buggy / p.steps_done:.0%}" if p.steps_done else "-"
    eta = p.eta_s
    table.add_row("steps", f"{p.steps_done}/{p.steps_total}", "best", best)
    table.add_row("buggy", rate, "operator", p.operator or "-")
    table.add_row("elapsed", f"{p.elapsed_s:.0f}s", "eta", "-" if eta is None else f"{eta:.0f}s")
    table.add_row("last", p.last or "-", "", "")
    return table
