"""Maze-Hard: a batched numpy generator (Searchformer / HRM style) and the official npy format.

A maze is a 30x30 grid with 30-50% walls placed uniformly at random (the wall count is drawn uniformly from
that range), a start ``S`` and a goal ``G`` on open cells, and the label marks the shortest path from ``S`` to
``G`` with ``o`` (S and G kept). Mazes are kept when the shortest path is longer than ``min_path`` moves
(HRM: 110). Uniform random walls rarely hold such a path between two random cells (about 1% of grids even
have one, mostly at 34-41% walls, near the percolation threshold), so the start is taken at the far end of a
BFS sweep and the goal uniformly among the cells that qualify; see :func:`generate`.

Tokens (as the official ``build_maze_dataset.py``): CHARSET ``"# SGo"`` -> PAD 0, wall 1, open 2, S 3, G 4,
path 5; vocab 6, seq_len 900, every cell supervised.
"""
from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from redge.core.errors import RedgeInputError, check_range
from redge.core.jsonio import write_json
from redge.core.progress import progress_bar
from redge.tasks.augment import dihedral
from redge.tasks.format import (
    PuzzleSplit,
    grid_metadata,
    save_identifiers,
    save_split,
    single_example_indices,
)
from redge.tasks.registry import Task
from redge.tasks.sources import read_puzzle_csv, write_puzzle_csv

CHARSET = "# SGo"
WALL, OPEN, START, GOAL, PATH = (ord(c) for c in CHARSET)
VOCAB_SIZE = len(CHARSET) + 1
SEQ_LEN = 900
BLANK_TOKENS = (2,)  # ' ' open cell: path or not is the solver's decision
_CHAR2ID = np.zeros(256, np.uint8)
_CHAR2ID[[ord(c) for c in CHARSET]] = np.arange(1, len(CHARSET) + 1)


def bfs(passable: np.ndarray, source: np.ndarray) -> np.ndarray:
    """Batched breadth-first search on 4-connected grids: ``dist`` [B, H, W] int16, -1 where unreachable.

    ``passable`` and ``source`` are [B, H, W] bool; all grids advance one BFS layer per numpy step.
    """
    b, h, w = passable.shape
    free = np.zeros((b, h + 2, w + 2), bool)
    free[:, 1:-1, 1:-1] = passable
    dist = np.full((b, h + 2, w + 2), -1, np.int16)
    front = np.zeros_like(free)
    front[:, 1:-1, 1:-1] = source & passable
    dist[front] = 0
    step = 0
    while front.any():
        step += 1
        reach = np.zeros_like(front)
        reach[:, 1:, :] |= front[:, :-1, :]
        reach[:, :-1, :] |= front[:, 1:, :]
        reach[:, :, 1:] |= front[:, :, :-1]
        reach[:, :, :-1] |= front[:, :, 1:]
        front = reach & free & (dist < 0)
        dist[front] = step
    return dist[:, 1:-1, 1:-1]


