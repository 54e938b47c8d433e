"""The mechanical tuner: which literals it tunes, the variants it writes, how history steers it,
and that a tuned kernel still computes the right answer."""

from __future__ import annotations

import ast
import hashlib
import os
import random
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kernelevolve.graph import Graph, NodeView
from kernelevolve.operators.base import ExpansionContext, Proposal
from kernelevolve.operators.tuner import (
    BLOCK,
    GROUP,
    STAGES,
    WARPS,
    Tuner,
    lineage_history,
    tunable_parameters,
)
from kernelevolve.platform import InterpreterPlatform
from kernelevolve.problem import Problem

DATA = Path(__file__).parent / "data"
FIXTURES = ["scaled_add", "grouped_matmul", "row_softmax"]
PROBLEM = Problem(Path("problem.py"), "", "", [], {}, allow_tf32=False, trials=3)


def kernel(name: str) -> str:
    return (DATA / f"{name}.py").read_text()


def node(node_id: int, source: str, parent: int | None = None, score: float = 1.0) -> NodeView:
    digest = hashlib.sha256(source.encode()).hexdigest()
    return NodeView(node_id, parent, score, False, "ok", "tuner", digest, source)


def propose(nodes: list[NodeView], parent: NodeView | None, seed: int = 0) -> Proposal:
    ctx = ExpansionContext(PROBLEM, parent, Graph(nodes), InterpreterPlatform(), random.Random(seed))
    return Tuner().propose(ctx)


def with_params(source: str, **values: int) -> str:
    """A hand-made variant: each named single-occurrence parameter set to a new value."""
    for name, value in values.items():
        source, count = re.subn(rf"\b{name}( ?= ?)\d+", rf"{name}\g<1>{value}", source)
        assert count == 1
    return source


def block_size_step(block_size: int, score: float) -> tuple[NodeView, NodeView]:
    """The scaled-add kernel (score 1.0) and a child that only changed BLOCK_SIZE, scoring ``score``."""
    source = kernel("scaled_add")
    return node(0, source, score=1.0), node(1, with_params(source, BLOCK_SIZE=block_size), 0, score)


# --- what is tunable ------------------------------------------------------------------------------


def test_launch_block_size_and_num_warps_are_tunable():
    assert tunable_parameters(kernel("scaled_add")) == {"BLOCK_SIZE": [1024], "num_warps": [4]}


def test_every_autotune_config_value_is_tunable():
    params = tunable_parameters(kernel("grouped_matmul"))
    assert params["BLOCK_SIZE_M"] == [128, 64, 64]
    assert params["GROUP_SIZE_M"] == [8, 8, 8]
    assert params["num_warps"] == [8, 4, 4]
    assert params["num_stages"] == [3, 4, 4]


def test_computed_block_size_is_not_tunable():
    assert tunable_parameters(kernel("row_softmax")) == {"num_warps": [8]}


def test_literals_without_a_tunable_name_or_value_are_left_alone():
    source = textwrap.dedent(
        """
        SHAPES = [(4096,), (1024, 1024)]
        n = 1024
        block_id = 4
        BLOCK = 100
        num_warps = 32
        launch(x * 2, flag=True, size=256)
        """
    )
    assert tunable_parameters(source) == {}


def test_constexpr_defaults_and_config_kwargs_are_tunable():
    source = textwrap.dedent(
        """
        XBLOCK: tl.constexpr = 256
        def kernel(x_ptr, BLOCK_K: tl.constexpr = 64, scale=2):
            pass
        configs = [triton.Config(kwargs={"BLOCK_M": 32}, num_stages=2)]
        """
    )
    assert tunable_parameters(source) == {
        "XBLOCK": [256],
        "BLOCK_K": [64],
        "BLOCK_M": [32],
        "num_stages": [2],
    }


def test_tuple_chained_attribute_and_walrus_bindings_are_tunable():
    source = textwrap.dedent(
        """
        BLOCK_M, BLOCK_N = 64, 32
        (BLOCK_K, (num_warps, num_stages)) = 16, (4, 3)
        TILE_M = TILE_N = 128
        class ModelNew:
            def __init__(self):
                self.BLOCK_SIZE = 1024
        if (GROUP_SIZE_M := 8) > 1:
            pass
        first, *rest = 64, 64, 64
        """
    )
    assert tunable_parameters(source) == {
        "BLOCK_M": [64], "BLOCK_N": [32], "BLOCK_K": [16], "num_warps": [4], "num_stages": [3],
        "TILE_M": [128], "BLOCK_SIZE": [1024], "GROUP_SIZE_M": [8],
    }


