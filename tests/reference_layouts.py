"""One reference layer, ``GatedScale(hidden, alpha=0.5)`` calling a helper ``gate`` and a constant
``EPS``, placed the ways users place it: defined in the problem file, in a sibling module, in an
installed package, or in a file loaded with importlib from another path."""

from __future__ import annotations

import site
import sys
import textwrap
from pathlib import Path

import pytest

GATE = """
import torch

EPS = 1e-6


def gate(x, alpha):
    return torch.sigmoid(x) * alpha + EPS
"""
LAYER = """
import torch
import torch.nn as nn


class GatedScale(nn.Module):
    def __init__(self, hidden: int, alpha: float = 0.5):
        super().__init__()
        self.proj = nn.Linear(hidden, hidden)
        self.alpha = alpha

    def forward(self, x, idx):
        return gate(self.proj(x), self.alpha)[idx]
"""
INPUTS = """
SHAPES = {"rows4096": {"n": 4096}}
CHECK_SHAPES = {"rows5": {"n": 5}}


def get_inputs(n=64):
    return [torch.randn(n, 64), torch.randint(0, n, (n,)).sort().values]


def get_init_inputs():
    return [64, 0.25]
"""
FORWARD_BODY = "return gate(self.proj(x), self.alpha)[idx]"
GATE_BODY = "return torch.sigmoid(x) * alpha + EPS"
INIT_SIGNATURE = "def __init__(self, hidden: int, alpha: float=0.5)"
LAYOUTS = ("inline", "sibling", "installed", "importlib")
MODULES = ("sib_gate", "sib_layers", "instlib", "instlib.gates", "instlib.layers", "gated_impl")


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def write_layout(layout: str, root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The problem file of ``layout`` under ``root``; sys.path and site-packages are patched for
    this test only (``isolated_imports`` undoes the modules it imports)."""
    if layout == "inline":
        return write(root / "problem.py", GATE + LAYER + "\nModel = GatedScale\n" + INPUTS)
    if layout == "sibling":  # the problem file puts its own directory on sys.path, as users do
        write(root / "sib_gate.py", GATE)
        write(root / "sib_layers.py", "from sib_gate import gate\n" + LAYER)
        header = "import pathlib\nimport sys\n\nsys.path.insert(0, str(pathlib.Path(__file__).parent))\n\n"
        return write(root / "problem.py", header + "import torch\nfrom sib_layers import GatedScale as Model\n" + INPUTS)
    if layout == "installed":  # a package in site-packages, as pip install leaves it
        packages = root / "site-packages"
        write(packages / "instlib" / "__init__.py", "")
        write(packages / "instlib" / "gates.py", GATE)
        write(packages / "instlib" / "layers.py", "from instlib.gates import gate\n" + LAYER)
        monkeypatch.syspath_prepend(str(packages))
        installed = site.getsitepackages()
        monkeypatch.setattr(site, "getsitepackages", lambda: [*installed, str(packages)])
        return write(root / "problem.py", "import torch\nfrom instlib.layers import GatedScale as Model\n" + INPUTS)
    if layout == "importlib":  # loaded by path, never registered in sys.modules
        write(root / "impl" / "gated.py", GATE + LAYER)
        loader = """
            import importlib.util
            import pathlib

            import torch

            _spec = importlib.util.spec_from_file_location("gated_impl", pathlib.Path(__file__).parent / "impl" / "gated.py")
            _impl = importlib.util.module_from_spec(_spec)
            _spec.loader.exec_module(_impl)
            Model = _impl.GatedScale
        """
        return write(root / "problem.py", textwrap.dedent(loader) + INPUTS)
    raise ValueError(layout)


@pytest.fixture
def isolated_imports(monkeypatch):
    """sys.path restored and the layouts' modules forgotten after the test."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield monkeypatch
    for name in MODULES:
        sys.modules.pop(name, None)
