"""quantize_ on TRM-MLP / TRM-Att: fake vs packed agreement, report, bytes, recipe errors, calibration."""
import pytest
import torch

from redge.core.errors import RedgeInputError
from redge.models import ModelConfig, build_model
from redge.quant.apply import quantize_, set_mode
from redge.quant.modules import QuantLinear
from redge.quant.spec import PRESETS, QuantRecipe, QuantSpec, Rule, load_recipe

SMALL = dict(hidden_size=64, num_heads=2, puzzle_emb_ndim=64, H_cycles=1, L_cycles=2)
CONFIGS = {"trm-mlp": ModelConfig(mlp_t=True, pos_encodings="none", **SMALL), "trm-att": ModelConfig(**SMALL)}
W8A8 = QuantRecipe("w8a8", (Rule("q_head", None, "halting head"), Rule("@linears", QuantSpec(bits=8, act_bits=8))))


def _batch(n: int = 2) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {"inputs": torch.randint(1, 11, (n, 81), generator=g), "puzzle_identifiers": torch.zeros(n, dtype=torch.long)}


def _model(arch: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(CONFIGS[arch]).eval()


@pytest.mark.parametrize("arch", list(CONFIGS))
@pytest.mark.parametrize("recipe", ["int8", "int4-channel", "int4-g32", W8A8], ids=str)
def test_packed_and_fake_logits_agree(arch, recipe):
    """One ACT step (H=1, L=2) of a random model: packed vs fake max |diff| < 1e-3 x logit scale."""
    model, batch = quantize_(_model(arch), recipe), _batch()
    fake = model.predict(batch, depth=1)["logits"]
    set_mode(model, "packed")
    packed = model.predict(batch, depth=1)["logits"]
    assert float((packed - fake).abs().max()) < 1e-3 * float(fake.abs().max())
    kernels = {m.kernel_name for m in model.modules() if isinstance(m, QuantLinear)}
    assert kernels == ({"int_mm"} if recipe is W8A8 else {"int8pack"} if recipe == "int8" else {"int4pack"})


def test_every_preset_runs_and_reports_every_module():
    for name in PRESETS:
        model = quantize_(_model("trm-mlp"), name)
        report = model.quant_report
        names = {m.name for m in report.modules}
        assert {"embed_tokens", "lm_head", "q_head", "puzzle_emb", "L_level.layers.0.mlp_t.gate_up_proj"} <= names
        assert all(m.reason for m in report.kept())
        assert torch.isfinite(model.predict(_batch(1), depth=1)["logits"]).all()


def test_trm_att_int4_channel_bytes_within_one_percent():
    """Full-size TRM-Att Sudoku: stored bytes = params x 0.5 B + scales (fp32, one per output row), within 1%."""
    model = build_model(ModelConfig()).eval()
    params = model.num_parameters()
    rows = sum(m.weight.shape[0] for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and n != "q_head")
    rows += model.embed_tokens.embedding_weight.shape[0]
    expected = params * 0.5 + rows * 4
    report = quantize_(model, "int4-channel").quant_report
    weights = report.total_bytes - next(m.total_bytes for m in report.modules if m.name == "puzzle_emb")
    assert abs(weights - expected) / expected < 0.01
    kept = {m.name: m.reason for m in report.kept()}
    assert set(kept) == {"q_head", "puzzle_emb"} and "halting" in kept["q_head"]


@pytest.mark.parametrize("rule,message", [
    (Rule("L_level.layers.7.*", QuantSpec(bits=4)), "matches no module"),
    (Rule("@attention", QuantSpec(bits=4)), "matches no module"),  # TRM-MLP has no attention
    (Rule("*", QuantSpec(bits=1)), "bits must be in 2-16"),
    (Rule("*", QuantSpec(bits=17)), "bits must be in 2-16"),
    (Rule("*", QuantSpec(bits=12)), "unsupported"),
    (Rule("*", QuantSpec(bits=4, granularity="group")), "group_size"),
])
def test_bad_recipe_fails_in_one_line_before_any_work(rule, message):
    model = _model("trm-mlp")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(RedgeInputError, match=message) as info:
        quantize_(model, QuantRecipe("bad", (rule,)), calib=iter(()))
    assert "\n" not in str(info.value)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # untouched


def test_recipe_file_yaml(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("name: mixed\nrules:\n  - {pattern: '@token_mixing', spec: {bits: 4, granularity: group, "
                    "group_size: 32}}\n  - {pattern: 're:.*mlp\\..*', spec: {bits: 8}}\n  - {pattern: '@heads', spec: null}\n")
    model = quantize_(_model("trm-mlp"), load_recipe(path))
    status = {m.name: m.spec for m in model.quant_report.modules}
    assert status["L_level.layers.0.mlp_t.down_proj"] == "int4 group32 sym minmax"
    assert status["L_level.layers.1.mlp.gate_up_proj"] == "int8 channel sym minmax"
    assert status["lm_head"] == "fp32" and status["embed_tokens"] == "fp32"  # embed_tokens: no rule matched
    with pytest.raises(RedgeInputError, match="unknown recipe"):
        load_recipe(tmp_path / "missing.yaml")


def test_calibration_per_cycle_stats_and_gptq():
    recipe = QuantRecipe("gptq", (Rule("q_head", None, "halting head"),
                                  Rule("@linears", QuantSpec(bits=4, method="gptq"))))
    with pytest.raises(RedgeInputError, match="calibration"):
        quantize_(_model("trm-mlp"), recipe)
    model = quantize_(_model("trm-mlp"), recipe, calib=[_batch(2)], calib_depth=2)
    rows = {m.name: m for m in model.quant_report.modules}
    act = rows["L_level.layers.0.mlp.gate_up_proj"].act_range
    assert len(act["per_cycle"]) == 3 and len(act["per_step"]) == 2  # (L=2)+1 calls per step, 2 ACT steps
    assert act["pooled"] == pytest.approx(max(act["per_cycle"]), rel=1e-3)
    assert rows["L_level.layers.0.mlp.gate_up_proj"].weight_sqnr_db > 10
