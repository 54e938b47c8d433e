"""BatchEventTruncate: keep the most recent ``max_len`` events of every (feature, sample) sequence of
a jagged batch of event-history features (a KernelEvolve case study, arXiv 2512.23236).

Layout (KeyedJaggedTensor order): ``lengths`` is int64 (F * B,), feature-major, entry f * B + b is
the number of events of sample b in feature f; ``values`` (int64 event ids) holds those sequences
back to back in the same order, each oldest first, so "most recent" is the tail. Outputs: the
truncated values, still packed in the same order, and the new lengths min(length, max_len).

Reading of the paper's shapes "features x events x max length": F features, sequences of 200
events on average (lengths uniform on [0, 400], so zero-length sequences occur and about half of
the sequences are cut), truncated to max_len; a batch of B = 1024 samples per call. The reference
loops over features as production preprocessing does, vectorised within a feature.
"""

import torch
import torch.nn as nn

SHAPES = {
    "9x200x200": {"F": 9, "E": 200, "max_len": 200, "B": 1024},
    "32x200x200": {"F": 32, "E": 200, "max_len": 200, "B": 1024},
    "1x200x100": {"F": 1, "E": 200, "max_len": 100, "B": 1024},
    # Out of distribution: long histories (mean 1000 events) cut hard, on a smaller batch.
    "ood-16x1000x50": {"F": 16, "E": 1000, "max_len": 50, "B": 512},
}
CHECK_SHAPES = {
    "3x9x7-B37": {"F": 3, "E": 9, "max_len": 7, "B": 37},
    "2x300x257-B5": {"F": 2, "E": 300, "max_len": 257, "B": 5},
    "1x20x1-B3": {"F": 1, "E": 20, "max_len": 1, "B": 3},
    "4x40x100-B11": {"F": 4, "E": 40, "max_len": 100, "B": 11},
}


class Model(nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, values: torch.Tensor, lengths: torch.Tensor, num_features: int, max_len: int):
        batch = lengths.numel() // num_features
        feature_lengths = lengths.view(num_features, batch)
        out_values, out_lengths = [], []
        for f, values_f in enumerate(torch.split(values, feature_lengths.sum(1).tolist())):
            lengths_f = feature_lengths[f]
            ends = torch.cumsum(lengths_f, 0)
            sample = torch.repeat_interleave(torch.arange(batch, device=values.device), lengths_f,
                                              output_size=values_f.numel())
            # 1 for a sequence's newest event, 2 for the one before it, ...
            age = ends[sample] - torch.arange(values_f.numel(), device=values.device)
            out_values.append(values_f[age <= max_len])
            out_lengths.append(lengths_f.clamp(max=max_len))
        return torch.cat(out_values), torch.cat(out_lengths)


def get_inputs(F: int = 9, E: int = 200, max_len: int = 200, B: int = 1024):
    lengths = torch.randint(0, 2 * E + 1, (F * B,), dtype=torch.int64)
    values = torch.randint(0, 1 << 40, (int(lengths.sum()),), dtype=torch.int64)
    return [values, lengths, F, max_len]


def get_init_inputs():
    return []
