"""`kernelevolve eval` as a user runs it: from a scratch directory, with secrets in the environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT / "tests" / "eval"


def run_eval(tmp_path, kernel, *extra, problem=EVAL / "problems" / "scale_add.py"):
    # PYTHONPATH: the command must run this checkout's code, not whichever copy is installed
    env = dict(os.environ, OPENAI_API_KEY="sk-cli-test-99887766",
               PYTHONPATH=str(ROOT / "src"))
    return subprocess.run(
        [sys.executable, "-m", "kernelevolve.cli", "eval", str(problem),
         str(EVAL / "kernels" / kernel), "--platform", "interpreter", "--timeout", "20", *extra],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )


def test_json_contract_and_exit_codes(tmp_path, tmp_path_factory):
    (tmp_path / "notes.txt").write_text("mine")
    # a problem that prints at import, from Python and from C: stdout still holds only the JSON object
    noisy = tmp_path_factory.mktemp("noisy") / "scale_add.py"
    noisy.write_text("import os\nprint('hello from the problem')\nos.write(1, b'raw bytes on fd 1\\n')\n"
                     + (EVAL / "problems" / "scale_add.py").read_text())
    good = run_eval(tmp_path, "correct_scale_add.py", "--json", problem=noisy)
    bad = run_eval(tmp_path, "secret_read.py", "--json")
    assert good.returncode == 0, good.stderr
    assert bad.returncode == 1
    for proc in (good, bad):
        payload = json.loads(proc.stdout)
        assert {"correct", "status", "reason", "speedup", "platform"} <= payload.keys()
        assert payload["platform"] == "interpreter" and payload["speedup"] is None
        assert "sk-cli-test-99887766" not in proc.stdout + proc.stderr
    assert json.loads(good.stdout)["status"] == "ok"
    assert "hello from the problem" in good.stderr and "raw bytes on fd 1" in good.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]  # eval writes nothing where it runs


def test_readable_table_by_default(tmp_path):
    proc = run_eval(tmp_path, "wrong_result.py")
    assert proc.returncode == 1
    assert "mismatch" in proc.stdout and "elements off" in proc.stdout


def test_missing_problem_is_one_clear_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "kernelevolve.cli", "eval", "nope.py", str(EVAL / "kernels" / "no_triton.py")],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2 and "problem file not found" in proc.stderr


def test_json_of_an_unwritten_output_is_strict_json(tmp_path):
    proc = run_eval(tmp_path, "unwritten_tail.py", "--json")

    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")

    payload = json.loads(proc.stdout, parse_constant=refuse)
    assert proc.returncode == 1 and payload["status"] == "mismatch"
    assert payload["cases"][-1]["mismatch"]["got"] == "nan"



def test_profile_without_a_gpu_says_it_is_unavailable_and_evaluates(tmp_path):
    # a kernel the static checks judge: the verdict comes without a worker, the message before it
    proc = run_eval(tmp_path, "syntax_error.py", "--profile", "--json")
    assert proc.returncode == 1, proc.stderr
    assert "no NCU profiles: --profile needs Nsight Compute on an NVIDIA GPU; the interpreter platform has none" \
        in " ".join(proc.stderr.split())
    payload = json.loads(proc.stdout)
    assert payload["status"] == "syntax_error" and payload["ncu"] is None
