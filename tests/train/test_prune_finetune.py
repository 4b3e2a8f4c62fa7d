"""Masked fine-tune after pruning (`TrainConfig.prune`): the pruned weights stay exactly zero through training while
the others learn, the saved raw and EMA checkpoints are as sparse as asked (2:4 pattern intact), and only pruning
methods are accepted."""
from __future__ import annotations

import pytest
import torch

from redge.compress.prune import two_four_mask
from redge.core.errors import RedgeInputError
from redge.quant.load import load_checkpoint
from redge.train.loop import Trainer


def _linears(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: m.weight.detach() for n, m in model.named_modules()
            if isinstance(m, torch.nn.Linear) and n.endswith("_proj")}


def test_a_masked_fine_tune_keeps_the_2_4_pattern_and_learns(micro_config, tmp_path) -> None:
    config = micro_config.replace(prune="prune-2:4", max_steps=40, log_every=10, lr=3e-3, ema=0.9)
    trainer = Trainer(config, tmp_path / "run", "cpu", progress=False)
    start = {n: w.clone() for n, w in _linears(trainer.model).items()}  # pruned, before any step
    report = trainer.model.prune_report
    assert report.keys() == start.keys()
    trainer.run()
    for tag in ("model", "ema"):
        saved = _linears(load_checkpoint(tmp_path / "run" / tag))
        assert saved.keys() == start.keys() and saved
        for name, w in saved.items():
            pruned = start[name] == 0  # 2:4 (a width of 4k + 1 keeps its last lone input: just under 50%)
            assert float(pruned.float().mean()) == report[name]["achieved"] > 0.45
            assert torch.all(w[pruned] == 0), f"{tag}: {name} revived pruned weights"
            assert torch.equal(two_four_mask(w) | (w == 0), torch.ones_like(w, dtype=torch.bool))  # <= 2 of every 4
    moved = [not torch.equal(w, start[n]) for n, w in _linears(load_checkpoint(tmp_path / "run" / "model")).items()]
    assert all(moved)  # the kept weights learned


def test_only_pruning_methods_are_accepted(micro_config, tmp_path) -> None:
    with pytest.raises(RedgeInputError, match="not a pruning method"):
        Trainer(micro_config.replace(prune="int4-naive"), tmp_path / "run", "cpu", progress=False)
