"""The training loop of the official recipe: deep supervision with the carry kept across optimizer steps.

Each optimizer step is one ACT step of every row on its current puzzle: rows that halted at the previous step take
the row of the new global batch at their position (the official ACT wrapper), the model steps once, the ACT loss
(summed over rows) is divided by the global batch size and back-propagated, gradients are summed over ranks
(`torchrun`: gloo on CPU, nccl on GPU), then Adam-atan2/AdamW, the puzzle-embedding SignSGD and the EMA update run.
HRM also gets the bootstrapped Q-continue target from an extra no-grad step.

Outputs in `out_dir`: `config.json` (the TrainConfig), `curve.jsonl` (train metrics every `log_every` steps and test
accuracy at depth 16 every `eval_every_minutes`: each row is appended as it comes, and the file is rewritten whole at
each checkpoint; a resume drops the rows logged after its state), `model/` and `ema/` (redge checkpoints, shards
<= 16 MiB), `state.pt` (optimizer, EMA and step for `--resume`; lives outside git). The other files are written
atomically.
A resumed run restarts every row's carry (all rows halted at its first step): the carry is not part of `state.pt`.
"""
from __future__ import annotations

import json
import re
import time
from contextlib import ExitStack, closing
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from redge.compress.prune import prepare_pruned_, pruning_method
from redge.compress.qat import float_state_dict, prepare_qat_
from redge.core.atomic import atomic_write
from redge.core.errors import RedgeInputError
from redge.core.jsonio import write_json
from redge.core.progress import progress_bar
from redge.core.ranks import Ranks, join
from redge.models import Carry, ConfigError, ModelConfig, RecursiveReasoner, build_model
from redge.models.checkpoints import check_state_dict, save_checkpoint
from redge.models.layers import Block
from redge.quant.apply import quantize_
from redge.quant.load import load_checkpoint
from redge.tasks.format import load_split
from redge.train.configs import TrainConfig
from redge.train.data import BatchPrefetcher, PuzzleStream, open_stream
from redge.train.ema import EMA
from redge.train.losses import act_loss, token_kl, trajectory_loss
from redge.train.optim import SparseSignSGD, make_optimizer, warmup_constant_lr

MAX_SHARD_BYTES = 15 * 1024 * 1024  # tensor bytes per shard: with its header a file stays under 16 MiB


def model_config_for(config: TrainConfig, stream: PuzzleStream) -> ModelConfig:
    """The ModelConfig of a run: the config's model fields plus vocab/seq_len/identifiers from the data."""
    meta = stream.metadata
    fields = {**config.model, "vocab_size": meta.vocab_size, "seq_len": meta.seq_len,
              "num_puzzle_identifiers": meta.num_puzzle_identifiers}
    try:
        return ModelConfig(**fields)
    except (TypeError, ConfigError) as exc:
        raise RedgeInputError(f"training config {config.name!r}: invalid model fields ({exc})") from None


_LAYER_KEY = re.compile(r"^(.*\.layers\.)(\d+)(\..*)$")


def select_layers(state: dict[str, torch.Tensor], layers: list[int], path: Path) -> dict[str, torch.Tensor]:
    """`state` with only the given layers of each layer stack, renumbered 0.. in the order given (a shallower
    student's warm start from its teacher); an index the checkpoint's stack lacks is an input error naming it."""
    matches = {key: _LAYER_KEY.match(key) for key in state}
    stacks: dict[str, set[int]] = {}
    for match in filter(None, matches.values()):
        stacks.setdefault(match.group(1), set()).add(int(match.group(2)))
    for stack, present in stacks.items():
        missing = [i for i in layers if i not in present]
        if missing:
            raise RedgeInputError(f"init_layers: {stack.rstrip('.')} has layers {sorted(present)}, not {missing}", path)
    out = {key: value for key, value in state.items() if matches[key] is None}
    for key, match in matches.items():
        if match is not None:
            for new, old in enumerate(layers):
                if int(match.group(2)) == old:
                    out[f"{match.group(1)}{new}{match.group(3)}"] = state[key]
    return out


