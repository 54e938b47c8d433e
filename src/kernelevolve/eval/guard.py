"""In-worker watch over a candidate's forward call: which Triton kernels it launched, which PyTorch
operators it ran and on what, which data it read into the host, whether it drew random numbers,
started threads, used side streams, or patched functions the harness relies on; and
sentinel-filling of every tensor it allocates uninitialized.

Loaded by the worker before any candidate code. It observes and records; ``rules`` turns a record
into reasons and the worker turns those into a ``rejected`` status.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from kernelevolve.eval import hostreads, storage
from kernelevolve.eval.storage import storage_key, untyped_storage

# Allocation, views and metadata: free. Copies: allowed, but an output must come from a Triton launch.
ALLOCATING = {"empty", "empty_like", "empty_strided", "new_empty", "new_empty_strided"}
FREE = ALLOCATING | {
    "zeros", "zeros_like", "ones", "ones_like", "full", "full_like", "new_zeros", "new_ones",
    "new_full", "fill_", "zero_", "arange", "scalar_tensor", "lift_fresh", "lift_fresh_copy",
    "view", "_unsafe_view", "reshape", "as_strided", "expand", "permute", "transpose", "t",
    "squeeze", "unsqueeze", "flatten", "unflatten", "select", "slice", "narrow", "split",
    "split_with_sizes", "chunk", "unbind", "alias", "detach", "view_as_real", "view_as_complex",
    "_reshape_alias", "contiguous", "clone", "copy_", "_to_copy", "to", "set_", "resize_",
    "_local_scalar_dense", "sym_size", "sym_stride", "sym_numel", "sym_storage_offset",
    "is_contiguous", "dim", "numel", "size", "stride", "storage_offset", "_has_compatible_shallow_copy_type",
    "record_stream", "_assert_tensor_metadata",
}
RANDOM = {
    "normal", "normal_", "uniform", "uniform_", "rand", "randn", "randint", "random_", "bernoulli",
    "bernoulli_", "randperm", "multinomial", "exponential_", "cauchy_", "log_normal_",
    "geometric_", "rand_like", "randn_like", "randint_like", "poisson",
}
COPIES = {"copy_", "_to_copy", "to", "clone", "contiguous", "lift_fresh_copy"}


def storage_digest(t: torch.Tensor) -> str:
    """A hash of every byte of a CPU tensor's storage (views included)."""
    import hashlib

    whole = torch.empty(0, dtype=torch.uint8).set_(untyped_storage(t))
    return hashlib.sha1(whole.numpy().tobytes()).hexdigest()


def sentinel_fill(t: torch.Tensor, variant: int) -> None:
    """Fill with a value no correct kernel leaves behind; variant 0 and 1 differ."""
    if t.numel() == 0:
        return
    if t.is_floating_point() or t.is_complex():
        t.fill_(float("nan") if variant == 0 else 12345.0)
    elif t.dtype == torch.bool:
        t.fill_(variant == 0)
    else:
        info = torch.iinfo(t.dtype)
        t.fill_(info.min + 7 if variant == 0 else info.max - 3)


@dataclass(frozen=True)
class ComputeOp:
    """A PyTorch operator that is neither allocation, view nor copy, as the watch saw it."""

    name: str
    largest_other: int  # numel of its largest tensor that no Triton kernel of this call produced
    produced_reads: int  # elements it read from storages this call's Triton kernels produced
    writes: frozenset[int]


@dataclass
class CallRecord:
    sources: dict[int, int] = field(default_factory=dict)  # storages of inputs and parameters -> numel
    launches: int = 0
    launched_kernels: list[str] = field(default_factory=list)
    written_storages: set[int] = field(default_factory=set)  # every tensor a Triton launch received
    produced: set[int] = field(default_factory=set)  # storages holding data this call's kernels made
    compute_ops: list[ComputeOp] = field(default_factory=list)
    random_ops: list[str] = field(default_factory=list)
    side_stream_launches: int = 0
    stream: Any = None  # the CUDA stream the call began on
    threads_started: int = 0
    processes_started: int = 0
    copied_into: set[int] = field(default_factory=set)  # storages a PyTorch copy_ of other data wrote
    after_launch: dict[int, str] = field(default_factory=dict)  # CPU storage -> digest right after its last launch
    host_reads: int = 0  # elements read into the host or Python
    host_doors: set[str] = field(default_factory=set)
    # what each launch ran, and how (see launch_signature); None: not traced (timed calls)
    launch_signatures: list[str] | None = None

    def received_source_elements(self) -> int:
        """Elements of the problem's inputs and parameters handed to this call's Triton kernels."""
        return sum(n for key, n in self.sources.items() if key in self.written_storages)


