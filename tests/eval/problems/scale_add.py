"""out = 2·x + y: a small elementwise problem for harness tests."""

import torch
import torch.nn as nn


class Model(nn.Module):
    def forward(self, x, y):
        return 2 * x + y


SHAPES = {"n4096": {"n": 4096}}
CHECK_SHAPES = {"n1000": {"n": 1000}, "n7": {"n": 7}}


def get_inputs(n=4096):
    return [torch.randn(n), torch.randn(n)]


def get_init_inputs():
    return []
