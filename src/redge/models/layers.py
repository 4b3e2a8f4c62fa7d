"""Building blocks shared by TRM and HRM, numerically identical to the official `models/layers.py`.

Module and parameter names follow the official code so that state-dict keys load unchanged:
`CastedLinear.weight/.bias`, `CastedEmbedding.embedding_weight`, `PuzzleEmbedding.weights`,
`Attention.qkv_proj/o_proj`, `SwiGLU.gate_up_proj/down_proj`. Differences from the official code, all
behaviour-preserving: `CastedLinear` is an `nn.Linear` subclass (so generic tools see it), attention runs through
`F.scaled_dot_product_attention` on any device (HRM's FlashAttention is CUDA-only), and the puzzle embedding keeps its
training-time sparse-gradient rows in plain attributes instead of fixed-size buffers.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

CosSin = tuple[torch.Tensor, torch.Tensor]


def trunc_normal_(tensor: torch.Tensor, std: float = 1.0, lower: float = -2.0, upper: float = 2.0) -> torch.Tensor:
    """Fill `tensor` in place from a truncated normal whose *actual* std is `std` (JAX/flax convention).

    `torch.nn.init.trunc_normal_` truncates a unit normal without correcting its std; the official code uses the
    corrected JAX form, and so do we, so freshly initialised models have the official statistics.
    """
    with torch.no_grad():
        if tensor.is_meta:  # shape-only models (FLOP counting, planning) need no values
            return tensor
        if std == 0:
            return tensor.zero_()
        sqrt2 = math.sqrt(2)
        a, b = math.erf(lower / sqrt2), math.erf(upper / sqrt2)
        z = (b - a) / 2
        c = (2 * math.pi) ** -0.5
        pdf_u, pdf_l = c * math.exp(-0.5 * lower**2), c * math.exp(-0.5 * upper**2)
        comp_std = std / math.sqrt(1 - (upper * pdf_u - lower * pdf_l) / z - ((pdf_u - pdf_l) / z) ** 2)
        tensor.uniform_(a, b).erfinv_().mul_(sqrt2 * comp_std).clip_(lower * comp_std, upper * comp_std)
    return tensor


def rms_norm(x: torch.Tensor, eps: float) -> torch.Tensor:
    """Parameter-free RMSNorm over the last axis, computed in float32 and cast back (official quirk: no gain)."""
    dtype = x.dtype
    x = x.to(torch.float32)
    x = x * torch.rsqrt(x.square().mean(-1, keepdim=True) + eps)
    return x.to(dtype)


def swiglu_intermediate(hidden_size: int, expansion: float) -> int:
    """Intermediate width of the official SwiGLU: round(e * h * 2/3) rounded up to a multiple of 256."""
    inter = round(expansion * hidden_size * 2 / 3)
    return -(inter // -256) * 256


class CastedLinear(nn.Linear):
    """`nn.Linear` whose fp32 master weight is cast to the activation dtype at every call (official behaviour).

    Weight layout is [out, in] as in `nn.Linear`; initialisation is truncated LeCun normal, bias zero.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool) -> None:
        super().__init__(in_features, out_features, bias=bias)

    def reset_parameters(self) -> None:
        trunc_normal_(self.weight, std=1.0 / math.sqrt(self.in_features))
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.bias.to(x.dtype) if self.bias is not None else None
        return F.linear(x, self.weight.to(x.dtype), bias)


