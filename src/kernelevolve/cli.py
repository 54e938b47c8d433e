"""The ``kernelevolve`` command: parsing and display only; the work lives in the library.

Every failure ends here as one sentence on stderr and an exit code (``EXIT_CODES``); a failure
the library did not name is a bug, reported as one, its traceback kept in a file. ``--debug`` or
``KERNELEVOLVE_DEBUG=1`` prints tracebacks instead. Text that comes from users, candidates, LLMs
or the file system is escaped before rich renders it: a ``[`` in it is text, not markup.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import sys
import tempfile
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Optional

import click
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer.core import TyperGroup

from kernelevolve.config import DEBUG_ENV, debug_from_env

EXIT_FAILED = 1  # the verdict is "not correct", or a run has no correct kernel
EXIT_USAGE = 2  # the command line, a file or the store named is wrong: the message says what to do
EXIT_BUG = 70  # kernelevolve itself failed (EX_SOFTWARE): a bug to report
EXIT_INTERRUPTED = 130  # Ctrl-C
EXIT_CODES = (f"Exit codes: 0 success; {EXIT_FAILED} a candidate is not correct, or a run has no correct kernel; "
              f"{EXIT_USAGE} a usage error (bad option, file, store or run name); {EXIT_BUG} an internal error "
              f"(a bug); {EXIT_INTERRUPTED} interrupted. --debug (or {DEBUG_ENV}=1) prints the traceback of any "
              "failure.")


class _OneErrorPath(TyperGroup):
    """Runs every command; what it raises that is not already an exit becomes one. Keeps the
    arguments it was given, for the commands that record their command line (``command_line``)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        global _argv
        _argv = list(args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context):  # type: ignore[no-untyped-def]
        from kernelevolve.store import StoreError

        try:
            return super().invoke(ctx)
        except (typer.Exit, click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except StoreError as exc:  # met after opening (a file damaged past its header): still the store's word
            fail(str(exc))
        except KeyboardInterrupt:
            _print_traceback()
            err.print("interrupted")
            raise typer.Exit(EXIT_INTERRUPTED)
        except Exception:
            report_bug()


app = typer.Typer(
    cls=_OneErrorPath,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts are plain: pip extras such as [distributed] and [@weight] stay text
    help="Search for Triton kernels that are correct and faster than PyTorch.",
    epilog=EXIT_CODES,
)
err = Console(stderr=True)
out = Console()
_debug = debug_from_env()
_argv: Optional[list[str]] = None  # the arguments of the command being run (set as they are parsed)

PlatformOpt = typer.Option("auto", "--platform", help="auto, cuda, rocm or interpreter (CPU, correctness only).")
ProfileOpt = typer.Option(False, "--profile", help="Profile each correct kernel with Nsight Compute (ncu on PATH, "
                          "a CUDA GPU) at its first production shape: DRAM and compute throughput, achieved "
                          "occupancy and the top stall reasons, stored with its result and read by the diagnosis "
                          "(some seconds more per correct kernel). Without ncu or a GPU it says so and goes on.")
SandboxOpt = typer.Option("best-effort", "--sandbox", help="strict (refuse to run a candidate unconfined), "
                          "best-effort (confine with what this machine offers; results say what is missing) "
                          "or off (no OS sandbox; every result says so).")


@app.callback(epilog=EXIT_CODES)
def main(debug: bool = typer.Option(False, "--debug", help=f"Print the traceback of any failure "
                                    f"(also {DEBUG_ENV}=1).")) -> None:
    """Search for Triton kernels that are correct and faster than PyTorch."""
    global _debug
    _debug = debug or debug_from_env()


def command_line() -> str:
    """The command being run, as a shell would read it back: recorded with runs and bench results."""
    return shlex.join(["kernelevolve", *(sys.argv[1:] if _argv is None else _argv)])


def fail(message: str, hint: str = "", code: int = EXIT_USAGE) -> None:
    _print_traceback()
    # soft_wrap: the terminal wraps the sentence; paths in it stay whole for copying
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    if hint:
        err.print(f"  {escape(hint)}", soft_wrap=True)
    raise typer.Exit(code)


def report_bug() -> None:
    """An exception no part of kernelevolve named: say so, keep the traceback, and how to report it."""
    kind, exc, _ = sys.exc_info()
    if _debug:
        _print_traceback()
    else:
        with tempfile.NamedTemporaryFile("w", prefix="kernelevolve-error-", suffix=".log", delete=False) as log:
            traceback.print_exc(file=log)
        name = kind.__name__ if kind else "error"
        err.print(f"[bold red]internal error:[/] {escape(f'{name}: {exc}')}", soft_wrap=True)
        err.print(f"  this is a bug in kernelevolve: the traceback is in {escape(log.name)}; please report it "
                  "with that file to the project's issue tracker (--debug prints it here)", soft_wrap=True)
    raise typer.Exit(EXIT_BUG)


def _print_traceback() -> None:
    if _debug and sys.exc_info()[0] is not None:
        err.print(traceback.format_exc(), markup=False, highlight=False)


def source_file(path: Path, what: str) -> str:
    """The text of a file the user named (a problem, a kernel), or one sentence saying why not."""
    from kernelevolve.operators.reply import MAX_KERNEL_CHARS

    if path.is_dir():
        fail(f"the {what} {path} is a directory: name the .py file in it")
    if not path.is_file():
        fail(f"{what} not found: {path}")
    if path.stat().st_size > MAX_KERNEL_CHARS * 4:
        fail(f"the {what} {path} has {path.stat().st_size:,} bytes: kernelevolve reads kernels of up to "
             f"{MAX_KERNEL_CHARS:,} characters")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read the {what} {path}: {exc}")
    if len(text) > MAX_KERNEL_CHARS:
        fail(f"the {what} {path} has {len(text):,} characters: kernelevolve reads kernels of up to "
             f"{MAX_KERNEL_CHARS:,}")
    return text


def output_file(path: Path, flag: str = "--out") -> Path:
    """``path`` if a file can be written there, checked before any work: not a directory, and in one."""
    if path.is_dir():
        fail(f"{flag} {path} is a directory: give a file name, such as {path / 'kernel.py'}")
    if not path.parent.is_dir():
        fail(f"{flag} {path}: the directory {path.parent} does not exist; create it, or choose another path")
    return path


def write_output(path: Path, text: str) -> None:
    try:
        path.write_text(text)
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror or exc}")
    out.print(f"wrote {escape(str(path))}")


