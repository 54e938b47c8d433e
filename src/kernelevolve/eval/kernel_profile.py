"""What the compiler made of a candidate's kernels, read in the worker after its checked calls:
each compiled kernel's registers, spills, shared memory, warps and stages from Triton's compiled
metadata, and the occupancy they allow on this GPU. On the interpreter nothing is compiled: no
profiles."""

from __future__ import annotations

import types
from typing import Any

MAX_BLOCKS_PER_SM = 32  # resident thread blocks per SM on NVIDIA GPUs since Volta


def compiled_kernels(module: types.ModuleType, device: str) -> list[dict[str, Any]]:
    """One entry per kernel the candidate's ``@triton.jit`` functions compiled for ``device``."""
    import torch

    if not device.startswith("cuda") or not torch.cuda.is_available():
        return []
    limits = _sm_limits(torch.cuda.get_device_properties(torch.device(device)))
    index = torch.device(device).index or 0
    profiles = []
    for fn in _jit_functions(module):
        caches = getattr(fn, "device_caches", None)
        cache = caches.get(index) if isinstance(caches, dict) else None
        for compiled in (cache[0] if cache else {}).values():
            meta = getattr(compiled, "metadata", None)
            warps = int(getattr(meta, "num_warps", 0) or 0)
            regs, shared = getattr(compiled, "n_regs", None), int(getattr(meta, "shared", 0) or 0)
            profiles.append({
                "name": str(getattr(compiled, "name", getattr(fn, "__name__", "?"))),
                "registers": regs, "spills": getattr(compiled, "n_spills", None), "shared_bytes": shared,
                "num_warps": warps, "num_stages": int(getattr(meta, "num_stages", 0) or 0),
                "occupancy": occupancy(warps, regs, shared, *limits),
            })
    return profiles


def occupancy(num_warps: int, registers: int | None, shared_bytes: int, max_threads: int | None,
              regs_per_sm: int | None, shared_per_sm: int | None) -> float | None:
    """The share of an SM's thread slots that resident blocks of this kernel fill, as its warps,
    registers per thread and shared memory allow; None where a limit is unknown."""
    if not num_warps or registers is None or None in (max_threads, regs_per_sm, shared_per_sm):
        return None
    threads = num_warps * 32
    blocks = min(MAX_BLOCKS_PER_SM, max_threads // threads)
    if registers:
        blocks = min(blocks, regs_per_sm // (registers * threads))
    if shared_bytes:
        blocks = min(blocks, shared_per_sm // shared_bytes)
    return max(0, blocks) * threads / max_threads


def _sm_limits(props: Any) -> tuple[int | None, int | None, int | None]:
    return (getattr(props, "max_threads_per_multi_processor", None), getattr(props, "regs_per_multiprocessor", None),
            getattr(props, "shared_memory_per_multiprocessor", None))


def _jit_functions(module: types.ModuleType) -> list[Any]:
    """The module's Triton functions, unwrapped from autotuners and heuristics (their ``fn``)."""
    found = []
    for value in list(vars(module).values()):
        while value is not None and not hasattr(value, "device_caches") and hasattr(value, "fn"):
            value = value.fn
        if value is not None and hasattr(value, "device_caches") and all(value is not f for f in found):
            found.append(value)
    return found
