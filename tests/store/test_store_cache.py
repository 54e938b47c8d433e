"""The evaluation cache: a result stored under a key is found again under that key."""

from __future__ import annotations

import math

import pytest

from kernelevolve.store import InvalidRecordError


def test_cached_result_is_found_under_its_key(store):
    store.put_cached_result("src:prob:cuda:v1", {"status": "ok", "speedup": 1.25})
    assert store.cached_result("src:prob:cuda:v1") == {"status": "ok", "speedup": 1.25}


def test_unknown_key_has_no_cached_result(store):
    assert store.cached_result("never-stored") is None


def test_putting_a_key_again_replaces_its_result(store):
    store.put_cached_result("k", {"status": "timeout"})
    store.put_cached_result("k", {"status": "ok"})
    assert store.cached_result("k") == {"status": "ok"}


def test_result_with_a_non_finite_number_is_refused(store):
    with pytest.raises(InvalidRecordError, match="cached result"):
        store.put_cached_result("k", {"ms": math.inf})