@contextlib.contextmanager
def stdout_for_json_only() -> Iterator[None]:
    """Send whatever is printed meanwhile (a problem's module printing at import, a library's
    chatter, Python or C) to stderr, so that stdout carries only the JSON object written after."""
    sys.stdout.flush()
    try:
        real_stdout = sys.stdout.fileno() == 1
    except (AttributeError, OSError, ValueError):  # a stream without a descriptor (tests, pipes in-process)
        real_stdout = False
    saved = os.dup(1) if real_stdout else None
    try:
        if saved is not None:
            os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stderr.flush()
        if saved is not None:
            os.dup2(saved, 1)
            os.close(saved)


@app.command("eval")
def eval_command(
    problem: Path = typer.Argument(..., help="Problem file (KernelBench or KernelEvolve format)."),
    kernel: Path = typer.Argument(..., help="Candidate file defining ModelNew."),
    platform: str = PlatformOpt,
    timeout: float = typer.Option(180.0, "--timeout", help="Seconds each phase may take: loading the problem and "
                                  "its references, preparing baselines, the candidate (all cases together)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on stdout."),
    sandbox: str = SandboxOpt,
    profile: bool = ProfileOpt,
) -> None:
    """Check one candidate against a problem; exit 0 iff it is correct."""
    from kernelevolve.eval.harness import Harness, HarnessError
    from kernelevolve.platform import PlatformError, detect
    from kernelevolve.problem import ProblemError, load_problem

    if problem.is_dir():
        fail(f"the problem file {problem} is a directory: name the .py file in it")
    source = source_file(kernel, "kernel file")
    doing = f"loading {problem}"
    try:
        with stdout_for_json_only() if as_json else contextlib.nullcontext():
            target = detect(platform)
            prob = load_problem(problem, timeout_s=timeout)
            with Harness(target, timeout_s=timeout, sandbox=sandbox, profile=profile) as harness:
                profile_unavailable(harness)
                if not as_json:
                    err.print(f"evaluating [bold]{escape(str(kernel))}[/] on [bold]{escape(prob.name)}[/] "
                              f"({target.name}) …")
                doing = f"evaluating {kernel} on {prob.name}"
                result = harness.evaluate(prob, source)
    except KeyboardInterrupt:
        fail(f"interrupted while {doing}; its workers were stopped", code=EXIT_INTERRUPTED)
    except (PlatformError, ProblemError, ValueError) as exc:
        fail(str(exc))
    except HarnessError as exc:
        fail(str(exc), "the problem's reference could not run; check the problem file with its own inputs")
    if not as_json and result.sandbox and any(f.startswith(("sandbox incomplete", "unconfined")) for f in result.flags):
        err.print(f"[yellow]sandbox:[/] {escape(result.sandbox)}")
    if as_json:
        payload = result.model_dump(mode="json")
        sys.stdout.write(json.dumps(payload) + "\n")
    else:
        show_result(result, target)
    raise typer.Exit(0 if result.correct else EXIT_FAILED)


def profile_unavailable(harness) -> None:
    """Say once, on stderr, that ``--profile`` cannot profile here; the work goes on without it."""
    if harness.profile_unavailable:
        err.print(f"[yellow]no NCU profiles:[/] {escape(harness.profile_unavailable)}; going on without them",
                  soft_wrap=True)


