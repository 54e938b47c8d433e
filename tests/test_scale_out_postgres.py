"""Several `kernelevolve optimize` processes on one PostgreSQL run, as users start them.

They cooperate on one graph: one set of seeds, no id twice, every parent present, the step budget
held; a process killed with -9 costs only its evaluations in flight.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
PROBLEM = ROOT / "tests" / "eval" / "problems" / "scale_add.py"
SEED = ROOT / "tests" / "search" / "data" / "seed_scale_add.py"

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def cli(*args):
    return [sys.executable, "-m", "kernelevolve.cli", *map(str, args)]


def start_optimize(tmp_path: Path, url: str, steps: int) -> subprocess.Popen:
    command = cli("optimize", PROBLEM, "--seed", SEED, "--steps", steps, "--platform", "interpreter",
                  "--search-untimed", "--store", url, "--objects", tmp_path / "objects", "--run", "shared")
    env = dict(os.environ)
    return subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def shown_nodes(tmp_path: Path, url: str) -> list[dict]:
    shown = subprocess.run(cli("show", "shared", "--store", url, "--objects", tmp_path / "objects", "--json"),
                           cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)["nodes"]


def assert_one_graph(nodes: list[dict]) -> None:
    ids = [n["id"] for n in nodes]
    assert len(ids) == len(set(ids))
    assert sum(n["parent_id"] is None for n in nodes) == 1
    assert all(n["parent_id"] is None or n["parent_id"] in ids for n in nodes)
    twins = Counter((n["parent_id"], n["source_hash"]) for n in nodes)
    assert max(twins.values()) == 1, "the same child was made twice from one parent"


def count_nodes(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT count(*) FROM nodes")).scalar_one()
    except sa.exc.ProgrammingError:  # the first process has not created the tables yet
        return 0
    finally:
        engine.dispose()


def test_two_processes_started_at_once_grow_one_graph_within_the_budget(tmp_path, postgres_url):
    processes = [start_optimize(tmp_path, postgres_url, 12) for _ in range(2)]
    for process in processes:
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
    nodes = shown_nodes(tmp_path, postgres_url)
    assert 12 <= len(nodes) <= 14
    assert_one_graph(nodes)


def test_a_killed_process_costs_only_its_evaluations_in_flight(tmp_path, postgres_url):
    doomed, survivor = start_optimize(tmp_path, postgres_url, 12), start_optimize(tmp_path, postgres_url, 12)
    deadline = time.monotonic() + 240
    while count_nodes(postgres_url) < 4 and doomed.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    doomed.send_signal(signal.SIGKILL)
    doomed.communicate()
    _, stderr = survivor.communicate(timeout=300)
    assert survivor.returncode == 0, stderr
    nodes = shown_nodes(tmp_path, postgres_url)
    assert 12 <= len(nodes) <= 14
    assert_one_graph(nodes)
