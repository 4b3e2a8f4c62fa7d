"""A few dozen CPU training steps: the loss falls, checkpoints load, resume and warm start continue, HRM trains with
Q-continue, the padded mlp_t and the batch prefetcher change nothing."""
import json

import pytest
import torch

from redge.core.errors import RedgeInputError
from redge.quant.load import load_checkpoint
from redge.train.data import BatchPrefetcher, open_stream
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


def test_the_curve_is_written_as_it_comes_and_a_resume_drops_rows_past_its_state(micro_config, tmp_path, monkeypatch):
    """curve.jsonl grows with every logged row, before any checkpoint (a long run is watched through it); a resume
    keeps only the rows up to its saved step, so steps trained again are not logged twice."""
    cfg = micro_config.replace(max_steps=8, log_every=4, checkpoint_every_minutes=None)
    Trainer(cfg, tmp_path / "run", "cpu", progress=False).run()  # saved at step 8
    monkeypatch.setattr(Trainer, "save", lambda self: None)  # no checkpoint from here on: only the live appends
    Trainer(cfg.replace(max_steps=16), tmp_path / "run", "cpu", resume=True, progress=False).run()
    assert [r["step"] for r in _curve(tmp_path / "run")] == [4, 8, 12, 16]  # appended live, past the state at 8
    resumed = Trainer(cfg.replace(max_steps=16), tmp_path / "run", "cpu", resume=True, progress=False)
    assert resumed.step == 8 and [r["step"] for r in resumed.curve] == [4, 8]


def test_hrm_step_with_q_continue(micro_config, tmp_path):
    model = {"arch": "hrm", "hidden_size": 16, "num_heads": 2, "expansion": 1, "H_cycles": 1, "L_cycles": 1,
             "H_layers": 1, "L_layers": 1, "puzzle_emb_ndim": 16, "pos_encodings": "rope", "halt_max_steps": 3,
             "no_ACT_continue": False}
    trainer = Trainer(micro_config.replace(model=model, max_steps=6, log_every=3, ema=None), tmp_path / "hrm", "cpu",
                      progress=False)
    trainer.run()
    rows = [r for r in trainer.curve if "q_continue_loss" in r]
    assert rows and all(torch.isfinite(torch.tensor(r["lm_loss"])) for r in rows)


def test_warm_start_copies_weights_and_refuses_other_shapes(micro_config, tmp_path):
    Trainer(micro_config.replace(max_steps=4), tmp_path / "first", "cpu", progress=False).run()
    saved = load_checkpoint(tmp_path / "first" / "model").state_dict()
    warm = Trainer(micro_config.replace(init_from=str(tmp_path / "first" / "model")), tmp_path / "warm", "cpu",
                   progress=False)
    assert warm.step == 0 and not warm.opt.state
    assert all(torch.equal(v, saved[k]) for k, v in warm.model.state_dict().items())
    wider = micro_config.replace(model={**micro_config.model, "hidden_size": 32, "puzzle_emb_ndim": 32},
                                 init_from=str(tmp_path / "first" / "model"))
    with pytest.raises(RedgeInputError, match="do not fit"):
        Trainer(wider, tmp_path / "wider", "cpu", progress=False)


def test_padded_token_mlp_trains_identically(micro_config, tmp_path):
    """`token_pad_multiple` only changes matrix shapes: the loss curve equals the unpadded one."""
    plain = Trainer(micro_config.replace(max_steps=8), tmp_path / "plain", "cpu", progress=False)
    plain.run()
    padded = Trainer(micro_config.replace(max_steps=8, token_pad_multiple=16), tmp_path / "pad", "cpu", progress=False)
    padded.run()
    losses = [[r["lm_loss"] for r in t.curve if "lm_loss" in r] for t in (plain, padded)]
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)


def test_prefetched_batches_equal_direct_ones(micro_config):
    stream = open_stream(micro_config.data, None, "sudoku", 0, 8)
    batches = BatchPrefetcher(stream, torch.device("cpu"))
    try:
        for step in (1, 2, 3, 7):  # in order, then a jump (nothing prefetched for it)
            got, want = batches.batch(step), stream.batch(step)
            assert all(torch.equal(got[k], want[k]) for k in want)
    finally:
        batches.close()


def test_micro_batches_train_like_the_whole_batch(micro_config, tmp_path):
    """Rows processed 3 at a time (the last part smaller) give the loss curve and weights of the whole batch of 8."""
    runs = {}
    for name, micro in (("whole", None), ("micro", 3)):
        trainer = Trainer(micro_config.replace(max_steps=8, micro_batch_size=micro, log_every=2), tmp_path / name,
                          "cpu", progress=False)
        trainer.run()
        runs[name] = trainer
    losses = [[r["lm_loss"] for r in runs[n].curve if "lm_loss" in r] for n in ("whole", "micro")]
    assert losses[0] == pytest.approx(losses[1], rel=1e-4)
    whole, micro = (runs[n].model.state_dict() for n in ("whole", "micro"))
    assert all(torch.allclose(whole[k], micro[k], atol=1e-5) for k in whole)


@pytest.mark.parametrize("damage", [lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]),
                                    lambda p: p.write_bytes(b"PK\x03\x04 not a checkpoint"),
                                    lambda p: torch.save({"model": {}}, p)])
def test_resume_from_a_damaged_state_is_one_line(micro_config, tmp_path, damage):
    Trainer(micro_config.replace(max_steps=2), tmp_path / "run", "cpu", progress=False).run()
    damage(tmp_path / "run" / "state.pt")
    with pytest.raises(RedgeInputError, match="cannot resume from it") as err:
        Trainer(micro_config.replace(max_steps=4), tmp_path / "run", "cpu", resume=True, progress=False)
    assert "state.pt" in str(err.value) and "\n" not in str(err.value)
