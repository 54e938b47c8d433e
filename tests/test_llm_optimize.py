"""`optimize` driven by an LLM behind a loopback OpenAI-compatible server that misbehaves first."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.llm.fake_servers import OpenAIServer, Reply, Status

ROOT = Path(__file__).resolve().parents[1]
PROBLEM = ROOT / "tests" / "eval" / "problems" / "scale_add.py"
GOOD = (ROOT / "tests" / "search" / "data" / "seed_scale_add.py").read_text()
BROKEN = (ROOT / "tests" / "eval" / "kernels" / "compile_error.py").read_text()


def fenced(code: str) -> str:
    return f"Change: a first kernel.\n\n```python\n{code}\n```\n"


def test_llm_run_survives_rate_limits_empty_replies_and_compile_errors(tmp_path):
    script = [
        Status(429, retry_after=0),
        Reply(text="I would write a kernel, but here is only prose."),
        Reply(text=fenced(BROKEN)),
        Reply(text=fenced(GOOD)),
    ]
    variants = iter(range(1, 100))  # each later reply a new file, as a model's would be
    with OpenAIServer(script=script, respond=lambda req: Reply(text=fenced(f"{GOOD}\n# variant {next(variants)}")),
                      prefix_cache=True) as srv:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI", "ANTHROPIC", "KERNELEVOLVE_LLM"))}
        env.update(OPENAI_BASE_URL=srv.base_url, OPENAI_API_KEY="sk-loopback")
        proc = subprocess.run(
            [sys.executable, "-m", "kernelevolve.cli", "optimize", str(PROBLEM), "--llm", "openai:test-model",
             "--steps", "5", "--platform", "interpreter", "--workers", "1", "--search-untimed"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
        )
        bodies, shares = list(srv.bodies), list(srv.prefix_shares)
    assert proc.returncode == 0, proc.stderr
    shown = subprocess.run([sys.executable, "-m", "kernelevolve.cli", "show", "scale_add", "--json"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=120)
    payload = json.loads(shown.stdout)
    statuses = [n["status"] for n in payload["nodes"]]
    assert statuses[:3] == ["no_candidate", "compile_error", "ok"]
    assert sum(s != "no_candidate" for s in statuses) >= 3
    assert payload["best"]["status"] == "ok"
    assert Path(payload["best"]["kernel_path"]).read_text().strip() == GOOD.strip()

    def prompt(body):
        return "\n".join(m["content"] for m in body["messages"])

    first = prompt(bodies[0])
    assert "return 2 * x + y" in first  # the reference code
    assert "# Knowledge retrieved" in first and "(`guidance/" in first  # retrieved knowledge documents
    assert "hardware/cpu/triton-interpreter.md" in first  # the platform's note, in the constant part
    after_compile_error = prompt(bodies[3])
    assert "arange's arguments must be of type tl.constexpr" in after_compile_error

    # Laid out for prefix caching: every later prompt repeats the first one's constant part, and the
    # cached tokens the server reported are what the run records and shows.
    assert len(shares) == len(bodies) - 1 >= 4
    assert min(shares) >= 0.7, shares
    assert payload["usage"]["requests"] == len(bodies) - 1  # the 429 reached the server but answered nothing
    assert payload["usage"]["cached_input_tokens"] > 0.7 * payload["usage"]["input_tokens"] * (len(bodies) - 2) / (len(bodies) - 1)
    table = subprocess.run([sys.executable, "-m", "kernelevolve.cli", "show", "scale_add"], cwd=tmp_path,
                           capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"}, check=False)
    assert f"{len(bodies) - 1} LLM requests: {payload['usage']['input_tokens']:,} input tokens" in table.stdout
    assert "cost unknown" in table.stdout