class _Watch(TorchDispatchMode):
    def __init__(self, guard: Guard):
        super().__init__()
        self.guard = guard

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        guard = self.guard
        record = guard.record
        if guard.in_launch or record is None:
            return out
        name = func.overloadpacket.__name__
        reads = [a for a in _flatten((args, kwargs)) if isinstance(a, torch.Tensor)]
        writes = [a for a in _flatten(out) if isinstance(a, torch.Tensor)]
        hostreads.charge_transfer(record, name, reads, writes)
        from_kernels = {storage_key(r) for r in reads} & record.produced
        if name == "copy_" and reads:
            # a copy of kernel-made data carries it on; a copy of anything else overwrites it
            target = storage_key(reads[0])
            source_keys = {storage_key(r) for r in reads[1:]}
            (record.produced.add if source_keys & record.produced else record.copied_into.add)(target)
            record.after_launch.pop(target, None)
        if name in ALLOCATING and isinstance(out, torch.Tensor):
            if guard.sentinel is not None:
                sentinel_fill(out, guard.sentinel)
        elif name in RANDOM:
            record.random_ops.append(name)
        elif name in FREE:
            if from_kernels:
                record.produced.update(storage_key(w) for w in writes)
        else:
            others = [r for r in reads if storage_key(r) not in record.produced] or ([] if reads else writes)
            produced_reads = sum({storage_key(r): r.numel() for r in reads if storage_key(r) in from_kernels}.values())
            write_keys = frozenset(storage_key(w) for w in writes)
            record.compute_ops.append(ComputeOp(name, max((o.numel() for o in others), default=0), produced_reads,
                                                write_keys))
            if produced_reads:
                record.produced.update(write_keys)
            for key in write_keys:  # a PyTorch write is judged by the rules, not by the digest
                record.after_launch.pop(key, None)
        return out


def _flatten(obj: Any) -> Iterator[Any]:
    if isinstance(obj, (list, tuple)):
        for item in obj:
            yield from _flatten(item)
    elif isinstance(obj, dict):
        for item in obj.values():
            yield from _flatten(item)
    else:
        yield obj


