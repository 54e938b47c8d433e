"""Cross-entropy in one Triton kernel, after a bounds check on the targets whose 0-d temporaries
are freed before the launch (their memory can be the output's next)."""

import torch
import torch.nn as nn
import triton
import triton.language as tl


@triton.jit
def cross_entropy_kernel(logits_ptr, targets_ptr, loss_ptr, c, BLOCK_C: tl.constexpr):
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK_C)
    logits = tl.load(logits_ptr + row * c + cols, mask=cols < c, other=-float("inf"))
    peak = tl.max(logits, axis=0)
    log_total = tl.log(tl.sum(tl.exp(logits - peak), axis=0)) + peak
    target = tl.load(targets_ptr + row)
    tl.store(loss_ptr + row, log_total - tl.load(logits_ptr + row * c + target))


class ModelNew(nn.Module):
    def forward(self, logits, targets):
        m, c = logits.shape
        if bool(targets.max() >= c) or bool(targets.min() < 0):
            raise ValueError("target out of range")
        loss = torch.empty(m, device=logits.device, dtype=logits.dtype)
        cross_entropy_kernel[(m,)](logits.contiguous(), targets, loss, c, BLOCK_C=triton.next_power_of_2(c))
        return loss
