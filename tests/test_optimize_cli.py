"""`kernelevolve optimize` as a user runs it, including a kill -9 and a resume."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from kernelevolve.cli import app
from kernelevolve.store import open_store

ROOT = Path(__file__).resolve().parents[1]
PROBLEM = ROOT / "tests" / "eval" / "problems" / "scale_add.py"
SEED = ROOT / "tests" / "search" / "data" / "seed_scale_add.py"


def cli(*args):
    return [sys.executable, "-m", "kernelevolve.cli", *map(str, args)]


def env_for(tmp_path):
    # PYTHONPATH: the command must run this checkout's code, not whichever copy is installed
    return dict(os.environ, PYTHONPATH=str(ROOT / "src"))


def count_nodes(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return conn.execute("select count(*) from nodes").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_kill_9_then_the_same_command_finishes_the_run(tmp_path):
    command = cli("optimize", PROBLEM, "--seed", SEED, "--steps", 10, "--platform", "interpreter", "--workers", 1,
                  "--search-untimed")
    first = subprocess.Popen(command, cwd=tmp_path, env=env_for(tmp_path),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = tmp_path / ".kernelevolve" / "kernelevolve.db"
    deadline = time.monotonic() + 240
    while count_nodes(db) < 4 and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert 4 <= count_nodes(db) < 10
    second = subprocess.run(command, cwd=tmp_path, env=env_for(tmp_path), capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr
    shown = subprocess.run(cli("show", "scale_add", "--json"), cwd=tmp_path, capture_output=True, text=True, timeout=120)
    payload = json.loads(shown.stdout)
    assert payload["run"]["config"]["command"] == "kernelevolve " + " ".join(map(str, command[3:]))
    nodes = payload["nodes"]
    ids = [n["id"] for n in nodes]
    assert 10 <= len(nodes) <= 12
    assert len(ids) == len(set(ids))
    assert sum(n["parent_id"] is None for n in nodes) == 1
    assert all(n["parent_id"] is None or n["parent_id"] in ids for n in nodes)
    assert len({n["source_hash"] for n in nodes}) >= 3
    best = tmp_path / "best.py"
    subprocess.run(cli("best", "scale_add", "--out", best), cwd=tmp_path, check=True, timeout=120)
    check = subprocess.run(cli("eval", PROBLEM, best, "--platform", "interpreter", "--json"), cwd=tmp_path,
                           env=env_for(tmp_path), capture_output=True, text=True, timeout=300)
    assert check.returncode == 0 and json.loads(check.stdout)["correct"] is True


def test_without_seed_or_llm_it_says_what_it_needs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KERNELEVOLVE_LLM", raising=False)
    done = CliRunner().invoke(app, ["optimize", str(PROBLEM), "--platform", "interpreter"])
    assert done.exit_code == 2
    assert "--seed" in done.stderr and "--llm" in done.stderr


def test_unknown_run_lists_the_runs_there(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KERNELEVOLVE_STORE", raising=False)
    with open_store() as store:
        store.ensure_run("softmax", "softmax.py", "0" * 64, "interpreter", {})
    done = CliRunner().invoke(app, ["show", "nope"])
    assert done.exit_code == 2 and "no run named 'nope'" in done.stderr and "runs there: softmax" in done.stderr


def test_a_seed_leaving_outputs_unwritten_is_recorded_and_the_run_goes_on(tmp_path):
    seed = ROOT / "tests" / "eval" / "kernels" / "unwritten_tail.py"
    for steps in (2, 3):  # the second command resumes the run past the NaN-carrying node
        command = cli("optimize", PROBLEM, "--seed", seed, "--steps", steps, "--platform", "interpreter", "--workers", 1)
        done = subprocess.run(command, cwd=tmp_path, env=env_for(tmp_path), capture_output=True, text=True, timeout=600)
        assert done.returncode in (0, 1), done.stderr  # 1: no correct kernel yet; 2 would be an error
        assert "stopped on" in done.stdout
    shown = subprocess.run(cli("show", "scale_add", "--json"), cwd=tmp_path, capture_output=True, text=True, timeout=120)
    nodes = json.loads(shown.stdout)["nodes"]
    assert len(nodes) == 3 and nodes[0]["status"] == "mismatch"
