"""Tiled matrix multiply with tl.dot, grouped tile order and autotuning.

Use this when a problem multiplies matrices (Linear layers, bmm, attention scores, GEMM followed by
elementwise work): it shows the K loop with an fp32 accumulator, masks for M, N and K that are not
multiples of the tile, grouped program order for L2 reuse, an epilogue cast to the output dtype, the
fp32 precision choice (TF32 or IEEE), an autotune list trimmed to one config where no GPU can time it,
and a work-around for the CPU interpreter's bf16 tl.dot.

Matches a reference whose `Model.__init__(self)` takes no arguments and whose forward is
`torch.matmul(a, b)` with 2D `a` (M, K) and `b` (K, N) of the same dtype (fp16, bf16 or fp32).
Any strides work: strides go to the kernel, so transposed inputs need no copy.
"""

import torch
import torch.nn as nn
import triton
import triton.language as tl

# Set True only when the problem allows TF32 for float32 (ALLOW_TF32): TF32 keeps ~10 mantissa bits
# and misses a 1e-4 tolerance; "ieee" is exact fp32 but runs without tensor cores.
ALLOW_TF32 = False

CONFIGS = [
    triton.Config({"BLOCK_M": 128, "BLOCK_N": 128, "BLOCK_K": 32, "GROUP_M": 8}, num_warps=8, num_stages=3),
    triton.Config({"BLOCK_M": 128, "BLOCK_N": 64, "BLOCK_K": 32, "GROUP_M": 8}, num_warps=4, num_stages=4),
    triton.Config({"BLOCK_M": 64, "BLOCK_N": 128, "BLOCK_K": 32, "GROUP_M": 8}, num_warps=4, num_stages=4),
    triton.Config({"BLOCK_M": 64, "BLOCK_N": 64, "BLOCK_K": 64, "GROUP_M": 8}, num_warps=4, num_stages=3),
]
# Choosing among several configs means timing them, which needs a GPU; the CPU interpreter gets one.
ACTIVE_CONFIGS = CONFIGS if torch.cuda.is_available() else CONFIGS[-1:]


@triton.autotune(configs=ACTIVE_CONFIGS, key=["M", "N", "K"])
@triton.jit
def matmul_kernel(
    a_ptr, b_ptr, c_ptr, M, N, K,
    stride_am, stride_ak, stride_bk, stride_bn, stride_cm, stride_cn,
    DOT_PRECISION: tl.constexpr, UPCAST: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, GROUP_M: tl.constexpr,
):
    # Grouped order: GROUP_M consecutive programs walk down a column of C tiles, so the B tiles they
    # share are still in L2 when the neighbours ask for them.
    pid = tl.program_id(0)
    num_pid_m = tl.cdiv(M, BLOCK_M)
    num_pid_n = tl.cdiv(N, BLOCK_N)
    num_pid_in_group = GROUP_M * num_pid_n
    group_id = pid // num_pid_in_group
    first_pid_m = group_id * GROUP_M
    group_size_m = min(num_pid_m - first_pid_m, GROUP_M)
    pid_m = first_pid_m + ((pid % num_pid_in_group) % group_size_m)
    pid_n = (pid % num_pid_in_group) // group_size_m

    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_k = tl.arange(0, BLOCK_K)
    a_ptrs = a_ptr + offs_m[:, None] * stride_am + offs_k[None, :] * stride_ak
    b_ptrs = b_ptr + offs_k[:, None] * stride_bk + offs_n[None, :] * stride_bn

    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k in range(0, tl.cdiv(K, BLOCK_K)):
        k_left = K - k * BLOCK_K
        # Zero padding is exact for a dot product: padded lanes add 0 * 0.
        a = tl.load(a_ptrs, mask=(offs_m[:, None] < M) & (offs_k[None, :] < k_left), other=0.0)
        b = tl.load(b_ptrs, mask=(offs_k[:, None] < k_left) & (offs_n[None, :] < N), other=0.0)
        if UPCAST:
            a = a.to(tl.float32)
            b = b.to(tl.float32)
        acc = tl.dot(a, b, acc, input_precision=DOT_PRECISION)
        a_ptrs += BLOCK_K * stride_ak
        b_ptrs += BLOCK_K * stride_bk

    c_ptrs = c_ptr + offs_m[:, None] * stride_cm + offs_n[None, :] * stride_cn
    c_mask = (offs_m[:, None] < M) & (offs_n[None, :] < N)
    tl.store(c_ptrs, acc.to(c_ptr.dtype.element_ty), mask=c_mask)


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        M, K = a.shape
        _, N = b.shape
        c = torch.empty((M, N), device=a.device, dtype=a.dtype)
        if M == 0 or N == 0:
            return c
        if K == 0:
            # An empty sum is zero; torch.zeros is an allocation, not compute on the inputs.
            return torch.zeros((M, N), device=a.device, dtype=a.dtype)
        precision = "tf32" if (a.dtype == torch.float32 and ALLOW_TF32) else "ieee"
        # The CPU interpreter multiplies bf16 bit patterns as integers in tl.dot; on a GPU keep bf16.
        upcast = a.dtype == torch.bfloat16 and not a.is_cuda

        def grid(meta):
            return (triton.cdiv(M, meta["BLOCK_M"]) * triton.cdiv(N, meta["BLOCK_N"]),)

        matmul_kernel[grid](
            a, b, c, M, N, K,
            a.stride(0), a.stride(1), b.stride(0), b.stride(1), c.stride(0), c.stride(1),
            DOT_PRECISION=precision, UPCAST=upcast,
        )
        return c
