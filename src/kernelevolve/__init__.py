"""kernelevolve: search for Triton kernels that are correct and faster than PyTorch."""

__version__ = "0.1.0"
