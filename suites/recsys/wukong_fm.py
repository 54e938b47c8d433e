"""WuKong's optimized factorization machine: out = X (X^T Y), computed as two batched matmuls in
bf16 (a KernelEvolve case study, arXiv 2512.23236; WuKong, Zhang et al. 2024).

X (B, N, D) holds the N embeddings of each sample, Y (B, N, K) the rank-K projection the
optimized FM multiplies with, so the N x N interaction matrix X X^T is never formed: X^T Y is
(B, D, K), the result (B, N, K). Production runs it in bf16 with fp32 accumulation; the reference
is the two ``torch.bmm`` calls a model writes, with the intermediate rounded to bf16 between them.

Shapes: the paper's N in {16, 32, 64, 128}; B = 2048 samples, D = 128 (embedding width), K = 32 (a
compressed rank several times smaller than N at the larger sizes).

Inputs are drawn here (``dist``), scaled so the output is O(1): X at unit scale (embeddings after a
normalisation), Y divided by sqrt(N * D). The intermediate is rounded to bf16 in the reference, so a
correct kernel that keeps X^T Y in fp32 (or rounds it at other points) differs by about 2^-9 of the
terms it cancels; with outputs near unit scale that stays inside bf16's (2e-2, 2e-2). For the same
reason the distributions keep their character without breaking the scale: 'heavy_tailed' is
Student-t(2) clipped at ±5 (not ±1000) and rescaled to unit RMS, and 'large' multiplies X by 1000
and Y by 1e-6 (the intermediate and the output scale differ by 10^3, the output stays O(1)).
"""

import torch
import torch.nn as nn

SHAPES = {
    "2048x16x128x32": {"B": 2048, "N": 16, "D": 128, "K": 32},
    "2048x32x128x32": {"B": 2048, "N": 32, "D": 128, "K": 32},
    "2048x64x128x32": {"B": 2048, "N": 64, "D": 128, "K": 32},
    "2048x128x128x32": {"B": 2048, "N": 128, "D": 128, "K": 32},
    # Out of distribution: no dimension a power of two.
    "ood-512x100x192x24": {"B": 512, "N": 100, "D": 192, "K": 24},
}
CHECK_SHAPES = {
    "3x5x37x7": {"B": 3, "N": 5, "D": 37, "K": 7},
    "2x20x130x33": {"B": 2, "N": 20, "D": 130, "K": 33},
    "4x16x16x16": {"B": 4, "N": 16, "D": 16, "K": 16},
    "2x129x70x9": {"B": 2, "N": 129, "D": 70, "K": 9},
}

T2_CLIP = 5.0
T2_RMS = 1.7234  # RMS of Student-t(2) clipped at ±5: sqrt(2 asinh(5/sqrt 2) - 10/sqrt 27 + 25 (1 - 5/sqrt 27))


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.bmm(x, torch.bmm(x.transpose(1, 2), y))


def _draw(shape: tuple[int, ...], dist: str) -> torch.Tensor:
    if dist in ("normal", "large"):
        return torch.randn(shape)
    if dist == "uniform":
        return torch.rand(shape) * 2 - 1
    if dist == "heavy_tailed":
        chi = torch.randn((2, *shape)).pow(2).sum(0)
        return (torch.randn(shape) / torch.sqrt(chi / 2 + 1e-12)).clamp(-T2_CLIP, T2_CLIP) / T2_RMS
    raise ValueError(f"unknown distribution {dist!r}")


def get_inputs(B: int = 2048, N: int = 16, D: int = 128, K: int = 32, dist: str = "normal"):
    x = _draw((B, N, D), dist)
    y = _draw((B, N, K), dist) / (N * D) ** 0.5
    if dist == "large":
        x, y = x * 1e3, y * 1e-6
    return [x.bfloat16(), y.bfloat16()]


def get_init_inputs():
    return []
