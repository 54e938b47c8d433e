"""The cgroup of one candidate worker: its process-count and memory limits, and what they stopped.

Made by the confinement launcher (which joins it before it forks the worker), read and removed by
the harness. cgroup v1 and v2 alike; under v2 only where the controllers are delegated to us.
"""

from __future__ import annotations

import os
from pathlib import Path
CGROUP_ROOT = Path("/sys/fs/cgroup")


def _own_cgroup(controller: str) -> Path | None:
    """This process's cgroup directory for ``controller`` (v1), or the unified one (v2, "")."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, names, path = line.split(":", 2)
        if (controller and controller in names.split(",")) or (not controller and names == ""):
            base = CGROUP_ROOT / controller if controller else CGROUP_ROOT
            if controller and not base.is_dir():
                base = CGROUP_ROOT / "unified"
                continue
            return base / path.lstrip("/")
    return None


def cgroup_dirs(name: str) -> dict[str, Path]:
    """Where the cgroup ``name`` lives for the pids and memory controllers (v1 or v2)."""
    dirs = {}
    for controller in ("pids", "memory"):
        base = _own_cgroup(controller)
        if base is not None and (base / "cgroup.procs").exists():
            dirs[controller] = base / name
    if not dirs:
        base = _own_cgroup("")
        if base is not None and (base / "cgroup.controllers").exists():
            dirs = {"pids": base / name, "memory": base / name}
    return dirs


def join_cgroup(name: str, processes: int, memory_bytes: int) -> tuple[list[str], list[str]]:
    """Join a fresh cgroup per controller with the limits set; (applied, controllers not available)."""
    applied, missing = [], []
    dirs = cgroup_dirs(name) if name else {}
    settings = {"pids": [("pids.max", str(processes))],
                "memory": [("memory.max", str(memory_bytes)), ("memory.limit_in_bytes", str(memory_bytes))]}
    for controller in ("pids", "memory"):
        directory = dirs.get(controller)
        if directory is None:
            missing.append(controller)
            continue
        try:
            directory.mkdir(exist_ok=True)
            knobs = [(knob, value) for knob, value in settings[controller] if (directory / knob).exists()]
            if not knobs:  # cgroup v2 whose parent does not delegate this controller
                directory.rmdir()
                missing.append(controller)
                continue
            for knob, value in knobs:
                (directory / knob).write_text(value)
            (directory / "cgroup.procs").write_text(str(os.getpid()))
            applied.append(f"{controller} cgroup")
        except OSError:
            missing.append(controller)
    return applied, missing


def limit_hits(name: str) -> list[str]:
    """Limits of cgroup ``name`` that stopped something (read by the harness after a failure)."""
    hits = []
    dirs = cgroup_dirs(name)
    events = {"pids": ("pids.events", "max", "the process-count limit"),
              "memory": ("memory.events", "oom_kill", "the memory limit")}
    for controller, (file, key, what) in events.items():
        directory = dirs.get(controller)
        for candidate in (directory / file, directory / "memory.oom_control") if directory else ():
            try:
                for line in candidate.read_text().splitlines():
                    word, _, count = line.partition(" ")
                    if word == key and count.strip() not in ("", "0"):
                        hits.append(what)
            except OSError:
                continue
    return sorted(set(hits))


def remove_cgroup(name: str) -> None:
    for directory in set(cgroup_dirs(name).values()):
        try:
            directory.rmdir()
        except OSError:
            pass
