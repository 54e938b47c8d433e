"""WuKong optimized FM, out = X (X^T Y), fused: one program per sample, D streamed in chunks.

Use this when a problem chains two small matmuls that share an operand (X^T Y then X Z, attention-like
products with a tiny inner dimension, low-rank interactions): both products stay in registers, the
shared operand is read once and the intermediate never goes to memory.

Matches a reference whose `Model.__init__(self)` takes no arguments and whose forward is
`torch.bmm(x, torch.bmm(x.transpose(1, 2), y))` with x (B, N, D), y (B, N, K), bf16 or fp16,
contiguous (suites/recsys/wukong_fm.py).

Tiling. Since out = sum over D-chunks c of X[:, c] (X[:, c]^T Y), the D axis splits into BLOCK_D
chunks that need no communication: per chunk, Z_c = X_c^T Y (BLOCK_D x K, fp32 via tl.dot with the
transposed tile) and out += X_c Z_c (the tile X_c already in registers). One program owns one
sample: Y (N x K) is loaded once, X once, out written once, which is the minimum traffic; the
reference reads X twice and writes and reads X^T Y in between. N and K are padded to powers of two
>= 16 (tl.dot's minimum) under masks; zero padding adds nothing to either product. Z_c is rounded to
the input dtype before the second product, as the reference rounds its intermediate, and so the
second tl.dot runs on tensor cores. On the CPU interpreter bf16 tl.dot is wrong (it multiplies bit
patterns), so tiles are upcast to fp32 there (UPCAST, set from `not x.is_cuda`).

Limits. At N = 16 a program holds a 16-row tile: the MMAs are tiny and the kernel is bound by
latency per program, where packing several samples per program (a block-diagonal product, or a
loop over samples) keeps more bytes in flight. N above 256 makes the N x BLOCK_D tile and the
N x K accumulator too large for registers; tile N across programs then (each recomputing Z_c, or a
split with a reduction of Z).
"""

import torch
import torch.nn as nn
import triton
import triton.language as tl

BLOCK_D = 64


@triton.jit
def wukong_fm_kernel(
    x_ptr, y_ptr, out_ptr, N, D, K,
    UPCAST: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_K: tl.constexpr,
):
    b = tl.program_id(0).to(tl.int64)
    n = tl.arange(0, BLOCK_N)
    k = tl.arange(0, BLOCK_K)
    n_mask = n < N
    nk_mask = n_mask[:, None] & (k[None, :] < K)
    y = tl.load(y_ptr + b * N * K + n[:, None] * K + k[None, :], mask=nk_mask, other=0.0)
    if UPCAST:
        y = y.to(tl.float32)
    x_base = x_ptr + b * N * D
    acc = tl.zeros((BLOCK_N, BLOCK_K), dtype=tl.float32)
    for d0 in range(0, D, BLOCK_D):
        d = d0 + tl.arange(0, BLOCK_D)
        xc = tl.load(x_base + n[:, None] * D + d[None, :], mask=n_mask[:, None] & (d[None, :] < D), other=0.0)
        if UPCAST:
            xc = xc.to(tl.float32)
        z = tl.dot(tl.trans(xc), y)  # (BLOCK_D, BLOCK_K), fp32
        z = z.to(x_ptr.dtype.element_ty)  # the reference's bf16 intermediate
        if UPCAST:
            z = z.to(tl.float32)
        acc = tl.dot(xc, z, acc)
    tl.store(out_ptr + b * N * K + n[:, None] * K + k[None, :], acc.to(out_ptr.dtype.element_ty), mask=nk_mask)


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x = x.contiguous()
        y = y.contiguous()
        batch, n, d = x.shape
        k = y.shape[2]
        out = torch.empty((batch, n, k), device=x.device, dtype=x.dtype)
        if out.numel() == 0:
            return out
        block_n = max(16, triton.next_power_of_2(n))
        block_k = max(16, triton.next_power_of_2(k))
        num_warps = 4 if block_n <= 64 else 8
        wukong_fm_kernel[(batch,)](
            x, y, out, n, d, k,
            UPCAST=not x.is_cuda, BLOCK_N=block_n, BLOCK_D=BLOCK_D, BLOCK_K=block_k,
            num_warps=num_warps, num_stages=2,
        )
        return out
