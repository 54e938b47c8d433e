"""Every way a user can get a command wrong ends in one sentence and a documented exit code, never a
traceback; read-only commands leave the store as they found it. In-process (no worker starts)."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kernelevolve import cli
from kernelevolve.graph import NewNode
from kernelevolve.store import open_store

ROOT = Path(__file__).resolve().parents[1]
PROBLEM = ROOT / "tests" / "eval" / "problems" / "scale_add.py"
SEED = ROOT / "tests" / "search" / "data" / "seed_scale_add.py"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("KERNELEVOLVE_STORE", "KERNELEVOLVE_OBJECTS", "KERNELEVOLVE_LLM", "KERNELEVOLVE_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "a-file").write_text("not a directory")
    (tmp_path / "a-dir").mkdir()
    (tmp_path / "garbage.db").write_bytes(b"\x89garbage" * 512)
    (tmp_path / "empty.db").write_bytes(b"")
    return tmp_path


def invoke(*args: str):
    result = CliRunner().invoke(cli.app, [str(a) for a in args])
    return result.exit_code, " ".join(result.stderr.split()), result.stdout


def opt(*extra):
    return ("optimize", PROBLEM, "--seed", SEED, "--platform", "interpreter", *extra)


CASES = [
    # store URLs and drivers
    (("runs", "--store", "notaurl"), "'notaurl' is not a store URL: use sqlite:///PATH"),
    (("runs", "--store", "sqlite:/"), "'sqlite:/' is not a store URL"),
    (("runs", "--store", "foo://bar/baz"), "SQLAlchemy has no backend 'foo'"),
    (("runs", "--store", "postgresql+psycopg2://u@localhost/db"), "(no module 'psycopg2'); install it"),
    (("runs", "--store", "mysql://u@localhost/db"), "the driver for 'mysql' is not installed"),
    (("runs", "--store", f"postgresql+psycopg://u@127.0.0.1:{closed_port()}/db"), "cannot connect to postgresql"),
    # store files and directories
    (("runs", "--store", "sqlite:///garbage.db"), "is not a readable kernelevolve store (file is not a database)"),
    (("show", "r", "--store", "sqlite:///garbage.db"), "the file is damaged or not a SQLite database"),
    (("runs", "--store", "sqlite:///empty.db"), "holds no kernelevolve store"),
    (("runs", "--store", "sqlite:///a-file/x.db"), "does not exist): run `kernelevolve optimize` there first"),
    (opt("--store", "sqlite:///a-file/x.db"), "cannot create the directory of sqlite:///a-file/x.db"),
    (opt("--store", "sqlite:////proc/nope/x.db"), "cannot create the directory of sqlite:////proc/nope/x.db"),
    (opt("--objects", "a-file"), "a-file is a file, not a directory: pass --objects"),
    # output paths, checked before the store is opened
    (("best", "r", "--out", "a-dir"), "--out a-dir is a directory: give a file name"),
    (("best", "r", "--out", "/proc/nope/x"), "the directory /proc/nope does not exist"),
    (("export", "r", "--out", "a-dir"), "--out a-dir is a directory"),
    # arguments
    (("lineage", "r", "-5"), "node ids are positive integers, not -5"),
    (("eval", "a-dir", SEED), "the problem file a-dir is a directory: name the .py file in it"),
    (("eval", PROBLEM, "a-dir"), "the kernel file a-dir is a directory"),
    (("optimize", "a-dir", "--seed", SEED), "the problem file a-dir is a directory"),
    (opt("--seed", "a-dir"), "the seed kernel a-dir is a directory"),
    (opt("--run", "bad name"), "run name 'bad name' is not a valid name"),
    # a KernelBench level (no sample kernels) needs an LLM to draft them
    (("bench", ROOT / "tests" / "eval" / "kernelbench", "--steps", "2"),
     "has no sample kernels (expected"),
    (("bench", ROOT / "tests" / "eval" / "kernelbench", "--steps", "2"),
     "and no LLM is configured to draft them: pass --llm openai:MODEL or anthropic:MODEL"),
]


@pytest.mark.parametrize("args, sentence", CASES, ids=[sentence[:40] for _, sentence in CASES])
def test_a_user_error_is_one_sentence_with_exit_code_2(workdir, args, sentence):
    code, stderr, stdout = invoke(*args)
    assert code == cli.EXIT_USAGE, stderr
    assert stderr.startswith("error: ") and sentence in stderr
    assert "Traceback" not in stderr and stdout == ""


def test_kernelevolve_store_from_the_environment_is_named_in_the_sentence(workdir, monkeypatch):
    monkeypatch.setenv("KERNELEVOLVE_STORE", "garbage")
    code, stderr, _ = invoke("runs")
    assert code == 2 and "KERNELEVOLVE_STORE: 'garbage' is not a store URL" in stderr


def test_read_only_commands_create_nothing_and_leave_an_empty_file_empty(workdir):
    for args in (("show", "r"), ("runs",), ("lineage", "r", "1"), ("best", "r", "--out", "b.py"),
                 ("export", "r", "--out", "e.py")):
        code, stderr, _ = invoke(*args)
        assert code == 2 and "no store at" in stderr
    assert not (workdir / ".kernelevolve").exists()
    invoke("runs", "--store", "sqlite:///empty.db")
    assert (workdir / "empty.db").stat().st_size == 0


def test_a_truncated_database_is_refused_in_a_sentence(workdir):
    with open_store(root=workdir / "store") as st:
        run = st.ensure_run("r", str(PROBLEM), "p" * 64, "interpreter", {})
        for n in range(40):
            st.add_node(run.id, NewNode(None, "tuner", f"# {n}\n" * 200, {}, 1.0, False, "ok", tags={"change": "x" * 2000}))
    database = workdir / "store" / "kernelevolve.db"
    data = database.read_bytes()
    database.write_bytes(data[: len(data) // 3])
    code, stderr, _ = invoke("show", "r", "--store", f"sqlite:///{database}")
    assert code == 2 and "is not a readable kernelevolve store" in stderr


def test_a_conflicting_run_name_is_refused_before_any_worker_starts(workdir, monkeypatch):
    with open_store() as st:
        st.ensure_run("taken", "other.py", "0" * 64, "interpreter", {})

    def no_workers(config):
        raise AssertionError("workers started before the run name was checked")

    monkeypatch.setattr("kernelevolve.search.optimize.open_evaluator", no_workers)
    code, stderr, _ = invoke(*opt("--run", "taken"))
    assert code == 2 and "run 'taken' exists for another problem" in stderr and "choose another run name" in stderr


@pytest.fixture
def run_with_lost_files(workdir):
    with open_store() as st:
        run = st.ensure_run("r", str(PROBLEM), "p" * 64, "interpreter", {})
        kept = st.add_node(run.id, NewNode(None, "tuner", "# kept\n", {}, 1.0, False, "ok", tags={"change": "[/oops] [bold]x"}))
        lost = st.add_node(run.id, NewNode(kept.id, "llm", "# lost\n", {}, 2.0, False, "ok", tags={"change": "faster"}))
    shutil.rmtree(lost.kernel_path.parent)
    return kept, lost


def test_show_marks_nodes_whose_files_are_gone(run_with_lost_files):
    kept, lost = run_with_lost_files
    code, stderr, stdout = invoke("show", "r")
    assert code == 0 and "files gone" in stdout and "1 of 2 nodes have lost files" in stderr
    assert "[/oops] [bold]x" in stdout  # brackets from LLM text are text, not markup
    code, _, stdout = invoke("show", "r", "--json")
    missing = {n["id"]: n["missing_files"] for n in json.loads(stdout)["nodes"]}
    assert missing == {kept.id: [], lost.id: ["kernel.py", "result.json", "overview.md"]}


def test_lineage_shows_llm_text_as_text(run_with_lost_files):
    kept, _ = run_with_lost_files
    code, _, stdout = invoke("lineage", "r", kept.id)
    assert code == 0 and "[/oops] [bold]x" in stdout


def test_help_shows_bracketed_text_as_written():
    _, _, stdout = invoke("optimize", "--help")
    text = " ".join(stdout.split())
    assert "pip install 'kernelevolve[distributed]'" in text and "anthropic:MODEL[@weight][?option=value&...]" in text


def test_best_and_export_name_the_node_whose_files_are_gone_and_one_that_serves(run_with_lost_files, workdir):
    kept, lost = run_with_lost_files
    for command in ("best", "export"):
        code, stderr, _ = invoke(command, "r", "--out", "k.py")
        assert code == 2, stderr
        assert f"node {lost.id}'s files are gone" in stderr and f"node {kept.id} (score 1) still has its files" in stderr
    code, _, _ = invoke("best", "r", "--node", kept.id, "--out", "k.py")
    assert code == 0 and "# kept" in (workdir / "k.py").read_text()


def test_lineage_prints_operators_and_changes_with_brackets_as_text(run_with_lost_files):
    kept, lost = run_with_lost_files
    code, _, stdout = invoke("lineage", "r", lost.id)
    assert code == 0 and "[tuner]" in stdout and "[/oops] [bold]x" in stdout and "[llm]" in stdout


def test_json_stdout_stays_empty_when_the_problem_prints_at_import_and_fails(workdir):
    noisy = workdir / "noisy.py"
    noisy.write_text("print('hello from the problem')\n")  # no Model, no get_inputs
    code, stderr, stdout = invoke("eval", noisy, SEED, "--platform", "interpreter", "--json")
    assert code == 2 and stdout == "" and "hello from the problem" in stderr


def test_an_unexpected_error_is_reported_as_a_bug_with_its_traceback_in_a_file(workdir, monkeypatch):
    with open_store():
        pass

    def broken(self):
        raise RuntimeError("boom")

    monkeypatch.setattr("kernelevolve.store.Store.list_runs", broken)
    code, stderr, _ = invoke("runs")
    assert code == cli.EXIT_BUG and "internal error: RuntimeError: boom" in stderr and "this is a bug" in stderr
    log = Path(stderr.split("the traceback is in ")[1].split(";")[0])
    assert "Traceback" in log.read_text() and "Traceback" not in stderr
    log.unlink()
    code, stderr, _ = invoke("--debug", "runs")
    assert code == cli.EXIT_BUG and "Traceback" in stderr and "RuntimeError: boom" in stderr


def test_debug_shows_the_traceback_of_a_user_error(workdir, monkeypatch):
    monkeypatch.setenv("KERNELEVOLVE_DEBUG", "1")
    code, stderr, _ = invoke("runs", "--store", "notaurl")
    assert code == 2 and "Traceback" in stderr and "StoreURLError" in stderr
