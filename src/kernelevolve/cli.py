"""The ``kernelevolve`` command: parsing and display only; the work lives in the library."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Search for Triton kernels that are correct and faster than PyTorch.",
)
err = Console(stderr=True)
out = Console()

PlatformOpt = typer.Option("auto", "--platform", help="auto, cuda, rocm or interpreter (CPU, correctness only).")


@app.callback()
def main() -> None:
    """Search for Triton kernels that are correct and faster than PyTorch."""


def fail(message: str, hint: str = "") -> None:
    err.print(f"[bold red]error:[/] {message}")
    if hint:
        err.print(f"  {hint}")
    raise typer.Exit(2)


@app.command("eval")
def eval_command(
    problem: Path = typer.Argument(..., help="Problem file (KernelBench or KernelEvolve format)."),
    kernel: Path = typer.Argument(..., help="Candidate file defining ModelNew."),
    platform: str = PlatformOpt,
    timeout: float = typer.Option(180.0, "--timeout", help="Seconds the candidate may take, all cases together."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
) -> None:
    """Check one candidate against a problem; exit 0 iff it is correct."""
    from kernelevolve.eval.harness import Harness, HarnessError
    from kernelevolve.platform import PlatformError, detect
    from kernelevolve.problem import ProblemError, load_problem

    try:
        source = kernel.read_text()
    except OSError as exc:
        fail(f"cannot read the kernel file: {exc}")
    try:
        target = detect(platform)
        prob = load_problem(problem)
        with Harness(target, timeout_s=timeout) as harness:
            if not as_json:
                err.print(f"evaluating [bold]{kernel}[/] on [bold]{prob.name}[/] ({target.name}) …")
            result = harness.evaluate(prob, source)
    except (PlatformError, ProblemError) as exc:
        fail(str(exc))
    except HarnessError as exc:
        fail(str(exc), "the problem's reference could not run; check the problem file with its own inputs")
    if as_json:
        payload = result.model_dump(mode="json")
        sys.stdout.write(json.dumps(payload) + "\n")
    else:
        show_result(result)
    raise typer.Exit(0 if result.correct else 1)


def show_result(result) -> None:
    colour = "green" if result.correct else "red"
    out.print(f"[bold {colour}]{result.status.value}[/]: {result.reason}")
    if result.device:
        versions = ", ".join(f"{k} {v}" for k, v in result.versions.items())
        out.print(f"platform {result.platform} on {result.device} ({versions})")
    if result.cases:
        shapes: dict[str, list] = {}
        for case in result.cases:
            shapes.setdefault(case.shape, []).append(case)
        table = Table(title="correctness")
        for col in ("shape", "trials", "distributions", "result"):
            table.add_column(col)
        for shape, cases in shapes.items():
            ok = all(c.correct for c in cases)
            table.add_row(shape, str(len(cases)), ", ".join(c.distribution for c in cases),
                          "[green]correct[/]" if ok else "[red]wrong[/]")
        out.print(table)
    if result.timings:
        table = Table(title=f"timing ({result.timing_method})")
        for col in ("shape", "candidate ms", "eager ms", "compile ms", "vs compile", "vs eager", "GB/s", "TFLOP/s"):
            table.add_column(col, justify="right")
        for t in result.timings:
            table.add_row(t.shape, f"{t.candidate_ms:.4f}", _num(t.eager_ms, 4), _num(t.compile_ms, 4),
                          _ratio(t.speedup), _ratio(t.speedup_eager), _num(t.gbps, 0), _num(t.tflops, 1))
        out.print(table)
        out.print(f"speedup over torch.compile (geometric mean): [bold]{_ratio(result.speedup)}[/]")
    elif result.correct and result.platform == "interpreter":
        out.print("no timing on the interpreter: it proves correctness, not speed")
    for flag in result.flags:
        out.print(f"[yellow]{flag}[/]")
    if not result.correct and result.log_tail.strip():
        out.print("[dim]last lines the candidate printed:[/]")
        out.print(result.log_tail.strip()[-1500:], markup=False, highlight=False)


def _num(value: Optional[float], digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _ratio(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.2f}x"


if __name__ == "__main__":
    app()
