"""Linear then ReLU, whose owner lets candidates keep the GEMM in PyTorch (a library GEMM) and
fuse the rest in Triton."""

import torch
import torch.nn as nn

ALLOW_TORCH_OPS = ["aten.addmm", "aten.mm"]


class Model(nn.Module):
    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)

    def forward(self, x):
        return torch.relu(self.linear(x))


batch_size = 33
in_features = 20
out_features = 48


def get_inputs():
    return [torch.rand(batch_size, in_features) - 0.5]


def get_init_inputs():
    return [in_features, out_features]