def _bit_sweep(open_rows: np.ndarray, source: np.ndarray, cut: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bit-parallel BFS: grids as [B, H] uint64 rows of cell bits, one layer per step for the whole batch.

    Grids whose search is over leave the batch. Returns ``(last, far, ecc)``: the last non-empty layer (the
    farthest cells, row bitsets), the cells farther than ``cut`` moves (row bitsets) and the eccentricity [B].
    """
    visited = source & open_rows
    last, at_cut, ecc = visited.copy(), visited.copy(), np.zeros(len(visited), np.int64)
    act, front, vis, free = np.arange(len(visited)), visited.copy(), visited.copy(), open_rows
    one = np.uint64(1)
    step = 0
    while act.size:
        if step == cut:
            at_cut[act] = vis
        step += 1
        grow = front << one
        grow |= front
        grow |= front >> one
        grow[:, 1:] |= front[:, :-1]
        grow[:, :-1] |= front[:, 1:]
        grow &= free
        grow &= ~vis
        alive = grow.any(1)
        if not alive.all():
            done = act[~alive]
            last[done], ecc[done], visited[done] = front[~alive], step - 1, vis[~alive]
            act, grow, vis, free = act[alive], grow[alive], vis[alive], free[alive]
        vis |= grow
        front = grow
    return last, np.where((ecc > cut)[:, None], visited & ~at_cut, np.uint64(0)), ecc


def _to_rows(cells: np.ndarray) -> np.ndarray:
    """[B, H, W] bool -> [B, H] uint64 bitsets (bit j = column j), W <= 64."""
    b, h, w = cells.shape
    padded = np.zeros((b, h, 64), bool)
    padded[:, :, :w] = cells
    return np.packbits(padded, axis=2, bitorder="little").view("<u8")[:, :, 0].astype(np.uint64)


def _cell_rows(cell: np.ndarray, size: int) -> np.ndarray:
    """Flat cell indices [B] -> [B, size] uint64 bitsets with just that cell set."""
    rows = np.zeros((len(cell), size), np.uint64)
    rows[np.arange(len(cell)), cell // size] = np.uint64(1) << (cell % size).astype(np.uint64)
    return rows


def _from_rows(rows: np.ndarray, width: int) -> np.ndarray:
    """[B, H] uint64 bitsets -> [B, H * W] bool."""
    as_bytes = rows.astype("<u8")[:, :, None].view(np.uint8)
    return np.unpackbits(as_bytes, axis=2, count=width, bitorder="little").astype(bool).reshape(len(rows), -1)


def _pick(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One uniformly random True cell (flat index) per row of ``mask`` [B, N]; every row needs a True cell.

    The cell with the largest random key wins: False cells have 1 subtracted from their key in [0, 1), which puts
    them below every True cell.
    """
    keys = rng.random(mask.shape)
    np.subtract(keys, ~mask, out=keys)
    return keys.argmax(1)


def _trace(dist: np.ndarray, goal: np.ndarray) -> np.ndarray:
    """[B, H*W] bool of the cells on one shortest path ending at ``goal`` (flat index), walking dist down to 0.

    Ties between equally short paths are broken by a fixed move order (up, down, left, right from the goal).
    """
    b, h, w = dist.shape
    d = np.full((b, h + 2, w + 2), -1, np.int32)
    d[:, 1:-1, 1:-1] = dist
    on_path = np.zeros_like(d, dtype=bool)
    rows, cols = goal // w + 1, goal % w + 1
    idx = np.arange(b)
    cur = d[idx, rows, cols]
    on_path[idx, rows, cols] = True
    while (cur > 0).any():
        moving = cur > 0
        for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            ok = moving & (d[idx, rows + dr, cols + dc] == cur - 1)
            rows, cols = np.where(ok, rows + dr, rows), np.where(ok, cols + dc, cols)
            cur = np.where(ok, cur - 1, cur)
            moving &= ~ok
        on_path[idx, rows, cols] = True
    return on_path[:, 1:-1, 1:-1].reshape(b, -1)


def generate(n: int, rng: np.random.Generator, size: int = 30, wall_range: tuple[float, float] = (0.3, 0.5),
             min_path: int = 110, batch: int = 4096, progress: bool = True, exclude: Iterable[bytes] = ()
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` mazes as character grids: ``(questions [n, size*size], answers [n, size*size], path_lengths [n])``.

    Per candidate: a wall count uniform in ``wall_range`` placed uniformly at random; a random open cell;
    the start is a random farthest cell from it (a BFS sweep); the goal is uniform among the cells more than
    ``min_path`` moves from the start. Candidates without such a cell, duplicates, and candidates whose question
    bytes are in ``exclude`` (e.g. the test split, when generating train) are discarded and the next candidate is
    taken. Both sweeps run bit-parallel over ``batch`` candidates; the path is traced on the kept ones only.
    The random draws do not depend on ``n``, so a fresh generator of one seed gives ``generate(m)[:n]`` for
    ``generate(n)``, ``n <= m``.
    """
    cells = size * size
    lo, hi = int(np.ceil(wall_range[0] * cells)), int(np.floor(wall_range[1] * cells))
    qs, ans, lens, seen = [], [], [], set(exclude)
    with progress_bar("maze generate", n, progress) as advance:
        while len(qs) < n:
            keys = rng.random((batch, cells))
            n_walls = rng.integers(lo, hi + 1, batch)
            walls = keys <= np.sort(keys, 1)[np.arange(batch), n_walls - 1][:, None]
            open_rows = _to_rows(~walls.reshape(batch, size, size))
            seed_cell = _pick(~walls, rng)
            last, _, ecc = _bit_sweep(open_rows, _cell_rows(seed_cell, size), min_path)
            hope = np.nonzero(2 * ecc > min_path)[0]  # otherwise no two cells are min_path apart
            start = np.zeros(batch, np.int64)
            start[hope] = _pick(_from_rows(last[hope], size), rng)
            _, far, _ = _bit_sweep(open_rows[hope], _cell_rows(start[hope], size), min_path)
            keep = hope[far.any(1)]
            if not keep.size:
                continue
            goal = _pick(_from_rows(far[far.any(1)], size), rng)
            src = np.zeros((keep.size, cells), bool)
            src[np.arange(keep.size), start[keep]] = True
            dist = bfs(~walls[keep].reshape(-1, size, size), src.reshape(-1, size, size))
            path = _trace(dist, goal)
            q = np.where(walls[keep], WALL, OPEN).astype(np.uint8)
            q[np.arange(keep.size), start[keep]] = START
            q[np.arange(keep.size), goal] = GOAL
            a = np.where(path & (q == OPEN), PATH, q).astype(np.uint8)
            length = dist.reshape(keep.size, cells)[np.arange(keep.size), goal]
            for i in range(keep.size):
                if len(qs) < n and q[i].tobytes() not in seen:
                    seen.add(q[i].tobytes())
                    qs.append(q[i])
                    ans.append(a[i])
                    lens.append(int(length[i]))
                    advance(1)
    return (np.asarray(qs, np.uint8).reshape(n, cells), np.asarray(ans, np.uint8).reshape(n, cells),
            np.asarray(lens, np.int64))


def check_mazes(inputs: np.ndarray, labels: np.ndarray, min_path: int = 110,
                wall_range: tuple[float, float] = (0.3, 0.5)) -> dict[str, np.ndarray]:
    """Per-maze failure masks (token arrays [N, H*W], square grids) for every Maze-Hard property.

    Keys: ``start_goal`` (not exactly one S and one G), ``walls`` (wall fraction outside ``wall_range``),
    ``label`` (label differs from input anywhere but path cells on open cells), ``not_shortest`` (the marked
    cells do not form a path S..G whose length equals the BFS distance), ``too_short`` (length <= min_path).
    """
    x, y = np.asarray(inputs), np.asarray(labels)
    n, cells = x.shape
    side = int(round(cells ** 0.5))
    tok = {c: int(_CHAR2ID[ord(c)]) for c in CHARSET}
    start, goal = x == tok["S"], x == tok["G"]
    bad_sg = (start.sum(1) != 1) | (goal.sum(1) != 1)
    frac = (x == tok["#"]).mean(1)
    bad_walls = (frac < wall_range[0] - 1e-9) | (frac > wall_range[1] + 1e-9)
    marked = y == tok["o"]
    bad_label = ((x != y) & ~(marked & (x == tok[" "]))).any(1)
    grid = (n, side, side)
    free = (x != tok["#"]).reshape(grid)
    gidx = goal.argmax(1)
    dist = bfs(free, start.reshape(grid))
    pdist = bfs((marked | start | goal).reshape(grid), start.reshape(grid))
    best = dist.reshape(n, cells)[np.arange(n), gidx]
    along = pdist.reshape(n, cells)[np.arange(n), gidx]
    bad_path = (best < 0) | (along != best) | (marked.sum(1) + 1 != best)
    return {"start_goal": bad_sg, "walls": bad_walls, "label": bad_label, "not_shortest": bad_path | bad_sg,
            "too_short": best <= min_path}


def valid_paths(inputs: np.ndarray, answers: np.ndarray) -> np.ndarray:
    """Boolean [N]: answers (tokens) that keep their input's walls, S and G and mark, on open cells only, a path from
    S to G as short as the BFS distance. No label is read: where several shortest paths exist, any one passes."""
    bad = check_mazes(inputs, answers)
    return ~(bad["label"] | bad["not_shortest"])


def to_tokens(chars: np.ndarray) -> np.ndarray:
    """Character codes of ``"# SGo"`` to official tokens 1..5 (anything else -> 0)."""
    return _CHAR2ID[chars]


def write_split(out: str | Path, split: str, questions: np.ndarray, answers: np.ndarray, aug: bool = False) -> None:
    """Write character grids as an official maze split; ``aug`` adds the 8 dihedral copies per maze (train)."""
    n, cells = questions.shape
    side = int(round(cells ** 0.5))
    copies = range(8) if aug else range(1)

    def layout(grids: np.ndarray) -> np.ndarray:
        g = grids.reshape(n, side, side)
        return np.stack([dihedral(g, t).reshape(n, cells) for t in copies], 1).reshape(-1, cells)

    arrays = {"inputs": to_tokens(layout(questions)), "labels": to_tokens(layout(answers)),
              **single_example_indices(n * len(copies), len(copies))}
    save_split(out, split, arrays, grid_metadata(arrays, VOCAB_SIZE))


def read_maze_csv(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read an HRM-layout maze CSV; returns character grids (questions, answers), checking the charset."""
    raw = read_puzzle_csv(path)
    if raw.questions.ndim != 2 or raw.questions.shape[1] != SEQ_LEN:
        raise RedgeInputError(f"line 2: a maze must have {SEQ_LEN} cells (30x30), got "
                              f"{raw.questions.shape[1] if raw.questions.ndim == 2 else 0}", path)
    for name, arr in (("question", raw.questions), ("answer", raw.answers)):
        bad = np.nonzero((_CHAR2ID[arr] == 0).any(1))[0]
        if bad.size:
            raise RedgeInputError(f"line {bad[0] + 2}: {name} has a character outside {CHARSET!r}", path)
    return raw.questions, raw.answers


def split_rngs(seed: int) -> dict[str, np.random.Generator]:
    """Two independent generators derived from ``seed``: ``SeedSequence(seed).spawn(2)``, child 0 train, child 1 test.

    Why: with one shared stream the test mazes were drawn after the train mazes, so the held-out set changed with
    the train size; separate streams keep each split a function of its own size (and the seed) only.
    """
    train, test = np.random.SeedSequence(seed).spawn(2)
    return {"train": np.random.default_rng(train), "test": np.random.default_rng(test)}


def generate_splits(train_size: int, test_size: int, seed: int = 0, min_path: int = 110, progress: bool = True
                    ) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Generate the test split, then the train split, each from its own stream of :func:`split_rngs`.

    The test split depends only on ``(seed, test_size, min_path)``, so every train size is scored on the same
    held-out mazes. The train split depends on ``(seed, train_size, min_path)`` and is disjoint from the test
    split: a train candidate whose question equals a test maze is discarded and the train stream's next candidate
    takes its place (deterministic; a repeat of a random 30x30 grid is very unlikely, so the train mazes almost
    never depend on the test split).
    Returns ``{split: (questions, answers, path_lengths)}`` as :func:`generate` does.
    """
    rngs = split_rngs(seed)
    test = generate(test_size, rngs["test"], min_path=min_path, progress=progress)
    train = generate(train_size, rngs["train"], min_path=min_path, progress=progress,
                     exclude={q.tobytes() for q in test[0]})
    return {"train": train, "test": test}


def _write_csvs(out: str | Path, seed: int, splits: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]) -> None:
    """Write generated splits as ``out/csv/{split}.csv`` in the HRM layout (rating = shortest path length)."""
    for s, (qs, ans, lens) in splits.items():
        write_puzzle_csv(Path(out) / "csv" / f"{s}.csv", [f"redge-maze-seed{seed}"] * len(qs),
                         [r.tobytes().decode() for r in qs], [r.tobytes().decode() for r in ans], lens.tolist())


def build(out: str | Path, train_size: int = 1000, test_size: int = 1000, seed: int = 0, min_path: int = 110,
          aug: bool = False, csv_dir: str | Path | None = None, progress: bool = True) -> dict:
    """Build Maze-Hard into ``out``: generate (or read HRM's ``train.csv``/``test.csv`` from ``csv_dir``).

    Generated splits come from :func:`generate_splits`: the test split is the same for every ``train_size``
    (it depends on ``seed``, ``test_size`` and ``min_path`` only), and no train maze equals a test maze (train
    candidates that do are dropped and replaced from the train stream). They are also written as
    ``out/csv/{train,test}.csv`` (the HRM layout, rating = path length).
    Returns a summary including the generation rate in mazes per second. Sizes out of range are input errors.
    """
    check_range("--train", train_size, 0)
    check_range("--test", test_size, 1)
    check_range("--min-path", min_path, 0)
    summary: dict = {"seed": seed, "aug": aug}
    if csv_dir is not None:
        sets = {s: read_maze_csv(Path(csv_dir) / f"{s}.csv") for s in ("train", "test")}
        summary["csv_dir"] = str(csv_dir)
    else:
        t0 = time.perf_counter()
        generated = generate_splits(train_size, test_size, seed, min_path, progress)
        lens = np.concatenate([g[2] for g in generated.values()])
        summary.update(min_path=min_path, rng="SeedSequence(seed).spawn(2): train, test",
                       mazes_per_s=round(len(lens) / (time.perf_counter() - t0), 1), mean_path=float(lens.mean()))
        _write_csvs(out, seed, generated)
        sets = {s: (qs, ans) for s, (qs, ans, _) in generated.items()}
    for s, (qs, ans) in sets.items():
        write_split(out, s, qs, ans, aug=aug and s == "train")
        summary[f"{s}_mazes"] = len(qs)
    save_identifiers(out, ["<blank>"])
    write_json(Path(out) / "redge_build.json", summary)
    return summary


def check_splits(splits: Mapping[str, PuzzleSplit]) -> dict[str, int]:
    """Failure counts of every Maze-Hard property of :func:`check_mazes`, per split."""
    return {f"{name}/{k}": int(bad.sum()) for name, s in splits.items()
            for k, bad in check_mazes(np.asarray(s.inputs), np.asarray(s.labels)).items()}


TASK = Task(
    name="maze", description="Maze-Hard: 30x30 mazes, mark the shortest path from S to G",
    vocab_size=VOCAB_SIZE, seq_len=SEQ_LEN, pad_token=0, blank_tokens=BLANK_TOKENS,
    cycles={"trm": (3, 4), "hrm": (2, 2)}, act_depth=16, augment="dihedral", build=build, check=check_splits,
    answer_check=valid_paths)
