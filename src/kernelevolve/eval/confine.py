"""The OS confinement of worker processes: ``python -m kernelevolve.eval.confine SPEC -- ARGV...``.

A small launcher (this module's ``main``) starts every worker. It stays outside, holds a lifeline
pipe from the harness and kills the worker the moment the harness dies, whatever killed it. For a
candidate worker it first joins a cgroup (process count and memory limits), then unshares user,
PID, network and mount namespaces and forks the worker as PID 1 of the new PID namespace (every
process a candidate starts dies with it; no other process is visible), mounts a fresh /proc,
hides the harness's directories under empty mounts, applies rlimits and a Landlock ruleset (read
only what Python, torch, Triton and the GPU driver need and the problem's directory; write only
the worker's own home; no TCP; no signals or abstract sockets outside), then execs the worker.

Each layer is tried on its own; what this machine lacks is reported back (``Sandbox.missing``) and,
in ``strict`` mode, refuses to start the worker at all. This module imports no torch: it runs
before the worker's own interpreter starts.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import select
import signal
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from kernelevolve.eval.cgroups import join_cgroup
from kernelevolve.eval.landlock import check, libc, restrict

SANDBOX_REPORT = "sandbox.json"  # written by the launcher into the worker's home, read by the worker

PR_SET_PDEATHSIG = 1
CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x10000000, 0x20000000, 0x40000000
PID_MAX_MIN = 301  # the kernel refuses a smaller pid_max
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 8, 0x1000, 0x4000, 1 << 18



@dataclass
class Limits:
    """Resource limits of one candidate worker and everything it starts."""

    processes: int = 512  # threads count too (a CUDA worker runs a few dozen)
    memory_bytes: int | None = None  # None: half of this machine's memory
    file_bytes: int = 32 << 30  # largest file it may write (outputs of big shapes included)

    def memory(self) -> int:
        if self.memory_bytes:
            return self.memory_bytes
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2


@dataclass
class Spec:
    """What the harness asks of the launcher for one worker."""

    mode: str  # strict | best-effort | off
    home: str  # the worker's own directory: its only writable place
    read: list[str] = field(default_factory=list)  # directories and files it may read
    hidden: list[str] = field(default_factory=list)  # directories and files under ``read`` that must stay unseen
    limits: Limits = field(default_factory=Limits)
    cgroup: str = ""  # name of the cgroup to create under each controller ("" for none)
    lifeline: int = -1  # read end of a pipe whose write end only the harness holds

    @classmethod
    def from_json(cls, text: str) -> Spec:
        raw = json.loads(text)
        raw["limits"] = Limits(**raw["limits"])
        return cls(**raw)

    def to_json(self) -> str:
        return json.dumps(asdict(self))


@dataclass
class Sandbox:
    """Which layers actually hold a worker, as the launcher applied them."""

    mode: str
    applied: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # "layer: why", one per layer not in force
    namespaces: bool = False  # in its own user, PID, network and mount namespaces
    uncgrouped: list[str] = field(default_factory=list)  # controllers (pids, memory) with no cgroup here

    def add(self, layers: tuple[list[str], list[str]]) -> None:
        """Record one step's (applied, missing) layers."""
        self.applied += layers[0]
        self.missing += layers[1]

    def summary(self) -> str:
        if self.mode == "off":
            return "unconfined (--sandbox off)"
        text = ", ".join(self.applied) or "nothing"
        return text if not self.missing else f"{text}; missing: {'; '.join(self.missing)}"

    def flags(self) -> list[str]:
        if self.mode == "off":
            return ["unconfined: the candidate ran without an OS sandbox (--sandbox off)"]
        return [f"sandbox incomplete: {m}" for m in self.missing]


# -- namespaces and mounts ----------------------------------------------------------------------
def _unshare() -> tuple[list[str], list[str]]:
    """User (so that no one needs to be root), PID, network and mount namespaces, all at once."""
    uid, gid = os.getuid(), os.getgid()
    try:
        check(libc.unshare(CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWNS), "unshare")
    except OSError as exc:
        return [], [f"namespaces: unshare(user, pid, net, mount) refused: {exc.strerror} "
                    "(unprivileged user namespaces disabled?)"]
    Path("/proc/self/setgroups").write_text("deny")
    Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
    Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")
    return ["user, pid, network and mount namespaces"], []


