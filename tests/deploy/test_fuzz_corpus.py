"""The libFuzzer harnesses (runtime/fuzz/) build with clang -fsanitize=fuzzer,address,undefined and run clean over
the committed seed corpus, reproducers of fixed findings included. The fuzzing itself is a benchmark
(benchmarks/fuzz_runtime.py --minutes N); skipped, with the reason, where clang is not installed."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from redge.deploy.runtime import build

CORPUS = Path(__file__).resolve().parent / "fuzz_corpus"
CLANG_MISSING = build.clang_missing()


@pytest.mark.skipif(CLANG_MISSING is not None, reason=f"libFuzzer harness not built: {CLANG_MISSING}")
@pytest.mark.parametrize("loader", sorted(build.FUZZ_HARNESSES))
def test_harness_runs_clean_over_seed_corpus(loader: str) -> None:
    seeds = sorted((CORPUS / loader).iterdir())
    assert len(seeds) >= 10 and any(p.name.endswith("truncated") for p in seeds)
    proc = subprocess.run([str(build.fuzz_harness(loader)), *map(str, seeds)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"Executed {seeds[-1]}" in proc.stderr


def test_seed_corpus_holds_valid_files() -> None:
    """The corpus starts from files the Python readers accept (so the fuzzer begins inside the format)."""
    from redge.deploy.blob import read_blob
    from redge.deploy.embeddings import EmbeddingFile

    assert read_blob(CORPUS / "blob" / "tiny-int8").config["seq_len"] == 81
    assert EmbeddingFile(CORPUS / "emb" / "tiny-int8").dim == 64
