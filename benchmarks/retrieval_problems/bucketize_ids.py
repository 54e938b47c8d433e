"""Held out for the retrieval benchmark: each value's bucket among sorted boundaries."""

import torch
import torch.nn as nn


class Model(nn.Module):
    def forward(self, values, boundaries):
        return torch.bucketize(values, boundaries)


SHAPES = {"n1m": {"n": 1_000_000, "buckets": 1000}}


def get_inputs(n=1_000_000, buckets=1000):
    return [torch.rand(n), torch.sort(torch.rand(buckets)).values]
