"""Fast generation of unique-solution Sudoku puzzles, in vectorised numpy (augmentation: `sudoku_symmetry`).

Grids are uint8 [N, 81] arrays, row-major, 0 = blank, 1..9 = digits. The solver works on batches of candidate
bitmasks (uint16 [M, 81], bit d-1 set when digit d is still possible): constraint propagation (naked and hidden
singles) runs on the whole batch at once, and branching splits a state into "cell = lowest candidate" and "cell !=
lowest candidate", so the search frontier stays a flat array. `count_solutions(puzzles, limit=2)` proves uniqueness.

Generation: a random full grid (greedy random fill with restarts), then cells are removed in random order, each
removal kept only when the puzzle still has exactly one solution, until the target number of givens is reached
(or no cell can be removed). Every returned puzzle is unique by construction; labels are never noise.
"""
from __future__ import annotations

import numpy as np

ALL = np.uint16(0x1FF)
_POP = np.array([bin(i).count("1") for i in range(512)], dtype=np.int8)
_LOWBIT_DIGIT = np.array([0] + [(i & -i).bit_length() for i in range(1, 512)], dtype=np.uint8)


def _units() -> np.ndarray:
    rows = [[r * 9 + c for c in range(9)] for r in range(9)]
    cols = [[r * 9 + c for r in range(9)] for c in range(9)]
    boxes = [[(br * 3 + i) * 9 + bc * 3 + j for i in range(3) for j in range(3)] for br in range(3) for bc in range(3)]
    return np.array(rows + cols + boxes, dtype=np.int64)


UNITS = _units()  # [27, 9] cell indices
# For each cell, (unit, position in unit) of its row, column and box: [81, 3] each.
_CELL_UNIT = np.array([[u for u in range(27) if cell in UNITS[u]] for cell in range(81)], dtype=np.int64)
_CELL_POS = np.array([[list(UNITS[u]).index(cell) for u in _CELL_UNIT[cell]] for cell in range(81)], dtype=np.int64)
_BITS = (np.uint16(1) << np.arange(9, dtype=np.uint16)).astype(np.uint16)  # digit d -> bit d-1


def to_candidates(puzzles: np.ndarray) -> np.ndarray:
    """Candidate bitmasks [N, 81] of puzzles [N, 81] (0 = blank -> all digits possible)."""
    p = np.asarray(puzzles, dtype=np.int64)
    return np.where(p > 0, np.left_shift(1, np.maximum(p - 1, 0)), int(ALL)).astype(np.uint16)


def to_digits(cand: np.ndarray) -> np.ndarray:
    """Digits [N, 81] of candidate masks: the digit of single-candidate cells, 0 elsewhere."""
    single = _POP[cand] == 1
    return np.where(single, _LOWBIT_DIGIT[cand], 0).astype(np.uint8)


