"""The op graph of one TRM/HRM block at inference, untiled (as TFLM runs it) or token-tiled, and its arena.

Untiled attention block (S positions, hidden D, H heads, SwiGLU width F; every tensor materialised, as TFLM does)::

    qkv = qkv_proj(x) [S,3D]; scores = QK^T [H*S,S]; probs = softmax [H*S,S]; attn = probs V [S,D]; o = o_proj [S,D]
    h1 = rms_norm(x + o); gu = gate_up_proj(h1) [S,2F]; m = silu(gate) * up [S,F]; d = down_proj(m); out = rms_norm(h1 + d)

Its peak is S x (3F + D) (h1, gu, m alive together), which is exactly TFLM's measured arena head at S = 81.

Token-tiled block (tile of t rows; bounds the arena at S = 916): K and V for all positions are computed once
([S, 2D]); then per tile of t query rows, for one head at a time, scores [t, S] -> softmax -> P V accumulates into
attn_t [t, D]; o_proj, the residual and the norm write the tile's rows of x in place; the channel SwiGLU runs on the
same t rows (gu_t [t, 2F], m_t [t, F]) and writes them in place again. Nothing is recomputed (same MACs); the cost is
that every weight except the K/V two thirds of `qkv_proj` is read once per tile instead of once per block.
The mlp_t block (TRM-MLP) tiles its token-mixing SwiGLU over channel rows ([t, S] slices of x^T) the same way.

Activation tensors are stored in the chosen `ActFormat` (int8 adds one fp32 scale per row: per-token quantization).
"""
from __future__ import annotations

from dataclasses import dataclass

from redge.deploy.arena import ArenaPlan, OpGraph, plan_arena


@dataclass(frozen=True)
class ActFormat:
    """How activations (and the carry) are stored: bytes per element plus bytes of per-row scale."""

    name: str
    elem: int
    row_scale: int

    def bytes(self, rows: int, cols: int) -> int:
        """Bytes of a [rows, cols] activation tensor."""
        return rows * (cols * self.elem + self.row_scale)


ACT_FORMATS = {
    "int8": ActFormat("int8", 1, 4),  # per-token int8 with an fp32 scale per row (the C runtime's W8A8/W4A8 path)
    "int8-tensor": ActFormat("int8-tensor", 1, 0),  # TFLM-style: one scale per tensor, kept in the persistent tail
    "bf16": ActFormat("bf16", 2, 0),
    "fp32": ActFormat("fp32", 4, 0),
}


@dataclass(frozen=True)
class BlockShape:
    """Dimensions of one block: positions S, hidden D, heads H, SwiGLU width F, token-mix width (mlp_t) or None."""

    seq: int
    hidden: int
    heads: int
    inter: int
    token_inter: int | None = None


def _channel_mlp(g: OpGraph, act: ActFormat, h1: str, out: str, rows: int, shape: BlockShape) -> None:
    """gate_up -> silu*up -> down -> residual + norm on `rows` rows of h1 (in place when out == h1)."""
    gu = g.tensor("gate_up", act.bytes(rows, 2 * shape.inter))
    m = g.tensor("silu_up", act.bytes(rows, shape.inter))
    d = g.tensor("down", act.bytes(rows, shape.hidden))
    g.op("mlp.gate_up_proj", (h1,), (gu,))
    g.op("silu(gate)*up", (gu,), (m,))
    g.op("mlp.down_proj", (m,), (d,))
    g.op("add+rms_norm", (h1, d), (out,))


def _attention_full(g: OpGraph, act: ActFormat, s: BlockShape) -> str:
    x = g.tensor("x", act.bytes(s.seq, s.hidden))
    qkv = g.tensor("qkv", act.bytes(s.seq, 3 * s.hidden))
    scores = g.tensor("scores", act.bytes(s.heads * s.seq, s.seq))
    probs = g.tensor("probs", act.bytes(s.heads * s.seq, s.seq))
    attn = g.tensor("attn", act.bytes(s.seq, s.hidden))
    o = g.tensor("o", act.bytes(s.seq, s.hidden))
    h1 = g.tensor("h1", act.bytes(s.seq, s.hidden))
    g.inputs = (x,)
    g.op("self_attn.qkv_proj+rope", (x,), (qkv,))
    g.op("QK^T", (qkv,), (scores,))
    g.op("softmax", (scores,), (probs,))
    g.op("PV", (probs, qkv), (attn,))
    g.op("self_attn.o_proj", (attn,), (o,))
    g.op("add+rms_norm", (x, o), (h1,))
    return h1


