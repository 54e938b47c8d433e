"""Compare a candidate's saved outputs with the reference's, in the harness's own process.

Rules (documented in docs/correctness.md): same number of outputs; exact shape and dtype; plain
``torch.Tensor``; NaN and ±Inf at the same positions; elsewhere ``|out - ref| <= atol + rtol·|ref|``
with the dtype's tolerances; integer and bool outputs exactly equal. When the reference is so small
that ``atol`` alone would accept zeros, the relative L2 error must also stay within ``rtol``. Given
the float64 reference, an output failing those numeric rules still passes when every element is
within ``atol + rtol·|exact| + EXACT_SLACK·|ref - exact|`` of the exact value.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from kernelevolve.eval.inputs import Case
from kernelevolve.eval.result import ExactCheck, Mismatch
from kernelevolve.problem import Problem

SMALL_SCALE = 10.0  # reference max |x| below SMALL_SCALE·atol: atol alone proves nothing
# A kernel of PyTorch's precision in another order has an error as large as PyTorch's, independent
# of it; one more accurate has less. Twice PyTorch's own error per element (on top of the tolerance)
# accepts every correct more-accurate kernel measured while a dropped term or a 3% error still fails
# (docs/correctness.md has the numbers).
EXACT_SLACK = 2.0


class OutputUnreadable(Exception):
    """A candidate's output file could not be loaded as plain tensors."""


def load_outputs(path: Path) -> list[torch.Tensor]:
    try:
        values = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # an untrusted file: any failure to load it is the candidate's
        raise OutputUnreadable(f"{path.name}: {type(exc).__name__}: {exc}") from exc
    if not isinstance(values, list):
        raise OutputUnreadable(f"{path.name}: not a list of tensors")
    return values


def compare(
    got: list[torch.Tensor], expected: list[torch.Tensor], tolerance: Callable[[str], tuple[float, float]],
    exact: list[torch.Tensor | None] | None = None, slack: float = EXACT_SLACK,
) -> Mismatch | None:
    """None when every output matches, otherwise the first mismatch with its statistics. ``exact``:
    the float64 reference of each output (None where there is none), for the float64 rule with
    ``slack`` times PyTorch's own error (benchmarks/exact_rule.py measures the choice)."""
    if len(got) != len(expected):
        return Mismatch(pattern=f"returned {len(got)} outputs, the reference returns {len(expected)}")
    for index, (out, ref) in enumerate(zip(got, expected)):
        found = _compare_one(index, out, ref, tolerance, exact[index] if exact else None, slack)
        if found is not None:
            return found
    return None


def _against_exact(found: Mismatch, out: torch.Tensor, ref: torch.Tensor, exact: torch.Tensor,
                   slack: float) -> Mismatch | None:
    """None when the output is within the float64 rule; else ``found`` with the rule's numbers."""
    o, r, e = out.double(), ref.double(), exact.double()
    usable = torch.isfinite(o) & torch.isfinite(r) & torch.isfinite(e)  # NaN/Inf positions matched already
    zero = torch.zeros((), dtype=torch.float64)
    err_out = torch.where(usable, (o - e).abs(), zero)
    err_ref = torch.where(usable, (r - e).abs(), zero)
    bad = err_out > found.atol + found.rtol * e.abs() + slack * err_ref
    scale = e[usable].abs().max().item() if usable.any() else 0.0
    if 0.0 < scale < SMALL_SCALE * found.atol:  # atol alone would accept zeros: the L2 rule, with the slack
        tiny_bad = err_out.norm() > found.rtol * e[usable].norm() + slack * err_ref.norm()
    else:
        tiny_bad = False
    if not bad.any() and not tiny_bad:
        return None
    found.exact = ExactCheck(candidate_max_error=float(err_out.max()), reference_max_error=float(err_ref.max()),
                             mismatched=int(bad.sum()))
    return found


def _compare_one(index: int, out, ref: torch.Tensor, tolerance, exact: torch.Tensor | None,
                 slack: float) -> Mismatch | None:
    if type(out) is not torch.Tensor:
        return Mismatch(output_index=index, pattern=f"output is a {type(out).__name__}, not a plain torch.Tensor")
    if out.shape != ref.shape:
        return Mismatch(output_index=index, pattern=f"shape {tuple(out.shape)}, expected {tuple(ref.shape)}")
    if out.dtype != ref.dtype:
        return Mismatch(output_index=index, pattern=f"dtype {out.dtype}, expected {ref.dtype}")
    total = ref.numel()
    if not (ref.is_floating_point() or ref.is_complex()):
        bad = out != ref
        if bad.any():
            return _report(index, bad, out, ref, total, 0.0, 0.0, "values differ (exact match required)")
        return None
    dtype_name = str(ref.dtype).replace("torch.", "")
    atol, rtol = tolerance(dtype_name)
    work = torch.float64 if ref.dtype == torch.float64 else torch.float32
    o, r = out.to(work), ref.to(work)
    special = ~torch.isfinite(r) | ~torch.isfinite(o)
    same_special = (torch.isnan(o) & torch.isnan(r)) | (o == r)
    bad_special = special & ~same_special
    if bad_special.any():
        return _report(index, bad_special, o, r, total, atol, rtol, "NaN/Inf positions differ from the reference")
    found = _numeric(index, o, r, ~special, total, atol, rtol)
    if found is not None and exact is not None:
        return _against_exact(found, o, r, exact, slack)
    return found


