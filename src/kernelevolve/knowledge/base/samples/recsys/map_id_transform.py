"""MapIdTransform: branch-free binary search of every query id in a sorted id table.

Use this when a problem looks values up in a sorted array (id remapping, searchsorted, membership
tests against a vocabulary, bucketize with one shared boundary list): each lane searches its own
value with a fixed number of steps, so a warp never diverges.

Matches a reference whose `Model.__init__(self)` takes no arguments and whose forward takes a sorted
int64 table of unique ids `mapping` (U,) and int64 query ids `ids` (N,) and returns int64 (N,): the
1-indexed position of the id in the table, 0 when absent (suites/recsys/map_id_transform.py).

Tiling. One program per BLOCK_SIZE queries: the queries load and the result store are contiguous
(coalesced); the table is gathered at the probe positions. U.bit_length() steps (a constexpr, so
the loop unrolls) take the half-open interval [lo, hi) down to the insertion point; lanes already
done keep probing harmlessly under a mask. A last gather compares the id at the insertion point.
At the paper's sizes the table (800 B to 80 KB) stays in L1/L2, so the cost is about 14 dependent
cached loads per query plus one pass over the queries: launch and latency bound, where the
reference pays for several kernels (search, clamp, gather, compare, select).

Limits. Probes are dependent loads; a table far larger than L2 (the out-of-distribution shape)
makes each step a DRAM round trip, where an Eytzinger (breadth-first) layout of the table, a
cached top of the tree in shared memory, or more queries in flight per program would help.
Positions are int32 (U < 2^31).
"""

import torch
import torch.nn as nn
import triton
import triton.language as tl

BLOCK_SIZE = 512


@triton.jit
def map_id_kernel(map_ptr, ids_ptr, out_ptr, U, N, STEPS: tl.constexpr, BLOCK_SIZE: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
    mask = offs < N
    q = tl.load(ids_ptr + offs, mask=mask, other=0)
    lo = tl.zeros([BLOCK_SIZE], dtype=tl.int32)
    hi = tl.zeros([BLOCK_SIZE], dtype=tl.int32) + U
    for _ in tl.static_range(STEPS):
        active = lo < hi
        mid = (lo + hi) // 2
        v = tl.load(map_ptr + mid, mask=mask & active, other=0)
        go_right = v < q
        lo = tl.where(active & go_right, mid + 1, lo)
        hi = tl.where(active & (~go_right), mid, hi)
    in_table = lo < U
    hit = tl.load(map_ptr + lo, mask=mask & in_table, other=0)
    found = in_table & (hit == q)
    result = tl.where(found, lo.to(tl.int64) + 1, tl.zeros([BLOCK_SIZE], dtype=tl.int64))
    tl.store(out_ptr + offs, result, mask=mask)


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, mapping: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        mapping = mapping.contiguous()
        ids = ids.contiguous()
        n = ids.numel()
        out = torch.empty(n, device=ids.device, dtype=torch.int64)
        if n == 0:
            return out
        u = mapping.numel()
        grid = (triton.cdiv(n, BLOCK_SIZE),)
        map_id_kernel[grid](mapping, ids, out, u, n, STEPS=u.bit_length(), BLOCK_SIZE=BLOCK_SIZE, num_warps=4)
        return out
