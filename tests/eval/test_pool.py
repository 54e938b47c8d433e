"""Worker processes share the machine's cores when several run at once."""

from __future__ import annotations

import os

from kernelevolve.eval.pool import WorkerPool
from kernelevolve.platform import InterpreterPlatform


def test_several_workers_split_the_cores(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    pool = WorkerPool("reference", InterpreterPlatform(), size=2)
    try:
        pids = pool.run(lambda worker: worker.proc.pid)
        assert pids
        worker = pool._idle[0]
        with open(f"/proc/{worker.proc.pid}/environ", "rb") as f:
            env = dict(item.split(b"=", 1) for item in f.read().split(b"\0") if b"=" in item)
        assert env[b"OMP_NUM_THREADS"] == str(max(1, (os.cpu_count() or 1) // 2)).encode()
    finally:
        pool.close()