def _attention_tiled(g: OpGraph, act: ActFormat, s: BlockShape, t: int) -> str:
    x = g.tensor("x", act.bytes(s.seq, s.hidden))
    kv = g.tensor("kv", act.bytes(s.seq, 2 * s.hidden))
    q = g.tensor("q_tile", act.bytes(t, s.hidden))
    attn = g.tensor("attn_tile", act.bytes(t, s.hidden))
    scores = g.tensor("scores_tile_head", act.bytes(t, s.seq))
    probs = g.tensor("probs_tile_head", act.bytes(t, s.seq))
    o = g.tensor("o_tile", act.bytes(t, s.hidden))
    g.inputs = (x,)
    g.op("self_attn.qkv_proj K,V rows+rope", (x,), (kv,))
    g.begin_loop()
    g.op("self_attn.qkv_proj Q rows+rope (tile)", (x,), (q, attn))  # attn_tile accumulates over the head loop
    g.op("QK^T (tile, one head)", (q, kv), (scores,))
    g.op("softmax", (scores,), (probs,))
    g.op("PV (tile, one head)", (probs, kv), (attn,))
    g.op("self_attn.o_proj (tile)", (attn,), (o,))
    g.op("add+rms_norm in place (tile rows of x)", (x, o), (x,))
    return x


def _token_mlp(g: OpGraph, act: ActFormat, s: BlockShape, rows: int, tiled: bool) -> str:
    """TRM's mlp_t: a SwiGLU across positions on x^T ([D, S]); tiled = `rows` channel rows at a time, in place."""
    x = g.tensor("x", act.bytes(s.seq, s.hidden))
    xt = g.tensor("xT_rows", act.bytes(rows, s.seq))
    gu = g.tensor("t_gate_up", act.bytes(rows, 2 * s.token_inter))
    m = g.tensor("t_silu_up", act.bytes(rows, s.token_inter))
    d = g.tensor("t_down", act.bytes(rows, s.seq))
    g.inputs = (x,)
    if tiled:
        g.begin_loop()
    g.op("transpose (channel rows)", (x,), (xt,))
    g.op("mlp_t.gate_up_proj", (xt,), (gu,))
    g.op("silu(gate)*up", (gu,), (m,))
    g.op("mlp_t.down_proj", (m,), (d,))
    if tiled:
        g.op("add+rms_norm over positions, in place", (xt, d), (x,))
        return x
    ht = g.tensor("hT", act.bytes(s.hidden, s.seq))
    h1 = g.tensor("h1", act.bytes(s.seq, s.hidden))
    g.op("add+rms_norm over positions", (xt, d), (ht,))
    g.op("transpose back", (ht,), (h1,))
    return h1


def block_graph(shape: BlockShape, act: ActFormat, tile: int | None = None) -> OpGraph:
    """Op graph of one block: untiled (`tile` None) or with `tile` rows per tile (see the module docstring)."""
    g = OpGraph()
    tiled = tile is not None
    rows = min(tile, shape.seq) if tiled else shape.seq
    if shape.token_inter is not None:
        h1 = _token_mlp(g, act, shape, min(tile, shape.hidden) if tiled else shape.hidden, tiled)
    elif tiled:
        h1 = _attention_tiled(g, act, shape, rows)
    else:
        h1 = _attention_full(g, act, shape)
    out = h1 if tiled else g.tensor("out", act.bytes(shape.seq, shape.hidden))
    _channel_mlp(g, act, h1, out, rows, shape)
    g.outputs = (out,)
    return g


def plan_block(shape: BlockShape, act: ActFormat, tile: int | None = None) -> ArenaPlan:
    """The planned arena of one block (TFLM greedy planner over the block's op graph)."""
    return plan_arena(block_graph(shape, act, tile).buffers())
