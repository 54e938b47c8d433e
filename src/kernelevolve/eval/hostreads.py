"""Reads of tensor data into host memory or Python during a watched call: device-to-host copies,
``.item()``, and the doors that hand a tensor's memory to NumPy or raw buffers (``numpy()``,
``__array__``, ``tolist()``, ``__dlpack__``, ``untyped_storage()``).

A kernel that pulls its data into the host can compute there and write the answer back with a
trivial launch. Sizes and a few scalars are bookkeeping; more than ``allowed(scale)`` elements in
one call is computing on the host.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.utils.dlpack

HOST_READ_FLOOR = 1024  # elements a call may always read to the host (bounds checks, offsets)
HOST_READ_FRACTION = 0.01  # of the problem's largest tensor, when that is more than the floor

# Tensor methods that give Python or NumPy the tensor's memory without an ATen operator.
DOORS = ("numpy", "tolist", "__dlpack__", "untyped_storage")


def allowed(scale: int) -> int:
    return max(HOST_READ_FLOOR, int(HOST_READ_FRACTION * scale))


def install(counting: Callable[[], Any]) -> None:
    """Wrap the doors; ``counting()`` is the record to charge, or None outside candidate code."""
    for name in DOORS:
        setattr(torch.Tensor, name, _counted(getattr(torch.Tensor, name), name, counting))
    torch.utils.dlpack.to_dlpack = _counted(torch.utils.dlpack.to_dlpack, "to_dlpack", counting)


def _counted(original: Callable[..., Any], name: str, counting: Callable[[], Any]) -> Callable[..., Any]:
    def door(tensor, *args, **kwargs):
        record = counting()
        if record is not None and isinstance(tensor, torch.Tensor):
            record.host_reads += tensor.numel()
            record.host_doors.add(name)
        return original(tensor, *args, **kwargs)

    door.__name__ = getattr(original, "__name__", name)
    return door


def charge_transfer(record: Any, name: str, reads: list[torch.Tensor], writes: list[torch.Tensor]) -> None:
    """An ATen operator that moves device data to the CPU, or a scalar to Python."""
    if name == "_local_scalar_dense":
        record.host_reads += 1
        record.host_doors.add("item")
    elif any(r.device.type != "cpu" for r in reads):
        moved = sum(w.numel() for w in writes if w.device.type == "cpu")
        if moved:
            record.host_reads += moved
            record.host_doors.add(f"aten.{name} to the CPU")


def violation(record: Any, scale: int) -> str | None:
    limit = allowed(scale)
    if record.host_reads <= limit:
        return None
    return (f"reads {record.host_reads} elements of tensor data into the host ({', '.join(sorted(record.host_doors))}; "
            f"at most {limit} allowed for bookkeeping): compute must happen on the device, in Triton kernels")
