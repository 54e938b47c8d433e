"""Store fixtures: every test that takes ``store`` or ``store_url`` runs on each backend.

SQLite always; PostgreSQL (marked ``postgres``) through ``postgres_url`` from ``postgres.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kernelevolve.graph import NewNode
from kernelevolve.store import NodeRecord, RunRecord, Store, open_store


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db' / 'kernelevolve.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def store_root(tmp_path: Path) -> Path:
    return tmp_path / "root"


@pytest.fixture
def store(store_url: str, store_root: Path) -> Iterator[Store]:
    opened = open_store(store_url, root=store_root)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def run(store: Store) -> RunRecord:
    return store.ensure_run("softmax-1", "problems/softmax.py", "p" * 64, "interpreter", {"steps": 10})


@pytest.fixture
def make_node(store: Store) -> Callable[..., NodeRecord]:
    """``make_node(run_id, parent_id=None, score=1.0, is_buggy=False, **overrides)``."""
    counter = iter(range(1_000_000))

    def make(run_id: int, parent_id: int | None = None, score: float = 1.0,
             is_buggy: bool = False, **overrides: Any) -> NodeRecord:
        n = next(counter)
        fields: dict[str, Any] = dict(
            operator="tuner", source=f"# kernel {n}\n", result={"status": "ok", "n": n},
            score=score, is_buggy=is_buggy, status="mismatch" if is_buggy else "ok",
            metrics={"n": n}, tags={}, overview=f"node {n}",
        )
        fields.update(overrides)
        claim_id = fields.pop("claim_id", None)
        return store.add_node(run_id, NewNode(parent_id=parent_id, **fields), claim_id=claim_id)

    return make
