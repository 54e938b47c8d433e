"""An EvalResult is always valid JSON: NaN and infinities (an unwritten output, a timing that
failed) are written as words and read back as floats, so the store never refuses a result."""

from __future__ import annotations

import json
import math

from kernelevolve.eval.result import CaseResult, EvalResult, Mismatch, ShapeTiming, Status
from kernelevolve.store.store import open_store


def strict_loads(text: str):
    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def non_finite_result() -> EvalResult:
    mismatch = Mismatch(max_abs_error=float("inf"), max_rel_error=float("nan"), got=float("nan"),
                        expected=float("-inf"), pattern="NaN/Inf positions differ from the reference")
    timing = ShapeTiming(shape="n4096", candidate_ms=float("inf"), speedup=float("nan"),
                         extra_baselines_ms={"fused": float("inf")})
    return EvalResult(status=Status.mismatch, speedup=float("nan"), timings=[timing],
                      cases=[CaseResult(shape="n4096", trial=0, distribution="normal", correct=False, mismatch=mismatch)])


def test_non_finite_floats_are_written_as_words_and_read_back():
    dumped = non_finite_result().model_dump(mode="json")
    mismatch = dumped["cases"][0]["mismatch"]
    assert (mismatch["got"], mismatch["expected"], mismatch["max_abs_error"]) == ("nan", "-inf", "inf")
    loaded = EvalResult.model_validate(strict_loads(json.dumps(dumped, allow_nan=False)))
    back = loaded.cases[0].mismatch
    assert math.isnan(back.got) and back.expected == -math.inf and back.max_abs_error == math.inf
    assert loaded.timings[0].candidate_ms == math.inf and loaded.timings[0].extra_baselines_ms["fused"] == math.inf
    assert math.isnan(loaded.speedup)


def test_finite_floats_stay_numbers():
    dumped = EvalResult(status=Status.ok, correct=True, speedup=1.25).model_dump(mode="json")
    assert dumped["speedup"] == 1.25


def test_store_keeps_a_result_with_nan_and_hands_it_back(tmp_path):
    store = open_store(root=tmp_path / "store")
    payload = non_finite_result().model_dump(mode="json")
    store.put_cached_result("key", payload)
    loaded = EvalResult.model_validate(store.cached_result("key"))
    assert math.isnan(loaded.cases[0].mismatch.got)
