"""Timing sets reach a candidate worker one at a time, as the reference worker drew them, and the
harness placing them never writes through a name the candidate planted (eval/feed.py)."""

from __future__ import annotations

from pathlib import Path

import torch

from kernelevolve.eval.feed import SetFeeder, set_file
from kernelevolve.eval.harness import _problem_fields
from kernelevolve.eval.inputs import cases_for, digest, timing_cases
from kernelevolve.eval.pool import WorkerPool
from kernelevolve.platform import InterpreterPlatform
from kernelevolve.problem import load_problem
from tests.eval.test_attacks import HERE

IDS = ["s0", "s1", "s2"]


def _references(tmp_path: Path) -> Path:
    refs = tmp_path / "refs"
    refs.mkdir()
    for k, set_id in enumerate(IDS):
        torch.save([torch.full((16,), float(k)), k], refs / set_file(set_id))
    return refs


def _placed(work: Path) -> list[str]:
    return sorted(p.name for p in work.iterdir() if p.name.startswith("timing-"))


def test_sets_are_placed_one_at_a_time_and_each_once(tmp_path):
    refs, work = _references(tmp_path), tmp_path / "work"
    work.mkdir()
    with SetFeeder(refs, work, IDS) as feeder:
        for k, set_id in enumerate(IDS):
            reply = feeder.place(set_id)
            assert reply["op"] == "fed"
            assert _placed(work) == [Path(reply["path"]).name]  # the set before it is gone
            values = torch.load(reply["path"], weights_only=True)
            assert torch.equal(values[0], torch.full((16,), float(k))) and values[1] == k
        assert feeder.place("s1")["op"] == "refused"  # once only
        assert feeder.place("s9")["op"] == "refused"  # not a set of this evaluation
        assert feeder.place({"id": "s0"})["op"] == "refused"
    assert _placed(work) == []  # the last one is removed with the feeder


def test_a_planted_link_is_replaced_not_written_through(tmp_path):
    refs, work = _references(tmp_path), tmp_path / "work"
    work.mkdir()
    outside = tmp_path / "outside.txt"
    outside.write_text("the candidate cannot make the harness write here")
    (work / "timing-s0.pt").symlink_to(outside)
    (work / "timing-s1.pt").mkdir()  # a directory under the next name: refused, nothing followed
    with SetFeeder(refs, work, IDS) as feeder:
        reply = feeder.place("s0")
        assert reply["op"] == "fed"
        assert not Path(reply["path"]).is_symlink()
        assert feeder.place("s1")["op"] == "refused"
    assert outside.read_text() == "the candidate cannot make the harness write here"


def test_a_renamed_directory_does_not_redirect_the_harness(tmp_path):
    refs, work = _references(tmp_path), tmp_path / "work"
    work.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with SetFeeder(refs, work, IDS) as feeder:
        work.rename(tmp_path / "moved")
        work.symlink_to(elsewhere)  # the candidate swaps its directory for a link
        feeder.place("s0")
    assert list(elsewhere.iterdir()) == []  # written, if at all, in the directory the harness made


def _references_with_timing(problem, out_dir: Path) -> dict:
    """What a reference worker replies when the platform times (the sets drawn and saved)."""
    pool = WorkerPool("reference", InterpreterPlatform())
    try:
        request = {"op": "reference", **_problem_fields(problem), "out_dir": str(out_dir),
                   "cases": [c.to_json() for c in cases_for(problem)], "timing": True, "max_elements": None}
        return pool.run(lambda worker: (worker.send(request), worker.receive(120))[1])
    finally:
        pool.close()


def test_the_reference_worker_saves_each_timing_set_it_drew(tmp_path):
    problem = load_problem(HERE / "problems" / "scale_add.py")
    cases = cases_for(problem)
    out_dir = tmp_path
    reply = _references_with_timing(problem, out_dir)
    timed = next(c for c in cases if c.timed)
    meta = next(c for c in reply["cases"] if c["id"] == timed.id)
    sets = timing_cases(timed, len(meta["timing_digests"]))
    assert len(sets) >= 5
    for case, expected in zip(sets, meta["timing_digests"]):
        assert digest(torch.load(out_dir / set_file(case.id), weights_only=True)) == expected
        assert (out_dir / f"{case.id}.pt").is_file()  # beside its reference output


def test_inputs_a_worker_could_only_unpickle_are_the_problems_fault(tmp_path):
    path = tmp_path / "numpy_count.py"
    path.write_text(
        "import numpy\nimport torch\nimport torch.nn as nn\n\n\n"
        "class Model(nn.Module):\n    def forward(self, x, n):\n        return x * int(n)\n\n\n"
        'SHAPES = {"n64": {"n": 64}}\n\n\n'
        "def get_inputs(n=64):\n    return [torch.randn(n), numpy.int64(n)]  # a numpy scalar\n\n\n"
        "def get_init_inputs():\n    return []\n")
    (tmp_path / "out").mkdir()
    reply = _references_with_timing(load_problem(path), tmp_path / "out")
    assert reply["status"] == "problem_fault", reply
    assert "numpy" in reply["reason"] and "without unpickling code" in reply["reason"]
