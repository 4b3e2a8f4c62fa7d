"""The files `redge autocompress` writes, all at once (`core.atomic.atomic_dir`): `recipe.yaml` (loadable by
`redge quantize -r`, `redge sweep -r`, `redge export -r`), `plan.json` (the chosen variant on the target),
`model.blob` + `model.emb` (exported with the chosen inner cycles and depth in the header), `search.json` (every
candidate with bytes, fidelity, latency estimate; the sensitivities; the cost) and, with `--verify`, `verify.json`.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from redge.auto.search import Candidate, Outcome
from redge.auto.verify import variant_model
from redge.core.atomic import atomic_dir
from redge.core.jsonio import write_json
from redge.deploy.export import export_model

MARKER = "search.json"
SPACE_NOTE = ("bits 4 and 8 (int codes; 2-3 and 5-7 bit codes take the same i4/i8 containers in the blob, so they "
              "save no bytes) or fp32 (the C runtime rejects bf16 weights); granularity per channel or per group of "
              "32/64/128 (multiples of 32: the runtime's fast kernels; per-tensor is dominated by per-channel); "
              "symmetric codes (the runtime reads no zero points); scales f32 or f16 as the target's runtime allows")
EXIT_NOTE = ("the blob fixes the depth (halt_max_steps) and inner cycles; the runtime can also stop at the first "
             "step at which the model halts by its own rule (Q-halt > 0 for TRM, Q-halt > Q-continue for HRM: "
             "rt_opts.early_exit, a run option, not a blob field); the fidelity guard (keep "
             "stepping while the carry still moves) is not implemented by the C runtime: its numbers are reported, "
             "not shipped")


def candidate_json(c: Candidate | None) -> dict[str, Any] | None:
    """A candidate with its recipe, score and latency, as plain data."""
    if c is None:
        return None
    return {**c.summary(), "recipe_rules": c.recipe.to_dict(), "latency": c.assess["latency"],
            "exit_rules": c.score["exit_rules"], "fidelity_by_depth": c.score["fidelity_by_depth"][:c.depth],
            "agreement_by_depth": c.score["agreement_by_depth"][:c.depth],
            "self_assessed_by_depth": c.score["self_assessed_by_depth"][:c.depth],
            "checked_by_depth": None if c.checked is None else c.score["checked_by_depth"][:c.depth]}


def search_json(outcome: Outcome) -> dict[str, Any]:
    """search.json: the whole result as plain data."""
    r = outcome.result
    return {**{k: v for k, v in r.items() if k not in ("chosen", "top", "candidates")},
            "chosen": candidate_json(r["chosen"]), "top": [candidate_json(c) for c in r["top"]],
            "candidates": [c.summary() for c in r["candidates"]], "space": SPACE_NOTE, "exit_rule": EXIT_NOTE,
            "caveat": "neither fidelity nor the self-assessment orders variants as exact accuracy does every time "
                      "(README: fidelity cannot see a variant that solves more than FP32, and a weak model's "
                      "halting head is a poor judge): check the top three with --verify"}


def write_outputs(out: Path, outcome: Outcome, verified: list[dict[str, Any]] | None) -> dict[str, str]:
    """Write the output folder (module docstring) and return the paths written, by kind."""
    chosen: Candidate = outcome.result["chosen"]
    model = variant_model(outcome.model, chosen.recipe, chosen.H_cycles, chosen.L_cycles, outcome.calib)
    model = (copy.copy(model) if model is outcome.model else model).cpu()  # never change the checkpoint's config
    model.config = model.config.replace(H_cycles=chosen.H_cycles, L_cycles=chosen.L_cycles,
                                        halt_max_steps=chosen.depth)
    with atomic_dir(out, MARKER) as tmp:
        (tmp / "recipe.yaml").write_text(yaml.safe_dump(chosen.recipe.to_dict(), sort_keys=False))
        write_json(tmp / "plan.json", chosen.assess["plan"], indent=2)
        exported = export_model(model, tmp / "model.blob", chosen.recipe.name, outcome.target)
        if verified is not None:
            write_json(tmp / "verify.json", verified, indent=2)
        write_json(tmp / MARKER, search_json(outcome), indent=2)
    paths = {"recipe": out / "recipe.yaml", "plan": out / "plan.json", "search": out / MARKER,
             **{kind: out / Path(exported[kind]["path"]).name for kind in ("blob", "embeddings") if kind in exported}}
    if verified is not None:
        paths["verify"] = out / "verify.json"
    return {k: str(v) for k, v in paths.items()}
