"""PNG plots of one group's sweep: accuracy vs depth, fidelity vs depth, fidelity vs exact, accuracy vs FLOPs."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from redge.core.atomic import atomic_path  # noqa: E402


def _save(fig: Any, path: Path) -> Path:
    """Write the figure atomically (temp file + rename) and close it."""
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    finally:
        plt.close(fig)
    return path


def _by_variant(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r["variant"], []).append(r)
    return out


def accuracy_vs_depth(rows: list[dict[str, Any]], path: Path, title: str) -> Path:
    """Exact (solid) and cell accuracy (dashed) against ACT depth, one colour per variant."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for i, (variant, rs) in enumerate(_by_variant(rows).items()):
        d = [r["depth"] for r in rs]
        ax.plot(d, [100 * r["exact_acc"] for r in rs], "-o", ms=3, color=f"C{i}", label=f"{variant} exact")
        ax.plot(d, [100 * r["cell_acc"] for r in rs], "--", color=f"C{i}", alpha=0.7, label=f"{variant} cell")
    ax.set(xlabel="ACT depth (steps)", ylabel="accuracy (%)", title=title, ylim=(-2, 102))
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def fidelity_vs_depth(rows: list[dict[str, Any]], path: Path, title: str) -> Path:
    """Carry-trajectory fidelity cos([z_H, z_L]) against ACT depth, one line per variant."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for variant, rs in _by_variant(rows).items():
        ax.plot([r["depth"] for r in rs], [r["fidelity"] for r in rs], "-o", ms=3, label=variant)
    ax.set(xlabel="ACT depth (steps)", ylabel="fidelity (cosine to FP32 carry)", title=title)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def fidelity_vs_exact(rows: list[dict[str, Any]], path: Path, title: str, rho: float, ci: list[float]) -> Path:
    """Scatter of every (variant, depth): fidelity (label-free) against exact accuracy, with Spearman rho."""
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    for variant, rs in _by_variant(rows).items():
        ax.scatter([r["fidelity"] for r in rs], [100 * r["exact_acc"] for r in rs], s=14, label=variant)
    ax.set(xlabel="fidelity (cosine to FP32 carry)", ylabel="exact accuracy (%)",
           title=f"{title}\nSpearman rho = {rho:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def pareto(rows: list[dict[str, Any]], path: Path, title: str) -> Path:
    """Exact accuracy against FLOPs per puzzle for every (variant, depth); the Pareto front is drawn as a line."""
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for variant, rs in _by_variant(rows).items():
        ax.scatter([r["flops_per_puzzle"] for r in rs], [100 * r["exact_acc"] for r in rs], s=14, label=variant)
    front, best = [], -1.0
    for r in sorted(rows, key=lambda r: (r["flops_per_puzzle"], -r["exact_acc"])):
        if r["exact_acc"] > best:
            front.append(r)
            best = r["exact_acc"]
    ax.step([r["flops_per_puzzle"] for r in front], [100 * r["exact_acc"] for r in front], where="post",
            color="k", lw=1, label="Pareto front")
    ax.set(xscale="log", xlabel="FLOPs per puzzle", ylabel="exact accuracy (%)", title=title)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, which="both")
    return _save(fig, path)
