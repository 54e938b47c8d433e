"""dw = (x · dy).sum(0): the weight gradient of a per-column scale, a reduction over rows."""

import torch
import torch.nn as nn


class Model(nn.Module):
    def forward(self, x, dy):
        return (x * dy).sum(0)


SHAPES = {"m512_n256": {"m": 512, "n": 256}}
CHECK_SHAPES = {"m37_n123": {"m": 37, "n": 123}}


def get_inputs(m=512, n=256):
    return [torch.randn(m, n), torch.randn(m, n)]


def get_init_inputs():
    return []
