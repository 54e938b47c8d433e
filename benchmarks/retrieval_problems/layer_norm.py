"""Held out for the retrieval benchmark: layer normalisation over the last dimension."""

import torch
import torch.nn as nn


class Model(nn.Module):
    def __init__(self, dim: int = 768):
        super().__init__()
        self.norm = nn.LayerNorm(dim)

    def forward(self, x):
        return self.norm(x)


SHAPES = {"rows8192": {"rows": 8192}}


def get_inputs(rows=8192):
    return [torch.randn(rows, 768)]


def get_init_inputs():
    return [768]
