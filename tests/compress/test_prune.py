"""Pruning on a tiny TRM: the achieved sparsity is the one asked, 2:4 holds in every group, whole channels go, and the
sweep takes a pruning method like a recipe."""
from __future__ import annotations

import pytest
import torch

from redge.compress import PruneConfig, compress_, load_method
from redge.compress.prune import two_four_mask
from redge.core.errors import RedgeInputError
from redge.models.layers import SwiGLU


@pytest.mark.parametrize("sparsity", [0.3, 0.5, 0.75])
def test_magnitude_pruning_reaches_the_asked_sparsity(small_trm, sparsity: float) -> None:
    model = compress_(small_trm(), PruneConfig("p", "magnitude", sparsity))
    for name, row in model.prune_report.items():
        w = model.get_submodule(name).weight
        assert float((w == 0).float().mean()) == pytest.approx(sparsity, abs=1 / w.numel())
        assert row["achieved"] == pytest.approx(sparsity, abs=1 / w.numel())
    assert "lm_head" not in model.prune_report and "q_head" not in model.prune_report  # heads stay whole


def test_two_four_pattern_holds_in_every_group(small_trm) -> None:
    model = compress_(small_trm(), load_method("prune-2:4"))
    for name in model.prune_report:
        w = model.get_submodule(name).weight
        k = w.shape[1]
        groups = torch.nn.functional.pad(w != 0, (0, -k % 4)).reshape(w.shape[0], -1, 4)
        assert int(groups.sum(-1).max()) <= 2
        if k % 4 == 0:
            assert model.prune_report[name]["achieved"] == 0.5


def test_two_four_keeps_the_largest_two() -> None:
    w = torch.tensor([[0.1, -4.0, 3.0, 0.2, 5.0]])  # width 5: a last group of one keeps its input
    assert two_four_mask(w).tolist() == [[False, True, True, False, True]]


@pytest.mark.parametrize("preset, where", [("prune-ch-25", ".mlp"), ("prune-tok-25", ".mlp_t")])
def test_channel_pruning_removes_whole_channels_and_equals_the_narrow_mlp(small_trm, preset: str, where: str
                                                                         ) -> None:
    model = compress_(small_trm(), load_method(preset))
    mlps = {name.rpartition(".")[0] for name in model.prune_report}  # the report names the SwiGLUs' two linears
    assert mlps and all(name.endswith(where) for name in mlps)
    assert {f"{m}.{part}" for m in mlps for part in ("gate_up_proj", "down_proj")} == set(model.prune_report)
    for name in mlps:
        mlp: SwiGLU = model.get_submodule(name)
        gate, up = mlp.gate_up_proj.weight.chunk(2, dim=0)
        dead = (gate == 0).all(1)
        assert torch.equal(dead, (up == 0).all(1)) and torch.equal(dead, (mlp.down_proj.weight == 0).all(0))
        assert int(dead.sum()) == round(0.25 * dead.numel())
        x = torch.randn(3, mlp.gate_up_proj.weight.shape[1])
        live = ~dead
        narrow = torch.nn.functional.linear(torch.nn.functional.silu(x @ gate[live].T) * (x @ up[live].T),
                                            mlp.down_proj.weight[:, live])
        assert torch.allclose(mlp(x), narrow, atol=1e-5)


def test_pruning_changes_the_logits_and_bad_configs_fail_in_one_line(small_trm, sudoku_batch) -> None:
    ref = small_trm().predict(sudoku_batch(), depth=1)["logits"]
    pruned = compress_(small_trm(), load_method("prune-75")).predict(sudoku_batch(), depth=1)["logits"]
    assert not torch.allclose(ref, pruned)
    with pytest.raises(RedgeInputError, match="sparsity"):
        PruneConfig("bad", "magnitude", 1.5)
    with pytest.raises(RedgeInputError, match="selects no module"):
        compress_(small_trm(), PruneConfig("none", "magnitude", 0.5, pattern="nothing.*"))
