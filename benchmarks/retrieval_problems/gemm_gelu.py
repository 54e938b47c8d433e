"""Held out for the retrieval benchmark: a linear layer followed by GELU."""

import torch
import torch.nn as nn
import torch.nn.functional as F


class Model(nn.Module):
    def __init__(self, d_in: int = 512, d_out: int = 1024):
        super().__init__()
        self.proj = nn.Linear(d_in, d_out)

    def forward(self, x):
        return F.gelu(self.proj(x))


SHAPES = {"m4096": {"m": 4096}}


def get_inputs(m=4096):
    return [torch.randn(m, 512)]


def get_init_inputs():
    return [512, 1024]