class Guard:
    """Installed once per worker, before candidate code is imported."""

    def __init__(self, device: str, modules: tuple[types.ModuleType, ...] = ()):
        """``modules``: the harness modules loaded in this process whose functions a cheat would
        replace (the worker passes them: the guard imports none of its callers)."""
        import triton  # after TRITON_INTERPRET is set by the worker's environment
        import triton.testing

        self.device = device
        self.record: CallRecord | None = None
        self.in_launch = False
        self.sentinel: int | None = 0
        self._launch_classes = _launch_classes(triton)
        self._original_runs = {cls: cls.run for cls in self._launch_classes}
        for cls in self._launch_classes:
            cls.run = self._wrap_run(cls.run)
        self._wrap_thread_starts()
        hostreads.install(self._candidate_record)
        self._protected = _protected_objects(triton, modules)
        self._snapshot = self._fingerprint()

    def _candidate_record(self) -> CallRecord | None:
        """The record of the call in progress, while candidate code (not a launch) is running."""
        return None if self.in_launch else self.record

    def _wrap_run(self, original: Callable[..., Any]) -> Callable[..., Any]:
        guard = self

        def run(fn_self, *args, **kwargs):
            if guard.record is None or guard.in_launch:
                return original(fn_self, *args, **kwargs)
            record = guard.record
            record.launches += 1
            record.launched_kernels.append(getattr(fn_self, "__name__", type(fn_self).__name__))
            if record.launch_signatures is not None:
                record.launch_signatures.append(launch_signature(fn_self, args, kwargs))
            tensors = [v for v in list(args) + list(kwargs.values()) if isinstance(v, torch.Tensor)]
            for value in tensors:
                record.written_storages.add(storage_key(value))
            # Relative to the stream the call began on: timing itself captures CUDA graphs on one.
            if guard.device == "cuda" and torch.cuda.current_stream() != record.stream:
                record.side_stream_launches += 1
            guard.in_launch = True
            try:
                return original(fn_self, *args, **kwargs)
            finally:
                for value in tensors:  # still inside the launch: these reads are the guard's own
                    key = storage_key(value)
                    record.copied_into.discard(key)
                    if key not in record.sources:
                        record.produced.add(key)
                    if value.device.type == "cpu":
                        record.after_launch[key] = storage_digest(value)
                guard.in_launch = False

        run.__kernelevolve_guard__ = True
        return run

    def _wrap_thread_starts(self) -> None:
        """Count threads and processes a call starts, by every door Python has (threading and
        _thread; fork, forkpty, posix_spawn, system, and the fork_exec behind subprocess and
        multiprocessing).

        Those started inside a Triton launch (its compiler runs ptxas) or by the harness's own
        baselines (torch.compile's compile workers) are not the candidate's and are not counted.
        A process started by a raw system call is not seen here; the sandbox's census of its
        PID namespace after the call still finds one that is left running."""
        import _posixsubprocess
        import _thread
        import subprocess

        guard = self

        def counted(original, field):
            def start(*args, **kwargs):
                if guard.record is not None and not guard.in_launch:
                    setattr(guard.record, field, getattr(guard.record, field) + 1)
                return original(*args, **kwargs)

            return start

        threading.Thread.start = counted(threading.Thread.start, "threads_started")
        _thread.start_new_thread = counted(_thread.start_new_thread, "threads_started")
        for module, name in ((os, "fork"), (os, "forkpty"), (os, "posix_spawn"), (os, "posix_spawnp"),
                             (os, "system"), (_posixsubprocess, "fork_exec"), (subprocess, "_fork_exec")):
            if hasattr(module, name):
                setattr(module, name, counted(getattr(module, name), "processes_started"))

    @contextmanager
    def watch(self, sentinel: int | None, sources: list[torch.Tensor], trace: bool = False) -> Iterator[CallRecord]:
        """Record one forward call of the candidate on ``sources`` (its inputs and parameters).

        ``sentinel`` picks the fill of uninitialised allocations; None leaves them alone (timed
        calls: a fill would be device work inside the timed region). ``trace`` records each launch's
        signature (checked calls, for duplicate detection; timed calls leave launches untouched)."""
        self.record = CallRecord(sources={storage_key(t): t.numel() for t in sources},
                                 launch_signatures=[] if trace else None)
        if self.device == "cuda":
            self.record.stream = torch.cuda.current_stream()
        self.sentinel = sentinel
        try:
            with _Watch(self):
                yield self.record
        finally:
            self.record = None

    def _fingerprint(self) -> dict[str, int]:
        return {name: id(getter()) for name, getter in self._protected.items() if _resolves(getter)}

    def patched(self) -> list[str]:
        """Functions the harness relies on that no longer are what they were at start."""
        now = self._fingerprint()
        changed = [name for name, ident in self._snapshot.items() if now.get(name) != ident]
        for cls in self._launch_classes:
            if not getattr(cls.run, "__kernelevolve_guard__", False):
                changed.append(f"{cls.__module__}.{cls.__name__}.run")
        return sorted(changed)


