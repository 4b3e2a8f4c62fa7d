"""`redge bench mcu|cpu`: the C runtime on emulated Cortex-M cores (instruction counts, latency estimate) and on
the host (measured latency)."""
from __future__ import annotations

from pathlib import Path

import typer

from redge.cli.common import json_option


def register(app: typer.Typer) -> None:
    """Add the `bench` group to the root app."""
    from redge.cli.common import emit_json, path_arg
    from redge.core.progress import progress_bar

    bench = typer.Typer(no_args_is_help=True, help="C runtime benchmarks (emulated Cortex-M, host CPU).")
    app.add_typer(bench, name="bench")

    @bench.command("mcu")
    def mcu_cmd(
        blob: Path = typer.Argument(..., help="Blob from `redge export`."),
        target: str = typer.Option("stm32n6", "--target", "-t", help="Built-in target or target YAML with a `qemu:` "
                                   "machine: stm32n6 (M55), stm32h743 (M7), cortex-m4 (M4)."),
        act: str = typer.Option("auto", "--act", help="auto (as the blob says), int8 or f32 activations."),
        exact: bool = typer.Option(False, "--exact", help="Emulate the whole ACT step (slow at full size)."),
        as_json: bool = json_option(),
    ) -> None:
        """One ACT step on the target's emulated core: instructions, instr/MAC, weight bytes, latency ESTIMATE."""
        with progress_bar(f"bench mcu {blob.name} on {target}", None, not as_json):
            # torch: imported under the bar
            from redge.deploy.bench import bench_mcu

            r = bench_mcu(path_arg(blob), target, act, exact)
        if as_json:
            emit_json(r)
            return
        lat = r["latency_per_step"]
        typer.echo(f"{r['target']} ({r['core']}): {r['instructions_per_step']:,} instructions per ACT step "
                   f"({r['forwards_per_step']} forwards x {r['instructions_per_forward']:,}); {r['macs_per_forward']:,} MACs/forward")
        typer.echo(f"  matrix kernels {r['instr_per_mac_matrix']:.3f} instr/MAC, whole step "
                   f"{r['instr_per_mac_step']:.3f} instr/MAC, outside matrix kernels {r['non_matrix_fraction']:.1%}")
        typer.echo(f"  weight bytes streamed per step: {r['weight_bytes_per_step']:,}")
        if lat is None:
            typer.echo("  no latency estimate: the target has no cycle_model")
            return
        typer.echo(f"  latency ESTIMATE at {lat['clock_mhz']:.0f} MHz ({lat['part']}; {lat['model']}): "
                   f"{lat['compute_s'][0]:.2f}-{lat['compute_s'][1]:.2f} s compute, "
                   f"{lat['with_flash_stream_s'][0]:.2f}-{lat['with_flash_stream_s'][1]:.2f} s with weight streaming")

    @bench.command("cpu")
    def cpu_cmd(
        blob: Path = typer.Argument(..., help="Blob from `redge export`."),
        puzzles: int = typer.Option(4, "--puzzles", min=1, help="Random puzzles to time."),
        depth: int = typer.Option(0, "--depth", min=0, help="ACT steps per puzzle (0: halt_max_steps)."),
        act: str = typer.Option("auto", "--act", help="auto, int8 or f32 activations."),
        as_json: bool = json_option(),
    ) -> None:
        """Host latency of the C runtime per ACT step and per puzzle."""
        with progress_bar(f"bench cpu {blob.name}", None, not as_json):
            # torch: imported under the bar
            from redge.deploy.bench import bench_cpu

            r = bench_cpu(path_arg(blob), puzzles, depth, act)
        if as_json:
            emit_json(r)
        else:
            typer.echo(f"host ({r['kernel_path']} kernels): {r['seconds_per_step'] * 1e3:.1f} ms per ACT step, "
                       f"{r['seconds_per_puzzle']:.3f} s per puzzle at depth {r['depth']}, arena {r['arena_bytes']:,} B")
