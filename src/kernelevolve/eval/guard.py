"""In-worker watch over a candidate's forward call: which Triton kernels it launched, which PyTorch
operators it ran, whether it drew random numbers, started threads, used side streams, or patched
functions the harness relies on; and sentinel-filling of every tensor it allocates uninitialized.

Loaded by the worker before any candidate code. It observes; verdicts are returned as plain
strings and the worker turns them into a ``rejected`` status.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode

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
# A PyTorch compute op reading this fraction of the problem's largest tensor computes the answer.
LARGE_FRACTION = 0.10


def storage_key(t: torch.Tensor) -> int:
    return t.untyped_storage().data_ptr()


def storage_digest(t: torch.Tensor) -> str:
    """A hash of every byte of a CPU tensor's storage (views included)."""
    import hashlib

    whole = torch.empty(0, dtype=torch.uint8).set_(t.untyped_storage())
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


@dataclass
class CallRecord:
    launches: int = 0
    launched_kernels: list[str] = field(default_factory=list)
    written_storages: set[int] = field(default_factory=set)
    compute_ops: list[tuple[str, int, set[int]]] = field(default_factory=list)  # name, max numel read, storages touched
    random_ops: list[str] = field(default_factory=list)
    side_stream_launches: int = 0
    threads_started: int = 0
    copied_into: set[int] = field(default_factory=set)  # storages a PyTorch copy_ wrote since their last launch
    after_launch: dict[int, str] = field(default_factory=dict)  # CPU storage -> digest right after its last launch


class _Watch(TorchDispatchMode):
    def __init__(self, guard: Guard):
        super().__init__()
        self.guard = guard

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        guard = self.guard
        if guard.in_launch or guard.record is None:
            return out
        name = func.overloadpacket.__name__
        if name == "copy_" and args and isinstance(args[0], torch.Tensor):
            guard.record.copied_into.add(storage_key(args[0]))
        if name in ALLOCATING and isinstance(out, torch.Tensor):
            sentinel_fill(out, guard.sentinel)
        elif name in RANDOM:
            guard.record.random_ops.append(name)
        elif name not in FREE:
            reads = [a for a in _flatten((args, kwargs)) if isinstance(a, torch.Tensor)]
            writes = [a for a in _flatten(out) if isinstance(a, torch.Tensor)]
            largest = max((a.numel() for a in reads or writes), default=0)
            guard.record.compute_ops.append((name, largest, {storage_key(a) for a in reads + writes}))
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

    def __init__(self, device: str):
        import triton  # after TRITON_INTERPRET is set by the worker's environment
        import triton.testing

        self.device = device
        self.record: CallRecord | None = None
        self.in_launch = False
        self.sentinel = 0
        self._launch_classes = _launch_classes(triton)
        self._original_runs = {cls: cls.run for cls in self._launch_classes}
        for cls in self._launch_classes:
            cls.run = self._wrap_run(cls.run)
        self._wrap_thread_starts()
        self._protected = _protected_objects(triton)
        self._snapshot = self._fingerprint()

    def _wrap_run(self, original: Callable[..., Any]) -> Callable[..., Any]:
        guard = self

        def run(fn_self, *args, **kwargs):
            if guard.record is None or guard.in_launch:
                return original(fn_self, *args, **kwargs)
            record = guard.record
            record.launches += 1
            record.launched_kernels.append(getattr(fn_self, "__name__", type(fn_self).__name__))
            for value in list(args) + list(kwargs.values()):
                if isinstance(value, torch.Tensor):
                    record.written_storages.add(storage_key(value))
            if guard.device == "cuda" and torch.cuda.current_stream() != torch.cuda.default_stream():
                record.side_stream_launches += 1
            guard.in_launch = True
            try:
                return original(fn_self, *args, **kwargs)
            finally:
                guard.in_launch = False
                for value in list(args) + list(kwargs.values()):
                    if isinstance(value, torch.Tensor):
                        key = storage_key(value)
                        record.copied_into.discard(key)
                        if value.device.type == "cpu":
                            record.after_launch[key] = storage_digest(value)

        run.__kernelevolve_guard__ = True
        return run

    def _wrap_thread_starts(self) -> None:
        """Count threads a call starts, by either door (threading or the low-level _thread).

        Threads started inside a Triton launch (its compiler) or by the harness's own baselines
        (torch.compile's compile workers) are not the candidate's and are not counted."""
        import _thread

        guard = self

        def counted(original):
            def start(*args, **kwargs):
                if guard.record is not None and not guard.in_launch:
                    guard.record.threads_started += 1
                return original(*args, **kwargs)

            return start

        threading.Thread.start = counted(threading.Thread.start)
        _thread.start_new_thread = counted(_thread.start_new_thread)

    @contextmanager
    def watch(self, sentinel: int) -> Iterator[CallRecord]:
        """Record one forward call of the candidate."""
        self.record = CallRecord()
        self.sentinel = sentinel
        try:
            with _Watch(self):
                yield self.record
        finally:
            self.record = None

    @contextmanager
    def launches_only(self) -> Iterator[CallRecord]:
        """Count launches without the dispatch watch (its overhead must stay out of timings)."""
        self.record = CallRecord()
        try:
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

    def violations(self, record: CallRecord, outputs: list[torch.Tensor], scale: int) -> list[str]:
        """Reasons to reject one call; ``scale`` is the numel of the problem's largest tensor."""
        reasons: list[str] = []
        if record.launches == 0:
            reasons.append("launches no Triton kernel: the result must be computed by a @triton.jit kernel")
        if record.random_ops:
            reasons.append(
                f"draws random numbers ({', '.join(sorted(set(record.random_ops)))}): a candidate must not "
                "make its own inputs"
            )
        if record.threads_started:
            reasons.append(f"starts {record.threads_started} thread(s) during the call: work off the calling "
                           "thread can escape timing")
        if record.side_stream_launches:
            reasons.append("launches Triton kernels on a side stream, which escapes timing")
        out_keys = {storage_key(o) for o in outputs}
        threshold = max(1, int(LARGE_FRACTION * scale))
        for name, largest, keys in record.compute_ops:
            if largest >= threshold:
                reasons.append(
                    f"computes with the PyTorch operator aten.{name} on {largest} elements "
                    f"(the problem's largest tensor has {scale}): compute must happen in Triton kernels"
                )
                break
            if keys & out_keys:
                reasons.append(f"modifies its output with the PyTorch operator aten.{name} after the kernel")
                break
        for i, out in enumerate(outputs):
            key = storage_key(out)
            if key in record.copied_into:
                reasons.append(f"output {i} was overwritten by a PyTorch copy after its last Triton kernel")
                break
            if key in record.after_launch and storage_digest(out) != record.after_launch[key]:
                reasons.append(
                    f"output {i} changed after its last Triton kernel, outside PyTorch and Triton "
                    "(written through a NumPy view or raw memory)"
                )
                break
            if record.launches and key not in record.written_storages and out.numel():
                reasons.append(
                    f"output {i} was not written by any Triton kernel launched in this call "
                    "(it comes from PyTorch or from an earlier call)"
                )
                break
        return reasons


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


def _protected_objects(triton: Any) -> dict[str, Callable[[], Any]]:
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
        "triton.testing.do_bench": lambda: triton.testing.do_bench,
    }
    from kernelevolve.eval import candidate, inputs, timing, worker

    for module in (candidate, inputs, timing, worker):
        for attr, value in vars(module).items():
            if callable(value) and getattr(value, "__module__", "") == module.__name__:
                names[f"{module.__name__}.{attr}"] = (lambda m=module, a=attr: getattr(m, a))
    return names
