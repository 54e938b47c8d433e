"""RMSNorm backward (dx and dweight) with a split reduction for dweight.

Use this when a backward pass needs both a per-row result (dx of a norm layer, softmax backward)
and a reduction over rows (dweight, dbias, column sums): each program walks a contiguous band of
rows, writes their dx, and keeps its share of dweight in registers; a second small kernel adds the
per-program partials. No atomics, so the result is deterministic.

Matches a reference whose `Model.__init__(self)` takes no arguments and whose forward takes
x (M, N), weight (N,) and grad_out (M, N), bf16 or fp16, and returns (dx, dweight) computed in fp32
with eps = 1e-6 (suites/recsys/rmsnorm_backward.py).

Tiling: why. The operator is memory bound (3 * M * N * 2 bytes at least: x and dy read, dx
written), so the kernel's job is to keep enough loads in flight per SM. Kernel 1 processes a
[BLOCK_M, BLOCK_N] tile per step: BLOCK_N = N rounded up to a power of two (a whole row in
registers) and BLOCK_M = BLOCK_TILE // BLOCK_N rows, so every step moves the same BLOCK_TILE
elements per operand whatever N is (4 rows of 1024, 1 of 4096), and narrow rows (1.5-2 KB at
N = 768-1024) no longer mean tiny loads. num_warps = 4 per BLOCK_TILE elements (a row wider than
BLOCK_TILE scales it: 8 warps at N = 8192), i.e. 32 elements of each operand per thread. The row
loop is a tl.range with num_stages = 3: Triton software-pipelines the x and dy loads (async copies
into shared memory, two tiles ahead), which a plain range() does not get since no tl.dot consumes
them; this was the largest single gain. Both row sums (sum x^2, sum dy*w*x) are taken from x, so
they are independent (mean(dy*w*xhat) = rstd * mean(dy*w*x)). dy * xhat is summed over the tile's
rows into an fp32 [BLOCK_N] register vector. Each program owns a band of whole tiles; there are
PROGRAMS_PER_SM = 2 programs per SM (3-4 were slower, probably as shorter bands pay more pipeline
ramp-up),
but at most M / BLOCK_MIN_ROWS, so the programs x N fp32 partials (written, then read back by
kernel 2, mostly from L2) stay a few percent of the traffic (4096 x 8192: 128 programs, 4%).
Kernel 2 sums the partials with [BLOCK_G, BLOCK_COLS] = [256, 16] tiles (narrow column blocks
give more programs at N = 768-1024; tall ones few sequential steps) and stores dweight in the
weight's dtype; it costs about 4 us.

Measured times and fractions of copy bandwidth: benchmarks/results/recsys-cuda.md. What a
config sweep on an H100 showed: num_stages 2 was clearly slower than 3, 4-5 no better; a
BLOCK_TILE of 8192 with 8 warps was as good at N >= 4096 but slower at N = 768-1024; 3-4 programs
per SM were slower than 2. The previous version (one row per step, a plain range(), 4-16 warps)
kept too little in flight and reached at most 56% of copy bandwidth.

Limits. A whole row lives in registers: rows wider than BLOCK_TILE get BLOCK_M = 1 and more warps
(capped at 16, so rows past 16384 use more registers per thread and eventually spill); much wider
rows need a chunked two-pass row loop (sums first, then dx) re-reading the row from L2. The
pipeline keeps tiles of x and dy in shared memory (a few times 2 x 16 KB at N = 8192), so rows
wider than PIPELINE_MAX_N (not timed) run unpipelined (NUM_STAGES = 1) to keep it bounded. At
small M (a few thousand rows) there are fewer programs than SMs x PROGRAMS_PER_SM (128 at 4096
rows), so each SM has less in flight. N that is not a power of two wastes lanes of the tile (768
of 1024), not bandwidth. Rows or tiles past M load zeros (rstd stays finite) and store nothing.
The masks are 2-D blocks built from row and column vectors (the Triton interpreter fails when a
block mask is combined with a scalar bool). The ~4 us of kernel 2 plus its launch is 5% of the
time at the small shapes.
"""

import torch
import torch.nn as nn
import triton
import triton.language as tl

EPS = 1e-6
BLOCK_TILE = 4096  # elements per operand per step: BLOCK_M = max(1, BLOCK_TILE // BLOCK_N)
BLOCK_MIN_ROWS = 32  # a program owns at least this many rows (bounds the partials' share)
PROGRAMS_PER_SM = 2
CPU_PROGRAMS = 8  # the interpreter has no SMs: a few programs, each with a band of rows
BLOCK_G = 256
BLOCK_COLS = 16
PIPELINE_MAX_N = 8192  # wider rows run the row loop unpipelined (the stages' shared memory)


