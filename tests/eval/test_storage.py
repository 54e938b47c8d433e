"""Storage keys are identities with lifetimes: a freed storage's key is never handed to another."""

from __future__ import annotations

import torch

from kernelevolve.eval.storage import storage_key


def test_views_of_one_storage_share_its_key():
    t = torch.randn(10)
    assert storage_key(t) == storage_key(t[2:5].view(3))


def test_storage_allocated_after_a_free_gets_a_new_key():
    keys, addresses = set(), set()
    for _ in range(500):  # small blocks: CPython ids and malloc addresses soon come back
        t = torch.empty(())
        keys.add(storage_key(t))
        addresses.add(t.data_ptr())
        del t
    assert len(keys) == 500
    assert len(addresses) < 500  # the addresses did repeat: an address-keyed identity would have collided