def warm_start(model: RecursiveReasoner, checkpoint: str | Path, layers: list[int] | None = None) -> None:
    """Copy a checkpoint's weights into `model` (same architecture and puzzle-embedding rows, else an input error):
    a run that continues where another machine's run stopped, with a fresh optimizer. With `layers`, only those
    layers of each stack are taken, in that order (`select_layers`): a shallower student starting from its teacher."""
    path = Path(checkpoint)
    try:
        state = load_checkpoint(checkpoint).state_dict()
        if layers is not None:
            state = select_layers(state, layers, path)
        state = check_state_dict(model, state, path)
    except RedgeInputError as exc:  # the message already names the checkpoint
        raise RedgeInputError(f"init_from: weights do not fit this run's model ({exc})") from None
    model.load_state_dict(state)


def q_continue_target(model: RecursiveReasoner, carry: Carry, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """HRM's bootstrapped Q-continue target: sigmoid of the next step's max(Q-halt, Q-continue) (Q-halt alone at the
    last step), from a no-grad step of the new carry without resets (eval mode leaves the sparse rows alone)."""
    model.eval()
    with torch.no_grad():
        _, nxt = model.step(Carry(carry.z_H, carry.z_L, carry.steps, torch.zeros_like(carry.halted)), batch)
    model.train()
    last = carry.steps >= model.config.halt_max_steps
    return torch.sigmoid(torch.where(last, nxt["q_halt_logits"], torch.maximum(nxt["q_halt_logits"],
                                                                               nxt["q_continue_logits"])))


def all_reduce_grads(model: RecursiveReasoner) -> None:
    """Sum every dense gradient over ranks in one coalesced all-reduce (the loss is already / global batch)."""
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def _reduce_metrics(sums: dict[str, torch.Tensor], d: Ranks) -> dict[str, float]:
    """Sum the window's metrics over ranks: accuracies per halted row, losses per row."""
    keys = sorted(sums)
    vec = torch.stack([torch.as_tensor(sums[k], device=d.device).double() for k in keys])
    if d.world > 1:
        dist.all_reduce(vec)
    vals = dict(zip(keys, vec.tolist()))
    count = max(vals["count"], 1.0)
    out = {k: vals[k] / count for k in ("accuracy", "exact_accuracy", "q_halt_accuracy", "steps") if k in vals}
    out["halted_rows"] = vals["count"]
    out.update({k: vals[k] / vals["_rows"] for k in ("lm_loss", "q_halt_loss", "q_continue_loss", "kl_loss",
                                                  "trajectory_loss") if k in vals})
    return out


class Trainer:
    """State of one run; `run()` trains until max_steps or max_minutes and writes the outputs."""

    def __init__(self, config: TrainConfig, out_dir: str | Path, device: str | None = None, resume: bool = False,
                 progress: bool = True) -> None:
        self.config = config
        self.out = Path(out_dir)
        self.d = join(device)
        self.progress = progress and self.d.main
        torch.manual_seed(config.seed)  # identical initial weights on every rank
        self.stream = open_stream(config.data, config.data_weights, config.augment, config.seed,
                                  config.global_batch_size, self.d.rank, self.d.world)
        mcfg = model_config_for(config, self.stream)
        if self.d.device.type == "cuda" and config.bf16:
            mcfg = mcfg.replace(forward_dtype="bfloat16")
        self.model = build_model(mcfg).to(self.d.device).train()
        if config.init_from:
            warm_start(self.model, config.init_from, config.init_layers)
        if config.prune:  # pruned weights held at zero while the rest learns (compress.prune)
            prepare_pruned_(self.model, pruning_method(config.prune))
        if config.qat:  # fake-quant forward, straight-through backward (compress.qat)
            prepare_qat_(self.model, config.qat)
        self.teacher = self._load_teacher(config, mcfg) if config.teacher else None
        self.teacher_carry: Carry | None = None
        for block in self.model.modules():
            if isinstance(block, Block):
                block.token_pad_multiple = config.token_pad_multiple
        if config.compile:
            self.model.recurse = torch.compile(self.model.recurse)
        self.opt = make_optimizer(config.optimizer, self.model.parameters(), 0.0, (config.beta1, config.beta2),
                                  config.weight_decay)
        self.sparse = (SparseSignSGD(self.model.puzzle_emb, 0.0, config.puzzle_emb_weight_decay)
                       if hasattr(self.model, "puzzle_emb") else None)
        self.ema = EMA(self.model, config.ema) if config.ema else None
        self.step = 0
        self.elapsed = 0.0  # training seconds over all sessions of this run
        self.curve: list[dict[str, Any]] = []
        self.eval_sets = {name: load_split(path, "test", mmap=False) for name, path in config.eval_data.items()}
        if resume:
            self._load_state()

    def _load_teacher(self, config: TrainConfig, student: ModelConfig) -> RecursiveReasoner:
        """The frozen teacher of distillation / the trajectory loss, checked against the student."""
        teacher = load_checkpoint(config.teacher).to(self.d.device).eval().requires_grad_(False)
        t = teacher.config
        if (t.vocab_size, t.seq_len) != (student.vocab_size, student.seq_len):
            raise RedgeInputError(f"teacher: vocabulary/sequence {t.vocab_size}/{t.seq_len} differ from the "
                                  f"student's {student.vocab_size}/{student.seq_len}", config.teacher)
        if config.teacher_trajectory and (t.hidden_size, t.prefix_len) != (student.hidden_size, student.prefix_len):
            raise RedgeInputError("teacher: the trajectory loss compares carries, so the teacher's hidden size and "
                                  "puzzle prefix must be the student's", config.teacher)
        if not (config.teacher_kl or config.teacher_trajectory):
            raise RedgeInputError("teacher is set but teacher_kl and teacher_trajectory are both 0")
        return teacher

    def _teacher_terms(self, carry: Carry, batch: dict[str, torch.Tensor], outputs: dict[str, torch.Tensor],
                       rows: slice) -> tuple[torch.Tensor, dict[str, torch.Tensor], Carry]:
        """The teacher's step on the same rows (its carry restarts where the student's does) and the weighted
        distillation terms (summed over rows) with their metrics."""
        cfg = self.config
        prev = self.teacher_carry.rows(rows) if self.teacher_carry is not None else self.teacher.init_carry(batch)
        with torch.no_grad():
            new, t_out = self.teacher.step(Carry(prev.z_H, prev.z_L, prev.steps, carry.halted), batch)
        total = outputs["logits"].new_zeros(())
        metrics: dict[str, torch.Tensor] = {}
        if cfg.teacher_kl:
            kl = token_kl(outputs["logits"], t_out["logits"], batch["labels"], cfg.teacher_temperature)
            total, metrics["kl_loss"] = total + cfg.teacher_kl * kl, kl.detach()
        if cfg.teacher_trajectory:
            traj = trajectory_loss(outputs["z_H"], outputs["z_L"], new.z_H, new.z_L)
            total, metrics["trajectory_loss"] = total + cfg.teacher_trajectory * traj, traj.detach()
        return total, metrics, new

    # ------------------------------------------------------------------------------------------------ state
    def _load_state(self) -> None:
        path = self.out / "state.pt"
        if not path.exists():
            return
        try:
            state = torch.load(path, map_location=self.d.device, weights_only=True)
            self.model.load_state_dict(state["model"])
            self.opt.load_state_dict(state["optimizer"])
            if self.ema is not None and "ema" in state:
                self.ema.load_state_dict(state["ema"])
            self.step, self.elapsed = int(state["step"]), float(state["elapsed"])
        except Exception as exc:  # truncated, corrupt, another run's or another program's file
            raise RedgeInputError(f"cannot resume from it ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); "
                                  "delete it to start over", path) from None
        curve_path = self.out / "curve.jsonl"
        if curve_path.exists():
            try:
                rows = [json.loads(line) for line in curve_path.read_text().splitlines() if line.strip()]
            except (ValueError, UnicodeDecodeError) as exc:
                raise RedgeInputError(f"not a JSON-lines learning curve ({exc})", curve_path) from None
            self.curve = [r for r in rows if r.get("step", 0) <= self.step]  # rows logged after the saved state go

    def save(self) -> None:
        """Write raw and EMA checkpoints, the resume state and the curve (rank 0 only), atomically."""
        if not self.d.main:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        meta = {"train_config": self.config.name, "step": self.step, "train_minutes": round(self.elapsed / 60, 2)}
        export = self._export_model(self.model)
        save_checkpoint(export, self.out / "model", {**meta, "weights": "raw"}, MAX_SHARD_BYTES)
        if self.ema is not None:
            save_checkpoint(self._export_model(self.ema.copy_of(self.model)), self.out / "ema",
                            {**meta, "weights": f"ema {self.config.ema}"}, MAX_SHARD_BYTES)
        state = {"model": self.model.state_dict(), "optimizer": self.opt.state_dict(), "step": self.step,
                 "elapsed": self.elapsed, **({"ema": self.ema.state_dict()} if self.ema is not None else {})}
        atomic_write(self.out / "state.pt", lambda f: torch.save(state, f))
        atomic_write(self.out / "curve.jsonl", lambda f: f.write("".join(json.dumps(r) + "\n" for r in self.curve)),
                     mode="w")

    def _log(self, row: dict[str, Any]) -> None:
        """Add a row to the curve; rank 0 also appends it to `curve.jsonl` at once, so that a long run can be
        watched (and a failed start noticed) before the next checkpoint rewrites the file whole."""
        self.curve.append(row)
        if self.d.main:
            self.out.mkdir(parents=True, exist_ok=True)
            with open(self.out / "curve.jsonl", "a") as handle:
                handle.write(json.dumps(row) + "\n")

    @staticmethod
    def _export_model(model: RecursiveReasoner) -> RecursiveReasoner:
        """An uncompiled fp32-forward copy for saving (the forward dtype is an inference choice)."""
        out = build_model(model.config.replace(forward_dtype="float32"))
        out.load_state_dict({k: v.detach().cpu() for k, v in float_state_dict(model).items()})
        return out

    # ------------------------------------------------------------------------------------------------- eval
    def evaluate(self, depths: tuple[int, ...] = (16,), limit: int | None = None) -> dict[str, Any]:
        """Test accuracy of the raw (and EMA) weights on every eval set at the given depths (rank 0 only)."""
        from redge.study.evaluate import evaluate_depths

        models = {"raw": self.model}  # under QAT its forward is already the quantized one
        if self.ema is not None:
            models["ema"] = self.ema.copy_of(self.model)
            if self.config.qat:  # the averaged float weights, converted as the checkpoint would be
                quantize_(models["ema"], self.config.qat)
        res: dict[str, Any] = {}
        for tag, model in models.items():
            for name, split in self.eval_sets.items():
                res[f"{tag}/{name}"] = evaluate_depths(model, split, depths, batch_size=1000,
                                                       limit=limit or self.config.eval_limit, device=self.d.device)
        return res

    # -------------------------------------------------------------------------------------------------- run
    def _forward_backward(self, carry: Carry, batch: dict[str, torch.Tensor]) -> tuple[Carry, dict[str, torch.Tensor]]:
        """One ACT step of every local row with its loss back-propagated (divided by the global batch), in
        micro-batches of `micro_batch_size` rows when set: the gradients add up to the whole batch's, in less memory.
        Returns the new carry and the summed metrics."""
        rows = batch["labels"].shape[0]
        size = self.config.micro_batch_size or rows
        carries: list[Carry] = []
        teacher_carries: list[Carry] = []
        sums: dict[str, torch.Tensor] = {}
        for start in range(0, rows, size):
            part = slice(start, start + size)
            part_batch = {k: v[part] for k, v in batch.items()}
            new_carry, outputs = self.model.step(carry.rows(part), part_batch)
            if not self.model.config.no_ACT_continue:
                outputs["target_q_continue"] = q_continue_target(self.model, new_carry, part_batch)
            loss, metrics = act_loss(outputs, part_batch["labels"], new_carry.halted, new_carry.steps, self.config.loss)
            if self.teacher is not None:
                extra, extra_metrics, teacher_new = self._teacher_terms(carry.rows(part), part_batch, outputs, part)
                loss, metrics = loss + extra, {**metrics, **extra_metrics}
                teacher_carries.append(teacher_new)
            (loss / self.config.global_batch_size).backward()
            carries.append(new_carry)
            sums = {k: sums.get(k, 0) + v.detach() for k, v in metrics.items()}
        if teacher_carries:
            self.teacher_carry = teacher_carries[0] if len(teacher_carries) == 1 else Carry.cat(teacher_carries)
        return (carries[0] if len(carries) == 1 else Carry.cat(carries)), sums

    def run(self) -> dict[str, Any]:
        """Train to the step or time limit; returns a summary (steps, minutes, steps/s, last metrics)."""
        cfg = self.config
        if self.d.main:
            self.out.mkdir(parents=True, exist_ok=True)
            write_json(self.out / "config.json", {"train": cfg.to_dict(), "model": self.model.config.to_dict(),
                                                  "world_size": self.d.world})
        carry: Carry | None = None
        current: dict[str, torch.Tensor] = {}
        sums: dict[str, torch.Tensor] = {}
        start = time.perf_counter()
        base_elapsed = self.elapsed
        last_ckpt = last_eval = start
        window_t, window_step = start, self.step
        with ExitStack() as cleanup:
            batches = cleanup.enter_context(closing(BatchPrefetcher(self.stream, self.d.device)))
            bar = cleanup.enter_context(progress_bar("train", cfg.max_steps, self.progress))
            bar.update(completed=self.step)
            while self.step < cfg.max_steps:
                if cfg.max_minutes is not None and self.elapsed >= cfg.max_minutes * 60:
                    break
                self.step += 1
                new = batches.batch(self.step)
                if carry is None:
                    carry, current = self.model.init_carry(new), new
                else:
                    current = {k: torch.where(carry.halted.view(-1, *([1] * (v.ndim - 1))), new[k], current[k])
                               for k, v in new.items()}
                carry, metrics = self._forward_backward(carry, current)
                if self.d.world > 1:
                    all_reduce_grads(self.model)
                lr = warmup_constant_lr(self.step, cfg.lr, cfg.lr_warmup_steps)
                for group in self.opt.param_groups:
                    group["lr"] = lr
                self.opt.step()
                self.opt.zero_grad(set_to_none=True)
                if self.sparse is not None:
                    self.sparse.lr = warmup_constant_lr(self.step, cfg.puzzle_emb_lr, cfg.lr_warmup_steps)
                    self.sparse.step()
                if self.ema is not None:
                    self.ema.update(self.model)
                for k, v in metrics.items():
                    sums[k] = sums.get(k, 0) + v.detach()
                sums["_rows"] = sums.get("_rows", 0) + float(current["labels"].shape[0])
                self.elapsed = base_elapsed + time.perf_counter() - start
                bar.update(completed=self.step)
                if self.step % cfg.log_every == 0:
                    now = time.perf_counter()
                    row = {"step": self.step, "minutes": round(self.elapsed / 60, 3), "lr": lr,
                           "steps_per_s": round((self.step - window_step) / (now - window_t), 3),
                           **_reduce_metrics(sums, self.d)}
                    window_t, window_step, sums = now, self.step, {}
                    self._log(row)
                    bar.update(description=f"train loss {row.get('lm_loss', 0):.3f} "
                                           f"exact {row.get('exact_accuracy', 0):.3f}")
                now = time.perf_counter()
                if cfg.eval_every_minutes and now - last_eval >= cfg.eval_every_minutes * 60 and self.d.main:
                    self._log({"step": self.step, "minutes": round(self.elapsed / 60, 3), "eval": self.evaluate()})
                    last_eval = time.perf_counter()
                if cfg.checkpoint_every_minutes and now - last_ckpt >= cfg.checkpoint_every_minutes * 60:
                    self.save()
                    last_ckpt = time.perf_counter()
        self.save()
        window = [r for r in self.curve if "steps_per_s" in r]
        return {"step": self.step, "minutes": round(self.elapsed / 60, 3),
                "steps_per_s": window[-1]["steps_per_s"] if window else None,  # None: fewer steps than log_every
                "last": window[-1] if window else {}, "out": str(self.out)}
