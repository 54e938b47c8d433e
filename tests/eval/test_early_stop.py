"""Early stop of timing: when a candidate's timing is abandoned, and what score it gets then."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from kernelevolve.config import OptimizeConfig
from kernelevolve.eval.result import Incumbent, ShapeTiming, TimingStop
from kernelevolve.eval.scoring import estimate_from_incumbent
from kernelevolve.eval.timing import clearly_slower


def test_timing_stops_only_past_the_ratio_and_only_against_a_timed_incumbent():
    assert clearly_slower(1.6, 1.0, 1.5)
    assert not clearly_slower(1.4, 1.0, 1.5)
    assert not clearly_slower(9.0, None, 1.5)  # the incumbent was not timed on this shape
    assert not clearly_slower(9.0, 1.0, 0.0)  # early stop off


def test_an_early_stopped_candidate_scores_below_the_incumbent_it_lost_to():
    incumbent = Incumbent.of(7, 2.0, [{"shape": "a", "candidate_ms": 1.0}, {"shape": "b", "candidate_ms": 4.0}], 1.5)
    assert incumbent is not None and incumbent.shape_ms == {"a": 1.0, "b": 4.0}
    timed = [ShapeTiming(shape="a", candidate_ms=2.0)]  # twice the incumbent's time on the first shape
    estimate = estimate_from_incumbent(timed, incumbent)
    assert estimate == pytest.approx(1.0)  # the incumbent's 2.0, halved
    assert estimate < incumbent.score
    stop = TimingStop(shape="a", node=7, candidate_ms=2.0, incumbent_ms=1.0, untimed=["b"], estimated_speedup=estimate)
    assert "2.00x the time of node 7" in stop.sentence() and "1 shape(s) left untimed" in stop.sentence()


def test_no_incumbent_without_timings_or_with_early_stop_off():
    assert Incumbent.of(1, 1.0, [], 1.5) is None
    assert Incumbent.of(1, 1.0, [{"shape": "a", "candidate_ms": 1.0}], 0.0) is None


def test_the_ratio_is_above_one_or_off(tmp_path):
    assert OptimizeConfig(problem=tmp_path / "p.py", early_stop=0).early_stop == 0
    with pytest.raises(ValidationError, match="ratio above 1"):
        OptimizeConfig(problem=tmp_path / "p.py", early_stop=1.0)
