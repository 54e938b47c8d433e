"""Which GPU each evaluation worker runs on.

Candidate workers are spread evenly over the GPUs in use (``--gpus 0,1``, else every GPU this
process may see), several per GPU so that one candidate's compilation and checks overlap another's
timing. A worker sees its GPU alone (``CUDA_VISIBLE_DEVICES`` set to that one device), so the
candidate code inside it needs no device index. Timing on a GPU is serialised by that GPU's
gate (``eval/gate.py``).
"""

from __future__ import annotations

from collections.abc import Mapping

from kernelevolve.config import environ as read_environment


class PlacementError(ValueError):
    """The GPUs asked for are not ones this machine offers."""


def visible_gpus(count: int, environ: Mapping[str, str] | None = None) -> list[str]:
    """The device ids a worker may be given, as CUDA_VISIBLE_DEVICES would name them: the user's own
    CUDA_VISIBLE_DEVICES entries if set (ids, UUIDs or MIG names), else 0 .. count-1."""
    environ = read_environment() if environ is None else environ
    listed = environ.get("CUDA_VISIBLE_DEVICES")
    if listed is None:
        return [str(i) for i in range(count)]
    return [entry.strip() for entry in listed.split(",") if entry.strip()][:count]


def choose_gpus(requested: str | None, visible: list[str]) -> list[str]:
    """The GPUs ``--gpus`` names (indices into ``visible``, comma-separated), else all of them."""
    if not visible:
        if requested:
            raise PlacementError(f"--gpus {requested} asked for, but no GPU is visible here")
        return []
    if not requested:
        return list(visible)
    chosen: list[str] = []
    for part in requested.split(","):
        part = part.strip()
        if not part.isdigit() or int(part) >= len(visible):
            raise PlacementError(f"--gpus {requested}: {part!r} is not one of the visible GPUs "
                                 f"0..{len(visible) - 1}")
        if visible[int(part)] in chosen:
            raise PlacementError(f"--gpus {requested} names GPU {part} twice")
        chosen.append(visible[int(part)])
    return chosen


def gpus_here(requested: str | None = None) -> list[str]:
    """The GPUs of this machine that ``--gpus`` selects (all when it is not given)."""
    import torch

    return choose_gpus(requested, visible_gpus(torch.cuda.device_count()))


def next_gpu(gpus: list[str], busy: Mapping[str, int]) -> str | None:
    """The GPU a new evaluation goes to: the one with the fewest evaluations under way (the first of
    those on a tie); None when there are no GPUs (the interpreter)."""
    if not gpus:
        return None
    return min(gpus, key=lambda g: (busy.get(g, 0), gpus.index(g)))


def default_workers(gpus: int, cpus: int, per_gpu: int = 4) -> int:
    """Evaluations in flight when the user does not say: a few per GPU (compilation runs on the host
    meanwhile), never more than the host has cores; one on the interpreter."""
    if gpus <= 0:
        return 1
    return max(gpus, min(per_gpu * gpus, cpus))
