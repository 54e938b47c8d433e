"""Candidates are contained by the OS: each escape a hostile candidate tried is checked from outside
(no process survives, no file outside scratch is written, no secret or reference is read, no
connection reaches a listener), and each attack is first shown to work without the sandbox."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from kernelevolve.eval.confine import Limits
from kernelevolve.eval.harness import Harness
from kernelevolve.platform import InterpreterPlatform
from kernelevolve.problem import load_problem

HERE = Path(__file__).parent
PROBLEM = HERE / "problems" / "scale_add.py"
INTERPRETER = InterpreterPlatform()

KERNEL = '''
import os, sys, time, socket, signal, subprocess, ctypes
import torch
import torch.nn as nn
import triton
import triton.language as tl


@triton.jit
def scale_add_kernel(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask)
    y = tl.load(y_ptr + offs, mask=mask)
    tl.store(out_ptr + offs, 2 * x + y, mask=mask)


@triton.jit
def copy_kernel(src_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    tl.store(out_ptr + offs, tl.load(src_ptr + offs, mask=mask), mask=mask)


def launch(x, y):
    out = torch.empty_like(x)
    n = x.numel()
    scale_add_kernel[(triton.cdiv(n, 1024),)](x, y, out, n, BLOCK=1024)
    return out


def name_me(marker):
    ctypes.CDLL(None).prctl(15, marker.encode(), 0, 0, 0)  # PR_SET_NAME: findable in /proc/*/comm


class ModelNew(nn.Module):
    def forward(self, x, y):
{body}
'''


def candidate(body: str, **values: object) -> str:
    return KERNEL.format(body=textwrap.indent(textwrap.dedent(body).format(**values), " " * 8))


def processes_named(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "comm").read_text().strip() == marker[:15]:
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def gone(marker: str, within_s: float = 5.0) -> bool:
    deadline = time.monotonic() + within_s
    while processes_named(marker):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def kill_named(marker: str) -> None:
    for pid in processes_named(marker):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def marker() -> str:
    return f"ke{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def problem():
    return load_problem(PROBLEM)


@pytest.fixture(scope="module")
def sandboxed(cache_dir):
    with Harness(INTERPRETER, timeout_s=20, cache_dir=cache_dir, sandbox="strict") as harness:
        yield harness


@pytest.fixture(scope="module")
def unconfined(cache_dir):
    with Harness(INTERPRETER, timeout_s=20, cache_dir=cache_dir, sandbox="off") as harness:
        yield harness


def test_strict_sandbox_is_complete_on_this_machine(problem, sandboxed):
    result = sandboxed.evaluate(problem, (HERE / "kernels" / "correct_scale_add.py").read_text())
    assert result.status.value == "ok", result.reason
    assert "landlock" in result.sandbox and "namespaces" in result.sandbox
    assert not any(f.startswith(("sandbox incomplete", "unconfined")) for f in result.flags)


def test_unconfined_results_say_so(problem, unconfined):
    result = unconfined.evaluate(problem, (HERE / "kernels" / "correct_scale_add.py").read_text())
    assert result.status.value == "ok"
    assert any(f.startswith("unconfined") for f in result.flags)


READ_REFERENCES = '''
# The harness keeps each case's reference output beside the digest of its inputs: find ours, copy it.
# Digest and file are read through raw memory and zipfile: the guard bounds reads through torch.
import ctypes, glob, hashlib, json, zipfile
h = hashlib.sha256()
for v in (x, y):
    h.update(f"{{tuple(v.shape)}}{{v.dtype}}".encode())
    h.update(ctypes.string_at(v.data_ptr(), v.numel() * v.element_size()))
mine = h.hexdigest()
for meta in glob.glob(os.path.join({root!r}, "**", "references.json"), recursive=True):
    for case_id, case in json.load(open(meta))["cases"].items():
        if case.get("digest") == mine:
            with zipfile.ZipFile(os.path.join(os.path.dirname(meta), case_id + ".pt")) as archive:
                data = next(n for n in archive.namelist() if n.endswith("/data/0"))
                ref = torch.frombuffer(bytearray(archive.read(data)), dtype=x.dtype)
            out = torch.empty_like(x)
            copy_kernel[(triton.cdiv(x.numel(), 1024),)](ref, out, x.numel(), BLOCK=1024)
            return out
return launch(y, x)  # computes the wrong thing: only the stolen answers are right
'''


def test_a_hidden_folder_that_holds_the_worker_s_own_paths_has_its_other_entries_covered(tmp_path):
    from kernelevolve.eval.confine import cover_targets

    (tmp_path / "work" / "home").mkdir(parents=True)
    (tmp_path / "work" / "other").mkdir()
    for name in ("runs.db", "work/notes.txt"):
        (tmp_path / name).write_text("x")
    needed = [str(tmp_path / "work" / "home")]
    assert sorted(cover_targets(str(tmp_path), needed)) == sorted(
        str(tmp_path / n) for n in ("runs.db", "work/other", "work/notes.txt"))
    assert cover_targets(str(tmp_path / "work" / "other"), needed) == [str(tmp_path / "work" / "other")]


def test_references_cannot_be_read(problem, sandboxed, unconfined, cache_dir):
    source = candidate(READ_REFERENCES, root=str(cache_dir))
    sandboxed.reference_set(problem)
    cheated = unconfined.evaluate(problem, source)
    assert cheated.status.value == "ok", cheated.reason  # the attack is real
    result = sandboxed.evaluate(problem, source)
    assert result.status.value == "mismatch", result.reason


READ_STORE = '''
data = open({path!r}, "rb").read()
if data:
    raise RuntimeError(f"read {{len(data)}} bytes of the store")
return launch(x, y)
'''


def test_a_store_beside_the_problem_stays_unseen_and_the_problem_still_loads(tmp_path, cache_dir):
    # The SQLite store is hidden from candidates; here its folder also holds the problem the worker
    # must load (hiding the folder left the worker unable to start).
    shutil.copy(PROBLEM, tmp_path / "scale_add.py")
    store = tmp_path / "runs.db"
    store.write_bytes(b"SQLite format 3\0 every candidate's source and score")
    beside = load_problem(tmp_path / "scale_add.py")
    source = candidate(READ_STORE, path=str(store))
    with Harness(INTERPRETER, timeout_s=20, cache_dir=cache_dir, sandbox="off") as harness:
        cheated = harness.evaluate(beside, source)
    assert cheated.status.value == "runtime_error" and "bytes of the store" in cheated.reason  # the attack is real
    with Harness(INTERPRETER, timeout_s=20, cache_dir=cache_dir, sandbox="strict", hidden=(store,)) as harness:
        result = harness.evaluate(beside, source)
    assert result.status.value == "ok", result.reason
    assert "harness dir(s) hidden" in result.sandbox


SECRET_HUNT = '''
found = ""
for pid in os.listdir("/proc"):
    try:
        found += open(f"/proc/{pid}/environ", "rb").read().decode(errors="replace")
    except OSError:
        pass
hit = [v for v in found.split("\\0") if v.startswith("MY_SERVICE_TOKEN=")]
if hit:
    raise RuntimeError("reversed: " + hit[0][::-1])  # redaction looks for the value, not its reverse
return launch(x, y)
'''


def test_environments_outside_the_sandbox_cannot_be_read(problem, sandboxed, unconfined):
    # A process of the same user holding a secret in its environment, as the harness does.
    secret = f"tok-{uuid.uuid4().hex}"
    holder = subprocess.Popen(["sleep", "120"], env={"MY_SERVICE_TOKEN": secret})
    try:
        source = KERNEL.format(body=textwrap.indent(SECRET_HUNT, " " * 8))
        assert secret[::-1] in unconfined.evaluate(problem, source).model_dump_json()  # the attack is real
        result = sandboxed.evaluate(problem, source)
        assert result.status.value == "ok", result.reason
        assert secret[::-1] not in result.model_dump_json() and secret not in result.model_dump_json()
    finally:
        holder.kill()


def test_forked_processes_do_not_outlive_the_call(problem, sandboxed):
    name = marker()
    body = '''
    if os.fork() == 0:
        os.setsid()
        name_me({name!r})
        for _ in range(11):
            if os.fork() == 0:
                break
        time.sleep(600)
        os._exit(0)
    return launch(x, y)
    '''
    try:
        result = sandboxed.evaluate(problem, candidate(body, name=name))
        assert result.status.value == "rejected", result.reason
        assert "process" in result.reason
        assert gone(name)
        after = sandboxed.evaluate(problem, (HERE / "kernels" / "correct_scale_add.py").read_text())
        assert after.status.value == "ok"
    finally:
        kill_named(name)


def test_fork_bomb_is_stopped_within_the_timeout(problem, cache_dir):
    name = marker()
    body = '''
    name_me({name!r})
    while True:
        try:
            os.fork()
        except OSError:
            time.sleep(0.01)
    '''
    try:
        limits = Limits(processes=64)  # reached in well under the timeout, however busy the machine
        with Harness(INTERPRETER, timeout_s=6, cache_dir=cache_dir, sandbox="strict", limits=limits) as harness:
            harness.reference_set(problem)
            started = time.monotonic()
            result = harness.evaluate(problem, candidate(body, name=name))
            took = time.monotonic() - started
        assert result.status.value in ("timeout", "rejected"), result.reason
        if "pids cgroup" in result.sandbox:  # the cgroup counts the limit's hits; pid_max does not
            assert "process-count limit" in result.reason, result.reason
        assert took < 6 + 10
        assert gone(name)
    finally:
        kill_named(name)


SHORT_LIVED = {
    "fork": "pid = os.fork()\nif pid == 0:\n    os._exit(0)\nos.waitpid(pid, 0)",
    "subprocess": "subprocess.run(['true'])",
    "system": "os.system('true')",
}


@pytest.mark.parametrize("door", sorted(SHORT_LIVED))
def test_a_process_started_and_ended_within_the_call_is_rejected(problem, sandboxed, door):
    source = KERNEL.format(body=textwrap.indent(SHORT_LIVED[door] + "\nreturn launch(x, y)", " " * 8))
    result = sandboxed.evaluate(problem, source)
    assert result.status.value == "rejected", result.reason
    assert "process(es) during the call" in result.reason


def test_killing_the_parent_from_the_worker_leaves_the_harness_standing(problem, sandboxed):
    result = sandboxed.evaluate(problem, candidate("os.kill(os.getppid(), signal.SIGKILL)\nreturn launch(x, y)"))
    assert result.status.value in ("ok", "crash", "runtime_error"), result.reason
    after = sandboxed.evaluate(problem, (HERE / "kernels" / "correct_scale_add.py").read_text())
    assert after.status.value == "ok", after.reason


def _accepted(listener: socket.socket) -> int:
    count = 0
    try:
        while True:
            listener.accept()[0].close()
            count += 1
    except TimeoutError:
        return count


def test_no_connection_reaches_a_local_listener(problem, sandboxed, unconfined):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        listener.settimeout(0.5)
        body = '''
        try:
            socket.create_connection(("127.0.0.1", {port}), timeout=2).close()
        except OSError:
            pass
        return launch(x, y)
        '''
        source = candidate(body, port=listener.getsockname()[1])
        unconfined.evaluate(problem, source)
        assert _accepted(listener) > 0  # the attack connects when unconfined
        assert sandboxed.evaluate(problem, source).status.value == "ok"
        assert _accepted(listener) == 0


def test_files_outside_scratch_are_not_written(problem, sandboxed, unconfined, tmp_path):
    import pwd

    name = marker()
    home = Path(pwd.getpwuid(os.getuid()).pw_dir)
    targets = [tmp_path / f"{name}-direct", home / f"{name}-home", tmp_path / f"{name}-subprocess"]
    body = '''
    for path in ({direct!r}, {home!r}):
        try:
            open(path, "w").write("escaped")
        except OSError:
            pass
    try:
        subprocess.run(["touch", {sub!r}], timeout=10)
    except OSError:
        pass
    return launch(x, y)
    '''
    source = candidate(body, direct=str(targets[0]), home=str(targets[1]), sub=str(targets[2]))
    try:
        result = sandboxed.evaluate(problem, source)
        assert result.status.value == "rejected" and "process(es) during the call" in result.reason, result.reason
        assert [t for t in targets if t.exists()] == []
        unconfined.evaluate(problem, source)
        assert targets[0].exists() and targets[2].exists()  # the attack writes when unconfined
    finally:
        for t in targets:
            t.unlink(missing_ok=True)


def hanging_cli(tmp_path: Path, name: str) -> subprocess.Popen:
    """``kernelevolve eval`` on a candidate that spins forever, once the candidate is running."""
    kernel = tmp_path / "hang.py"
    kernel.write_text(candidate("name_me({name!r})\nwhile True:\n    pass", name=name))
    env = dict(os.environ)
    cli = subprocess.Popen([sys.executable, "-m", "kernelevolve.cli", "eval", str(PROBLEM), str(kernel),
                            "--platform", "interpreter", "--timeout", "120"],
                           env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not processes_named(name):
        if time.monotonic() > deadline:
            cli.kill()
            raise AssertionError("the hanging candidate never started")
        time.sleep(0.2)
    return cli


def test_killing_the_cli_kills_its_workers(tmp_path):
    name = marker()
    cli = hanging_cli(tmp_path, name)
    try:
        cli.kill()
        cli.wait(10)
        assert gone(name)
    finally:
        cli.kill()
        kill_named(name)


def test_problem_that_sleeps_at_import_is_bounded_by_the_timeout(tmp_path):
    slow = tmp_path / "slow.py"
    slow.write_text(PROBLEM.read_text() + "\nimport time\nif __name__ != '__main__':\n    time.sleep(600)\n")
    env = dict(os.environ)
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "kernelevolve.cli", "eval", str(slow),
                           str(HERE / "kernels" / "correct_scale_add.py"), "--platform", "interpreter",
                           "--timeout", "3"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert time.monotonic() - started < 60
    assert done.returncode == 2
    assert "--timeout" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.gpu
def test_gpu_candidate_is_judged_and_timed_inside_the_strict_sandbox(tmp_path):
    from kernelevolve.platform import detect

    root = HERE.parents[1]
    problem = load_problem(root / "examples" / "softmax" / "problem.py")
    with Harness(detect("cuda"), cache_dir=tmp_path, sandbox="strict") as harness:
        result = harness.evaluate(problem, (root / "examples" / "softmax" / "kernel.py").read_text())
    assert result.status.value == "ok", result.reason + result.log_tail
    assert result.speedup is not None and result.speedup > 0
    assert "landlock" in result.sandbox and not any(f.startswith("sandbox incomplete") for f in result.flags)


def test_ctrl_c_says_what_it_interrupted_and_stops_the_workers(tmp_path):
    name = marker()
    cli = hanging_cli(tmp_path, name)
    try:
        cli.send_signal(signal.SIGINT)
        _, stderr = cli.communicate(timeout=30)
        assert cli.returncode == 130
        assert "interrupted while evaluating" in stderr and "Traceback" not in stderr
        assert gone(name)
    finally:
        cli.kill()
        kill_named(name)
