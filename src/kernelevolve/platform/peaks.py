"""Datasheet peaks of the devices kernelevolve knows, by the name torch reports: the roofline
fractions of a timed kernel, and the figures the prompt gives for the detected device."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Peak:
    """Vendor datasheet peaks (dense, no sparsity) for roofline fractions."""

    bandwidth_gbps: float
    tflops: dict[str, float]  # by math dtype: bf16, fp16, tf32, fp32


# Dense figures: H100 SXM bf16 is ~989 TFLOP/s (1979 is the 2:4-sparse figure).
_PEAKS: list[tuple[tuple[str, ...], Peak]] = [
    (("H100", "PCIE"), Peak(2000.0, {"bf16": 756.0, "fp16": 756.0, "tf32": 378.0, "fp32": 51.0})),
    (("H100",), Peak(3350.0, {"bf16": 989.0, "fp16": 989.0, "tf32": 494.0, "fp32": 67.0})),
    (("H200",), Peak(4800.0, {"bf16": 989.0, "fp16": 989.0, "tf32": 494.0, "fp32": 67.0})),
    (("A100",), Peak(2039.0, {"bf16": 312.0, "fp16": 312.0, "tf32": 156.0, "fp32": 19.5})),
    (("MI300X",), Peak(5300.0, {"bf16": 1307.0, "fp16": 1307.0, "tf32": 654.0, "fp32": 163.4})),
    (("MI325X",), Peak(6000.0, {"bf16": 1307.0, "fp16": 1307.0, "tf32": 654.0, "fp32": 163.4})),
]


def peak_for(device_name: str) -> Peak | None:
    upper = device_name.upper()
    for keys, peak in _PEAKS:
        if all(k in upper for k in keys):
            return peak
    return None
