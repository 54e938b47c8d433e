"""Held out for the retrieval benchmark: softmax over each sequence of a jagged tensor, given offsets."""

import torch
import torch.nn as nn


class Model(nn.Module):
    def forward(self, values, offsets):
        lengths = (offsets[1:] - offsets[:-1]).tolist()
        return torch.cat([torch.softmax(seq, dim=0) for seq in torch.split(values, lengths)])


SHAPES = {"b256": {"batch": 256, "max_len": 64}}


def get_inputs(batch=256, max_len=64):
    lengths = torch.randint(0, max_len + 1, (batch,))
    offsets = torch.cat([torch.zeros(1, dtype=torch.long), torch.cumsum(lengths, 0)])
    return [torch.randn(int(offsets[-1]), 16), offsets]
