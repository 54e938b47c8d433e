"""Step-budget claims: which controller may evaluate a run's next candidate, and which claims died.

A claim holds one step of a run's budget while its candidate is evaluated. A slot is granted only
if evaluated nodes + live claims < max_steps, decided while holding the run's write lock. A claim
also names the node its step expands, so that controllers sharing a run can avoid expanding the
same node at once, and the first nodes of a run are claimed by one controller only. Owners
are ``host:pid:uuid`` strings. A claim is dead when its owner runs on this host and that pid is
gone (or a zombie), or else when its heartbeat is older than ``stale_after_s``; dead claims are
deleted when the next slot is claimed. Hosts sharing a run through PostgreSQL compare heartbeats
against their own clocks, so their clocks must agree to well within ``stale_after_s``, and a
hostname must name one pid namespace.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .database import inserted_id, lock_run
from .errors import InvalidRecordError, ParentBusyError
from .records import as_utc
from .schema import claims, nodes

DEFAULT_STALE_AFTER_S = 600.0


def new_owner() -> str:
    """An owner string for this process: ``host:pid:uuid``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}"


def owner_is_dead(owner: str, heartbeat_at: datetime, now: datetime, stale_after_s: float) -> bool:
    host, pid = _host_and_pid(owner)
    if host == socket.gethostname() and pid is not None and not _pid_alive(pid):
        return True
    return as_utc(heartbeat_at) < now - timedelta(seconds=stale_after_s)


def claim_slot(
    conn: Connection, run_id: int, owner: str, max_steps: int, stale_after_s: float, now: datetime,
    parent_id: int | None = None, exclusive: bool = False,
) -> int | None:
    """Grant one step of the run's budget to ``owner``; None when the budget is spent.

    ``parent_id`` is recorded as the node the step expands; with ``exclusive``, a parent that a
    live claim already expands is refused with ParentBusyError, which names every busy parent.
    """
    lock_run(conn, run_id)
    live = _live_claims(conn, run_id, stale_after_s, now)
    if _evaluated(conn, run_id) + len(live) >= max_steps:
        return None
    busy = frozenset(c.parent_id for c in live if c.parent_id is not None)
    if exclusive and parent_id in busy:
        raise ParentBusyError(f"node {parent_id} is being expanded by another claim", busy)
    return _insert(conn, run_id, owner, now, parent_id)


def claim_seeding(
    conn: Connection, run_id: int, owner: str, count: int, max_steps: int, stale_after_s: float,
    now: datetime,
) -> list[int] | None:
    """Grant ``owner`` up to ``count`` steps to record the run's first nodes.

    None when the run has nodes already, or when a live claim exists (another controller is
    seeding or drafting): one run gets one set of seeds, however many controllers start at once.
    """
    lock_run(conn, run_id)
    if _live_claims(conn, run_id, stale_after_s, now) or _evaluated(conn, run_id):
        return None
    return [_insert(conn, run_id, owner, now, None) for _ in range(min(count, max_steps))]


def others_hold_claims(conn: Connection, run_id: int, owner: str, stale_after_s: float, now: datetime) -> bool:
    """Whether a live owner other than ``owner`` holds a claim on the run (under the run's lock)."""
    lock_run(conn, run_id)
    return any(c.owner != owner for c in _live_claims(conn, run_id, stale_after_s, now))


def expanding_parents(conn: Connection, run_id: int, stale_after_s: float, now: datetime) -> set[int]:
    """The nodes that live claims of the run are expanding (read only: dead claims are skipped)."""
    held = conn.execute(
        sa.select(claims.c.owner, claims.c.heartbeat_at, claims.c.parent_id).where(
            claims.c.run_id == run_id, claims.c.parent_id.is_not(None)
        )
    ).all()
    return {c.parent_id for c in held if not owner_is_dead(c.owner, c.heartbeat_at, now, stale_after_s)}


def _live_claims(conn: Connection, run_id: int, stale_after_s: float, now: datetime) -> list[sa.Row[Any]]:
    """The run's claims whose owners are alive, after deleting the others (under the run's lock)."""
    held = conn.execute(
        sa.select(claims.c.id, claims.c.owner, claims.c.heartbeat_at, claims.c.parent_id).where(
            claims.c.run_id == run_id
        )
    ).all()
    dead = [c.id for c in held if owner_is_dead(c.owner, c.heartbeat_at, now, stale_after_s)]
    if dead:
        conn.execute(sa.delete(claims).where(claims.c.id.in_(dead)))
    return [c for c in held if c.id not in dead]


def _evaluated(conn: Connection, run_id: int) -> int:
    return int(conn.execute(
        sa.select(sa.func.count()).select_from(nodes).where(nodes.c.run_id == run_id)
    ).scalar_one())


def _insert(conn: Connection, run_id: int, owner: str, now: datetime, parent_id: int | None) -> int:
    inserted = conn.execute(
        sa.insert(claims).values(run_id=run_id, owner=owner, created_at=now, heartbeat_at=now,
                                 parent_id=parent_id)
    )
    return inserted_id(inserted)


def complete_claim(conn: Connection, run_id: int, claim_id: int) -> None:
    """Remove the claim a node fulfils (the caller holds the run's lock).

    A claim that is already gone was judged dead and reclaimed; its node is still recorded,
    because an evaluation that finished is a result (the run may then end a step over budget).
    """
    found = conn.execute(sa.select(claims.c.run_id).where(claims.c.id == claim_id)).scalar()
    if found is not None and found != run_id:
        raise InvalidRecordError(f"claim {claim_id} belongs to run {found}, not run {run_id}")
    conn.execute(sa.delete(claims).where(claims.c.id == claim_id))


def release_claim(conn: Connection, claim_id: int) -> None:
    conn.execute(sa.delete(claims).where(claims.c.id == claim_id))


def heartbeat(conn: Connection, owner: str, now: datetime) -> None:
    conn.execute(sa.update(claims).where(claims.c.owner == owner).values(heartbeat_at=now))


def _host_and_pid(owner: str) -> tuple[str, int | None]:
    parts = owner.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return owner, None
    return parts[0], int(parts[1])


def _pid_alive(pid: int) -> bool:
    if os.name == "nt":
        return True  # os.kill(pid, 0) would terminate the process on Windows: trust heartbeats
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # The command name (field 2) may hold spaces and parentheses; the state follows its last ')'.
    return stat[stat.rfind(")") + 2 :].startswith("Z")