def _mount(source: str, target: str, fstype: str, flags: int, data: str = "") -> None:
    check(libc.mount(source.encode(), target.encode(), fstype.encode(), ctypes.c_ulong(flags),
                       data.encode() or None), f"mount {target}")


def cover_targets(path: str, needed: list[str]) -> list[str]:
    """What to cover so that ``path`` stays unseen while the ``needed`` paths (the worker's home)
    stay usable: ``path`` itself, or, where a needed path lies inside it (a store's files or the
    cache in /tmp, beside the worker's home), every entry of it that exists now except those on the
    way to a needed path."""
    inside = [n for n in needed if n == path or n.startswith(path.rstrip("/") + "/")]
    if not inside:
        return [path]
    if path in inside:
        return []
    targets = []
    with os.scandir(path) as entries:
        for entry in entries:
            if entry.is_symlink():
                continue  # a mount over a link lands on its target, which is not ours to cover
            if any(n == entry.path or n.startswith(entry.path + "/") for n in inside):
                if entry.is_dir(follow_symlinks=False):
                    targets += cover_targets(entry.path, inside)
            else:
                targets.append(entry.path)
    return targets


def _private_mounts(hidden: list[str], needed: list[str]) -> tuple[list[str], list[str]]:
    """In the new mount namespace: a /proc of our own PID namespace, the harness's paths covered
    (a folder's entries, where the worker's home lies inside it)."""
    applied, missing = [], []
    try:
        _mount("none", "/", "", MS_REC | MS_PRIVATE)
        _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        applied.append("own /proc")
    except OSError as exc:
        missing.append(f"own /proc: {exc.strerror}")
    covered = 0
    for hidden_path in hidden:
        if not os.path.exists(hidden_path):
            continue
        hidden_all = True
        for path in cover_targets(hidden_path, needed) if os.path.isdir(hidden_path) else [hidden_path]:
            try:
                if os.path.isdir(path):
                    _mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=000")
                else:  # a file reads as empty
                    _mount("/dev/null", path, "", MS_BIND)
            except OSError as exc:
                missing.append(f"hiding {path}: {exc.strerror}")
                hidden_all = False
        covered += hidden_all
    if covered:
        applied.append(f"{covered} harness dir(s) hidden")
    return applied, missing


DEVICES = ("null", "zero", "full", "random", "urandom", "dri", "kfd")
# The files under /etc a Python, torch or Triton process reads (the dynamic loader, users, time zone,
# the compiler's alternatives links); the rest of /etc stays unseen.
ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "passwd", "group", "nsswitch.conf", "localtime",
       "alternatives", "os-release", "ssl", "host.conf", "hosts", "gai.conf", "mime.types")


def system_read_paths() -> list[str]:
    """What any Python + torch + Triton + GPU driver process reads: the interpreter, its packages,
    system libraries and compilers, /proc and /sys (the device files it writes: ``device_files``)."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable)),
             "/usr", "/lib", "/lib32", "/lib64", "/bin", "/sbin", "/opt", "/proc", "/sys", "/run/nvidia-persistenced",
             *(f"/etc/{name}" for name in ETC)}
    paths |= {p for p in sys.path if p and os.path.isdir(p)}
    return sorted(paths)


def device_files() -> list[str]:
    """Device files a worker opens for writing: the GPU's and the harmless pseudo-devices."""
    files = [f"/dev/{name}" for name in DEVICES]
    files += [f"/dev/{name}" for name in sorted(os.listdir("/dev")) if name.startswith("nvidia")]
    return [f for f in files if os.path.exists(f)]


