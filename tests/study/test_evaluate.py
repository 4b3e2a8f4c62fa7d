"""`evaluate_depths` on an ARC test split also votes over the augmented variants and reports pass@K per depth."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from redge.study.evaluate import evaluate_depths
from redge.tasks.format import load_split

ARC = Path(__file__).resolve().parents[1] / "tasks" / "fixtures" / "official_arc"


class _FixedPredictor(torch.nn.Module):
    """Test double of a reasoner: at every depth predicts the labels (`solve=True`) or a constant colour."""

    def __init__(self, solve: bool) -> None:
        super().__init__()
        self.solve = solve

    def iterate(self, batch: dict[str, torch.Tensor], depth: int):
        target = batch["labels"].clamp(min=0) if self.solve else torch.full_like(batch["labels"], 5)
        outputs = {"logits": torch.nn.functional.one_hot(target.long(), 12).float(),
                   "q_halt_logits": torch.zeros(target.shape[0])}
        for _ in range(depth):
            yield None, outputs


@pytest.mark.parametrize("solve, expected", [(True, 1.0), (False, 0.0)])
def test_arc_split_gets_pass_at_k_per_depth(solve: bool, expected: float) -> None:
    result = evaluate_depths(_FixedPredictor(solve), load_split(ARC, "test"), [1, 2], batch_size=7, arc_data=ARC)
    for row in result.values():
        assert row["ARC/pass@1"] == row["ARC/pass@2"] == expected
        assert row["exact_accuracy"] == expected


def test_without_arc_data_no_pass_at_k() -> None:
    result = evaluate_depths(_FixedPredictor(True), load_split(ARC, "test"), [1])
    assert not any(k.startswith("ARC/") for k in result["1"])


def test_a_registered_toy_task_is_scored_by_its_own_blank_tokens(monkeypatch, tmp_path: Path) -> None:
    """evaluate_depths asks the registry: a task added as one module gets its non-given accuracy, no edit here."""
    from redge.tasks import registry

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "tasks"))
    monkeypatch.setattr(registry, "TASK_MODULES", [*registry.TASK_MODULES, "toy_task"])
    registry.get_task("toy").build(tmp_path, n=10, progress=False)
    split = load_split(tmp_path, "test")
    assert "non_given_cell_accuracy" not in evaluate_depths(_FixedPredictor(True), load_split(ARC, "test"), [1])["1"]
    row = evaluate_depths(_FixedPredictor(True), split, [1, 2])["2"]
    assert row["non_given_cell_accuracy"] == row["exact_accuracy"] == 1.0 and row["count"] == 10
    row = evaluate_depths(_FixedPredictor(False), split, [1])["1"]  # constant token 5: wrong on every cell
    assert row["non_given_cell_accuracy"] == row["cell_accuracy"] == 0.0
