"""What a ``forward`` may return, and how it becomes the flat list of tensors saved and compared.

A forward returns one value, a tuple or list of values, or a dict of values keyed by strings. A
reference's values are tensors or Python numbers (bool, int, float: compared as 0-d tensors of
``torch.tensor(value)``'s dtype); a candidate's are tensors. The container is part of the output:
a candidate must return the reference's kind of container (tuple and list count as the same), with
the same length or keys. Rules and reasons are in docs/problems.md.
"""

from __future__ import annotations

from typing import Any

import torch

NUMBERS = (bool, int, float)


class OutputTypeError(Exception):
    """A reference returned something that cannot be compared: the message names it."""


def flatten(value: Any) -> tuple[str, list[Any]]:
    """(the container's description, its values in order); dict values in sorted key order."""
    if isinstance(value, dict):
        keys = sorted(value, key=str)
        return "a dict with keys " + ", ".join(map(repr, keys)), [value[k] for k in keys]
    if isinstance(value, (tuple, list)):
        return f"a sequence of {len(value)}", list(value)
    return "one value", [value]


def reference_outputs(value: Any) -> tuple[str, list[torch.Tensor]]:
    """A reference's outputs as tensors (numbers made 0-d tensors), or OutputTypeError."""
    structure, values = flatten(value)
    if isinstance(value, dict) and not all(isinstance(k, str) for k in value):
        raise OutputTypeError("the reference returns a dict whose keys are not all strings")
    if not values:
        raise OutputTypeError(f"the reference returns {structure}: there is no output to compare")
    tensors = []
    for index, item in enumerate(values):
        if isinstance(item, torch.Tensor):
            tensors.append(item)
        elif isinstance(item, NUMBERS):
            tensors.append(torch.tensor(item))
        else:
            where = "" if structure == "one value" else f" in output {index} of {structure}"
            raise OutputTypeError(
                f"the reference returns a {type(item).__name__}{where}: outputs must be tensors or Python "
                "numbers, alone or in a tuple, list or dict with string keys"
            )
    return structure, tensors