def show_ncu(result) -> None:
    """A correct kernel's Nsight Compute profile (``--profile``), or why it has none."""
    profile = result.ncu
    if profile is None:
        return
    if not profile.kernels:
        out.print(f"[yellow]no NCU profile:[/] {escape(profile.error or 'no kernel was profiled')}")
        return
    table = Table(title=escape(f"NCU profile, shape {profile.shape}"))
    for col in ("kernel", "µs", "DRAM %", "memory %", "compute %", "achieved occupancy", "top stalls"):
        table.add_column(col, justify="left" if col in ("kernel", "top stalls") else "right")
    for k in profile.kernels:
        stalls = ", ".join(f"{reason} {share:.0%}" for reason, share in k.top_stalls(3))
        table.add_row(escape(k.name), _num(k.duration_ns and k.duration_ns / 1e3, 2), _pct(k.dram_throughput),
                      _pct(k.memory_throughput), _pct(k.compute_throughput), _pct(k.achieved_occupancy),
                      escape(stalls or "-"))
    out.print(table)
    out.print(escape(profile.summary()), soft_wrap=True)


def _pct(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.0%}"


def show_result(result, platform) -> None:
    colour = "green" if result.correct else "red"
    out.print(f"[bold {colour}]{result.status.value}[/]: {escape(result.reason)}")
    if result.device:
        versions = ", ".join(f"{k} {v}" for k, v in result.versions.items())
        out.print(f"platform {result.platform} on {escape(f'{result.device} ({versions})')}")
    if result.cases:
        shapes: dict[str, list] = {}
        for case in result.cases:
            shapes.setdefault(case.shape, []).append(case)
        table = Table(title="correctness")
        for col in ("shape", "trials", "distributions", "result"):
            table.add_column(col)
        for shape, cases in shapes.items():
            ok = all(c.correct for c in cases)
            table.add_row(escape(shape), str(len(cases)), escape(", ".join(c.distribution for c in cases)),
                          "[green]correct[/]" if ok else "[red]wrong[/]")
        out.print(table)
    if result.timings:
        table = Table(title=f"timing ({result.timing_method})")
        for col in ("shape", "candidate ms", "eager ms", "compile ms", "vs compile", "vs eager", "GB/s", "TFLOP/s"):
            table.add_column(col, justify="right")
        for t in result.timings:
            table.add_row(escape(t.shape), f"{t.candidate_ms:.4f}", _num(t.eager_ms, 4), _num(t.compile_ms, 4),
                          _ratio(t.speedup), _ratio(t.speedup_eager), _num(t.gbps, 0), _num(t.tflops, 1))
        out.print(table)
        out.print(f"speedup over torch.compile (geometric mean): [bold]{_ratio(result.speedup)}[/]")
    elif result.correct and not platform.timed:
        out.print(f"no timing on the {platform.name}: it proves correctness, not speed")
    show_ncu(result)
    for note in result.notes:
        out.print(f"[yellow]{escape(note)}[/]")
    if result.skipped_shapes:
        out.print(f"[yellow]not checked on the interpreter (too large, or not countable without making them): "
                  f"{escape(', '.join(result.skipped_shapes))}[/]")
    for flag in result.flags:
        out.print(f"[yellow]{escape(flag)}[/]")
    if not result.correct and result.log_tail.strip():
        out.print("[dim]last lines the candidate printed:[/]")
        out.print(result.log_tail.strip()[-1500:], markup=False, highlight=False)


def _node_usage(usage: dict | None) -> tuple[str, str]:
    """A node's tokens and cost as ``show`` lists them; dashes for a node no LLM wrote."""
    from kernelevolve.llm.usage import format_cost

    if not usage or "input_tokens" not in usage:
        return "-", "-"
    cached = usage.get("cached_input_tokens") or 0
    tokens = f"{usage['input_tokens']:,} ({cached:,}) / {usage.get('output_tokens', 0):,}"
    cost = usage.get("cost_usd")
    return tokens, "-" if cost is None else format_cost(cost)


