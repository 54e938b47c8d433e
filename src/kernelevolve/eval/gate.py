"""Timing on a GPU happens alone, while compilation and checks of other candidates go on.

Each GPU has a gate. Workers lent for an evaluation are *busy* on their GPU; a busy worker that
reaches its timing phase *parks* at the gate and waits for it. The gate lets one worker time at a
time, and while it does, every other busy worker on that GPU is paused (SIGSTOP to each process of
its sandbox, ``WorkerProcess.pause``) so that none of their launches share the GPU with the
timed one; they resume where they were when it is done, and the time they spent paused does not
count against their timeout. Pausing is done by the harness, from outside: a candidate cannot opt
out of it.

Baselines are timed once per shape and GPU, and every later candidate's speedup is measured
against them, so a timing phase that times baselines waits until every other busy worker on the
GPU is parked itself (its queue of launches drained, nothing of it still running on the GPU)
instead of pausing them mid-work.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol


class Pausable(Protocol):
    def pause(self) -> None: ...

    def resume(self) -> None: ...


class DeviceGate:
    """One GPU's gate; thread-safe (one harness thread per evaluation in flight)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._busy: set[Pausable] = set()
        self._parked: set[Pausable] = set()
        self._paused: set[Pausable] = set()
        self._holder: Pausable | None = None
        self.alone_s = 0.0  # time spent timing alone, for throughput breakdowns

    def enter(self, worker: Pausable) -> None:
        """``worker`` starts an evaluation on this GPU (paused at once while another one times)."""
        with self._cond:
            self._busy.add(worker)
            if self._holder is not None:
                worker.pause()
                self._paused.add(worker)

    def leave(self, worker: Pausable) -> None:
        """``worker``'s evaluation is over (or it died)."""
        with self._cond:
            self._busy.discard(worker)
            self._parked.discard(worker)
            self._paused.discard(worker)
            self._cond.notify_all()

    @contextmanager
    def alone(self, worker: Pausable, drain_others: bool = False) -> Iterator[float]:
        """Hold the GPU for ``worker``'s timing; yields the seconds it waited at the gate.

        ``drain_others``: wait until every other busy worker is parked too (for baselines) rather
        than pausing them."""
        started = time.monotonic()
        with self._cond:
            self._parked.add(worker)
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._holder is None and (
                not drain_others or not (self._busy - self._parked)))
            self._parked.discard(worker)
            self._holder = worker
            self._paused = {w for w in self._busy if w is not worker and w not in self._parked}
            for other in self._paused:
                other.pause()
        waited = time.monotonic() - started
        began = time.monotonic()
        try:
            yield waited
        finally:
            with self._cond:
                for other in self._paused:
                    other.resume()
                self._paused = set()
                self.alone_s += time.monotonic() - began
                self._holder = None
                self._cond.notify_all()
