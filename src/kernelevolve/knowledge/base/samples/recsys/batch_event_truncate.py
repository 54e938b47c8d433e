"""BatchEventTruncate: keep the newest max_len events of every sequence of a jagged batch.

Use this when a problem filters or truncates variable-length sequences packed with lengths (event
histories, jagged features, KeyedJaggedTensor values): a scan turns lengths into read and write
offsets, then a copy kernel moves each kept run to its place in the packed output.

Matches a reference whose `Model.__init__(self)` takes no arguments and whose forward takes
`values` (total,) packed sequences (any dtype), `lengths` int64 (F * B,), `num_features` and
`max_len` (Python ints) and returns (truncated values, min(lengths, max_len)), both packed in the
input's order, keeping the tail (newest events) of each sequence (suites/recsys/batch_event_truncate.py).

Tiling. Kernel 1 is one program that walks the F * B lengths in BLOCK_S chunks, clamps them
(writing the new lengths), and writes both prefix sums (input and output offsets) with tl.cumsum
plus a running carry. The host reads the output total once (a synchronisation every truncation
must pay: the output's size depends on the data) and allocates the output. Kernel 2 gives each
program BLOCK_SEG sequences and copies them as a [BLOCK_SEG, BLOCK_E] tile per step: each row is a
contiguous run of one sequence (coalesced loads and stores), many sequences per program keep
the grid small (hundreds of programs, not one per sequence) and every sequence costs only
ceil(max_len / BLOCK_E) steps whatever its length, since dropped events are never touched.

Limits. Kernel 1 is a single program: its BLOCK_S steps are serial (32768 lengths = 16 steps of
2048), cheap but not free at small batches; a multi-block scan (per-block totals, then a scan of
totals) scales further. Rows shorter than the tile width are masked lanes, and a tile walks up to
max_len even when all its sequences are shorter. The host read of the total costs one device
synchronisation (the reference pays one per feature).
"""

import torch
import torch.nn as nn
import triton
import triton.language as tl

BLOCK_S = 2048
BLOCK_SEG = 16
BLOCK_E = 256


@triton.jit
def clamp_and_scan_lengths_kernel(
    lengths_ptr, new_lengths_ptr, in_offsets_ptr, out_offsets_ptr, n_seq, max_len, BLOCK_S: tl.constexpr,
):
    # Offsets arrays have n_seq + 1 entries; entry 0 is zero (allocated so), entry i + 1 ends sequence i.
    carry_in = tl.zeros([], dtype=tl.int64)
    carry_out = tl.zeros([], dtype=tl.int64)
    for start in range(0, n_seq, BLOCK_S):
        offs = start + tl.arange(0, BLOCK_S)
        mask = offs < n_seq
        length = tl.load(lengths_ptr + offs, mask=mask, other=0).to(tl.int64)
        kept = tl.minimum(length, max_len)
        tl.store(new_lengths_ptr + offs, kept, mask=mask)
        tl.store(in_offsets_ptr + offs + 1, carry_in + tl.cumsum(length, axis=0), mask=mask)
        tl.store(out_offsets_ptr + offs + 1, carry_out + tl.cumsum(kept, axis=0), mask=mask)
        carry_in += tl.sum(length, axis=0)
        carry_out += tl.sum(kept, axis=0)


@triton.jit
def copy_tails_kernel(
    values_ptr, out_ptr, new_lengths_ptr, in_offsets_ptr, out_offsets_ptr, n_seq, max_len,
    BLOCK_SEG: tl.constexpr, BLOCK_E: tl.constexpr,
):
    seq = tl.program_id(0) * BLOCK_SEG + tl.arange(0, BLOCK_SEG)
    seq_mask = seq < n_seq
    kept = tl.load(new_lengths_ptr + seq, mask=seq_mask, other=0)
    # The kept events are the last `kept` of the input sequence.
    src = tl.load(in_offsets_ptr + seq + 1, mask=seq_mask, other=0) - kept
    dst = tl.load(out_offsets_ptr + seq, mask=seq_mask, other=0)
    for e0 in range(0, max_len, BLOCK_E):
        e = e0 + tl.arange(0, BLOCK_E)
        mask = seq_mask[:, None] & (e[None, :] < kept[:, None])
        v = tl.load(values_ptr + src[:, None] + e[None, :], mask=mask)
        tl.store(out_ptr + dst[:, None] + e[None, :], v, mask=mask)


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, values: torch.Tensor, lengths: torch.Tensor, num_features: int, max_len: int):
        values = values.contiguous()
        lengths = lengths.contiguous()
        n_seq = lengths.numel()
        new_lengths = torch.empty_like(lengths)
        in_offsets = torch.zeros(n_seq + 1, device=lengths.device, dtype=torch.int64)
        out_offsets = torch.zeros(n_seq + 1, device=lengths.device, dtype=torch.int64)
        if n_seq == 0:
            return values.new_empty(0), new_lengths
        clamp_and_scan_lengths_kernel[(1,)](
            lengths, new_lengths, in_offsets, out_offsets, n_seq, max_len, BLOCK_S=BLOCK_S, num_warps=8,
        )
        total = int(out_offsets[n_seq])
        out = values.new_empty(total)
        if total:
            grid = (triton.cdiv(n_seq, BLOCK_SEG),)
            copy_tails_kernel[grid](
                values, out, new_lengths, in_offsets, out_offsets, n_seq, max_len,
                BLOCK_SEG=BLOCK_SEG, BLOCK_E=BLOCK_E, num_warps=4,
            )
        return out, new_lengths
