"""KernelBench's KLDivLoss: its inputs are probabilities (softmax of torch.rand); redrawn normal
inputs are not, and the reference gives NaN on them."""

import torch
import torch.nn as nn


class Model(nn.Module):
    def forward(self, predictions, targets):
        return torch.nn.functional.kl_div(torch.log(predictions), targets, reduction="batchmean")


batch_size = 16
dim = 37


def get_inputs():
    return [torch.rand(batch_size, dim).softmax(dim=-1), torch.rand(batch_size, dim).softmax(dim=-1)]


def get_init_inputs():
    return []
