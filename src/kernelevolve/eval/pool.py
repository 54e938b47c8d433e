"""Worker processes seen from the harness: start, talk to, time out, kill and replace them.

Each worker is started by the confinement launcher (``eval/confine.py``) in its own process group,
with a stripped environment and its own home directory (scratch, temporary files and compiler
caches all live there). Candidate workers are sandboxed; every worker dies with the harness. A hard
timeout kills the whole group (never a thread). A worker that crashed, hung, was poisoned by a CUDA
error or was left dirty by a candidate is replaced on next use.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kernelevolve.config import SANDBOX_MODES
from kernelevolve.eval import cgroups, confine
from kernelevolve.eval.gate import DeviceGate
from kernelevolve.eval.placement import next_gpu
from kernelevolve.eval.sandbox import Redactor, worker_environment
from kernelevolve.platform import Platform

START_TIMEOUT_S = 300.0  # importing torch (and CUDA init) on a cold machine
LOG_TAIL_BYTES = 4000
STOP_SETTLE_S = 1.0  # how long a pause waits for SIGSTOP to take effect in every process


class WorkerError(Exception):
    """Base of the ways a worker can stop answering."""


class WorkerTimeout(WorkerError):
    pass


class WorkerCrashed(WorkerError):
    pass


class SandboxRefused(WorkerError):
    """``--sandbox strict`` and this machine cannot confine a worker completely."""


def _private_dirs(home: Path) -> dict[str, str]:
    """Temporary files and compiler caches inside the worker's home: a candidate can write nowhere
    else, and no candidate can plant a cached binary that another worker or the user would load."""
    dirs = {"HOME": home, "TMPDIR": home / "tmp", "TRITON_HOME": home, "TRITON_CACHE_DIR": home / "triton",
            "TORCHINDUCTOR_CACHE_DIR": home / "inductor", "XDG_CACHE_HOME": home / "cache"}
    for path in dirs.values():
        path.mkdir(exist_ok=True)
    return {name: str(path) for name, path in dirs.items()}


class WorkerProcess:
    """One long-lived worker subprocess and its JSON-lines channel."""

    def __init__(self, role: str, platform: Platform, redact: Redactor, cpu_threads: int | None = None,
                 sandbox: str = "off", readable: frozenset[str] = frozenset(), hidden: tuple[str, ...] = (),
                 limits: confine.Limits | None = None, gpu: str | None = None, gate: DeviceGate | None = None,
                 profiler: tuple[str, ...] = ()):
        """``profiler``: a command line (eval/ncu.py) that starts the launcher and profiles the worker."""
        self.role = role
        self.platform = platform
        self.redact = redact
        self.readable = readable
        self.gpu = gpu  # the one device this worker sees (CUDA_VISIBLE_DEVICES), None on the interpreter
        self.gate = gate or DeviceGate()
        self.retire = False  # set by the harness when this worker must not judge another candidate
        self._paused_since: float | None = None
        self._paused_s = 0.0  # time spent paused by a gate: not counted against a timeout
        self.home = Path(tempfile.mkdtemp(prefix=f"kernelevolve-{role}-"))
        self.log_path = self.home / "worker.log"
        self.cgroup = f"kernelevolve-{os.getpid()}-{self.home.name}" if sandbox != "off" else ""
        extra = dict(platform.worker_env())
        if gpu is not None:
            extra["CUDA_VISIBLE_DEVICES"] = gpu
        if cpu_threads is not None and "OMP_NUM_THREADS" not in os.environ:
            extra["OMP_NUM_THREADS"] = str(cpu_threads)  # several workers must not each take every core
        if sandbox != "off":
            # Inductor's compile workers would be processes the harness did not start the candidate with.
            extra.update(_private_dirs(self.home), TORCHINDUCTOR_COMPILE_THREADS="1")
        env = worker_environment(os.environ, str(self.home), extra)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        if profiler:
            env["LC_NUMERIC"] = "C"  # the profiler's numbers as 31,392.5 whatever the user's locale
        # A profiler between the harness and the launcher need not pass the lifeline on: without
        # one, the worker still ends when its stdin closes, and the kill takes the whole group.
        lifeline, self._lifeline = os.pipe() if not profiler else (-1, -1)
        spec = confine.Spec(mode=sandbox, home=str(self.home), read=sorted(readable), hidden=list(hidden),
                            limits=limits or confine.Limits(), cgroup=self.cgroup, lifeline=lifeline)
        launcher_log = open(self.home / "launcher.log", "wb")
        try:
            self.proc = subprocess.Popen(
                [*profiler, sys.executable, "-m", "kernelevolve.eval.confine", spec.to_json(), "--",
                 sys.executable, "-m", "kernelevolve.eval.worker", role, platform.device, str(self.log_path)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=launcher_log,
                cwd=self.home,
                env=env,
                start_new_session=True,
                pass_fds=(lifeline,) if lifeline >= 0 else (),
            )
        finally:
            if lifeline >= 0:
                os.close(lifeline)
            launcher_log.close()
        self._buffer = b""
        try:
            self.ready = self.receive(START_TIMEOUT_S)
        except WorkerCrashed as exc:
            refused, log = self._launcher_note(), self.log_tail()
            self.close()
            if refused.startswith("strict sandbox unavailable"):
                raise SandboxRefused(refused) from exc
            raise WorkerCrashed(f"the {role} worker failed to start: {exc}\n{refused}\n{log}") from exc
        if self.ready.get("event") != "ready":
            self.kill()
            raise WorkerCrashed(self.redact(self.ready.get("reason", "worker did not start")))
        self.sandbox = confine.Sandbox(**self.ready.get("sandbox", {"mode": sandbox}))

    def _launcher_note(self) -> str:
        try:
            return (self.home / "launcher.log").read_text(errors="replace").strip()
        except OSError:
            return ""

    def limit_hits(self) -> list[str]:
        """Sandbox limits (process count, memory) this worker ran into."""
        return cgroups.limit_hits(self.cgroup) if self.cgroup else []

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def send(self, request: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write((json.dumps(request) + "\n").encode())
            self.proc.stdin.flush()
        except BrokenPipeError as exc:
            raise WorkerCrashed(self.exit_description()) from exc

    def receive(self, timeout_s: float) -> dict[str, Any]:
        """The next message, or WorkerTimeout / WorkerCrashed (time spent paused does not count)."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout_s - self.paused_s  # moved on by every pause from here
        while b"\n" not in self._buffer:
            remaining = deadline + self.paused_s - time.monotonic()
            if remaining <= 0:
                self.kill()
                raise WorkerTimeout(f"no answer within {timeout_s:.0f} s")
            ready, _, _ = select.select([fd], [], [], min(remaining, 1.0))
            if ready:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    self.proc.wait(timeout=10)
                    raise WorkerCrashed(self.exit_description())
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        try:
            return json.loads(line)
        except json.JSONDecodeError as exc:
            self.kill()
            raise WorkerCrashed("the worker wrote something that is not a protocol message") from exc

    @property
    def paused_s(self) -> float:
        """Seconds this worker has spent paused by a gate, up to now."""
        since = self._paused_since
        return self._paused_s + (time.monotonic() - since if since is not None else 0.0)

    def pause(self) -> None:
        """Stop every process of this worker's sandbox (SIGSTOP) until ``resume``."""
        if self._paused_since is not None:
            return
        self._paused_since = time.monotonic()
        stopped: set[int] = set()
        while True:  # again until no process appears that was forked before its parent stopped
            new = self._processes() - stopped
            if not new:
                break
            for pid in new:
                _signal(pid, signal.SIGSTOP)
            stopped |= new
        _wait_stopped(stopped)

    def resume(self) -> None:
        if self._paused_since is None:
            return
        for pid in self._processes():
            _signal(pid, signal.SIGCONT)
        self._paused_s += time.monotonic() - self._paused_since
        self._paused_since = None

    def _processes(self) -> set[int]:
        """The worker and every process it started: all of its PID namespace when it has one, else
        the launcher's process group (the launcher itself is left running)."""
        worker = _children(self.proc.pid)
        if not worker:
            return set()
        space = _pid_namespace(next(iter(worker)))
        if space is not None and space != _pid_namespace(os.getpid()):
            return {pid for pid in _all_pids() if _pid_namespace(pid) == space}
        return {pid for pid in _all_pids() if _process_group(pid) == self.proc.pid and pid != self.proc.pid}

    def exit_description(self) -> str:
        code = self.proc.poll()
        if code is None:
            return "the worker stopped answering"
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            return f"the worker process was killed by {name}"
        return f"the worker process exited with status {code} in the middle of a call"

    def log_tail(self) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(max(0, f.seek(0, 2) - LOG_TAIL_BYTES))
                return self.redact(f.read().decode(errors="replace"))
        except OSError:
            return ""

    def clear_log(self) -> None:
        try:
            with open(self.log_path, "r+b") as f:
                f.truncate(0)
        except OSError:
            pass

    def kill(self) -> None:
        """Kill the launcher's group: the launcher and the worker (PID 1 of its namespace, whose death
        takes every process the candidate started with it)."""
        if self.alive:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=30)

    def close(self) -> None:
        if self.alive:
            try:
                self.send({"op": "shutdown"})
                self.proc.wait(timeout=5)
            except (WorkerCrashed, subprocess.TimeoutExpired):
                pass
        self.kill()
        if self._lifeline >= 0:
            os.close(self._lifeline)
            self._lifeline = -1
        if self.cgroup:
            cgroups.remove_cgroup(self.cgroup)
        shutil.rmtree(self.home, ignore_errors=True)


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _stat_fields(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    except (OSError, IndexError):
        return []


def _wait_stopped(pids: set[int], limit_s: float = STOP_SETTLE_S) -> None:
    """Until every process of ``pids`` has stopped (or exited): a signal is delivered
    asynchronously, and a paused worker must launch nothing once the pause has returned."""
    deadline = time.monotonic() + limit_s
    running = set(pids)
    while running and time.monotonic() < deadline:
        running = {pid for pid in running if (fields := _stat_fields(pid)) and fields[0] not in "TtZX"}
        if running:
            time.sleep(0.001)


def _children(pid: int) -> set[int]:
    return {p for p in _all_pids() if (fields := _stat_fields(p)) and fields[1] == str(pid)}


def _process_group(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[2]) if fields else None


def _pid_namespace(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


class WorkerPool:
    """Reusable workers of one role on one platform, handed out one evaluation at a time, spread
    evenly over ``gpus`` (each worker sees one; none on the interpreter), with one gate per GPU."""

    def __init__(self, role: str, platform: Platform, size: int = 1, redact: Redactor | None = None,
                 sandbox: str = "off", hidden: tuple[str, ...] = (), limits: confine.Limits | None = None,
                 gpus: list[str] | None = None):
        if sandbox not in SANDBOX_MODES:
            raise ValueError(f"unknown sandbox mode {sandbox!r}; choose {', '.join(SANDBOX_MODES)}")
        self.role = role
        self.platform = platform
        self.size = size
        self.redact = redact or Redactor()
        self.sandbox = sandbox
        self.hidden = hidden
        self.limits = limits
        self.gpus = list(gpus or [])
        self.gates = {gpu: DeviceGate() for gpu in self.gpus or [None]}
        self._busy: dict[str | None, int] = {}
        self._idle: list[WorkerProcess] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(size)

    def run(self, use: Callable[[WorkerProcess], Any], readable: frozenset[str] = frozenset()) -> Any:
        """Lend a live worker that may read ``readable`` to ``use``; a worker that failed or must
        retire is not returned."""
        with self._slots:
            with self._lock:
                gpu = next_gpu(self.gpus, self._busy)
                self._busy[gpu] = self._busy.get(gpu, 0) + 1
            keep = False
            try:
                worker = self._take(readable, gpu)
                worker.gate.enter(worker)
                try:
                    result = use(worker)
                    keep = worker.alive
                    return result
                except BaseException:  # Ctrl-C or a harness fault mid-call: no polite shutdown of a busy worker
                    worker.kill()
                    raise
                finally:
                    worker.gate.leave(worker)
                    worker.resume()
                    if keep:
                        with self._lock:
                            self._idle.append(worker)
                    else:
                        worker.close()
            finally:
                with self._lock:
                    self._busy[gpu] -= 1

    def _take(self, readable: frozenset[str], gpu: str | None) -> WorkerProcess:
        with self._lock:
            for worker in [w for w in self._idle if w.gpu == gpu]:
                self._idle.remove(worker)
                if worker.alive and readable <= worker.readable:
                    return worker
                worker.close()  # dead, or sandboxed before this problem's directory was readable
        threads = max(1, (os.cpu_count() or 1) // self.size) if self.size > 1 else None
        return WorkerProcess(self.role, self.platform, self.redact, threads, self.sandbox, readable, self.hidden,
                             self.limits, gpu, self.gates[gpu])

    def close(self) -> None:
        with self._lock:
            workers, self._idle = self._idle, []
        for worker in workers:
            worker.close()
