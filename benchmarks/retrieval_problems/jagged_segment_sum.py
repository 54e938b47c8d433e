"""Held out for the retrieval benchmark: the sum of each segment of a jagged tensor, given offsets."""

import torch
import torch.nn as nn


class Model(nn.Module):
    def forward(self, values, offsets):
        lengths = offsets[1:] - offsets[:-1]
        segments = torch.repeat_interleave(torch.arange(lengths.numel()), lengths)
        out = torch.zeros(lengths.numel(), values.shape[1], dtype=values.dtype)
        return out.index_add_(0, segments, values)


SHAPES = {"b256": {"batch": 256, "max_len": 64}}


def get_inputs(batch=256, max_len=64):
    lengths = torch.randint(0, max_len + 1, (batch,))
    offsets = torch.cat([torch.zeros(1, dtype=torch.long), torch.cumsum(lengths, 0)])
    return [torch.randn(int(offsets[-1]), 32), offsets]
