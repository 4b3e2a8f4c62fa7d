"""The recursive state (`Carry`) and the step API shared by TRM and HRM.

`RecursiveReasoner` holds everything the two models share: input embedding (tokens + puzzle prefix + positions),
the I/O heads, the initial states `H_init`/`L_init`, the ACT bookkeeping of the official `*_ACTV1` wrapper, and the
evaluation loops. A subclass only defines its reasoning modules and `recurse`, the inner cycles of one ACT step.

One ACT step (`step`) reproduces the official wrapper: rows whose carry is `halted` restart from `H_init`/`L_init`,
the inner recursion runs, `steps` advances, and a row halts at `halt_max_steps` (in training also on the Q head, with
exploration). Unlike the official wrapper, `step` does not swap in new data for halted rows: the caller passes the
batch each row is working on (the training loop keeps that bookkeeping), so evaluation and fidelity code can call
`step` with one fixed batch.
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from redge.models.config import ModelConfig
from redge.models.layers import (
    CastedEmbedding,
    CastedLinear,
    CosSin,
    PuzzleEmbedding,
    RotaryEmbedding,
    trunc_normal_,
)

Batch = dict[str, torch.Tensor]


@dataclass
class Carry:
    """Recursive state of a batch: z_H (answer y in TRM) and z_L (latent z), each [B, S, D], plus ACT counters."""

    z_H: torch.Tensor
    z_L: torch.Tensor
    steps: torch.Tensor  # int32 [B]: ACT steps taken since the row (re)started
    halted: torch.Tensor  # bool [B]: the row restarts from H_init/L_init at the next step

    def detach(self) -> Carry:
        return Carry(self.z_H.detach(), self.z_L.detach(), self.steps, self.halted)

    def rows(self, index: slice) -> Carry:
        """The carry of some rows (a micro-batch of a training step)."""
        return Carry(self.z_H[index], self.z_L[index], self.steps[index], self.halted[index])

    @staticmethod
    def cat(parts: list[Carry]) -> Carry:
        """Rows of several carries stacked back into one batch (inverse of `rows` over consecutive slices)."""
        return Carry(*(torch.cat([getattr(p, name) for p in parts]) for name in ("z_H", "z_L", "steps", "halted")))


class RecursiveReasoner(nn.Module):
    """Shared I/O and ACT logic of TRM and HRM; subclasses implement `recurse`."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        d = config.hidden_size
        self.embed_scale = math.sqrt(d)
        self.puzzle_emb_len = config.prefix_len
        # Registration order matches the official state dict: H_init, L_init, embed_tokens, lm_head, q_head, ...
        self.H_init = nn.Buffer(trunc_normal_(torch.empty(d, dtype=config.dtype), std=1), persistent=True)
        self.L_init = nn.Buffer(trunc_normal_(torch.empty(d, dtype=config.dtype), std=1), persistent=True)
        self.embed_tokens = CastedEmbedding(config.vocab_size, d, init_std=1.0 / self.embed_scale)
        self.lm_head = CastedLinear(d, config.vocab_size, bias=False)
        self.q_head = CastedLinear(d, 2, bias=True)
        with torch.no_grad():  # Q head starts near "never halt" (official bootstrapping trick)
            self.q_head.weight.zero_()
            self.q_head.bias.fill_(-5)
        if config.puzzle_emb_ndim > 0:
            self.puzzle_emb = PuzzleEmbedding(config.num_puzzle_identifiers, config.puzzle_emb_ndim)
        if config.pos_encodings == "rope":
            self.rotary_emb = RotaryEmbedding(d // config.num_heads, config.total_seq_len or 0, config.rope_theta)
        elif config.pos_encodings == "learned":
            self.embed_pos = CastedEmbedding(config.total_seq_len, d, init_std=1.0 / self.embed_scale)

    # ----------------------------------------------------------------------------------------------------------
    # Subclass hook
    def recurse(self, z_H: torch.Tensor, z_L: torch.Tensor, x: torch.Tensor, cos_sin: CosSin | None,
                H_cycles: int, L_cycles: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The inner cycles of one ACT step; returns the new (z_H, z_L)."""
        raise NotImplementedError

    # ----------------------------------------------------------------------------------------------------------
    @property
    def dtype(self) -> torch.dtype:
        """Forward (activation) dtype; weights stay fp32 and are cast per call, as in the official code."""
        return self.config.dtype

    def set_forward_dtype(self, dtype: str) -> None:
        """Switch the activation dtype ('float32' or 'bfloat16') without touching the weights."""
        self.config = self.config.replace(forward_dtype=dtype)

    def input_embeddings(self, batch: Batch) -> torch.Tensor:
        """x = sqrt(D) * [puzzle prefix ; token embeddings] (+ learned positions), [B, S, D] in the forward dtype."""
        dtype = self.dtype
        emb = self.embed_tokens(batch["inputs"].to(torch.int32), dtype)
        if self.config.puzzle_emb_ndim > 0:
            pe = self.puzzle_emb(batch["puzzle_identifiers"].long(), dtype)
            pad = self.puzzle_emb_len * self.config.hidden_size - pe.shape[-1]
            if pad > 0:
                pe = torch.nn.functional.pad(pe, (0, pad))
            emb = torch.cat((pe.view(-1, self.puzzle_emb_len, self.config.hidden_size), emb), dim=-2)
        if self.config.pos_encodings == "learned":
            emb = 0.707106781 * (emb + self.embed_pos.embedding_weight.to(dtype))
        return self.embed_scale * emb

    def cos_sin(self, seq_len: int) -> CosSin | None:
        """RoPE tables for S positions (grown on demand when the config did not fix seq_len)."""
        if not hasattr(self, "rotary_emb"):
            return None
        if self.rotary_emb.cos_cached.shape[0] < seq_len:
            self.rotary_emb = RotaryEmbedding(self.config.hidden_size // self.config.num_heads, seq_len,
                                              self.config.rope_theta).to(self.H_init.device)
        cos, sin = self.rotary_emb()
        return cos[:seq_len], sin[:seq_len]

    def init_carry(self, batch: Batch) -> Carry:
        """A carry for a fresh batch: every row halted, so the first `step` starts it from H_init/L_init."""
        b = batch["inputs"].shape[0]
        s = batch["inputs"].shape[1] + self.puzzle_emb_len
        device = batch["inputs"].device
        shape = (b, s, self.config.hidden_size)
        return Carry(
            z_H=self.H_init.to(self.dtype).expand(shape).clone(),
            z_L=self.L_init.to(self.dtype).expand(shape).clone(),
            steps=torch.zeros(b, dtype=torch.int32, device=device),
            halted=torch.ones(b, dtype=torch.bool, device=device),
        )

    def reset_carry(self, carry: Carry) -> tuple[torch.Tensor, torch.Tensor]:
        """(z_H, z_L) with halted rows replaced by H_init/L_init, in the forward dtype."""
        flag = carry.halted.view(-1, 1, 1)
        z_H = torch.where(flag, self.H_init.to(self.dtype), carry.z_H.to(self.dtype))
        z_L = torch.where(flag, self.L_init.to(self.dtype), carry.z_L.to(self.dtype))
        return z_H, z_L

    def heads(self, z_H: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Token logits [B, seq_len, V] (prefix removed) and Q logits [B, 2] (fp32) read at position 0."""
        logits = self.lm_head(z_H)[:, self.puzzle_emb_len:]
        q = self.q_head(z_H[:, 0]).to(torch.float32)
        return logits, q

    def step(self, carry: Carry, batch: Batch, H_cycles: int | None = None,
             L_cycles: int | None = None) -> tuple[Carry, dict[str, torch.Tensor]]:
        """One ACT step. Returns the new carry (detached) and `logits`, `q_halt_logits`, `q_continue_logits`; in
        training mode also `z_H` and `z_L` before the detach, for losses on the carry (trajectory distillation).

        H_cycles (T) and L_cycles (n) default to the config and may be overridden per call for depth sweeps.
        """
        T = self.config.H_cycles if H_cycles is None else H_cycles
        n = self.config.L_cycles if L_cycles is None else L_cycles
        if T < 1 or n < 1:
            raise ValueError(f"H_cycles and L_cycles must be >= 1, got {T} and {n}")
        z_H, z_L = self.reset_carry(carry)
        steps = torch.where(carry.halted, torch.zeros_like(carry.steps), carry.steps)
        x = self.input_embeddings(batch)
        z_H, z_L = self.recurse(z_H, z_L, x, self.cos_sin(x.shape[1]), T, n)
        logits, q = self.heads(z_H)
        outputs = {"logits": logits, "q_halt_logits": q[..., 0], "q_continue_logits": q[..., 1]}
        if self.training:
            outputs.update(z_H=z_H, z_L=z_L)

        with torch.no_grad():
            steps = steps + 1
            halted = steps >= self.config.halt_max_steps
            if self.training and self.config.halt_max_steps > 1:
                halted = halted | self.halts(outputs)
                explore = torch.rand_like(outputs["q_halt_logits"]) < self.config.halt_exploration_prob
                min_steps = explore * torch.randint_like(steps, low=2, high=self.config.halt_max_steps + 1)
                halted = halted & (steps >= min_steps)
        return Carry(z_H.detach(), z_L.detach(), steps, halted), outputs

    def halts(self, outputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Each row's own halting decision after an ACT step: Q-halt > 0 (TRM, `no_ACT_continue`) or Q-halt >
        Q-continue (HRM), the official training rule; early exit at inference (here, in the study and in the C
        runtime) applies the same rule."""
        if self.config.no_ACT_continue:
            return outputs["q_halt_logits"] > 0
        return outputs["q_halt_logits"] > outputs["q_continue_logits"]

    @torch.no_grad()
    def iterate(self, batch: Batch, depth: int | None = None, H_cycles: int | None = None,
                L_cycles: int | None = None) -> Iterator[tuple[Carry, dict[str, torch.Tensor]]]:
        """Yield (carry, outputs) after each of `depth` ACT steps (default: halt_max_steps) from a fresh carry."""
        depth = self.config.halt_max_steps if depth is None else depth
        carry = self.init_carry(batch)
        for _ in range(depth):
            carry, outputs = self.step(carry, batch, H_cycles, L_cycles)
            # Evaluation keeps every row running for the whole depth (official eval loop semantics).
            carry.halted = torch.zeros_like(carry.halted)
            yield carry, outputs

    @torch.no_grad()
    def predict(self, batch: Batch, depth: int | None = None, early_exit: bool = False,
                H_cycles: int | None = None, L_cycles: int | None = None) -> dict[str, torch.Tensor]:
        """Run the evaluation loop and return `preds` [B, seq_len], `logits`, Q logits and `halt_step` per row.

        Default: all `depth` (= halt_max_steps) steps, as the official evaluation. With `early_exit`, a row's outputs
        freeze at the first step at which it halts by its own rule (`halts`), and the loop stops when every row has
        halted.
        """
        final: dict[str, torch.Tensor] = {}
        done = torch.zeros(batch["inputs"].shape[0], dtype=torch.bool, device=batch["inputs"].device)
        halt_step = torch.zeros(done.shape, dtype=torch.int32, device=done.device)
        for i, (_, outputs) in enumerate(self.iterate(batch, depth, H_cycles, L_cycles), start=1):
            live = ~done
            for key, value in outputs.items():
                if key not in final:
                    final[key] = value.clone()
                else:
                    final[key][live] = value[live]
            halt_step[live] = i
            if early_exit:
                done = done | self.halts(outputs)
                if bool(done.all()):
                    break
        final["preds"] = final["logits"].argmax(-1)
        final["halt_step"] = halt_step
        return final

    def num_parameters(self, include_puzzle_emb: bool = False) -> int:
        """Trainable parameter count (official definition: the puzzle table is a buffer and excluded)."""
        n = sum(p.numel() for p in self.parameters())
        if include_puzzle_emb and hasattr(self, "puzzle_emb"):
            n += self.puzzle_emb.weights.numel()
        return n