@triton.jit
def rmsnorm_bwd_rows_kernel(
    x_ptr, w_ptr, dy_ptr, dx_ptr, partial_ptr, M, N, rows_per_program, eps,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, NUM_STAGES: tl.constexpr,
):
    pid = tl.program_id(0)
    cols = tl.arange(0, BLOCK_N)
    col_mask = cols < N
    w = tl.load(w_ptr + cols, mask=col_mask, other=0.0).to(tl.float32)
    dw_acc = tl.zeros([BLOCK_N], dtype=tl.float32)
    first_row = pid * rows_per_program
    row_end = tl.minimum(first_row + rows_per_program, M)
    # tl.range's num_stages software-pipelines the x and dy loads (async copies into shared memory,
    # NUM_STAGES - 1 tiles ahead); a plain range() is not pipelined, as no tl.dot consumes them.
    for r0 in tl.range(first_row, first_row + rows_per_program, BLOCK_M, num_stages=NUM_STAGES):
        rows = r0 + tl.arange(0, BLOCK_M)
        # Row-vector and column-vector masks broadcast to a 2-D block mask: rows past the band or M
        # load zeros (rstd = 1/sqrt(eps), finite), contribute nothing to dweight and are not stored.
        mask = (rows[:, None] < row_end) & col_mask[None, :]
        offs = rows.to(tl.int64)[:, None] * N + cols[None, :]
        x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        dy = tl.load(dy_ptr + offs, mask=mask, other=0.0).to(tl.float32)
        wdy = dy * w[None, :]
        # Both row sums come from x directly, so they are independent (one round of reductions):
        # mean(wdy * xhat) = rstd * mean(wdy * x).
        sum_xx = tl.sum(x * x, axis=1)
        sum_wdyx = tl.sum(wdy * x, axis=1)
        rstd = 1.0 / tl.sqrt(sum_xx / N + eps)
        c = sum_wdyx * rstd * rstd / N
        dx = (wdy - x * c[:, None]) * rstd[:, None]
        tl.store(dx_ptr + offs, dx.to(dx_ptr.dtype.element_ty), mask=mask)
        dw_acc += tl.sum(dy * x * rstd[:, None], axis=0)
    tl.store(partial_ptr + pid.to(tl.int64) * N + cols, dw_acc, mask=col_mask)


@triton.jit
def sum_partials_kernel(partial_ptr, dw_ptr, G, N, BLOCK_G: tl.constexpr, BLOCK_COLS: tl.constexpr):
    cols = tl.program_id(0) * BLOCK_COLS + tl.arange(0, BLOCK_COLS)
    col_mask = cols < N
    acc = tl.zeros([BLOCK_G, BLOCK_COLS], dtype=tl.float32)
    for g0 in range(0, G, BLOCK_G):
        g = g0 + tl.arange(0, BLOCK_G)
        mask = (g[:, None] < G) & col_mask[None, :]
        acc += tl.load(partial_ptr + g[:, None].to(tl.int64) * N + cols[None, :], mask=mask, other=0.0)
    tl.store(dw_ptr + cols, tl.sum(acc, axis=0).to(dw_ptr.dtype.element_ty), mask=col_mask)


def _programs(device: torch.device, rows: int) -> int:
    if device.type == "cuda":
        per_device = torch.cuda.get_device_properties(device).multi_processor_count * PROGRAMS_PER_SM
    else:
        per_device = CPU_PROGRAMS
    return max(1, min(triton.cdiv(rows, BLOCK_MIN_ROWS), per_device))


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, x: torch.Tensor, weight: torch.Tensor, grad_out: torch.Tensor):
        x = x.contiguous()
        weight = weight.contiguous()
        grad_out = grad_out.contiguous()
        m, n = x.shape
        dx = torch.empty_like(x)
        dweight = torch.empty_like(weight)
        if n == 0:
            return dx, dweight
        block_n = triton.next_power_of_2(n)
        block_m = max(1, BLOCK_TILE // block_n)
        # Bands of whole tiles: rows_per_program is a multiple of BLOCK_M, then the program count
        # is recomputed so that no program is left without rows.
        rows_per_program = triton.cdiv(triton.cdiv(m, _programs(x.device, m)), block_m) * block_m
        programs = triton.cdiv(m, rows_per_program) if m > 0 else 1
        partial = torch.empty((programs, n), device=x.device, dtype=torch.float32)
        num_warps = 4  # for a BLOCK_TILE-element tile; a wider row (BLOCK_M = 1) scales it, so a
        # thread always holds BLOCK_TILE / (32 * num_warps) elements of each operand
        num_stages = 3
        rmsnorm_bwd_rows_kernel[(programs,)](
            x, weight, grad_out, dx, partial, m, n, rows_per_program, EPS,
            BLOCK_M=block_m, BLOCK_N=block_n,
            NUM_STAGES=num_stages if block_n <= PIPELINE_MAX_N else 1,
            num_warps=min(16, num_warps * max(1, block_n // BLOCK_TILE)),
        )
        sum_partials_kernel[(triton.cdiv(n, BLOCK_COLS),)](
            partial, dweight, programs, n, BLOCK_G=BLOCK_G, BLOCK_COLS=BLOCK_COLS, num_warps=4,
        )
        return dx, dweight
