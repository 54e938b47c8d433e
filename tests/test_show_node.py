"""`kernelevolve show RUN --node N`: one node's stored evaluation, its NCU profile among it; and
`--profile` as the configuration carries it to the harness."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from kernelevolve.cli import app
from kernelevolve.config import OptimizeConfig
from kernelevolve.eval.ncu import parse
from kernelevolve.eval.result import EvalResult, NcuProfile, ShapeTiming, Status
from kernelevolve.graph import NewNode
from kernelevolve.search.optimize import open_evaluator
from kernelevolve.store import open_store

REPORT = Path(__file__).resolve().parent / "eval" / "ncu" / "details.csv"


def _profiled_node(store) -> int:
    run = store.ensure_run("scale_add", "scale_add.py", "0" * 64, "cuda", {})
    result = EvalResult(status=Status.ok, correct=True, reason="correct on every case", platform="cuda", speedup=1.4,
                        timings=[ShapeTiming(shape="n16m", candidate_ms=0.031, compile_ms=0.044, speedup=1.4)],
                        ncu=NcuProfile(shape="n16m", kernels=parse(REPORT.read_text()), seconds=9.5))
    node = store.add_node(run.id, NewNode(parent_id=None, operator="seed", source="# kernel\n",
                                          result=result.model_dump(mode="json"), score=1.4, is_buggy=False,
                                          status="ok", tags={"change": "seed kernel"}))
    return node.id


def test_show_node_prints_its_ncu_profile(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KERNELEVOLVE_STORE", raising=False)
    with open_store() as store:
        node = _profiled_node(store)
    done = CliRunner().invoke(app, ["show", "scale_add", "--node", str(node)], terminal_width=200)
    assert done.exit_code == 0, done.output
    assert "NCU profile, shape n16m" in done.stdout
    assert "memory-bound: DRAM 73% of peak" in done.stdout and "long scoreboard 81%" in done.stdout
    as_json = CliRunner().invoke(app, ["show", "scale_add", "--node", str(node), "--json"])
    assert json.loads(as_json.stdout)["result"]["ncu"]["kernels"][0]["name"] == "add"
    missing = CliRunner().invoke(app, ["show", "scale_add", "--node", "99"])
    assert missing.exit_code == 2 and "has no node 99" in missing.stderr


def test_profile_config_reaches_the_harness_which_says_why_it_cannot_profile():
    harness = open_evaluator(OptimizeConfig(problem=Path("p.py"), platform="interpreter", profile=True))
    try:
        assert harness.profile is False
        assert "interpreter platform has none" in harness.profile_unavailable
    finally:
        harness.close()
