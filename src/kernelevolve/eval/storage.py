"""Identity of live tensor storages: a key that no later storage can share.

An address is not an identity: the caching allocator hands a freed block to the next allocation,
so a temporary freed before a launch can have the very address the output gets afterwards. A key
here is a serial number bound to one storage object and dropped when that storage is freed, so a
storage allocated later at the same address gets a new key.
"""

from __future__ import annotations

import itertools
import weakref

import torch

# Taken before the guard wraps the method: the guard's own lookups are not candidate reads.
_untyped_storage = torch.Tensor.untyped_storage
_serials = itertools.count(1)
_live: dict[int, tuple[weakref.ref, int]] = {}  # id of a live storage object -> (its weakref, its key)


def storage_key(t: torch.Tensor) -> int:
    """The key of the storage ``t`` views; stable while that storage lives, never reused."""
    storage = _untyped_storage(t)  # torch keeps one Python object per live storage
    ident = id(storage)
    entry = _live.get(ident)
    if entry is not None and entry[0]() is storage:
        return entry[1]
    key = next(_serials)
    _live[ident] = (weakref.ref(storage, lambda _ref, ident=ident, key=key: _forget(ident, key)), key)
    return key


def _forget(ident: int, key: int) -> None:
    entry = _live.get(ident)
    if entry is not None and entry[1] == key:
        del _live[ident]


def untyped_storage(t: torch.Tensor) -> torch.UntypedStorage:
    return _untyped_storage(t)
