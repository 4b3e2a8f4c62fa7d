"""Arena planning: TFLM's measured head at L = 81, valid greedy offsets, tiling bounds the arena at 916 tokens."""
from __future__ import annotations

import random

from redge.deploy.arena import Buffer, plan_arena
from redge.deploy.schedule import ACT_FORMATS, BlockShape, plan_block


def test_untiled_block_matches_tflm_arena_head_at_81_tokens():
    # edge_targets.md §6.2: TFLM head (planned activations) of one TRM-Att block at L = 81 is 414,720 B
    assert plan_block(BlockShape(81, 512, 8, 1536), ACT_FORMATS["int8-tensor"]).size == 414_720


def test_greedy_offsets_never_overlap_live_buffers():
    rng = random.Random(0)
    buffers = []
    for i in range(40):
        first = rng.randrange(20)
        buffers.append(Buffer(f"b{i}", rng.randrange(1, 5000), first, first + rng.randrange(6)))
    plan = plan_arena(buffers)
    for a in buffers:
        for b in buffers:
            if a is b or a.last < b.first or b.last < a.first:
                continue
            oa, ob = plan.offsets[a.name], plan.offsets[b.name]
            assert oa + a.size <= ob or ob + b.size <= oa
    assert plan.peak_live <= plan.size <= sum(b.size for b in buffers)


def test_token_tiles_bound_the_arena_at_916_tokens():
    shape, act = BlockShape(916, 512, 8, 1536), ACT_FORMATS["int8"]
    untiled = plan_block(shape, act).size
    sizes = [plan_block(shape, act, t).size for t in (256, 64, 16)]
    assert untiled > 14e6  # 8 x 916^2 attention scores and probabilities materialised
    assert sizes == sorted(sizes, reverse=True) and sizes[-1] < 1.6e6
    # the bound: x [S, D] + K,V [S, 2D] stay; everything else is per tile
    assert sizes[-1] >= act.bytes(916, 512) + act.bytes(916, 1024)


def test_token_mlp_block_is_planned_and_tiled():
    shape = BlockShape(97, 512, 8, 1536, token_inter=256)
    assert plan_block(shape, ACT_FORMATS["int8"], 32).size < plan_block(shape, ACT_FORMATS["int8"]).size
