"""Held out for the retrieval benchmark: batched attention scores, Q @ K^T scaled, then softmax."""

import torch
import torch.nn as nn


class Model(nn.Module):
    def forward(self, q, k):
        scores = torch.bmm(q, k.transpose(1, 2)) * (q.shape[-1] ** -0.5)
        return torch.softmax(scores, dim=-1)


SHAPES = {"b32": {"batch": 32, "seq": 256, "head_dim": 64}}


def get_inputs(batch=32, seq=256, head_dim=64):
    return [torch.randn(batch, seq, head_dim), torch.randn(batch, seq, head_dim)]
