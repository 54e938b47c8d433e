"""out = x.sum(1) + bias: a row reduction, then a small per-row bias."""

import torch
import torch.nn as nn


class Model(nn.Module):
    def forward(self, x, bias):
        return x.sum(1) + bias


SHAPES = {"m256_n512": {"m": 256, "n": 512}}
CHECK_SHAPES = {"m37_n123": {"m": 37, "n": 123}}


def get_inputs(m=256, n=512):
    return [torch.randn(m, n), torch.randn(m)]


def get_init_inputs():
    return []
