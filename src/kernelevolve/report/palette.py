"""The colours a report gives statuses and operators, shared by its plots and its search graph."""

from __future__ import annotations

STATUS_COLOURS = {
    "ok": "#2e7d32",
    "mismatch": "#c2185b",
    "compile_error": "#ef6c00",
    "syntax_error": "#a1887f",
    "runtime_error": "#d32f2f",
    "rejected": "#7b1fa2",
    "timeout": "#3949ab",
    "crash": "#455a64",
    "no_candidate": "#9e9e9e",
}
OTHER_STATUS = "#000000"
# Tableau's ten: distinct on screen and in print, one per operator label in order of first use.
OPERATOR_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


def status_colour(status: str) -> str:
    return STATUS_COLOURS.get(status, OTHER_STATUS)


def operator_colours(labels: list[str]) -> dict[str, str]:
    """A colour per operator label, in the order given (labels repeat colours after ten)."""
    ordered = list(dict.fromkeys(labels))
    return {label: OPERATOR_COLOURS[i % len(OPERATOR_COLOURS)] for i, label in enumerate(ordered)}
