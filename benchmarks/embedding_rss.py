"""Peak RSS of ARC-shaped TRM inference with the puzzle-embedding table in RAM vs streamed from its own file.

    python benchmarks/embedding_rss.py                      # both tables: 48,871 rows (--num-aug 50) and 876,406 rows
    python benchmarks/embedding_rss.py --rows 48871 --hidden 128

Each measurement runs in a fresh subprocess (so peaks do not mix): it builds TRM-Att with the ARC shape (seq_len 900
+ 16 prefix positions, vocab 12; hidden 512 unless --hidden), puts the table in RAM (read whole, as a checkpoint load
does) or streams it (`stream_puzzle_embeddings`: rows memory-mapped on demand), runs `predict` at batch 1 and depth 1
for a puzzle id near the end of the table, and reports the peak RSS of that phase: /proc VmHWM after resetting the
peak mark (`echo 5 > /proc/self/clear_refs`) once the model is built, so model construction transients do not hide
the table; `resource.getrusage` ru_maxrss (whole process lifetime) is recorded too.
Tables are synthetic (seeded normal rows) with the official row counts, written once into --workdir.
Prints a table and writes one JSON object to --out.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROWS = {"num-aug 50 (paper's ~100 MB)": 48_871, "full ARC-1 (official)": 876_406}
DIM = 512


def _vm_hwm_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _reset_peak() -> int:
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS, so the peak covers inference only; returns KiB."""
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def child(mode: str, emb: Path, hidden: int) -> dict:
    """One measurement: build the model, attach the table (RAM or streamed), run one ACT step, report peaks."""
    import numpy as np
    import torch

    from redge.deploy.embeddings import (
        HEADER_SIZE,
        EmbeddingFile,
        stream_puzzle_embeddings,
    )
    from redge.models import ModelConfig, build_model

    torch.manual_seed(0)
    source = EmbeddingFile(emb)
    config = ModelConfig(vocab_size=12, seq_len=900, num_puzzle_identifiers=1, hidden_size=hidden,
                         num_heads=max(1, hidden // 64), L_cycles=4, puzzle_emb_ndim=DIM)
    model = build_model(config).eval()
    baseline = _reset_peak()
    if mode == "ram":
        table = np.fromfile(emb, dtype=np.float32, offset=HEADER_SIZE).reshape(source.num_rows, source.dim)
        model.puzzle_emb.weights = torch.from_numpy(table)
    else:
        stream_puzzle_embeddings(model, emb)
    batch = {"inputs": torch.randint(0, 12, (1, 900)), "labels": torch.zeros(1, 900, dtype=torch.long),
             "puzzle_identifiers": torch.tensor([source.num_rows - 7])}
    start = time.perf_counter()
    preds = model.predict(batch, depth=1)["preds"]
    return {"mode": mode, "rows": source.num_rows, "table_bytes": source.num_rows * source.dim * 4,
            "baseline_rss_kib": baseline, "vm_hwm_kib": _vm_hwm_kib(),
            "lifetime_max_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            "act_step_s": round(time.perf_counter() - start, 2), "pred_checksum": int(preds.sum())}


def ensure_table(workdir: Path, rows: int) -> Path:
    """A synthetic fp32 table file of `rows` x 512 (seeded), written once and reused."""
    import torch

    from redge.deploy.embeddings import EmbeddingFile, write_embedding_file

    path = workdir / f"arc_{rows}.emb"
    if path.exists():
        try:
            if EmbeddingFile(path).num_rows == rows:
                return path
        except ValueError:
            pass
    gen = torch.Generator().manual_seed(rows)
    chunk = 32768
    chunks = (torch.randn(min(chunk, rows - i), DIM, generator=gen) * 0.02 for i in range(0, rows, chunk))
    write_embedding_file(path, chunks, rows, DIM, "f32")
    return path


def measure(mode: str, emb: Path, hidden: int) -> dict:
    """Run `child` in a fresh interpreter and parse its JSON line."""
    cmd = [sys.executable, __file__, "--child", mode, "--emb", str(emb), "--hidden", str(hidden)]
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}  # fixed glibc threshold: big buffers are returned to
    # the OS when freed, so the inference peak does not drift by megabytes with the dynamic threshold's history
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    """Parse arguments, run the measurements, print the table, write JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="*", default=list(ROWS.values()), help="table row counts")
    parser.add_argument("--hidden", type=int, default=512, help="model hidden size (the table stays 512 wide)")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "redge-embedding-rss")
    parser.add_argument("--out", type=Path, default=Path("runs") / f"embedding_rss-{time.strftime('%Y%m%d-%H%M%S')}.json")
    parser.add_argument("--child", choices=("ram", "streamed"), help=argparse.SUPPRESS)
    parser.add_argument("--emb", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.emb, args.hidden)))
        return
    args.workdir.mkdir(parents=True, exist_ok=True)
    results = []
    header = f"{'rows':>9} {'table MB':>9} {'RAM peak MB':>12} {'streamed peak MB':>17} {'saved MB':>9} " \
             f"{'needed MB':>10} {'ok':>3}"
    print(f"TRM-Att ARC shape (S = 916, hidden {args.hidden}), batch 1, depth 1; peak RSS (VmHWM)")
    print(header)
    for rows in args.rows:
        emb = ensure_table(args.workdir, rows)
        ram, streamed = measure("ram", emb, args.hidden), measure("streamed", emb, args.hidden)
        saved = (ram["vm_hwm_kib"] - streamed["vm_hwm_kib"]) * 1024
        needed = ram["table_bytes"] - 2**20
        row = {"rows": rows, "table_bytes": ram["table_bytes"], "ram": ram, "streamed": streamed,
               "saved_bytes": saved, "needed_bytes": needed, "ok": saved >= needed,
               "same_predictions": ram["pred_checksum"] == streamed["pred_checksum"]}
        results.append(row)
        print(f"{rows:>9,} {ram['table_bytes'] / 1e6:>9.1f} {ram['vm_hwm_kib'] * 1024 / 1e6:>12.1f} "
              f"{streamed['vm_hwm_kib'] * 1024 / 1e6:>17.1f} {saved / 1e6:>9.1f} {needed / 1e6:>10.1f} "
              f"{'yes' if row['ok'] else 'NO':>3}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps({"hidden": args.hidden, "results": results}, indent=2) + "\n")
    os.replace(tmp, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