def propagate(cand: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply naked and hidden singles to a fixpoint; returns (candidates, alive mask [M]).

    A state dies when a cell has no candidate, two placed cells of a unit share a digit, or a digit has no place
    left in a unit.
    """
    cand = cand.copy()
    alive = np.ones(cand.shape[0], dtype=bool)
    while True:
        single = _POP[cand] == 1
        placed_once, placed_twice = _once_twice(np.where(single, cand, 0).astype(np.uint16)[:, UNITS])
        peer_mask = np.bitwise_or.reduce(placed_once[:, _CELL_UNIT], axis=2)  # digits placed in row|col|box
        new = np.where(single, cand, cand & ~peer_mask).astype(np.uint16)
        unit = new[:, UNITS]  # [M, 27, 9]
        once, twice = _once_twice(unit)
        missing = (once != ALL).any(axis=1)
        forced = unit & (once & ~twice)[:, :, None]  # per cell: digits with no other place in that unit
        by_unit = forced[:, _CELL_UNIT, _CELL_POS]  # [M, 81, 3]: what the row, column and box force on each cell
        forced_cells = by_unit[..., 0] | by_unit[..., 1] | by_unit[..., 2]
        multi_forced = (_POP[forced_cells] > 1).any(axis=1)
        new = np.where(forced_cells > 0, forced_cells, new).astype(np.uint16)
        dead = (placed_twice != 0).any(axis=1) | missing | multi_forced | (new == 0).any(axis=1)
        alive &= ~dead
        if np.array_equal(new, cand) or not alive.any():
            return new, alive
        cand = new


def _once_twice(unit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bitwise (digits seen at least once, digits seen at least twice) over the last axis of [M, 27, 9] masks."""
    once = np.zeros(unit.shape[:2], dtype=np.uint16)
    twice = np.zeros_like(once)
    for i in range(unit.shape[2]):
        twice |= once & unit[:, :, i]
        once |= unit[:, :, i]
    return once, twice


def count_solutions(puzzles: np.ndarray, limit: int = 2) -> np.ndarray:
    """Number of solutions of each puzzle [N, 81], counted up to `limit` (2 proves uniqueness)."""
    return _search(to_candidates(puzzles), limit)[0]


def solve(puzzles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(solution counts up to 2, a solution [N, 81] of each solvable puzzle, zeros elsewhere)."""
    counts, solutions, _ = _search(to_candidates(puzzles), 2)
    return counts, solutions


def solve_rated(puzzles: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`solve` plus a difficulty rating per puzzle: the branch points this search opened to find the solution
    and prove it unique (so also past the first solution; not tdoku's guess count)."""
    return _search(to_candidates(puzzles), 2)


def _search(cand: np.ndarray, limit: int, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Depth-first in chunks: the newest `chunk` states are expanded first, so puzzles with many solutions reach
    `limit` quickly and the frontier stays bounded (a breadth-first frontier doubles per branching level).
    Returns (solution counts up to `limit`, first solutions, branch points opened per puzzle)."""
    n = cand.shape[0]
    counts = np.zeros(n, dtype=np.int64)
    branches = np.zeros(n, dtype=np.int64)
    solutions = np.zeros((n, 81), dtype=np.uint8)
    stack, stack_owner = cand, np.arange(n)
    while stack.shape[0]:
        cut = max(0, stack.shape[0] - max(chunk, n))
        states, owner = stack[cut:], stack_owner[cut:]
        stack, stack_owner = stack[:cut], stack_owner[:cut]
        live = counts[owner] < limit
        states, alive = propagate(states[live])
        states, owner = states[alive], owner[live][alive]
        pops = _POP[states]
        solved = (pops == 1).all(axis=1)
        if solved.any():
            first = owner[solved]
            fresh = counts[first] == 0
            solutions[first[fresh]] = to_digits(states[solved][fresh])
            np.add.at(counts, first, 1)
        keep = ~solved & (counts[owner] < limit)
        states, owner, pops = states[keep], owner[keep], pops[keep]
        if not states.shape[0]:
            continue
        np.add.at(branches, owner, 1)
        cell = np.where(pops > 1, pops, 99).argmin(axis=1)
        rows = np.arange(states.shape[0])
        value = states[rows, cell]
        low = value & (~value + np.uint16(1))
        take, skip = states.copy(), states
        take[rows, cell] = low
        skip[rows, cell] = value & ~low
        stack = np.concatenate([stack, skip, take])  # `take` on top: expanded next
        stack_owner = np.concatenate([stack_owner, owner, owner])
    return np.minimum(counts, limit), solutions, branches


def random_grids(n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` uniformly-seeded random complete grids [n, 81] (random fill with propagation, restarting dead ends)."""
    out = np.zeros((0, 81), dtype=np.uint8)
    while out.shape[0] < n:
        m = 2 * (n - out.shape[0]) + 8
        states = np.full((m, 81), ALL, dtype=np.uint16)
        for box in (0, 4, 8):  # the diagonal boxes are independent: fill them with random permutations
            cells = UNITS[18 + box]
            perms = rng.permuted(np.tile(np.arange(9), (m, 1)), axis=1)
            states[:, cells] = _BITS[perms]
        while states.shape[0]:
            states, alive = propagate(states)
            states = states[alive]
            pops = _POP[states]
            solved = (pops == 1).all(axis=1)
            out = np.concatenate([out, to_digits(states[solved])])
            states, pops = states[~solved], pops[~solved]
            if not states.shape[0]:
                break
            rows = np.arange(states.shape[0])
            cell = np.where(pops > 1, pops + rng.random(pops.shape), 99).argmin(axis=1)
            value = states[rows, cell]
            bits = (value[:, None] & _BITS) != 0
            pick = np.where(bits, rng.random(bits.shape), -1).argmax(axis=1)
            states[rows, cell] = _BITS[pick]
    return out[:n]


def generate_sudoku(n: int, rng: np.random.Generator, min_givens: int = 22,
                    max_givens: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """`n` unique-solution puzzles and their solutions (uint8 [n, 81], 0 = blank).

    Each puzzle targets a number of givens drawn uniformly in [min_givens, max_givens]; cells are removed in random
    order while the solution stays unique. A puzzle whose removal order gets stuck above its target keeps the
    givens it reached (at most a few above `max_givens`; these are rare and are dropped and regenerated).
    """
    if not 17 <= min_givens <= max_givens <= 81:
        raise ValueError(f"need 17 <= min_givens <= max_givens <= 81, got {min_givens}, {max_givens}")
    puzzles_out, solutions_out = [], []
    have = 0
    while have < n:
        m = n - have + 4
        solutions = random_grids(m, rng)
        puzzles = solutions.copy()
        target = rng.integers(min_givens, max_givens + 1, size=m)
        order = rng.permuted(np.tile(np.arange(81), (m, 1)), axis=1)
        givens = np.full(m, 81)
        for k in range(81):
            todo = np.nonzero(givens > target)[0]
            if not todo.size:
                break
            trial = puzzles[todo].copy()
            trial[np.arange(todo.size), order[todo, k]] = 0
            ok = count_solutions(trial, limit=2) == 1
            puzzles[todo[ok]] = trial[ok]
            givens[todo[ok]] -= 1
        good = givens <= max_givens
        puzzles_out.append(puzzles[good])
        solutions_out.append(solutions[good])
        have += int(good.sum())
    return np.concatenate(puzzles_out)[:n], np.concatenate(solutions_out)[:n]
