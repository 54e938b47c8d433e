"""How much of each LLM prompt a provider's prefix cache can serve (goal: at least 70%).

    python benchmarks/prompt_prefix.py [--steps N] [--only NAME ...]

Runs real optimize loops (SQLite store, interpreter harness, the universal operator for every
expansion) against a loopback OpenAI-compatible server that answers with each problem's sample
kernel, every other reply broken (so the diagnoses alternate between a syntax error and a correct
kernel), and records every prompt it receives. For each prompt after a run's first, the prefix share
is the part of it (in characters) that repeats the longest prefix of an earlier prompt of the same
run: what a prefix cache (OpenAI's, vLLM's, Anthropic's marked block) could serve instead of reading
again. Writes benchmarks/results/prompt_prefix.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform as host
import statistics
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from kernelevolve.config import OptimizeConfig
from kernelevolve.search.optimize import execute, plan
from tests.llm.fake_servers import ENV_VARS, OpenAIServer, Reply

SAMPLES = ROOT / "src" / "kernelevolve" / "knowledge" / "base" / "samples"
PROBLEMS = {  # name: (problem file, the kernel the server answers with)
    "softmax": (ROOT / "examples" / "softmax" / "problem.py", ROOT / "examples" / "softmax" / "kernel.py"),
    "rmsnorm_backward": (ROOT / "suites" / "recsys" / "rmsnorm_backward.py", SAMPLES / "recsys" / "rmsnorm_backward.py"),
    "wukong_fm": (ROOT / "suites" / "recsys" / "wukong_fm.py", SAMPLES / "recsys" / "wukong_fm.py"),
}
GOAL = 0.70


def replies(kernel: str):
    """A responder: the kernel with a new comment each time, every second reply broken."""
    count = 0

    def respond(request) -> Reply:
        nonlocal count
        count += 1
        body = f"{kernel}\n# variant {count}\n" + ("def broken(:\n" if count % 2 == 0 else "")
        return Reply(text=f"Change: variant {count}.\n\n```python\n{body}```\n")

    return respond


def measure(name: str, problem: Path, kernel: Path, steps: int, work: Path) -> dict:
    with OpenAIServer(respond=replies(kernel.read_text()), prefix_cache=True) as srv:
        os.environ["OPENAI_BASE_URL"] = srv.base_url
        config = OptimizeConfig(problem=problem, llm=["openai:bench-model"], steps=steps, platform="interpreter",
                                store=f"sqlite:///{work / name}.db", objects=work / f"{name}-objects",
                                run=name, llm_fraction=1.0, sandbox="best-effort", search_untimed=True)
        prepared = plan(config)
        try:
            outcome = execute(prepared)
        finally:
            prepared.close()
        sizes = [len(srv.prompt_text(body)) for body in srv.bodies]
        shares = list(srv.prefix_shares)
    return {
        "problem": name, "nodes": outcome.nodes, "prompts": len(sizes),
        "prompt_chars_mean": round(statistics.mean(sizes)), "prompt_chars_max": max(sizes),
        "prefix_share_mean": round(statistics.mean(shares), 3), "prefix_share_min": round(min(shares), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--only", action="append", default=[], choices=sorted(PROBLEMS))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    for name in ENV_VARS:  # only the loopback server answers
        os.environ.pop(name, None)
    work = Path(tempfile.mkdtemp(prefix="kernelevolve-prefix-"))
    rows = [measure(name, *PROBLEMS[name], args.steps, work) for name in (args.only or PROBLEMS)]
    overall = min(r["prefix_share_min"] for r in rows)
    report = {
        "what": "share of each prompt after a run's first that repeats an earlier prompt's prefix (characters)",
        "goal": GOAL, "prefix_share_min": overall,
        "prefix_share_mean": round(statistics.mean(r["prefix_share_mean"] for r in rows), 3),
        "steps": args.steps, "problems": rows, "platform": "interpreter",
        "host": {"python": host.python_version(), "machine": host.machine(), "cpus": os.cpu_count()},
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "python benchmarks/prompt_prefix.py " + " ".join(sys.argv[1:]),
    }
    print(json.dumps(report, indent=2))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "prompt_prefix.json").write_text(json.dumps(report, indent=2) + "\n")
    table = "\n".join(
        f"| {r['problem']} | {r['prompts']} | {r['prompt_chars_mean']:,} | {r['prompt_chars_max']:,} | "
        f"{r['prefix_share_mean']:.0%} | {r['prefix_share_min']:.0%} |" for r in rows
    )
    (args.out / "prompt_prefix.md").write_text(
        "# Prompt prefix shared from step to step\n\n"
        f"{report['what']}: at least **{overall:.0%}** of every prompt (goal {GOAL:.0%}), "
        f"{report['prefix_share_mean']:.0%} on average, over runs of {args.steps} steps on the interpreter.\n\n"
        "| problem | prompts | mean chars | max chars | mean prefix share | min prefix share |\n"
        "| --- | ---: | ---: | ---: | ---: | ---: |\n"
        f"{table}\n\n{host.machine()} with {os.cpu_count()} CPUs, Python {host.python_version()}; "
        f"measured {report['date']} with `{report['command']}`.\n"
    )


if __name__ == "__main__":
    main()
