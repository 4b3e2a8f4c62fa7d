"""C runtime: host parity with the Python simulation on Sudoku puzzles, emulated Cortex-M55 == host, sanitizers,
corrupted blobs. Arm tests skip (with the reason) only when the Arm toolchain / QEMU are not installed."""
from __future__ import annotations

import ctypes
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from redge.core.errors import RedgeInputError
from redge.deploy.pack import export
from redge.deploy.runtime import build
from redge.deploy.runtime.host import HostRuntime
from redge.deploy.runtime.numerics import c_expf, runtime_numerics
from redge.models.config import ModelConfig
from redge.models.hrm import HRM
from redge.models.trm import TRM
from redge.quant.apply import quantize_
from redge.quant.spec import QuantRecipe
from redge.tasks.format import load_split

ARM_MISSING = build.arm_toolchain_missing()


def sudoku_puzzles(n: int, seed: int = 0) -> np.ndarray:
    """n Sudoku puzzles as official tokens [n, 81] (1 = blank, 2..10 = digits 1..9), from relabelled valid grids."""
    rng = np.random.default_rng(seed)
    base = np.array([[(3 * (r % 3) + r // 3 + c) % 9 for c in range(9)] for r in range(9)])
    out = np.empty((n, 81), dtype=np.int64)
    for i in range(n):
        rows = np.concatenate([3 * b + rng.permutation(3) for b in rng.permutation(3)])
        cols = np.concatenate([3 * b + rng.permutation(3) for b in rng.permutation(3)])
        grid = rng.permutation(9)[base[rows][:, cols]] + 2
        grid[rng.random((9, 9)) < 0.55] = 1
        out[i] = grid.reshape(-1)
    return out


def tiny_model(arch: str = "trm", mlp_t: bool = True, hidden: int = 64, seed: int = 0, **kw: object) -> torch.nn.Module:
    torch.manual_seed(seed)
    base = dict(hidden_size=hidden, num_heads=4, H_cycles=1, L_cycles=2, L_layers=2, seq_len=81, halt_max_steps=2,
                puzzle_emb_ndim=hidden, puzzle_emb_len=2)
    if arch == "hrm":
        base.update(arch="hrm", H_layers=1, L_layers=1, no_ACT_continue=False)
        model: torch.nn.Module = HRM(ModelConfig(**{**base, **kw}))
    else:
        model = TRM(ModelConfig(**{**base, "mlp_t": mlp_t, **kw}))
    if hasattr(model, "puzzle_emb"):
        with torch.no_grad():
            model.puzzle_emb.weights.normal_(0, 0.5)
    return model.eval()


def exported(model: torch.nn.Module, recipe: str | QuantRecipe, tmp: Path) -> Path:
    quantize_(model, recipe)
    name = recipe if isinstance(recipe, str) else recipe.name
    return export(model, tmp / "m.blob", name)["blob"][0]


def python_predict(model: torch.nn.Module, tokens: np.ndarray, depth: int, **kw: int) -> dict[str, torch.Tensor]:
    batch = {"inputs": torch.from_numpy(tokens), "labels": torch.from_numpy(tokens),
             "puzzle_identifiers": torch.zeros(len(tokens), dtype=torch.long)}
    return model.predict(batch, depth=depth, **kw)


def compare(model: torch.nn.Module, rt: HostRuntime, tokens: np.ndarray, depth: int,
            **kw: int) -> tuple[float, float, float]:
    """(fraction of cells with the same prediction, max |logit diff| in int8 steps (max|logit|/127 of each
    puzzle), fraction of logits within one step)."""
    ref = python_predict(model, tokens, depth, **kw)
    row = model.puzzle_emb.weights[0].numpy()
    same, worst, within = [], 0.0, []
    for i, tok in enumerate(tokens):
        out = rt.run(tok, row, depth=depth, **kw)
        logits = ref["logits"][i].numpy()
        step = np.abs(logits).max() / 127
        diff = np.abs(out.logits - logits) / step
        worst = max(worst, float(diff.max()))
        within.append(float(np.mean(diff <= 1.0)))
        same.append(np.mean(out.preds == ref["preds"][i].numpy()))
        assert out.q_halt == pytest.approx(float(ref["q_halt_logits"][i]), abs=1e-4)
    return float(np.mean(same)), worst, float(np.mean(within))


@pytest.mark.parametrize("recipe,mlp_t,n", [("int8", True, 200), ("int4-g32", True, 200), ("int4-channel", True, 30),
                                            ("int8", False, 30), ("int4-g32", False, 30)])
def test_host_parity_weight_only_presets(tmp_path: Path, recipe: str, mlp_t: bool, n: int) -> None:
    """Weight-only presets on Sudoku puzzles: same predictions, logits within 1 int8 step."""
    model = tiny_model(mlp_t=mlp_t, hidden=32)
    rt = HostRuntime(exported(model, recipe, tmp_path))
    tokens = sudoku_puzzles(n)
    same, worst, _ = compare(model, rt, tokens, depth=2)
    assert same == 1.0
    assert worst <= 1.0


def sample_sudoku(n: int) -> np.ndarray:
    """The first n puzzles of the committed Sudoku sample's test split (official tokens [n, 81])."""
    split = load_split(Path(__file__).resolve().parents[3] / "data" / "samples" / "sudoku", "test")
    return np.asarray(split.inputs[:n], dtype=np.int64)


def test_numerics_mirror_matches_c_exp() -> None:
    """runtime.numerics.c_expf is rk_expf bit for bit (the exp the C SiLU / softmax use on every target)."""
    lib = ctypes.CDLL(str(build.host_library()))
    lib.rk_expf.restype, lib.rk_expf.argtypes = ctypes.c_float, [ctypes.c_float]
    rng = np.random.default_rng(0)
    xs = np.concatenate([rng.uniform(-100, 100, 4000), rng.normal(0, 4, 4000),
                         [88.7, 88.03, -87.3, -87.31, 0.0, -0.0, 1e-30, 0.5 * np.log(2)]]).astype(np.float32)
    c = np.array([lib.rk_expf(float(v)) for v in xs], dtype=np.float32)
    assert np.array_equal(c.view(np.uint32), c_expf(torch.from_numpy(xs)).numpy().view(np.uint32))
    ok = np.abs(xs) < 87
    rel = np.abs(c[ok] / np.exp(xs[ok].astype(np.float64)) - 1)
    assert rel.max() < 2.5 * 2.0 ** -24   # ~1 ulp


def test_host_parity_w8a8_200_sudoku(tmp_path: Path) -> None:
    """W8A8 (int8 per-channel weights, int8 per-token activations) TRM-MLP on 200 puzzles of data/samples/sudoku,
    full recursion (2 ACT steps x 1 x (2 + 1) forwards): the host runtime equals the Python simulation of the same
    recipe -- the quant engine's fake path (exact integer GEMM in kernel order) with the runtime's exp/SiLU and
    RMSNorm (runtime.numerics) -- bit for bit: same predictions and identical logits (so within 1 int8 step)."""
    model = tiny_model(mlp_t=True)
    rt = HostRuntime(exported(model, "w8a8", tmp_path))
    with torch.no_grad(), runtime_numerics():
        same, worst, within = compare(model, rt, sample_sudoku(200), depth=2)
    assert same == 1.0
    assert worst == 0.0 and within == 1.0


def test_host_parity_hrm(tmp_path: Path) -> None:
    model = tiny_model("hrm", hidden=32)
    rt = HostRuntime(exported(model, "int8", tmp_path))
    same, worst, _ = compare(model, rt, sudoku_puzzles(20, seed=2), depth=2)
    assert same == 1.0 and worst <= 1.0


@pytest.mark.parametrize("arch", ["trm", "hrm"])
def test_early_exit_matches_python(tmp_path: Path, arch: str) -> None:
    """The runtime stops where `model.predict(early_exit=True)` does, by the model's own rule (HRM: Q-halt >
    Q-continue, which stops other puzzles at other steps than Q-halt > 0 would)."""
    model = tiny_model(mlp_t=True, hidden=32, halt_max_steps=4) if arch == "trm" else \
        tiny_model("hrm", hidden=32, halt_max_steps=4)
    with torch.no_grad():  # HRM: Q-continue biased down, so that Q-halt > Q-continue happens within 4 steps
        model.q_head.bias.copy_(torch.tensor([0.0, 0.0 if arch == "trm" else -1.5]))
        model.q_head.weight.normal_(0, 0.3)
    rt = HostRuntime(exported(model, "int8", tmp_path))
    tokens = sudoku_puzzles(8, seed=3)
    batch = {"inputs": torch.from_numpy(tokens), "labels": torch.from_numpy(tokens),
             "puzzle_identifiers": torch.zeros(len(tokens), dtype=torch.long)}
    ref = model.predict(batch, depth=4, early_exit=True)
    if arch == "hrm":
        with torch.no_grad():
            q_halt = torch.stack([out["q_halt_logits"] for _, out in model.iterate(batch, 4)])
        by_sign = [next((k + 1 for k in range(4) if q_halt[k, b] > 0), 4) for b in range(len(tokens))]
        assert by_sign != ref["halt_step"].tolist()  # the two rules differ on these puzzles
    for i, tok in enumerate(tokens):
        out = rt.run(tok, model.puzzle_emb.weights[0].numpy(), depth=4, early_exit=True)
        assert out.steps == int(ref["halt_step"][i])
        assert np.array_equal(out.preds, ref["preds"][i].numpy())


def test_sanitized_c_driver_rejects_corrupted_blobs(tmp_path: Path) -> None:
    """ASan + UBSan build of the C tests: intact blob runs; truncations, bit flips and out-of-range table fields
    (with valid checksums) are rejected without any out-of-bounds read."""
    model = tiny_model(mlp_t=False, hidden=32)
    blob = exported(model, "int4-g32", tmp_path)
    proc = subprocess.run([str(build.host_test_binary(sanitize=True)), str(blob)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert proc.stdout.startswith("ok")


def test_python_binding_rejects_bad_blob(tmp_path: Path) -> None:
    blob = exported(tiny_model(hidden=32), "int8", tmp_path).read_bytes()
    with pytest.raises(RedgeInputError, match="checksum|truncated"):
        HostRuntime(blob[:-40])
    with pytest.raises(RedgeInputError, match="magic"):
        HostRuntime(b"NOTABLOB" + blob[8:])
    rt = HostRuntime(blob)
    with pytest.raises(RedgeInputError, match="tokens"):
        rt.run(np.zeros(80, dtype=np.int64))


@pytest.mark.skipif(ARM_MISSING is not None, reason=f"Arm toolchain absent: {ARM_MISSING}")
@pytest.mark.parametrize("target,mlp_t", [("stm32n6", True), ("stm32n6", False), ("cortex-m4", True),
                                           ("stm32h743", False)])
def test_emulated_core_matches_host(tmp_path: Path, target: str, mlp_t: bool) -> None:
    """The emulated core gives the host's predictions, Q logits and logits bit for bit (W8A8 and weight-only;
    TRM-MLP, and TRM-Att on the M55 for the Helium attention / exp paths): Helium (stm32n6, M55), DSP (cortex-m4,
    stm32h743 = M7) and the host's portable kernels agree."""
    from redge.deploy.runtime import qemu

    model = tiny_model(mlp_t=mlp_t, hidden=32, puzzle_emb_ndim=0)
    blob = exported(model, "w8a8", tmp_path)
    rt = HostRuntime(blob)
    tokens = sudoku_puzzles(3, seed=4)
    for act in ("auto", "f32"):
        outs, prof = qemu.run_model(target, blob, tokens, act=act, depth=1, H_cycles=1, L_cycles=1, logits=True,
                                    mem=False, timeout=120)
        assert len(outs) == len(tokens) and prof.instructions > 0
        for tok, out in zip(tokens, outs):
            host = rt.run(tok, depth=1, H_cycles=1, L_cycles=1, act=act)
            assert np.array_equal(out.preds, host.preds)
            assert out.q_halt == host.q_halt
            assert np.array_equal(out.logits, host.logits.reshape(-1))
