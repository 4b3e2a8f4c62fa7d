"""Model-level properties: official parameter counts, step/predict shapes, ACT and early-exit semantics, bf16, and
per-call cycle overrides. Official reference behaviour comes from the traces in tests/fixtures/official/."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from redge.models import HRM, TRM, Carry, ModelConfig, build_model
from redge.quant.load import load_checkpoint

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "official"


def fixture(name: str, **overrides):
    model = load_checkpoint(FIXTURES / name / "step_100", **overrides)
    trace = torch.load(FIXTURES / name / "trace.pt", weights_only=True)
    return model, trace, {k: trace[k] for k in ("inputs", "labels", "puzzle_identifiers")}


# ---------------------------------------------------------------------------------------------------------------
# Parameter counts of the full-size official configs (spec §0 / §2.1; HRM's matches its logged num_params)

FULL_SIZE = {
    "TRM-MLP Sudoku": (ModelConfig(mlp_t=True, pos_encodings="none", H_cycles=3, L_cycles=6), 5_028_866),
    "TRM-Att Sudoku": (ModelConfig(pos_encodings="rope", H_cycles=3, L_cycles=6), 6_828_034),
    "TRM-Att Maze": (ModelConfig(vocab_size=6, seq_len=900, H_cycles=3, L_cycles=4), 6_822_914),
    "TRM-Att ARC": (ModelConfig(vocab_size=12, seq_len=900, H_cycles=3, L_cycles=4,
                                num_puzzle_identifiers=876_406), 6_829_058),
    "TRM-MLP ARC": (ModelConfig(vocab_size=12, seq_len=900, mlp_t=True, pos_encodings="none"), 18_801_666),
    "HRM Sudoku": (ModelConfig(arch="hrm", H_layers=4, L_layers=4, H_cycles=2, L_cycles=2), 27_275_266),
    "HRM ARC": (ModelConfig(arch="hrm", vocab_size=12, seq_len=900, H_layers=4, L_layers=4), 27_276_290),
}


@pytest.mark.parametrize("name", FULL_SIZE)
def test_official_parameter_counts(name: str) -> None:
    config, expected = FULL_SIZE[name]
    with torch.device("meta"):  # shapes only: no memory, no init work
        model = build_model(config)
    assert model.num_parameters() == expected
    # The puzzle table is a buffer (official: excluded from num_params), one row of hidden_size per identifier.
    assert model.num_parameters(include_puzzle_emb=True) - expected == config.num_puzzle_identifiers * 512
    assert "puzzle_emb.weights" in dict(model.named_buffers())


def test_official_state_dict_keys_and_dtypes() -> None:
    """Key order and names of the official TRM-MLP Sudoku checkpoint (spec §4.2), on the meta device."""
    with torch.device("meta"):
        state = build_model(ModelConfig(mlp_t=True, pos_encodings="none", forward_dtype="bfloat16")).state_dict()
    layer = [f"L_level.layers.{i}.{m}.{p}.weight" for i in range(2) for m in ("mlp_t", "mlp")
             for p in ("gate_up_proj", "down_proj")]
    assert list(state) == ["H_init", "L_init", "embed_tokens.embedding_weight", "lm_head.weight", "q_head.weight",
                           "q_head.bias", "puzzle_emb.weights", *layer]
    assert state["H_init"].dtype == torch.bfloat16 and state["lm_head.weight"].dtype == torch.float32
    assert tuple(state["L_level.layers.0.mlp_t.gate_up_proj.weight"].shape) == (1024, 97)


# ---------------------------------------------------------------------------------------------------------------
# step / predict shapes

@pytest.mark.parametrize("name", ["trm_mlp", "trm_att_rope", "trm_att_learned", "hrm"])
def test_step_and_predict_shapes(name: str) -> None:
    model, trace, batch = fixture(name)
    b, seq = batch["inputs"].shape
    s, d, v = seq + model.config.prefix_len, model.config.hidden_size, model.config.vocab_size
    carry = model.init_carry(batch)
    assert carry.z_H.shape == carry.z_L.shape == (b, s, d) and bool(carry.halted.all())
    for k in range(1, 3):
        carry, out = model.step(carry, batch)
        assert out["logits"].shape == (b, seq, v)
        assert out["q_halt_logits"].shape == out["q_continue_logits"].shape == (b,)
        assert out["q_halt_logits"].dtype == torch.float32
        assert carry.z_H.shape == carry.z_L.shape == (b, s, d)
        assert carry.steps.dtype == torch.int32 and carry.steps.tolist() == [k] * b
        assert carry.halted.dtype == torch.bool and not carry.halted.any()
        assert not carry.z_H.requires_grad
    pred = model.predict(batch, depth=3)
    assert pred["preds"].shape == (b, seq) and pred["preds"].dtype == torch.int64
    assert pred["halt_step"].tolist() == [3] * b
    assert torch.equal(pred["preds"], pred["logits"].argmax(-1))


def test_rope_tables_grow_when_seq_len_unknown() -> None:
    model = build_model(ModelConfig(seq_len=None, hidden_size=32, num_heads=2, H_cycles=1, L_cycles=1,
                                    num_puzzle_identifiers=2)).eval()
    for seq in (5, 40):
        batch = {"inputs": torch.randint(0, 11, (2, seq)), "puzzle_identifiers": torch.zeros(2, dtype=torch.int32)}
        _, out = model.step(model.init_carry(batch), batch)
        assert out["logits"].shape == (2, seq, 11)


# ---------------------------------------------------------------------------------------------------------------
# ACT semantics

def test_eval_runs_all_steps_and_halts_at_max() -> None:
    model, trace, batch = fixture("trm_mlp")
    carry = model.init_carry(batch)
    for k in range(model.config.halt_max_steps):
        carry, _ = model.step(carry, batch)
        assert torch.equal(carry.halted, trace["halted"][k])  # eval: q logits never halt a row
    assert bool(carry.halted.all())


def test_halted_rows_restart_from_initial_state() -> None:
    """A halted row is reset to H_init/L_init (its output equals a fresh step 1); other rows continue (step k+1)."""
    model, trace, batch = fixture("hrm")
    halted = torch.tensor([False, True, False])
    carry = Carry(trace["z_H"][1], trace["z_L"][1], trace["steps"][1], halted)
    new, out = model.step(carry, batch)
    for row, ref_step in ((0, 2), (1, 0), (2, 2)):
        assert torch.allclose(out["logits"][row], trace["logits"][ref_step][row], rtol=0, atol=1e-4)
        assert torch.allclose(new.z_L[row], trace["z_L"][ref_step][row], rtol=0, atol=1e-4)
    assert new.steps.tolist() == [3, 1, 3]


@pytest.mark.parametrize("name,rule", [("trm_att_rope", "q_halt > 0"), ("hrm", "q_halt > q_continue")])
def test_training_halt_rule(name: str, rule: str) -> None:
    """Training mode halts on the Q head: TRM (no_ACT_continue) on q_halt > 0, HRM on q_halt > q_continue."""
    model, trace, batch = fixture(name, halt_exploration_prob=0.0)
    model.train()
    q_halt, q_cont = trace["q_halt_logits"], trace["q_continue_logits"]
    # An ACT step (not the last) where the two rules disagree and some but not all rows halt.
    k = next(k for k in range(1, model.config.halt_max_steps - 1)
             if not torch.equal(q_halt[k] > 0, q_halt[k] > q_cont[k])
             and 0 < int((q_halt[k] > 0 if rule == "q_halt > 0" else q_halt[k] > q_cont[k]).sum()) < 3)
    carry = Carry(trace["z_H"][k - 1], trace["z_L"][k - 1], trace["steps"][k - 1], torch.zeros(3, dtype=torch.bool))
    with torch.no_grad():
        new, _ = model.step(carry, batch)
    expected = q_halt[k] > 0 if rule == "q_halt > 0" else q_halt[k] > q_cont[k]
    assert torch.equal(new.halted, expected)


@pytest.mark.parametrize("name", ["trm_att_rope", "hrm"])
def test_early_exit_at_inference_halts_by_the_training_rule(name: str) -> None:
    """`predict(early_exit=True)` stops each row where training would halt it (HRM: q_halt > q_continue, not
    q_halt > 0); the rows' halting steps follow the model's own full-depth trajectory."""
    model, _, batch = fixture(name)
    depth = model.config.halt_max_steps
    with torch.no_grad():
        steps = [outputs for _, outputs in model.iterate(batch, depth, None, None)]
    q_halt = torch.stack([o["q_halt_logits"] for o in steps])
    q_cont = torch.stack([o["q_continue_logits"] for o in steps])
    halts = q_halt > 0 if model.config.no_ACT_continue else q_halt > q_cont
    first = [next((k + 1 for k in range(depth) if halts[k, b]), depth) for b in range(halts.shape[1])]
    assert model.predict(batch, early_exit=True)["halt_step"].tolist() == first


def test_early_exit_freezes_rows_once_q_halt_positive() -> None:
    """Per row, outputs freeze at the first step whose q_halt > 0.

    The reference is the model's own full-depth trajectory on this CPU: the recursion of a random-init model amplifies
    last-bit differences between CPUs (AVX-512 or not) over steps, so the official trace decides only the first steps.
    """
    model, _, batch = fixture("trm_mlp")
    depth = model.config.halt_max_steps
    with torch.no_grad():
        steps = [outputs for _, outputs in model.iterate(batch, depth, None, None)]
    positive = torch.stack([o["q_halt_logits"] for o in steps]) > 0  # [K, B]
    first = [next((k + 1 for k in range(depth) if positive[k, b]), depth) for b in range(positive.shape[1])]
    assert len(set(first)) >= 2  # rows halt at different steps
    pred = model.predict(batch, early_exit=True)
    assert pred["halt_step"].tolist() == first
    for b, step in enumerate(first):
        assert torch.allclose(pred["logits"][b], steps[step - 1]["logits"][b], rtol=0, atol=1e-5)
        assert torch.allclose(pred["q_halt_logits"][b], steps[step - 1]["q_halt_logits"][b], rtol=0, atol=1e-5)
    full = model.predict(batch)
    assert full["halt_step"].tolist() == [depth] * 3
    assert not torch.equal(full["logits"][0], pred["logits"][0])


def test_early_exit_stops_when_every_row_halted(monkeypatch) -> None:
    model, trace, batch = fixture("trm_att_learned")
    assert bool((trace["q_halt_logits"][0] > 0).all())
    calls = []
    original = model.step
    monkeypatch.setattr(model, "step", lambda *a, **kw: calls.append(1) or original(*a, **kw))
    pred = model.predict(batch, early_exit=True)
    assert len(calls) == 1 and pred["halt_step"].tolist() == [1, 1, 1]


# ---------------------------------------------------------------------------------------------------------------
# dtype and cycle overrides

@pytest.mark.parametrize("cls,config", [
    (TRM, ModelConfig(hidden_size=32, num_heads=2, seq_len=9, H_cycles=2, L_cycles=2, num_puzzle_identifiers=3)),
    (TRM, ModelConfig(hidden_size=32, seq_len=9, mlp_t=True, pos_encodings="none", H_cycles=2, L_cycles=2)),
    (HRM, ModelConfig(arch="hrm", hidden_size=32, num_heads=2, seq_len=9, H_layers=1, L_layers=1)),
])
def test_bfloat16_forward_runs(cls, config: ModelConfig) -> None:
    torch.manual_seed(0)
    model = cls(config).eval()
    batch = {"inputs": torch.randint(0, 11, (2, 9)), "puzzle_identifiers": torch.tensor([0, 0])}
    _, ref = model.step(model.init_carry(batch), batch)
    model.set_forward_dtype("bfloat16")
    carry, out = model.step(model.init_carry(batch), batch)
    assert carry.z_H.dtype == carry.z_L.dtype == out["logits"].dtype == torch.bfloat16
    assert out["q_halt_logits"].dtype == torch.float32
    assert model.lm_head.weight.dtype == torch.float32  # weights stay fp32, cast per call
    # One ACT step only: random-init recursions are chaotic, bf16 drifts to cos ~0.3 by step 3 for TRM-MLP.
    logits = out["logits"].float()
    assert torch.isfinite(logits).all()
    assert (logits - ref["logits"]).abs().max() < 0.2 * ref["logits"].abs().max()
    assert torch.nn.functional.cosine_similarity(logits.flatten(), ref["logits"].flatten(), dim=0) > 0.99
    pred = model.predict(batch, depth=3)
    assert torch.isfinite(pred["logits"].float()).all() and pred["preds"].shape == (2, 9)


@pytest.mark.parametrize("name", ["trm_att_rope", "hrm"])
def test_cycle_overrides(name: str) -> None:
    model, trace, batch = fixture(name)
    T, n = model.config.H_cycles, model.config.L_cycles
    carry = model.init_carry(batch)
    _, default = model.step(carry, batch)
    _, same = model.step(carry, batch, H_cycles=T, L_cycles=n)
    assert torch.equal(default["logits"], same["logits"])
    for kwargs in ({"H_cycles": 1}, {"L_cycles": n + 1}, {"H_cycles": T + 1, "L_cycles": 1}):
        _, other = model.step(carry, batch, **kwargs)
        assert (other["logits"] - default["logits"]).abs().max() > 1e-2 * default["logits"].abs().max(), kwargs
        # A per-call override equals a model whose config has those cycles.
        configured = load_checkpoint(FIXTURES / name / "step_100", **kwargs)
        _, ref = configured.step(configured.init_carry(batch), batch)
        assert torch.equal(other["logits"], ref["logits"]), kwargs
    with pytest.raises(ValueError):
        model.step(carry, batch, H_cycles=0)
