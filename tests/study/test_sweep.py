"""The sweep engine: every depth from one pass equals a separate evaluation at that depth; fidelity sanity."""
from __future__ import annotations

import copy
import math

import pytest
import torch

from redge.quant.load import load_checkpoint
from redge.quant.spec import PRESETS
from redge.study.evaluate import evaluate_depths
from redge.study.records import BatchRecord, aggregate
from redge.study.store import RunStore
from redge.study.sweep import SweepSpec, Variant, load_data, record_batch, run_sweep
from redge.tasks.metrics import (
    cell_accuracy,
    exact_accuracy,
    non_given_cell_accuracy,
)
from redge.tasks.sudoku import BLANK_TOKENS as SUDOKU_BLANK_TOKENS

DEPTH = 4


def _sweep_metrics(tiny_ckpt, tiny_data, tmp_path, **spec_kw):
    spec = SweepSpec(tiny_ckpt, tiny_data, recipes=("fp32",), depth=DEPTH, **spec_kw)
    keys = run_sweep(spec, tmp_path / "store.sqlite")
    with RunStore(tmp_path / "store.sqlite") as store:
        return [aggregate(store.records(k)) for k in keys]


def test_each_depth_equals_a_separate_evaluation(tiny_ckpt, tiny_data, tmp_path) -> None:
    (swept, swept_t1), = [_sweep_metrics(tiny_ckpt, tiny_data, tmp_path, batch_size=64, cycles=((None, None), (1, 2)))]
    model = load_checkpoint(tiny_ckpt).eval()
    data = load_data(SweepSpec(tiny_ckpt, tiny_data, batch_size=64))
    (_, batch, n), = list(data.batches())
    inputs, labels = batch["inputs"][:n], batch["labels"][:n]
    for metrics, (T, L) in ((swept, (None, None)), (swept_t1, (1, 2))):
        for d in range(1, DEPTH + 1):
            full = model.predict(batch, depth=d, H_cycles=T, L_cycles=L)
            preds = full["preds"][:n]
            got = {k: v[d - 1] for k, v in metrics.by_depth.items()}
            assert got["cell_acc"] == cell_accuracy(preds, labels)
            assert got["exact_acc"] == exact_accuracy(preds, labels)
            assert got["cell_acc_non_given"] == non_given_cell_accuracy(preds, labels, inputs, SUDOKU_BLANK_TOKENS)
            early = model.predict(batch, depth=d, early_exit=True, H_cycles=T, L_cycles=L)
            assert got["halt_step_early_exit"] == early["halt_step"][:n].sum().item() / n
            assert got["exact_acc_early_exit"] == exact_accuracy(early["preds"][:n], labels)
            assert got["cell_acc_early_exit"] == cell_accuracy(early["preds"][:n], labels)
    by_depth = evaluate_depths(model, data.split, range(1, DEPTH + 1))  # the training layer's evaluation
    for d, row in by_depth.items():
        assert swept.by_depth["exact_acc"][int(d) - 1] == row["exact_accuracy"]
        assert swept.by_depth["cell_acc_non_given"][int(d) - 1] == row["non_given_cell_accuracy"]
    assert swept.by_depth["q_halt_agreement"] == [1.0] * DEPTH
    assert swept.rows == 24 and swept.labelled == 24


def test_a_metric_an_older_store_did_not_record_is_nan_not_zero() -> None:
    """Records written before the early-exit accuracies existed aggregate to NaN there, their other sums intact."""
    record = BatchRecord(2, rows=3, labelled=3).to_dict()
    record["sums"]["exact_acc"] = [1.0, 2.0]
    del record["sums"]["exact_acc_early_exit"]
    metrics = aggregate([BatchRecord.from_dict(record)])
    assert all(math.isnan(v) for v in metrics.by_depth["exact_acc_early_exit"])
    assert metrics.by_depth["exact_acc"] == pytest.approx([1 / 3, 2 / 3])


def test_batching_does_not_change_the_numbers(tiny_ckpt, tiny_data, tmp_path) -> None:
    (one,) = _sweep_metrics(tiny_ckpt, tiny_data, tmp_path / "a", batch_size=64)
    (many,) = _sweep_metrics(tiny_ckpt, tiny_data, tmp_path / "b", batch_size=7)
    for key, values in one.by_depth.items():
        assert values == pytest.approx(many.by_depth[key], abs=1e-9), key


def test_fp32_fidelity_against_itself_is_one(tiny_ckpt, tiny_data, tmp_path) -> None:
    (metrics,) = _sweep_metrics(tiny_ckpt, tiny_data, tmp_path, batch_size=10)
    for key in ("fidelity", "fidelity_H", "fidelity_L"):
        assert metrics.by_depth[key] == pytest.approx([1.0] * DEPTH, abs=1e-6)


def test_fidelity_falls_monotonically_with_weight_noise(tiny_ckpt, tiny_data) -> None:
    model = load_checkpoint(tiny_ckpt).eval()
    data = load_data(SweepSpec(tiny_ckpt, tiny_data, batch_size=32))
    (_, batch, n), = list(data.batches())
    entries = []
    for scale in (0.0, 0.003, 0.01, 0.03, 0.1):
        noisy = copy.deepcopy(model)
        gen = torch.Generator().manual_seed(1)
        with torch.no_grad():
            for p in noisy.parameters():
                p.add_(scale * p.std() * torch.randn(p.shape, generator=gen))
        entries.append((noisy, model.config.H_cycles, model.config.L_cycles))
    records = record_batch(model, entries, batch, n, DEPTH, data.blank_tokens)
    fid = [aggregate([r]).by_depth["fidelity"] for r in records]
    assert fid[0] == pytest.approx([1.0] * DEPTH, abs=1e-6)
    for d in range(DEPTH):
        column = [f[d] for f in fid]
        assert all(a > b for a, b in zip(column, column[1:])), (d + 1, column)


def test_variant_key_fields_and_reference_detection(tiny_ckpt) -> None:
    model = load_checkpoint(tiny_ckpt)
    ref = Variant(PRESETS["fp32"], model.config.H_cycles, model.config.L_cycles)
    assert not ref.compresses and Variant(PRESETS["int8"], 1, 1).compresses
    assert ref.label == "fp32 T2 n2" and ref.describe()["H_cycles"] == 2
