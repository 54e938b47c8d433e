"""fp16 Conv1d (kernel size 3, 'same' padding, bias) as an implicit GEMM: three matmuls on one
aligned x tile, with the tap shifts applied to the products in the epilogue.

Use this when a problem convolves along one axis (Conv1d, a (1 x k) Conv2d, a causal or 'same'
padded sequence filter): the convolution becomes a matmul without materialising im2col.

Matches a reference whose `Model.__init__(self)` takes no arguments and whose forward is
`F.conv1d(x, weight, bias, padding=1)` with x (B, Cin, L), weight (Cout, Cin, 3), bias (Cout,),
all fp16 (suites/recsys/conv1d.py).

Tiling. For one sample b, out[b] (Cout, L) = bias + sum_k W_k @ X shifted by k - 1 columns, with
W_k = weight[:, :, k]. Loading X at columns l + k - 1 puts two of the three taps one element off
16-byte alignment: those become 2-byte register loads that cannot be cp.async copies, and a
kernel built that way was clearly slower at 768 channels in a sweep on an H100. So shift the products
instead: a program loads ONE aligned x tile [BLOCK_CI, BLOCK_L] per Cin step and feeds it to three
dots, Y_k += W_k @ X, in three fp32 accumulators; the epilogue forms out[:, t] = Y_0[:, t-1] +
Y_1[:, t] + Y_2[:, t+1] with two tl.gather column shifts, adds the bias and stores fp16. A tile
keeps HALO = 8 columns on each side, so the columns it stores (BLOCK_L - 16 per program) have both
neighbours and every tile start stays a multiple of 8; the zero padding is the load mask
0 <= col < L. The weight is copied once per call into tap-major (3, Cout, Cin) (.contiguous() of a
permuted view; 3.5 MB at 768 channels): each tap's tile is then rows of contiguous ci loaded as
16-byte copies, where the original layout (stride 3 along ci) makes every weight element a 2-byte
gather (several times slower in the same sweep). When L (or Cin) is a multiple of 8 the launcher says
so through a constexpr and the kernel rebuilds it as (L // 8) * 8, because Triton infers only
multiples of 16 by itself: L = 200 then still gets 16-byte loads and stores. The 1D grid puts the
channel tiles fastest, so the programs that read one x tile run back to back and x comes from
memory about once. Measured times against cuDNN and the channels-last conv2d:
benchmarks/results/recsys-cuda.md.

Limits. The three accumulators cost 3 * BLOCK_CO * BLOCK_L fp32 registers: at 64 x 128 with four
warps that is 192 a thread (255 used, no spill; by register count two programs share an SM).
Larger tiles spill or run one program an SM: 128 x 256 spilled hundreds of registers, while
128 x 128 x 64 with 8 warps and 3 stages was faster at 768 channels and slower at 96 in the
sweep. The halo wastes 16 of every BLOCK_L columns of MMA and x loads (12.5% at 128); Cout = 96
fills 1.5 of two 64-channel tiles. At Cin = 96, L = 200 the kernel is latency bound (short
programs, Cin / BLOCK_CI = 3 steps), well above the memory floor (x + out = 157 MB); a persistent kernel that
keeps the 55 KB weight on chip may do better there. Odd L or Cin fall back to 2-byte loads
(correct, slower). Offsets inside one sample (ci * L + l) and inside the weight are int32, so one
sample of x or out, and the weight, must each hold under 2^31 elements; the sample base
b * Cin * L is int64. On the CPU interpreter fp16 tl.dot and tl.gather are exact enough; no upcast
is needed.
"""

import torch
import torch.nn as nn
import triton
import triton.language as tl

BLOCK_CO = 64
BLOCK_L = 128
BLOCK_CI = 32
HALO = 8  # columns kept on each side of a tile; 8 fp16 = 16 bytes keeps tile starts aligned