def test_a_chained_assignment_is_one_literal_rewritten_cleanly():
    source = "BLOCK_M = BLOCK_N = 64\n"
    parent = node(0, source)
    assert propose([parent], parent).source in ("BLOCK_M = BLOCK_N = 32\n", "BLOCK_M = BLOCK_N = 128\n")


def test_launcher_defaults_dict_literals_and_min_caps_are_tunable():
    source = textwrap.dedent(
        """
        def softmax(x, BLOCK_SIZE=1024, eps=1e-5):
            block = min(triton.next_power_of_2(x.shape[1]), 4096)
            BLOCK = min(triton.next_power_of_2(x.shape[1]), 2048)
            kernel[grid](x, **{"XBLOCK": 256, "n": 7})
        """
    )
    assert tunable_parameters(source) == {"BLOCK_SIZE": [1024], "block": [4096], "BLOCK": [2048], "XBLOCK": [256]}


def test_both_arms_of_a_conditional_setting_are_tunable():
    source = "num_warps = 4 if BLOCK_SIZE <= 2048 else (8 if BLOCK_SIZE <= 8192 else 16)\n"
    assert tunable_parameters(source) == {"num_warps": [4, 8, 16]}


def test_asserted_bounds_narrow_the_values_tried():
    source = textwrap.dedent(
        """
        def kernel(x_ptr, BLOCK_SIZE: tl.constexpr):
            tl.static_assert(BLOCK_SIZE >= 128 and BLOCK_SIZE <= 256, "one tile per row")
        kernel[grid](x, BLOCK_SIZE=128)
        """
    )
    parent = node(0, source)
    assert propose([parent], parent).source == source.replace("=128)", "=256)")
    tried = node(1, source.replace("=128)", "=256)"), 0)
    assert propose([parent, tried], parent).source is None


# --- the variants ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", FIXTURES)
def test_variant_parses_and_differs_from_its_parent(name):
    parent = node(0, kernel(name))
    proposal = propose([parent], parent)
    ast.parse(proposal.source)
    assert proposal.source != parent.source
    assert tunable_parameters(proposal.source) != tunable_parameters(parent.source)