class CastedEmbedding(nn.Module):
    """Token (or learned position) embedding; the fp32 table is cast to the forward dtype on lookup."""

    def __init__(self, num_embeddings: int, embedding_dim: int, init_std: float) -> None:
        super().__init__()
        self.embedding_weight = nn.Parameter(trunc_normal_(torch.empty(num_embeddings, embedding_dim), std=init_std))

    def forward(self, ids: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        return F.embedding(ids, self.embedding_weight.to(dtype))


class PuzzleEmbedding(nn.Module):
    """Per-puzzle-identifier embedding table, stored as the persistent buffer `weights` [N_ids, ndim].

    It is a buffer, not a parameter (official: excluded from the parameter count, trained by a sparse SignSGD
    optimizer). In training mode each forward gathers its rows into a leaf tensor that receives the gradient and
    appends it, with the ids, to `gathered`; the sparse optimizer scatters the update back and empties the list
    (several forwards per optimizer step when a batch is processed in micro-batches).
    """

    def __init__(self, num_embeddings: int, embedding_dim: int) -> None:
        super().__init__()
        self.weights = nn.Buffer(torch.zeros(num_embeddings, embedding_dim), persistent=True)
        self.gathered: list[tuple[torch.Tensor, torch.Tensor]] = []  # (leaf rows, their ids) per training forward

    def forward(self, ids: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        rows = self.weights[ids]
        if not self.training or not torch.is_grad_enabled():
            return rows.to(dtype)
        leaf = rows.detach().requires_grad_(True)
        self.gathered.append((leaf, ids))
        return leaf.to(dtype)


class RotaryEmbedding(nn.Module):
    """RoPE tables in the rotate-half (HF Llama) convention; cos/sin are non-persistent fp32 buffers."""

    def __init__(self, dim: int, max_position_embeddings: int, base: float) -> None:
        super().__init__()
        inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
        freqs = torch.outer(torch.arange(max_position_embeddings, dtype=torch.float32), inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        self.cos_cached = nn.Buffer(emb.cos(), persistent=False)
        self.sin_cached = nn.Buffer(emb.sin(), persistent=False)

    def forward(self) -> CosSin:
        return self.cos_cached, self.sin_cached


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_rotary(q: torch.Tensor, k: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotate q and k ([B, S, H, Dh]) in float32, as the official code does, and return them in their dtype."""
    dtype = q.dtype
    cos, sin = cos.unsqueeze(-2), sin.unsqueeze(-2)
    q, k = q.to(cos.dtype), k.to(cos.dtype)
    q = q * cos + _rotate_half(q) * sin
    k = k * cos + _rotate_half(k) * sin
    return q.to(dtype), k.to(dtype)


class Attention(nn.Module):
    """Non-causal multi-head self-attention with a fused [Q | K | V] projection (heads contiguous) and no bias.

    `kernel="linear"` replaces softmax(QK^T)V by kernelised linear attention with phi(x) = elu(x) + 1:
    out_i = phi(q_i) (sum_j phi(k_j) v_j^T) / (phi(q_i) . sum_j phi(k_j)), which needs O(S D + D^2) memory per head
    instead of the S x S score matrix (same weights, so a softmax checkpoint can be converted, then fine-tuned).
    """

    def __init__(self, hidden_size: int, num_heads: int, kernel: str = "softmax") -> None:
        super().__init__()
        self.kernel = kernel
        self.num_heads = num_heads
        self.head_dim = hidden_size // num_heads
        self.qkv_proj = CastedLinear(hidden_size, 3 * num_heads * self.head_dim, bias=False)
        self.o_proj = CastedLinear(num_heads * self.head_dim, hidden_size, bias=False)

    def forward(self, x: torch.Tensor, cos_sin: CosSin | None) -> torch.Tensor:
        batch, seq, _ = x.shape
        qkv = self.qkv_proj(x).view(batch, seq, 3 * self.num_heads, self.head_dim)
        q, k, v = qkv.split(self.num_heads, dim=2)
        if cos_sin is not None:
            q, k = apply_rotary(q, k, *cos_sin)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        out = F.scaled_dot_product_attention(q, k, v) if self.kernel == "softmax" else linear_attention(q, k, v)
        return self.o_proj(out.transpose(1, 2).reshape(batch, seq, self.num_heads * self.head_dim))


def linear_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Kernelised attention over [B, H, S, D] with phi = elu + 1 (Katharopoulos et al., 2020), non-causal."""
    phi_q, phi_k = F.elu(q.float()) + 1, F.elu(k.float()) + 1
    context = phi_k.transpose(-2, -1) @ v.float()  # [B, H, D, D]
    norm = phi_q @ phi_k.sum(-2, keepdim=True).transpose(-2, -1)  # [B, H, S, 1]
    return ((phi_q @ context) / (norm + eps)).to(q.dtype)


class SwiGLU(nn.Module):
    """SwiGLU MLP: `down(silu(gate) * up)` with `gate_up_proj` rows ordered [gate | up]."""

    def __init__(self, hidden_size: int, expansion: float) -> None:
        super().__init__()
        inter = swiglu_intermediate(hidden_size, expansion)
        self.gate_up_proj = CastedLinear(hidden_size, 2 * inter, bias=False)
        self.down_proj = CastedLinear(inter, hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.gate_up_proj(x).chunk(2, dim=-1)
        return self.down_proj(F.silu(gate) * up)


def padded_swiglu(mlp: SwiGLU, x: torch.Tensor, multiple: int) -> torch.Tensor:
    """`mlp(x)` with the feature axis zero-padded to a multiple of `multiple`: the same values (padded weight columns
    and rows are zero), but GPU matrix shapes aligned for tensor cores (TRM's 97-wide `mlp_t`). Training speed only."""
    width = x.shape[-1]
    pad = -width % multiple
    if pad == 0:
        return mlp(x)
    gate_up = F.pad(mlp.gate_up_proj.weight, (0, pad)).to(x.dtype)
    down = F.pad(mlp.down_proj.weight, (0, 0, 0, pad)).to(x.dtype)
    gate, up = F.linear(F.pad(x, (0, pad)), gate_up).chunk(2, dim=-1)
    return F.linear(F.silu(gate) * up, down)[..., :width]


class Block(nn.Module):
    """Post-norm block: token mixing (attention, or `mlp_t` over the sequence axis) then a channel SwiGLU.

    With `token_mlp_width` set, token mixing is TRM's `mlp_t`: a SwiGLU applied across positions, whose residual is
    RMS-normalised over the *sequence* axis (official quirk, kept for checkpoint compatibility). A positive
    `token_pad_multiple` computes `mlp_t` through `padded_swiglu` (set by the trainer for GPU speed).
    """

    def __init__(self, hidden_size: int, num_heads: int, expansion: float, eps: float,
                 token_mlp_width: int | None = None, attention: str = "softmax") -> None:
        super().__init__()
        if token_mlp_width is not None:
            self.mlp_t = SwiGLU(token_mlp_width, expansion)
        else:
            self.self_attn = Attention(hidden_size, num_heads, attention)
        self.mlp = SwiGLU(hidden_size, expansion)
        self.eps = eps
        self.token_pad_multiple = 0

    def forward(self, x: torch.Tensor, cos_sin: CosSin | None) -> torch.Tensor:
        if hasattr(self, "mlp_t"):
            xt = x.transpose(1, 2)
            mixed = (padded_swiglu(self.mlp_t, xt, self.token_pad_multiple) if self.token_pad_multiple
                     else self.mlp_t(xt))
            x = rms_norm(xt + mixed, self.eps).transpose(1, 2)
        else:
            x = rms_norm(x + self.self_attn(x, cos_sin), self.eps)
        return rms_norm(x + self.mlp(x), self.eps)


class ReasoningModule(nn.Module):
    """A stack of blocks with the input injection added once before the first block (`L_level`, `H_level`)."""

    def __init__(self, layers: list[Block]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, h: torch.Tensor, injection: torch.Tensor, cos_sin: CosSin | None) -> torch.Tensor:
        h = h + injection
        for layer in self.layers:
            h = layer(h, cos_sin)
        return h
