"""Per-row cross-entropy of float32 logits against integer targets."""

import torch
import torch.nn as nn
import torch.nn.functional as F


class Model(nn.Module):
    def forward(self, logits, targets):
        return F.cross_entropy(logits, targets, reduction="none")


SHAPES = {"m128_c1000": {"m": 128, "c": 1000}}
CHECK_SHAPES = {"m37_c123": {"m": 37, "c": 123}}


def get_inputs(m=128, c=1000):
    return [torch.randn(m, c), torch.randint(0, c, (m,))]


def get_init_inputs():
    return []
