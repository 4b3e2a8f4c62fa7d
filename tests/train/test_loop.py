"""A few dozen CPU training steps: the loss falls, checkpoints load, resume continues, HRM trains with Q-continue."""
import json

import torch

from redge.models.checkpoint import load_checkpoint
from redge.train.loop import Trainer


def _curve(path):
    return [json.loads(line) for line in (path / "curve.jsonl").read_text().splitlines()]


def test_training_reduces_loss_and_saves(micro_config, tmp_path):
    cfg = micro_config.replace(max_steps=40, lr=3e-3, log_every=10, ema=0.9)
    summary = Trainer(cfg, tmp_path / "run", "cpu", progress=False).run()
    assert summary["step"] == 40
    curve = [r for r in _curve(tmp_path / "run") if "lm_loss" in r]
    assert curve[-1]["lm_loss"] < curve[0]["lm_loss"]
    model = load_checkpoint(tmp_path / "run" / "model")
    assert model.config.hidden_size == 16 and (tmp_path / "run" / "ema" / "config.json").exists()


def test_resume_continues_from_saved_step(micro_config, tmp_path):
    Trainer(micro_config.replace(max_steps=8), tmp_path / "run", "cpu", progress=False).run()
    resumed = Trainer(micro_config.replace(max_steps=12), tmp_path / "run", "cpu", resume=True, progress=False)
    assert resumed.step == 8 and len(resumed.opt.state) > 0
    assert resumed.run()["step"] == 12


def test_hrm_step_with_q_continue(micro_config, tmp_path):
    model = {"arch": "hrm", "hidden_size": 16, "num_heads": 2, "expansion": 1, "H_cycles": 1, "L_cycles": 1,
             "H_layers": 1, "L_layers": 1, "puzzle_emb_ndim": 16, "pos_encodings": "rope", "halt_max_steps": 3,
             "no_ACT_continue": False}
    trainer = Trainer(micro_config.replace(model=model, max_steps=6, log_every=3, ema=None), tmp_path / "hrm", "cpu",
                      progress=False)
    trainer.run()
    rows = [r for r in trainer.curve if "q_continue_loss" in r]
    assert rows and all(torch.isfinite(torch.tensor(r["lm_loss"])) for r in rows)
