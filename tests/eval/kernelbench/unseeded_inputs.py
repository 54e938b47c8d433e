"""get_inputs draws from Python's own generator, which torch.manual_seed does not fix."""

import random

import torch
import torch.nn as nn


class Model(nn.Module):
    def forward(self, x):
        return x * 2


def get_inputs():
    return [torch.full((4, 5), random.random())]


def get_init_inputs():
    return []
