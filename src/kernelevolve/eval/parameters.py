"""The same perturbation of parameters and buffers for the reference and for every model judged
beside it, so that identity initialisations (LayerNorm's weight 1 and bias 0) hide nothing.

Each floating tensor of the reference's ``state_dict`` gets noise drawn from a seed of its own name:
a tensor whose elements are all positive (weights of 1, running variances) is scaled by factors in
[0.5, 1.5), so it stays positive; any other is shifted by normal noise of half its RMS plus 0.05.
A buffer of 0s and 1s that holds both (a mask) and integer tensors are kept. A candidate's tensor
gets the perturbation of the reference tensor it matches: the one of the same ``state_dict`` name
and shape, else the next unmatched one of its shape in creation order. A problem opts out with
``PERTURB_PARAMETERS = False`` (docs/problems.md).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch

RELATIVE = 0.5  # of a tensor's RMS, the normal noise added to a tensor that is not all positive
ABSOLUTE = 0.05  # added to it, so that an all-zero bias moves too
SCALE_LOW, SCALE_HIGH = 0.5, 1.5  # the factors an all-positive tensor is scaled by


@dataclass(frozen=True)
class Perturbation:
    """One reference tensor's perturbation: ``x * scale + shift`` with noise from ``seed``."""

    name: str
    shape: tuple[int, ...]
    seed: int
    positive: bool  # scaled (stays positive) rather than shifted
    sigma: float  # the shift's standard deviation

    def apply(self, tensor: torch.Tensor) -> None:
        gen = torch.Generator().manual_seed(self.seed)
        noise = torch.rand(self.shape, generator=gen, dtype=torch.float64) if self.positive \
            else torch.randn(self.shape, generator=gen, dtype=torch.float64)
        with torch.no_grad():
            if self.positive:
                factor = SCALE_LOW + (SCALE_HIGH - SCALE_LOW) * noise
                tensor.copy_((tensor.double() * factor.to(tensor.device)).to(tensor.dtype))
            else:
                tensor.copy_((tensor.double() + self.sigma * noise.to(tensor.device)).to(tensor.dtype))


def _seed(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little") >> 1


def _kept(tensor: torch.Tensor, is_buffer: bool) -> bool:
    if not tensor.is_floating_point() or tensor.numel() == 0:
        return True
    if is_buffer:  # a mask: only 0s and 1s, and both of them
        zeros, ones = int((tensor == 0).sum()), int((tensor == 1).sum())
        return zeros > 0 and ones > 0 and zeros + ones == tensor.numel()
    return False


def perturb_reference(model: torch.nn.Module) -> list[Perturbation]:
    """Perturb the reference's floating parameters and buffers in place; the perturbations made,
    in ``state_dict`` order, for the models judged beside it."""
    buffers = {name for name, _ in model.named_buffers()}
    made = []
    for name, tensor in model.state_dict(keep_vars=True).items():
        if _kept(tensor, name in buffers):
            continue
        values = tensor.detach().double()
        positive = bool((values > 0).all())
        sigma = RELATIVE * float(values.pow(2).mean().sqrt()) + ABSOLUTE
        made.append(Perturbation(name, tuple(tensor.shape), _seed(name), positive, sigma))
        made[-1].apply(tensor.detach())
    return made


def perturb_like(model: torch.nn.Module, perturbations: list[Perturbation]) -> None:
    """Give ``model``'s tensors the perturbations of the reference tensors they match: by name and
    shape first, then the rest in creation order by shape."""
    tensors = {name: t for name, t in model.state_dict(keep_vars=True).items() if t.is_floating_point()}
    unmatched = list(tensors)
    pending = []
    for p in perturbations:
        tensor = tensors.get(p.name)
        if tensor is not None and tuple(tensor.shape) == p.shape and p.name in unmatched:
            unmatched.remove(p.name)
            p.apply(tensor.detach())
        else:
            pending.append(p)
    for p in pending:
        name = next((n for n in unmatched if tuple(tensors[n].shape) == p.shape), None)
        if name is not None:
            unmatched.remove(name)
            p.apply(tensors[name].detach())