def _rlimits(limits: Limits, box: Sandbox) -> tuple[list[str], list[str]]:
    """File size and core dumps always; where no cgroup holds them, the process count (the PID
    namespace's own pid_max, Linux >= 6.14) and memory (per process: RLIMIT_DATA, which leaves the
    GPU driver's address-space reservations alone)."""
    import resource

    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    applied, missing = ["file-size and core rlimits"], []
    if "pids" in box.uncgrouped:
        try:
            if not box.namespaces:
                raise OSError(errno.ENOSYS, "no PID namespace of its own")
            Path("/proc/sys/kernel/pid_max").write_text(str(max(limits.processes, PID_MAX_MIN)))
            applied.append(f"pid_max {max(limits.processes, PID_MAX_MIN)} in its PID namespace")
        except OSError as exc:
            missing.append(f"process-count limit: no pids cgroup, and pid_max cannot be set ({exc.strerror})")
    if "memory" in box.uncgrouped:
        resource.setrlimit(resource.RLIMIT_DATA, (limits.memory(), limits.memory()))
        applied.append(f"memory rlimit {limits.memory() >> 30} GiB per process")
    return applied, missing


# -- the launcher ---------------------------------------------------------------------------------------
def confine_self(spec: Spec) -> Sandbox:
    """The layers a (single-threaded) launcher applies to itself before it forks the worker: the
    cgroup, then the namespaces (only its children enter the new PID namespace)."""
    box = Sandbox(spec.mode)
    applied, box.uncgrouped = join_cgroup(spec.cgroup, spec.limits.processes, spec.limits.memory())
    box.add((applied, []))
    applied, missing = _unshare()
    box.add((applied, missing))
    box.namespaces = not missing
    return box


def _inside(spec: Spec, box: Sandbox) -> None:
    """The forked child (PID 1 of the new namespace when it exists): finish confining."""
    if box.namespaces:
        box.add(_private_mounts(spec.hidden, [spec.home]))
    box.add(_rlimits(spec.limits, box))
    # The CUDA driver writes under its own /proc/<pid> at initialisation (error 304 without it).
    writable = [spec.home, *device_files(), f"/proc/{os.getpid()}"]
    try:
        box.add(restrict(sorted({*system_read_paths(), *spec.read}), writable))
    except OSError as exc:
        box.add(([], [f"landlock: {exc.strerror}"]))


def _report(spec: Spec, box: Sandbox) -> None:
    """Tell the worker (and the harness, through it) what holds; under ``strict``, stop here when a
    layer is missing: the harness reads this line and refuses to go on."""
    Path(spec.home, SANDBOX_REPORT).write_text(json.dumps(asdict(box)))
    if spec.mode == "strict" and box.missing:
        sys.stderr.write("strict sandbox unavailable: " + "; ".join(box.missing) + "\n")
        os._exit(97)


def _mirror_exit(status: int) -> None:
    """Exit as the worker did, so the harness reads the worker's own signal or code."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [sig])
        os.kill(os.getpid(), sig)
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 1)


def main() -> None:
    spec, argv = Spec.from_json(sys.argv[1]), sys.argv[sys.argv.index("--") + 1:]
    box = confine_self(spec) if spec.mode != "off" else Sandbox("off")
    _report(spec, box)  # strict stops here, before forking, when the launcher's layers are missing
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    child = os.fork()
    if child == 0:
        try:
            check(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "pdeathsig")
            if spec.lifeline >= 0:
                os.close(spec.lifeline)
            if spec.mode != "off":
                _inside(spec, box)
            _report(spec, box)
            os.execv(argv[0], argv)
        finally:
            os._exit(98)
    # The launcher keeps no end of the protocol pipes: the worker's death must read as EOF.
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):
        os.dup2(null, fd)
    _watch(child, spec.lifeline, wake_r)


def _watch(child: int, lifeline: int, wake: int) -> None:
    """Wait for the worker; kill it the moment the lifeline breaks (the harness died). Without a
    lifeline (-1: a profiler stands between harness and launcher) the worker ends with its stdin."""
    watched = [lifeline, wake] if lifeline >= 0 else [wake]
    while True:
        ready, _, _ = select.select(watched, [], [], 5.0)
        if lifeline in ready and not os.read(lifeline, 64):
            os.kill(child, signal.SIGKILL)
            watched = [wake]
        if wake in ready:
            while True:
                try:
                    if not os.read(wake, 64):
                        break
                except BlockingIOError:
                    break
        pid, status = os.waitpid(child, os.WNOHANG)
        if pid == child:
            _mirror_exit(status)


if __name__ == "__main__":
    main()
