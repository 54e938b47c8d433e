"""InterFormer's personalized FFN (PFFN): a position-wise FFN whose weights differ per token
position, followed by GELU and RMSNorm (a KernelEvolve case study, arXiv 2512.23236: a BMM + bias +
GELU + RMSNorm chain).

For x (B, T, D): h[b, t] = x[b, t] @ W[t] + bias[t] with W (T, D, H), then GELU (exact, erf), then
RMSNorm over H with a learned weight and eps = 1e-6. bf16 throughout, as production runs it; the
reference is the einsum + add + F.gelu + F.rms_norm a model writes (each one kernel, or more).

Shapes: the paper sweeps the batch from 64 to 2048; T = 32 tokens, D = H = 256 are fixed by the
constructor (get_init_inputs), so every shape, check shapes included, shares them and only B
varies: odd batches (1, 37) exercise the ragged tile of rows, and on the CPU interpreter B64 is
checked too (it is under the interpreter's size limit).
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

SHAPES = {
    "B64": {"B": 64},
    "B512": {"B": 512},
    "B2048": {"B": 2048},
    # Out of distribution: a larger, odd batch (a ragged last tile at production scale).
    "ood-B3001": {"B": 3001},
}
CHECK_SHAPES = {
    "B1": {"B": 1},
    "B37": {"B": 37},
}

TOKENS, D_IN, HIDDEN = 32, 256, 256
EPS = 1e-6


class Model(nn.Module):
    def __init__(self, tokens: int, d_in: int, hidden: int):
        super().__init__()
        bound = d_in ** -0.5  # nn.Linear's default range, per position
        self.weight = nn.Parameter(((torch.rand(tokens, d_in, hidden) * 2 - 1) * bound).bfloat16())
        self.bias = nn.Parameter(((torch.rand(tokens, hidden) * 2 - 1) * bound).bfloat16())
        self.norm_weight = nn.Parameter((1 + 0.1 * torch.randn(hidden)).bfloat16())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.einsum("btd,tdh->bth", x, self.weight) + self.bias
        h = F.gelu(h)
        return F.rms_norm(h, (h.shape[-1],), self.norm_weight, EPS)


def get_inputs(B: int = 64):
    return [torch.randn(B, TOKENS, D_IN).bfloat16()]


def get_init_inputs():
    return [TOKENS, D_IN, HIDDEN]