@triton.jit
def conv1d_k3_kernel(
    x_ptr, w_ptr, bias_ptr, out_ptr,
    C_IN, C_OUT, L,
    L_MULT8: tl.constexpr, CIN_MULT8: tl.constexpr,
    BLOCK_CO: tl.constexpr, BLOCK_L: tl.constexpr, BLOCK_CI: tl.constexpr, HALO: tl.constexpr,
):
    # x (B, C_IN, L), w (3, C_OUT, C_IN), out (B, C_OUT, L), all contiguous.
    # (n // 8) * 8 equals n when the launcher says n % 8 == 0, and tells the compiler so: rows then
    # start on 16 bytes and the row-end masks are constant over 8 columns (16-byte cp.async loads).
    if L_MULT8:
        L = (L // 8) * 8
    if CIN_MULT8:
        C_IN = (C_IN // 8) * 8
    STEP: tl.constexpr = BLOCK_L - 2 * HALO  # output columns a program stores

    # Channel tiles vary fastest, then length tiles, then the sample.
    pid = tl.program_id(0)
    num_co_tiles = tl.cdiv(C_OUT, BLOCK_CO)
    num_l_tiles = tl.cdiv(L, STEP)
    pid_co = pid % num_co_tiles
    rest = pid // num_co_tiles
    pid_l = rest % num_l_tiles
    b = rest // num_l_tiles

    co = pid_co * BLOCK_CO + tl.arange(0, BLOCK_CO)
    co_mask = co < C_OUT
    t = tl.arange(0, BLOCK_L)
    col = pid_l * STEP - HALO + t  # x and out column at tile position t
    col_ok = (col >= 0) & (col < L)  # the zero padding, and the tail
    x_base = x_ptr + b.to(tl.int64) * C_IN * L  # int64: B * C_IN * L may pass 2^31
    tap_stride = C_OUT * C_IN

    acc0 = tl.zeros((BLOCK_CO, BLOCK_L), dtype=tl.float32)
    acc1 = tl.zeros((BLOCK_CO, BLOCK_L), dtype=tl.float32)
    acc2 = tl.zeros((BLOCK_CO, BLOCK_L), dtype=tl.float32)
    for ci0 in range(0, C_IN, BLOCK_CI):
        ci = ci0 + tl.arange(0, BLOCK_CI)
        ci_mask = ci < C_IN
        xt = tl.load(x_base + ci[:, None] * L + col[None, :], mask=ci_mask[:, None] & col_ok[None, :], other=0.0)
        w_mask = co_mask[:, None] & ci_mask[None, :]
        w_offs = co[:, None] * C_IN + ci[None, :]
        w0 = tl.load(w_ptr + w_offs, mask=w_mask, other=0.0)
        w1 = tl.load(w_ptr + tap_stride + w_offs, mask=w_mask, other=0.0)
        w2 = tl.load(w_ptr + 2 * tap_stride + w_offs, mask=w_mask, other=0.0)
        acc0 = tl.dot(w0, xt, acc0)
        acc1 = tl.dot(w1, xt, acc1)
        acc2 = tl.dot(w2, xt, acc2)

    # out[:, t] = acc0[:, t - 1] + acc1[:, t] + acc2[:, t + 1]; the clamped edge columns t = 0 and
    # t = BLOCK_L - 1 lie in the halo and are not stored.
    idx = tl.broadcast_to(t[None, :], (BLOCK_CO, BLOCK_L))
    left = tl.gather(acc0, tl.maximum(idx - 1, 0), axis=1)
    right = tl.gather(acc2, tl.minimum(idx + 1, BLOCK_L - 1), axis=1)
    bias = tl.load(bias_ptr + co, mask=co_mask, other=0.0).to(tl.float32)
    res = acc1 + left + right + bias[:, None]
    keep = (t >= HALO) & (t < BLOCK_L - HALO) & (col < L)
    out_base = out_ptr + b.to(tl.int64) * C_OUT * L
    tl.store(out_base + co[:, None] * L + col[None, :], res.to(out_ptr.dtype.element_ty),
             mask=co_mask[:, None] & keep[None, :])


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        x = x.contiguous()
        bias = bias.contiguous()
        w_taps = weight.permute(2, 0, 1).contiguous()  # (3, Cout, Cin): one small copy a call
        batch, c_in, length = x.shape
        c_out = weight.shape[0]
        out = torch.empty((batch, c_out, length), device=x.device, dtype=x.dtype)
        if out.numel() == 0:
            return out
        assert BLOCK_L > 2 * HALO and BLOCK_CI >= 16, "a tile must store columns; tl.dot needs K >= 16"
        grid = (triton.cdiv(c_out, BLOCK_CO) * triton.cdiv(length, BLOCK_L - 2 * HALO) * batch,)
        conv1d_k3_kernel[grid](
            x, w_taps, bias, out,
            c_in, c_out, length,
            L_MULT8=(length % 8 == 0), CIN_MULT8=(c_in % 8 == 0),
            BLOCK_CO=BLOCK_CO, BLOCK_L=BLOCK_L, BLOCK_CI=BLOCK_CI, HALO=HALO, num_warps=4, num_stages=4,
        )
        return out
