"""A KernelBench-style file, unmodified in form: module-level sizes too large for the interpreter,
torch.rand inputs, an nn.LayerNorm whose parameters start at weight 1 and bias 0."""

import torch
import torch.nn as nn


class Model(nn.Module):
    def __init__(self, features: int):
        super().__init__()
        self.ln = nn.LayerNorm(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ln(x)


batch_size = 64
features = 65535


def get_inputs():
    x = torch.rand(batch_size, features)
    return [x]


def get_init_inputs():
    return [features]