def launch_signature(fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """What one launch ran and how, without calling candidate code: the kernel's own cache key (its
    source and the functions it calls), the arguments (tensors by shape, strides and dtype, never by
    address), the grid (a callable grid by its code and the values it closes over) and the launch
    options. Two candidates whose calls launch the same signatures compile the same kernels and
    run them alike."""
    try:
        key = fn.cache_key if hasattr(fn, "cache_key") else _source_key(getattr(fn, "fn", fn))
    except Exception:  # a kernel whose key cannot be computed here: the signature stays distinct
        key = f"unkeyed:{id(fn)}"
    parts = [str(key)] + [_argument(a) for a in args]
    for name in sorted(kwargs):
        value = kwargs[name]
        parts.append(f"{name}={_grid(value) if name == 'grid' else _argument(value)}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def _source_key(fn: Any) -> str:
    import inspect

    return hashlib.sha256(inspect.getsource(fn).encode()).hexdigest()


def _argument(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"T{tuple(value.shape)}{value.stride()}{value.dtype}{value.device.type}"
    if isinstance(value, (int, float, bool, str, type(None))):
        return repr(value)
    return type(value).__name__ + ":" + repr(getattr(value, "value", "?"))  # tl.constexpr and the like


def _grid(grid: Any) -> str:
    code = getattr(grid, "__code__", None)
    if code is None:
        return _argument(grid) if not isinstance(grid, (tuple, list)) else repr(tuple(_argument(g) for g in grid))
    cells = [_argument(c.cell_contents) for c in (grid.__closure__ or ()) if _has_contents(c)]
    return f"grid:{hashlib.sha256(code.co_code).hexdigest()[:16]}:{code.co_consts!r}:{cells}"


def _has_contents(cell: Any) -> bool:
    try:
        cell.cell_contents
        return True
    except ValueError:
        return False


def _resolves(getter: Callable[[], Any]) -> bool:
    try:
        getter()
        return True
    except AttributeError:
        return False


def _launch_classes(triton: Any) -> list[type]:
    from triton.runtime.jit import JITFunction

    classes: list[type] = [JITFunction]
    try:
        from triton.runtime.interpreter import InterpretedFunction

        classes.append(InterpretedFunction)
    except ImportError:  # older triton keeps the interpreter elsewhere; JITFunction still covers it
        pass
    return classes


def _protected_objects(triton: Any, modules: tuple[types.ModuleType, ...]) -> dict[str, Callable[[], Any]]:
    """Comparison, timing and serialisation functions a cheat would patch."""
    import json
    import os

    names: dict[str, Callable[[], Any]] = {
        "torch.allclose": lambda: torch.allclose,
        "torch.isclose": lambda: torch.isclose,
        "torch.equal": lambda: torch.equal,
        "torch.testing.assert_close": lambda: torch.testing.assert_close,
        "torch.Tensor.__eq__": lambda: torch.Tensor.__eq__,
        "torch.Tensor.allclose": lambda: torch.Tensor.allclose,
        "torch.Tensor.data_ptr": lambda: torch.Tensor.data_ptr,
        "torch.Tensor.untyped_storage": lambda: torch.Tensor.untyped_storage,
        "torch.Tensor.cpu": lambda: torch.Tensor.cpu,
        "torch.Tensor.clone": lambda: torch.Tensor.clone,
        "torch.Tensor.numpy": lambda: torch.Tensor.numpy,
        "torch.Tensor.tolist": lambda: torch.Tensor.tolist,
        "torch.Tensor.__dlpack__": lambda: torch.Tensor.__dlpack__,
        "torch.utils.dlpack.to_dlpack": lambda: torch.utils.dlpack.to_dlpack,
        "torch.save": lambda: torch.save,
        "torch.load": lambda: torch.load,
        "torch.cuda.synchronize": lambda: torch.cuda.synchronize,
        "torch.cuda.Event": lambda: torch.cuda.Event,
        "torch.cuda.Event.record": lambda: torch.cuda.Event.record,
        "torch.cuda.Event.elapsed_time": lambda: torch.cuda.Event.elapsed_time,
        "torch.cuda.CUDAGraph.replay": lambda: torch.cuda.CUDAGraph.replay,
        "time.perf_counter": lambda: time.perf_counter,
        "time.perf_counter_ns": lambda: time.perf_counter_ns,
        "time.time": lambda: time.time,
        "time.monotonic": lambda: time.monotonic,
        "json.dumps": lambda: json.dumps,
        "os.write": lambda: os.write,
        "threading.Thread.start": lambda: threading.Thread.start,
        "_thread.start_new_thread": lambda: __import__("_thread").start_new_thread,
        "os.fork": lambda: os.fork,
        "os.posix_spawn": lambda: os.posix_spawn,
        "os.system": lambda: os.system,
        "_posixsubprocess.fork_exec": lambda: __import__("_posixsubprocess").fork_exec,
        "subprocess._fork_exec": lambda: __import__("subprocess")._fork_exec,
        "triton.testing.do_bench": lambda: triton.testing.do_bench,
    }
    for module in (sys.modules[__name__], hostreads, storage, *modules):
        for attr, value in vars(module).items():
            if callable(value) and getattr(value, "__module__", "") == module.__name__:
                names[f"{module.__name__}.{attr}"] = (lambda m=module, a=attr: getattr(m, a))
    return names