@pytest.mark.parametrize("name", FIXTURES)
def test_variant_changes_one_or_two_literals_to_neighbours(name):
    parent = node(0, kernel(name))
    for seed in range(10):
        proposal = propose([parent], parent, seed)
        assert re.sub(r"\d+", "#", proposal.source) == re.sub(r"\d+", "#", parent.source)
        before, after = tunable_parameters(parent.source), tunable_parameters(proposal.source)
        changed = [(b, a) for p in before for b, a in zip(before[p], after[p]) if a != b]
        assert 1 <= len(changed) <= 2
        assert all(a in (b * 2, b // 2, b + 1, b - 1) for b, a in changed)


def test_rewrite_keeps_text_around_non_ascii_characters():
    source = 'launch(grid, "π≈3.14", BLOCK=64)  # ünïcode\n'
    parent = node(0, source)
    proposal = propose([parent], parent)
    assert proposal.source in (
        'launch(grid, "π≈3.14", BLOCK=32)  # ünïcode\n',
        'launch(grid, "π≈3.14", BLOCK=128)  # ünïcode\n',
    )


def test_reason_says_what_changed():
    parent = node(0, kernel("scaled_add"))
    proposal = propose([parent], parent)
    assert re.fullmatch(r"((BLOCK_SIZE|num_warps) \d+->\d+(, )?)+ \(an untried neighbour\)", proposal.reason)


def test_autotune_values_are_named_by_occurrence():
    parent = node(0, kernel("grouped_matmul"))
    assert re.match(r"\w+\[\d\] \d+->\d+", propose([parent], parent).reason)


def test_variant_avoids_sources_already_in_the_graph():
    source = kernel("scaled_add")
    parent = node(0, source)
    tried = [
        with_params(source, BLOCK_SIZE=512),
        with_params(source, BLOCK_SIZE=2048),
        with_params(source, num_warps=2),
    ]
    nodes = [parent] + [node(i + 1, s, 0) for i, s in enumerate(tried)]
    for seed in range(5):
        assert propose(nodes, parent, seed).source == with_params(source, num_warps=8)


def test_values_stay_powers_of_two_in_their_ranges():
    nodes = [node(0, kernel("grouped_matmul"))]
    for i in range(1, 40):
        proposal = propose(nodes, nodes[-1], seed=i)
        nodes.append(node(i, proposal.source, i - 1))
    domains = {"BLOCK_SIZE_M": BLOCK, "BLOCK_SIZE_N": BLOCK, "BLOCK_SIZE_K": BLOCK, "GROUP_SIZE_M": GROUP}
    domains |= {"num_warps": WARPS, "num_stages": STAGES}
    for n in nodes:
        for name, values in tunable_parameters(n.source).items():
            assert all(domains[name].contains(v) for v in values)
        assert len(tunable_parameters(n.source)["BLOCK_SIZE_M"]) == 3


# --- guided by history ----------------------------------------------------------------------------


def test_tuner_continues_the_change_that_improved_the_score():
    root, better = block_size_step(512, score=1.5)
    for seed in range(10):
        proposal = propose([root, better], better, seed)
        assert proposal.reason == "BLOCK_SIZE 512->256 (continuing what raised the score in this lineage)"
        assert proposal.source == with_params(root.source, BLOCK_SIZE=256)


def test_tuner_leaves_the_direction_that_hurt_for_last():
    root, worse = block_size_step(2048, score=0.4)
    for seed in range(10):
        proposal = propose([root, worse], root, seed)
        assert tunable_parameters(proposal.source)["BLOCK_SIZE"] != [2048]


def test_history_ignores_children_that_changed_more_than_parameters():
    source = kernel("scaled_add")
    root = node(0, source, score=1.0)
    rewritten = with_params(source, BLOCK_SIZE=512).replace("x + y * 2", "tl.fma(y, 2.0, x)")
    child = node(1, rewritten, 0, score=3.0)
    assert lineage_history(Graph([root, child]), child) == {}


# --- nothing left to tune -------------------------------------------------------------------------


def test_no_tunable_parameter_gives_no_source_and_says_why():
    parent = node(0, "def add(x, y):\n    return x + y\n")
    proposal = propose([parent], parent)
    assert proposal.source is None and "no tunable parameter" in proposal.reason


def test_all_neighbours_tried_gives_no_source():
    source = "kernel[grid](x, BLOCK=16)\n"
    parent = node(0, source)
    nodes = [parent, node(1, source.replace("16", "32"), 0)]
    proposal = propose(nodes, parent)
    assert proposal.source is None
    assert proposal.reason == "all 1 variants one or two steps away in BLOCK were already tried"


def test_no_parent_gives_no_source():
    assert propose([], None).source is None


def test_unparsable_parent_gives_no_source():
    parent = node(0, "def broken(:\n")
    proposal = propose([parent], parent)
    assert proposal.source is None and "does not parse" in proposal.reason


# --- a tuned kernel still runs --------------------------------------------------------------------

RUN_VARIANT = """
import os
os.environ["TRITON_INTERPRET"] = "1"
import importlib.util, sys
import torch
spec = importlib.util.spec_from_file_location("variant", sys.argv[1])
variant = importlib.util.module_from_spec(spec)
spec.loader.exec_module(variant)
for shape in variant.SHAPES:
    x, y = torch.randn(shape), torch.randn(shape)
    torch.testing.assert_close(variant.scaled_add(x, y), x + y * 2)
"""


def test_tuned_scaled_add_matches_torch_under_the_interpreter(tmp_path):
    root, better = block_size_step(512, score=1.5)
    variant = propose([root, better], better).source
    assert tunable_parameters(variant)["BLOCK_SIZE"] == [256]
    (tmp_path / "variant.py").write_text(variant)
    env = dict(os.environ, TRITON_INTERPRET="1")
    done = subprocess.run(
        [sys.executable, "-c", RUN_VARIANT, str(tmp_path / "variant.py")],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