def _numeric(index: int, o: torch.Tensor, r: torch.Tensor, finite: torch.Tensor, total: int, atol: float,
             rtol: float) -> Mismatch | None:
    """The tolerance rules on finite elements (NaN/Inf positions already match)."""
    diff = (o - r).abs()
    bad = finite & (diff > atol + rtol * r.abs())
    if bad.any():
        return _report(index, bad, o, r, total, atol, rtol, _pattern(bad, r.shape))
    r_f, o_f = r[finite], o[finite]
    scale = r_f.abs().max().item() if r_f.numel() else 0.0
    if 0.0 < scale < SMALL_SCALE * atol:
        rel = ((o_f - r_f).norm() / r_f.norm()).item()
        if rel > rtol:
            return Mismatch(
                output_index=index, total=total, atol=atol, rtol=rtol, max_rel_error=rel,
                pattern=f"reference values are tiny (max |x| = {scale:.3g}); relative L2 error {rel:.3g} > rtol",
            )
    return None


def _report(index, bad, o, r, total, atol, rtol, pattern) -> Mismatch:
    where = torch.nonzero(bad.reshape(r.shape))[0].tolist() if bad.any() else None
    finite = torch.isfinite(o) & torch.isfinite(r)
    diff = torch.where(finite, (o.double() - r.double()).abs(), torch.zeros((), dtype=torch.float64))
    rel = diff / r.double().abs().clamp_min(1e-12)
    got = expected = None
    if where is not None:
        got, expected = float(o[tuple(where)]), float(r[tuple(where)])
    return Mismatch(
        output_index=index,
        max_abs_error=float(diff.max()) if diff.numel() else None,
        max_rel_error=float(rel.max()) if rel.numel() else None,
        mismatched=int(bad.sum()),
        total=total,
        first_bad_index=where,
        got=got,
        expected=expected,
        atol=atol,
        rtol=rtol,
        pattern=pattern,
    )


def _pattern(bad: torch.Tensor, shape: torch.Size) -> str:
    """A short description of where the errors sit: everywhere, a tail, some rows…"""
    fraction = bad.float().mean().item()
    if fraction > 0.99:
        return "every element is wrong"
    if bad.dim() >= 1 and bad.shape[-1] > 1:
        cols = bad.reshape(-1, bad.shape[-1]).any(0)
        first = int(torch.nonzero(cols)[0])
        if cols[first:].all() and first > 0:
            return f"elements from column {first} of {bad.shape[-1]} on are wrong (a ragged tail unhandled?)"
    return f"{fraction:.1%} of elements are wrong"


def check_outputs(problem: Problem, ref_dir: Path, case_id: str, got: list[Any], expected: list[Any]) -> tuple[Mismatch | None, bool]:
    """Tolerance against PyTorch's output first; outside it, the float64 rule where the case has a
    float64 reference. Returns the mismatch (None: correct) and whether the float64 rule decided."""
    mismatch = compare(got, expected, problem.tolerance)
    exact_path = ref_dir / f"{case_id}.exact.pt"
    if mismatch is None or not exact_path.is_file():
        return mismatch, False
    mismatch = compare(got, expected, problem.tolerance, load_outputs(exact_path))
    return mismatch, mismatch is None


def timed_output_mismatch(problem: Problem, sets: list[Case], ref_dir: Path, out_dir: Path) -> str | None:
    """Every timed repetition's output against the reference of its own input set."""
    for case in sets:
        try:
            got = load_outputs(out_dir / f"{case.id}.timed.pt")
        except OutputUnreadable as exc:
            return f"shape {case.shape}: the output of timed repetition {case.timing_set} is missing or unreadable: {exc}"
        mismatch, _ = check_outputs(problem, ref_dir, case.id, got, load_outputs(ref_dir / f"{case.id}.pt"))
        if mismatch is not None:
            return (f"shape {case.shape}: the output of timed repetition {case.timing_set} (its own input set, "
                    f"seed {case.seed}) is wrong: {mismatch.pattern} (a result served from memory?)")
    return None