def _num(value: Optional[float], digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _ratio(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.2f}x"


StoreOpt = typer.Option(None, "--store", help="SQLAlchemy URL of the store (default: $KERNELEVOLVE_STORE, "
                        "else SQLite under .kernelevolve/).")
ObjectsOpt = typer.Option(None, "--objects", help="The store's object directory (default: $KERNELEVOLVE_OBJECTS, "
                          "else beside a SQLite file, or .kernelevolve/objects-<database> for a server). "
                          "Every process sharing a run must see the same one.")


@app.command()
def optimize(
    problem: Path = typer.Argument(..., help="Problem file."),
    seed: list[Path] = typer.Option([], "--seed", help="A first kernel to start from (repeatable)."),
    llm: list[str] = typer.Option([], "--llm", help="openai:MODEL or anthropic:MODEL[@weight][?option=value&...] "
                                  "(repeatable; default $KERNELEVOLVE_LLM; options such as timeout=600, effort=high, "
                                  "thinking=16000, max_tokens, temperature, stream=true: docs/llm.md). Without one, "
                                  "the mechanical tuner alone."),
    steps: int = typer.Option(20, "--steps", help="Total evaluated candidates in the run."),
    policy: str = typer.Option("greedy", "--policy", help="greedy, mcts or evolve."),
    platform: str = PlatformOpt,
    store: Optional[str] = StoreOpt,
    objects: Optional[Path] = ObjectsOpt,
    run: Optional[str] = typer.Option(None, "--run", help="Run name (default: the problem's name). "
                                      "The same name resumes the run, and shares it with every "
                                      "optimize process started on the same store."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Expansions in flight (with --executor ray: its "
                                          "actors). Default: 1 on the interpreter; on GPUs 4 per GPU (at most one "
                                          "per host core): compiling and checks overlap, timing has its GPU alone."),
    gpus: Optional[str] = typer.Option(None, "--gpus", help="The visible GPUs to evaluate on, e.g. 0,1 "
                                       "(default: all of them), workers spread evenly."),
    early_stop: float = typer.Option(1.5, "--early-stop", help="Abandon a candidate's timing after a production "
                                     "shape where it takes more than this many times the best kernel's time "
                                     "(its score is then estimated from the best's; 0: time every shape)."),
    executor: str = typer.Option("local", "--executor", help="local (this machine's worker pool) or ray "
                                 "(one actor per GPU of a Ray cluster; pip install 'kernelevolve[distributed]')."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="The Ray cluster (default: $RAY_ADDRESS, "
                                              "a Ray instance on this machine, else a new local one)."),
    warm_start: bool = typer.Option(False, "--warm-start", help="Seed with the best kernels of earlier runs "
                                    "on the same problem."),
    max_seconds: Optional[float] = typer.Option(None, "--max-seconds", help="Wall-time budget."),
    stall: Optional[int] = typer.Option(None, "--stall", help="Stop after this many steps without improvement."),
    target: Optional[float] = typer.Option(None, "--target", help="Stop once a kernel reaches this speedup."),
    search_untimed: bool = typer.Option(False, "--search-untimed", help="On a platform that does not time kernels "
                                        "(the interpreter), search on after the first correct kernel, for variants "
                                        "that `kernelevolve retime RUN --platform cuda` times on a GPU later; "
                                        "without it the run stops at the first correct kernel."),
    timeout: float = typer.Option(180.0, "--timeout", help="Seconds per candidate evaluation."),
    llm_fraction: float = typer.Option(0.7, "--llm-fraction", help="Share of expansions given to the LLM."),
    knowledge: list[Path] = typer.Option([], "--knowledge", help="Extra knowledge-base directory, or a source "
                                         "tree whose Triton kernels and docs are indexed (repeatable)."),
    sampler: str = typer.Option("tpe", "--sampler", help="The tuner's search of each kernel's configuration "
                                "space: tpe, random, grid or cmaes (Optuna's samplers; pip install "
                                "'kernelevolve[tune]'), or neighbours (one or two parameters a notch away)."),
    sandbox: str = SandboxOpt,
    profile: bool = ProfileOpt,
) -> None:
    """Search for a faster kernel; the same command resumes an interrupted run."""
    from pydantic import ValidationError

    from kernelevolve.config import OptimizeConfig
    from kernelevolve.eval.harness import Harness, HarnessError
    from kernelevolve.llm import LLMError, resolve_specs
    from kernelevolve.platform import PlatformError
    from kernelevolve.problem import ProblemError
    from kernelevolve.search.controller import SearchError
    from kernelevolve.search.optimize import execute, plan
    from kernelevolve.store import StoreError

    try:
        config = OptimizeConfig(
            problem=problem, seeds=seed, llm=resolve_specs(llm or None), steps=steps, policy=policy,
            platform=platform, store=store, objects=objects, run=run, workers=workers, gpus=gpus,
            early_stop=early_stop, executor=executor,
            ray_address=ray_address, warm_start=warm_start,
            max_seconds=max_seconds, stall_steps=stall, target_score=target, search_untimed=search_untimed,
            timeout=timeout,
            llm_fraction=llm_fraction, knowledge=knowledge, sandbox=sandbox, sampler=sampler, profile=profile,
            command=command_line(),
        )
        if config.problem.is_dir():
            fail(f"the problem file {config.problem} is a directory: name the .py file in it")
        for path in config.seeds:
            source_file(path, "seed kernel")
        prepared = plan(config)
    except ValidationError as exc:
        fail(_invalid_options(exc))
    except (SearchError, ProblemError, PlatformError, StoreError, LLMError) as exc:
        fail(str(exc))
    err.print(f"[bold]{escape(prepared.problem.name)}[/] on {prepared.platform.name} ({config.executor} executor): "
              + escape(f"{prepared.operator_note}; policy {config.policy}; store {prepared.store.display_url}, "
                       f"objects {prepared.store.objects.root}"))
    from kernelevolve.search.progress import LiveView

    if isinstance(prepared.evaluator, Harness):
        profile_unavailable(prepared.evaluator)
        try:
            # the problem's own faults (too large to shrink, random, unseeded) end here, before a run exists
            judged = prepared.evaluator.judged(prepared.problem)
            if judged.sizes_note:
                err.print(escape(judged.sizes_note))
            prepared.evaluator.reference_set(judged)  # before a candidate worker starts
            err.print(f"sandbox: {escape(prepared.evaluator.sandbox(prepared.problem))}")
        except HarnessError as exc:
            prepared.close()
            fail(str(exc), "the problem's reference could not be judged; check the problem file with its own inputs")

    try:
        with LiveView(err) as view:
            outcome = execute(prepared, on_progress=view.update)
    except KeyboardInterrupt:
        err.print("interrupted: run the same command again to resume")
        raise typer.Exit(EXIT_INTERRUPTED)
    except (SearchError, StoreError, LLMError, HarnessError) as exc:
        fail(str(exc), "fix the cause and run the same command again to resume")
    finally:
        prepared.close()
    best = outcome.best
    out.print(f"run [bold]{escape(outcome.run.name)}[/]: {outcome.nodes} nodes; "
              f"stopped on {escape(outcome.stop_reason)}")
    if best is None:
        out.print("[red]no correct kernel yet[/]")
        raise typer.Exit(EXIT_FAILED)
    score = f"n/a ({prepared.platform.name}: correctness only)" if not prepared.platform.timed else f"{best.score:.2f}x"
    out.print(f"best: node {best.id} ({escape(best.operator)}), speedup over torch.compile {score}")
    out.print(f"  {escape(str(best.kernel_path))}")
    if not prepared.platform.timed:
        out.print(escape(f"time its correct kernels on a GPU: kernelevolve retime {outcome.run.name} --platform cuda"))


@app.command()
def retime(
    run: str,
    platform: str = typer.Option("cuda", "--platform", help="Where to time the run's correct kernels: cuda or rocm "
                                 "(interpreter checks them again without timing)."),
    into: str | None = typer.Option(None, "--into", help="The run that receives the timings (default RUN.PLATFORM)."),
    store: str | None = StoreOpt,
    objects: Path | None = ObjectsOpt,
    timeout: float = typer.Option(180.0, "--timeout", help="Seconds per candidate evaluation."),
    sandbox: str = SandboxOpt,
) -> None:
    """Evaluate a run's correct kernels on another platform (kernels found on the interpreter, timed on a
    GPU); each becomes a node of the run RUN.PLATFORM, which show, best and export read."""
    from kernelevolve.eval.harness import Harness, HarnessError
    from kernelevolve.platform import PlatformError, detect
    from kernelevolve.problem import ProblemError
    from kernelevolve.search.controller import SearchError
    from kernelevolve.search.retime import retime_run
    from kernelevolve.store import ObjectMissingError

    def retimed(source_id: int, node) -> None:
        speed = "" if node.metrics.get("speedup") is None else f", {node.metrics['speedup']:.2f}x over torch.compile"
        err.print(escape(f"node {source_id} → node {node.id}: {node.status}{speed}"))

    try:
        target = detect(platform)
        with _open(store, objects) as st, \
                Harness(target, timeout_s=timeout, sandbox=sandbox, hidden=st.private_paths()) as harness:
            outcome = retime_run(st, run, harness, into=into, on_node=retimed)
            best = st.best(outcome.run.id)
    except (PlatformError, ProblemError, SearchError, HarnessError, ObjectMissingError) as exc:
        fail(str(exc))
    out.print(escape(f"run {outcome.run.name}: {len(outcome.added)} kernels of run {run} evaluated on {target.name}"
                     + (f" ({outcome.already} retimed before)" if outcome.already else "")))
    if best is None:
        out.print("[red]no kernel was correct there[/]")
        raise typer.Exit(EXIT_FAILED)
    speed = "n/a (not timed)" if not target.timed else f"{best.score:.2f}x"
    out.print(escape(f"best: node {best.id} (from node {best.tags.get('retimed_from')}), speedup over torch.compile "
                     f"{speed}; kernelevolve export {outcome.run.name} --out module.py"))


@app.command()
def runs(store: Optional[str] = StoreOpt, objects: Optional[Path] = ObjectsOpt,
         as_json: bool = typer.Option(False, "--json")) -> None:
    """List the runs in a store."""
    with _open_existing(store, objects) as st:
        summaries = st.list_runs()
    if as_json:
        sys.stdout.write(json.dumps([s.run.to_json() | {"nodes": s.node_count, "buggy": s.buggy_count,
                                                          "best_score": s.best_score} for s in summaries]) + "\n")
        return
    table = Table(title="runs")
    for col in ("run", "problem", "platform", "status", "nodes", "buggy", "best score", "updated"):
        table.add_column(col)
    for s in summaries:
        table.add_row(escape(s.run.name), escape(Path(s.run.problem_path).name), s.run.platform, s.run.status,
                      str(s.node_count),
                      str(s.buggy_count), _num(s.best_score, 3), s.run.updated_at.strftime("%Y-%m-%d %H:%M"))
    out.print(table)


@app.command()
def show(run: str, store: Optional[str] = StoreOpt, objects: Optional[Path] = ObjectsOpt,
         as_json: bool = typer.Option(False, "--json"),
         node_id: Optional[int] = typer.Option(None, "--node", help="Show one node's evaluation instead: its "
                                               "verdict, timings and NCU profile (optimize --profile).")) -> None:
    """A run's nodes, their LLM tokens and cost, its best kernel and each shape's fastest; nodes whose files
    are gone are marked. With --node, that node's evaluation."""
    from kernelevolve.llm.usage import Usage
    from kernelevolve.search.winners import run_winners

    with _open_existing(store, objects) as st:
        record = _run(st, run)
        if node_id is not None:
            show_node(st, record, node_id, as_json)
            return
        nodes = st.nodes(record.id)
        best = st.best(record.id)
        winners, _ = run_winners(st, record.id)
    missing = {n.id: [p.name for p in n.missing_files()] for n in nodes}
    usage = Usage.of_nodes(n.metrics.get("usage") for n in nodes)
    if as_json:
        payload = {"run": record.to_json(), "nodes": [n.to_json() | {"missing_files": missing[n.id]} for n in nodes],
                   "best": best.to_json() | {"missing_files": missing[best.id]} if best else None,
                   "usage": usage.as_dict(), "per_shape": [w.as_json() for w in winners]}
        sys.stdout.write(json.dumps(payload) + "\n")
        return
    table = Table(title=escape(f"run {record.name} ({record.platform}, {record.status})"))
    llm_columns = ("tokens in (cached) / out", "cost") if usage.requests else ()  # a run no LLM wrote has none
    for col in ("id", "parent", "operator", "status", "score", *llm_columns, "change"):
        table.add_column(col)
    for n in nodes:
        change = escape(str(n.tags.get("change", ""))[:60])
        if missing[n.id]:
            change = f"[red]files gone: {escape(', '.join(missing[n.id]))}[/] {change}"
        spent = _node_usage(n.metrics.get("usage")) if llm_columns else ()
        table.add_row(str(n.id), str(n.parent_id or "-"), escape(n.operator), escape(n.status), f"{n.score:.3f}",
                      *spent, change)
    out.print(table)
    if usage.requests:
        out.print(escape(usage.summary()))
    if best is None:
        out.print("no correct kernel")
        return
    out.print(f"best: node {best.id}, score {best.score:.3f}: {escape(str(best.kernel_path))}")
    show_winners(record.name, winners)
    gone = sum(1 for names in missing.values() if names)
    if gone:
        err.print(f"[yellow]warning:[/] {gone} of {len(nodes)} nodes have lost files under "
                  f"{escape(str(st.objects.root))}: is this the object directory the run wrote (--objects)?")


def show_node(st, record, node_id: int, as_json: bool) -> None:
    """One node of a run: its stored evaluation, as ``eval`` shows a result."""
    from kernelevolve.operators.context import node_result
    from kernelevolve.platform import PlatformError, named

    node = st.node(node_id)
    if node is None or node.run_id != record.id:
        fail(f"run {record.name} has no node {node_id}", f"`kernelevolve show {record.name}` lists the run's nodes")
    if node.missing_files():
        fail(f"node {node_id} has lost files: {', '.join(p.name for p in node.missing_files())}")
    view = node.to_view(with_source=False)
    if as_json:
        sys.stdout.write(json.dumps(node.to_json() | {"result": view.result}) + "\n")
        return
    out.print(escape(f"node {node.id} of run {record.name} ({node.operator}, parent {node.parent_id or '-'}): "
                     f"{node.tags.get('change', '')}"))
    if view.status == "no_candidate":
        out.print(f"[red]no_candidate[/]: {escape(str(view.result.get('reason', '')))}")
        return
    try:
        platform = named(record.platform)
    except PlatformError as exc:
        fail(f"run {record.name} names a platform this version does not know: {exc}")
    show_result(node_result(view), platform)


def show_winners(run: str, winners) -> None:
    """The fastest node of each production shape beside the run's best there."""
    if not winners:
        return
    table = Table(title="best per production shape")
    for col in ("shape", "fastest node", "its ms", "best node's ms", "best PyTorch ms", "path"):
        table.add_column(col)
    for w in winners:
        path = f"node {w.node_id} ({_ratio(w.speedup)})" if w.triton_wins else "PyTorch"
        table.add_row(escape(w.shape), str(w.node_id), _num(w.kernel_ms, 4), _num(w.best_node_ms, 4),
                      f"{_num(w.pytorch_ms, 4)} ({escape(w.pytorch)})", path)
    out.print(table)
    if len({w.node_id for w in winners if w.triton_wins}) > 1:
        out.print(f"`kernelevolve export {escape(run)} --per-shape --out FILE` dispatches each shape to its own "
                  "fastest node")


# ignore_unknown_options: a negative NODE ("-5") reaches the int check below, not "No such option".
@app.command(context_settings={"ignore_unknown_options": True})
def lineage(run: str, node: int, store: Optional[str] = StoreOpt, objects: Optional[Path] = ObjectsOpt,
            as_json: bool = typer.Option(False, "--json")) -> None:
    """The chain of kernels from the run's root to NODE."""
    if node < 1:
        fail(f"node ids are positive integers, not {node}", f"`kernelevolve show {run}` lists the run's nodes")
    with _open_existing(store, objects) as st:
        record = _run(st, run)
        chain = st.lineage(node)
    if not chain or chain[-1].run_id != record.id:
        fail(f"run {run} has no node {node}", f"`kernelevolve show {run}` lists the run's nodes")
    if as_json:
        sys.stdout.write(json.dumps([n.to_json() for n in chain]) + "\n")
        return
    for depth, n in enumerate(chain):
        out.print(f"{'  ' * depth}{n.id} " + escape(f"[{n.operator}] {n.status} score {n.score:.3f}  "
                                                  f"{n.tags.get('change', '')}"))


@app.command()
def best(run: str, out_file: Path = typer.Option(..., "--out", help="Where to write the kernel."),
         node_id: Optional[int] = typer.Option(None, "--node", help="Write this node's kernel instead of the best."),
         store: Optional[str] = StoreOpt, objects: Optional[Path] = ObjectsOpt) -> None:
    """Write the run's best kernel (or --node's) as a standalone file; list each shape's fastest node."""
    from kernelevolve.search.winners import run_winners
    from kernelevolve.store import ObjectMissingError

    output_file(out_file)
    with _open_existing(store, objects) as st:
        record = _run(st, run)
        node = st.best(record.id) if node_id is None else st.node(node_id)
        if node_id is not None and (node is None or node.run_id != record.id):
            fail(f"run {run} has no node {node_id}", f"`kernelevolve show {run}` lists the run's nodes")
        if node is None:
            fail(f"run {run} has no correct kernel yet", code=EXIT_FAILED)
        try:
            st.require_files(node)
            source = st.read_source(node)
        except ObjectMissingError as exc:
            fail(str(exc))
        winners, _ = run_winners(st, record.id)
    header = (f"# kernelevolve: {'best ' if node_id is None else ''}kernel of run {record.name!r} (node {node.id}, "
              f"{node.operator}), score {node.score:.4g} on {record.platform}; problem "
              f"{Path(record.problem_path).name} sha256 {record.problem_hash[:16]}\n")
    write_output(out_file, header + source)
    show_winners(record.name, winners)


@app.command()
def bench(
    suite: Path = typer.Argument(..., help="A directory of problem files (e.g. suites/recsys)."),
    platform: str = PlatformOpt,
    steps: int = typer.Option(0, "--steps", help="Search steps per operator from its sample (0: samples only)."),
    llm: list[str] = typer.Option([], "--llm", help="LLM for the search (default $KERNELEVOLVE_LLM; else the tuner)."),
    samples: Optional[Path] = typer.Option(None, "--samples", help="Sample kernels, one <problem>.py each "
                                           "(default: the knowledge base's samples/<suite name>/)."),
    store: Optional[str] = StoreOpt,
    objects: Optional[Path] = ObjectsOpt,
    out_dir: Path = typer.Option(Path("benchmarks/results"), "--out", help="Where results are written."),
    timeout: float = typer.Option(600.0, "--timeout", help="Seconds per candidate evaluation."),
    only: list[str] = typer.Option([], "--only", help="Benchmark only this operator (a problem file's stem); "
                                   "repeatable."),
    search_seconds: Optional[float] = typer.Option(None, "--search-seconds", min=1.0, help="Stop each operator's search "
                                                   "after this many seconds (and at most --steps steps)."),
    sandbox: str = SandboxOpt,
    policy: str = typer.Option("greedy", "--policy", help="The search's policy: greedy, mcts or evolve."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Candidates evaluated at once in each "
                                          "search (default: 4 per GPU, at most one per host core)."),
    early_stop: float = typer.Option(1.5, "--early-stop", min=0.0, help="As for optimize: abandon timing past "
                                     "this many times the best kernel's time on a shape (0: off)."),
) -> None:
    """Benchmark a suite: baselines, sample kernels and searched kernels at every production shape.

    Results are saved after each operator, so an interrupted bench keeps what it measured."""
    from pydantic import ValidationError

    from kernelevolve import bench as suite_bench
    from kernelevolve.eval.harness import HarnessError
    from kernelevolve.llm import LLMError, resolve_specs
    from kernelevolve.platform import PlatformError, detect
    from kernelevolve.problem import ProblemError
    from kernelevolve.report import ReportError
    from kernelevolve.store import StoreError

    command = command_line()
    if suite.is_dir() and not suite_bench.has_samples(suite, samples):
        _bench_drafted(suite, platform, steps, llm, store, objects, out_dir, only, command, timeout=timeout,
                       search_seconds=search_seconds, sandbox=sandbox, policy=policy, workers=workers)
        return
    try:
        target = detect(platform)
        planned = len(suite_bench.suite_problems(suite, only))
        stem = f"{suite.name}-{target.name}"

        with _open(store, objects) as st:
            def measured(rows) -> None:
                suite_bench.write_run_report(st, rows[-1], out_dir, stem)
                paths = suite_bench.save(suite_bench.report(rows, target, command, steps, planned), out_dir, stem)
                err.print(escape(f"saved {len(rows)}/{planned} operators to {paths[0]}"))

            rows = suite_bench.run_suite(suite, target, st, steps, resolve_specs(llm or None), samples,
                                         progress=lambda line: err.print(escape(line)), timeout=timeout, only=only,
                                         measured=measured, search_seconds=search_seconds, sandbox=sandbox,
                                         policy=policy, command=command, workers=workers, early_stop=early_stop)
    except ValidationError as exc:
        fail(_invalid_options(exc))
    except (suite_bench.BenchError, PlatformError, ProblemError, HarnessError, LLMError, StoreError,
            ReportError) as exc:
        fail(str(exc))
    result = suite_bench.report(rows, target, command, steps, planned)
    _show_bench(suite_bench.save(result, out_dir, stem), suite_bench.markdown(result))


def _show_bench(paths: list[Path], table: str) -> None:
    for path in paths:
        out.print(f"wrote {escape(str(path))}")
    out.print(table, markup=False, highlight=False)


def _bench_drafted(suite: Path, platform: str, steps: int, llm: list[str], store: str | None,
                   objects: Path | None, out_dir: Path, only: list[str], command: str, **search) -> None:
    """``bench`` over a directory without sample kernels (a KernelBench level): the LLM drafts each;
    ``search``: run_drafted's search settings (timeout, search_seconds, sandbox, policy, workers)."""
    from pydantic import ValidationError

    from kernelevolve import bench as suite_bench
    from kernelevolve.llm import LLMError, resolve_specs
    from kernelevolve.platform import PlatformError, detect
    from kernelevolve.problem import ProblemError
    from kernelevolve.search.controller import SearchError
    from kernelevolve.store import StoreError

    try:
        specs = resolve_specs(llm or None)
        planned = len(suite_bench.drafted_problems(suite, steps, specs, only))  # before the store or a worker
        target = detect(platform)
        stem = f"{suite.name}-{target.name}"

        def measured(rows) -> None:
            report = suite_bench.drafted_report(rows, target, command, steps, planned)
            paths = suite_bench.save_drafted(report, out_dir, stem)
            err.print(escape(f"saved {len(rows)}/{planned} problems to {paths[0]}"))

        with _open(store, objects) as st:
            rows = suite_bench.run_drafted(suite, target, st, steps, specs, progress=lambda line: err.print(escape(line)),
                                           only=only, measured=measured, command=command, **search)
    except ValidationError as exc:
        fail(_invalid_options(exc))
    except (suite_bench.BenchError, PlatformError, ProblemError, LLMError, StoreError, SearchError) as exc:
        fail(str(exc))
    result = suite_bench.drafted_report(rows, target, command, steps, planned)
    _show_bench(suite_bench.save_drafted(result, out_dir, stem), suite_bench.drafted_markdown(result))


@app.command()
def export(run: str, out_file: Path = typer.Option(..., "--out", help="The module to write."),
           per_shape: bool = typer.Option(False, "--per-shape", help="Carry each production shape's own fastest "
                                          "kernel, not only the run's best."),
           store: Optional[str] = StoreOpt, objects: Optional[Path] = ObjectsOpt) -> None:
    """Write the run's best kernel (or each shape's fastest) as a drop-in module with shape-aware dispatch."""
    from kernelevolve.export import ExportError, export_run
    from kernelevolve.problem import ProblemError
    from kernelevolve.store import StoreError

    output_file(out_file)
    with _open_existing(store, objects) as st:
        try:
            text = export_run(st, run, per_shape=per_shape)
        except (ExportError, ProblemError, StoreError) as exc:
            fail(str(exc))
    write_output(out_file, text)


@app.command()
def report(run: str, out_dir: Path = typer.Option(Path(".kernelevolve/reports"), "--out",
                                                  help="The directory to write RUN.html into (created if needed)."),
           store: Optional[str] = StoreOpt, objects: Optional[Path] = ObjectsOpt) -> None:
    """Write one self-contained HTML page about a run, finished or running: open it from disk."""
    from kernelevolve.report import ReportError, plots, write_report

    if out_dir.exists() and not out_dir.is_dir():
        fail(f"--out {out_dir} is a file: give the directory to write {run}.html into")
    with _open_existing(store, objects) as st:
        record = _run(st, run)
        try:
            path = write_report(st, record.name, out_dir)
        except ReportError as exc:
            fail(str(exc))
    out.print(f"wrote {escape(str(path))}: open {escape(path.resolve().as_uri())}", soft_wrap=True)
    if not plots.available():
        err.print("[yellow]no plots:[/] matplotlib is not installed; pip install 'kernelevolve[report]' "
                  "and run the command again")


def _open(url: Optional[str], objects: Optional[Path], read_only: bool = False):
    from kernelevolve.store import StoreError, open_store

    try:
        return open_store(url, objects=objects, read_only=read_only)
    except StoreError as exc:
        fail(str(exc))


def _invalid_options(exc) -> str:
    """A pydantic ValidationError of the configuration as the flags it names."""
    return "; ".join(f"--{'-'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())


def _open_existing(url: Optional[str], objects: Optional[Path]):
    """The store as it is, for commands that only read: never created, migrated or bound."""
    return _open(url, objects, read_only=True)


def _run(st, name: str):
    record = st.get_run(name)
    if record is None:
        names = ", ".join(s.run.name for s in st.list_runs()) or "none"
        fail(f"no run named {name!r} in {st.display_url}", f"runs there: {names}")
    return record


if __name__ == "__main__":
    app()
