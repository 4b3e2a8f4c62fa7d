"""Distillation and the trajectory loss through the training loop: the losses are zero for the teacher itself, the
KL falls for a narrower student, and a student that is the teacher starts on its trajectory."""
from __future__ import annotations

import pytest
import torch

from redge.core.errors import RedgeInputError
from redge.train.loop import Trainer
from redge.train.losses import token_kl, trajectory_loss


def test_the_losses_are_zero_for_the_teacher_itself() -> None:
    torch.manual_seed(0)
    logits, labels = torch.randn(3, 81, 11), torch.randint(1, 11, (3, 81))
    assert float(token_kl(logits, logits, labels)) == pytest.approx(0.0, abs=1e-6)
    assert float(token_kl(logits + 1.0, logits, labels, temperature=2.0)) == pytest.approx(0.0, abs=1e-5)  # shift
    assert float(token_kl(torch.randn(3, 81, 11), logits, labels)) > 0.1
    z_H, z_L = torch.randn(3, 97, 16), torch.randn(3, 97, 16)
    assert float(trajectory_loss(z_H, z_L, z_H, z_L)) == pytest.approx(0.0, abs=1e-6)
    assert float(trajectory_loss(z_H, z_L, 3 * z_H, z_L)) == pytest.approx(0.0, abs=1e-5)  # direction, not size
    assert float(trajectory_loss(z_H, z_L, -z_H, -z_L)) == pytest.approx(2.0 * 3, abs=1e-4)  # 1 - cos = 2, 3 rows


@pytest.fixture
def teacher(micro_config, tmp_path):
    """A micro model trained a few steps: the teacher."""
    Trainer(micro_config.replace(max_steps=20), tmp_path / "teacher", "cpu", progress=False).run()
    return str(tmp_path / "teacher" / "model")


def test_a_narrower_student_learns_the_teachers_logits(micro_config, teacher, tmp_path) -> None:
    student = micro_config.replace(
        model={**micro_config.model, "hidden_size": 8, "puzzle_emb_ndim": 8}, teacher=teacher, teacher_kl=1.0,
        max_steps=60, log_every=10, lr=3e-3)
    trainer = Trainer(student, tmp_path / "student", "cpu", progress=False)
    assert trainer.model.config.hidden_size == 8 and trainer.teacher.config.hidden_size == 16
    trainer.run()
    kl = [r["kl_loss"] for r in trainer.curve if "kl_loss" in r]
    assert len(kl) == 6 and kl[-1] < kl[0]


def test_a_student_that_is_the_teacher_starts_on_its_trajectory(micro_config, teacher, tmp_path) -> None:
    same = micro_config.replace(teacher=teacher, init_from=teacher, teacher_trajectory=1.0, max_steps=4, log_every=1,
                                lr=0.0, ema=None)
    trainer = Trainer(same, tmp_path / "same", "cpu", progress=False)
    trainer.run()
    assert [round(r["trajectory_loss"], 6) for r in trainer.curve if "trajectory_loss" in r] == [0.0] * 4


def test_a_trajectory_between_different_widths_is_refused(micro_config, teacher, tmp_path) -> None:
    narrow = micro_config.replace(model={**micro_config.model, "hidden_size": 8, "puzzle_emb_ndim": 8},
                                  teacher=teacher, teacher_trajectory=1.0)
    with pytest.raises(RedgeInputError, match="hidden size"):
        Trainer(narrow, tmp_path / "x", "cpu", progress=False)


def test_linear_attention_fine_tunes_from_softmax_weights(micro_config, tmp_path) -> None:
    """Train a softmax TRM-Att a few steps, then fine-tune it as a linear-attention model from those weights."""
    att = {**micro_config.model, "mlp_t": False, "pos_encodings": "rope", "num_heads": 2}
    Trainer(micro_config.replace(model=att, max_steps=10), tmp_path / "soft", "cpu", progress=False).run()
    tune = micro_config.replace(model={**att, "attention": "linear"}, init_from=str(tmp_path / "soft" / "model"),
                                max_steps=40, log_every=10, lr=3e-3)
    trainer = Trainer(tune, tmp_path / "lin", "cpu", progress=False)
    assert trainer.model.config.attention == "linear"
    trainer.run()
    losses = [r["lm_loss"] for r in trainer.curve if "lm_loss" in r]
    assert losses[-1] < losses[0]


def test_a_shallower_student_starts_from_the_teachers_chosen_layers(micro_config, teacher, tmp_path) -> None:
    """`init_layers` keeps the named layers of each stack, renumbered; the student is as shallow as asked and learns
    the teacher's logits from there; an index the teacher lacks, or init_layers without init_from, is refused."""
    teacher_state = Trainer(micro_config.replace(init_from=teacher, max_steps=0), tmp_path / "t", "cpu",
                            progress=False).model.state_dict()
    assert any(".layers.1." in key for key in teacher_state)
    shallow = micro_config.replace(model={**micro_config.model, "L_layers": 1}, init_from=teacher, init_layers=[1],
                                   teacher=teacher, teacher_kl=1.0, max_steps=30, log_every=10, lr=3e-3)
    trainer = Trainer(shallow, tmp_path / "student", "cpu", progress=False)
    state = trainer.model.state_dict()
    assert not any(".layers.1." in key for key in state)
    for key, value in state.items():  # layer 1 of the teacher became layer 0; everything else copied as it was
        assert torch.equal(value, teacher_state[key.replace(".layers.0.", ".layers.1.")]), key
    trainer.run()
    kl = [r["kl_loss"] for r in trainer.curve if "kl_loss" in r]
    assert len(kl) == 3 and kl[-1] < kl[0]

    with pytest.raises(RedgeInputError, match=r"has layers \[0, 1\], not \[2\]"):
        Trainer(shallow.replace(init_layers=[2]), tmp_path / "x", "cpu", progress=False)
    with pytest.raises(RedgeInputError, match="init_layers: needs init_from"):
        micro_config.replace(init_layers=[0])
