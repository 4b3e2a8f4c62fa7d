"""QAT through the training loop: the fake-quant forward is exactly the converted (quantize_) model, gradients reach
the float weights through the rounding, the loss falls, and the saved checkpoint converts to what was trained."""
from __future__ import annotations

import pytest
import torch

from redge.compress.qat import prepare_qat_, strip_qat_
from redge.core.errors import RedgeInputError
from redge.quant.apply import quantize_
from redge.quant.load import load_checkpoint
from redge.train.loop import Trainer


@pytest.mark.parametrize("recipe", ["int4-channel", "int4-g32", "int8", "int4-channel-cal"])
def test_fake_quant_forward_is_the_converted_model(small_trm, sudoku_batch, recipe: str) -> None:
    prepared = small_trm()
    assert prepare_qat_(prepared, recipe)
    converted = quantize_(strip_qat_(small_trm()), recipe)
    with torch.no_grad():
        a = prepared.predict(sudoku_batch(), depth=2)["logits"]
        b = converted.predict(sudoku_batch(), depth=2)["logits"]
        plain = small_trm().predict(sudoku_batch(), depth=2)["logits"]
    assert torch.allclose(a, b, atol=1e-4) and not torch.allclose(a, plain, atol=1e-4)


def test_gradients_pass_straight_through_the_rounding(small_trm, sudoku_batch) -> None:
    model = small_trm().train()
    prepare_qat_(model, "int4-channel")
    carry, out = model.step(model.init_carry(sudoku_batch()), sudoku_batch())
    out["logits"].square().mean().backward()
    grads = [p.grad for n, p in model.named_parameters() if ".parametrizations." in n]
    assert grads and all(g is not None and float(g.abs().sum()) > 0 for g in grads)


def test_gptq_cannot_be_trained_towards(small_trm) -> None:
    from redge.quant.spec import QuantRecipe, QuantSpec, Rule

    gptq = QuantRecipe("g", (Rule("@linears", QuantSpec(bits=4, method="gptq")),))
    with pytest.raises(RedgeInputError, match="calibration"):
        prepare_qat_(small_trm(), gptq)


def test_qat_training_lowers_the_loss_and_saves_a_checkpoint_that_converts(micro_config, tmp_path) -> None:
    config = micro_config.replace(qat="int4-channel", max_steps=60, log_every=10, lr=3e-3, ema=0.9)
    trainer = Trainer(config, tmp_path / "run", "cpu", progress=False)
    trainer.run()
    losses = [r["lm_loss"] for r in trainer.curve if "lm_loss" in r]
    assert losses[-1] < losses[0]
    saved = load_checkpoint(tmp_path / "run" / "model")
    assert not any("parametrizations" in k for k in saved.state_dict())
    batch = {k: v[:4] for k, v in trainer.stream.batch(1).items() if k != "labels"}
    with torch.no_grad():
        trained = trainer.model.eval().predict(batch, depth=2)["logits"].float()
        converted = quantize_(saved, "int4-channel").predict(batch, depth=2)["logits"]
    assert torch.allclose(trained, converted, atol=1e-4)
    assert set(trainer.evaluate()) == {"raw/micro", "ema/micro"}
