import torch
import torch.nn as nn
import triton
import triton.language as tl


@triton.jit
def matmul_gelu_kernel(x_ptr, w_ptr, out_ptr, m, n, k, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                       BLOCK_K: tl.constexpr):
    rows = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    cols = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for start in range(0, k, BLOCK_K):
        ks = start + tl.arange(0, BLOCK_K)
        a = tl.load(x_ptr + rows[:, None] * k + ks[None, :], mask=(rows[:, None] < m) & (ks[None, :] < k), other=0.0)
        b = tl.load(w_ptr + ks[:, None] * n + cols[None, :], mask=(ks[:, None] < k) & (cols[None, :] < n), other=0.0)
        acc += tl.dot(a, b)
    out = 0.5 * acc * (1.0 + tl.math.erf(acc * 0.7071067811865476))
    tl.store(out_ptr + rows[:, None] * n + cols[None, :], out.to(tl.float16),
             mask=(rows[:, None] < m) & (cols[None, :] < n))


@triton.jit
def copy_kernel(src_ptr, out_ptr, numel, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < numel
    tl.store(out_ptr + offs, tl.load(src_ptr + offs, mask=mask), mask=mask)


def triton_copy(t):
    out = torch.empty_like(t)
    copy_kernel[(triton.cdiv(t.numel(), 1024),)](t, out, t.numel(), BLOCK=1024)
    return out


class ModelNew(nn.Module):
    def forward(self, x, w):
        x, w = x.contiguous(), w.contiguous()
        m, k = x.shape
        n = w.shape[1]
        out = torch.empty((m, n), device=x.device, dtype=torch.float16)
        grid = (triton.cdiv(m, 64), triton.cdiv(n, 64))
        matmul_gelu_kernel[grid](x, w, out, m, n, k, BLOCK_M=64, BLOCK_N=64, BLOCK_K=32)
        return out
