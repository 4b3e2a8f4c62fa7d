"""Fast generation of unique-solution Sudoku puzzles and HRM-style augmentation, in vectorised numpy.

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
PEERS = np.array([sorted({c for u in UNITS if cell in u for c in u} - {cell}) for cell in range(81)], dtype=np.int64)
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
        placed = np.where(single, cand, 0).astype(np.uint16)
        peer_mask = np.bitwise_or.reduce(placed[:, PEERS], axis=2)
        clash = single & ((cand & peer_mask) != 0)
        new = np.where(single, cand, cand & ~peer_mask).astype(np.uint16)
        unit = new[:, UNITS]  # [M, 27, 9]
        has = (unit[..., None] & _BITS) != 0  # [M, 27, 9 cells, 9 digits]
        count = has.sum(axis=2)  # [M, 27, 9 digits]
        missing = (count == 0).any(axis=(1, 2))
        hidden = has & (count == 1)[:, :, None, :]  # cell holds a digit that has no other place in the unit
        forced = (hidden * _BITS).sum(axis=3).astype(np.uint16)  # [M, 27, 9]: bit of the forced digit (or 0)
        forced_cells = np.zeros_like(new)
        np.bitwise_or.at(forced_cells, (np.arange(new.shape[0])[:, None, None], UNITS[None]), forced)
        multi_forced = _POP[forced_cells] > 1
        new = np.where(forced_cells > 0, forced_cells, new).astype(np.uint16)
        dead = clash.any(axis=1) | missing | multi_forced.any(axis=1) | (new == 0).any(axis=1)
        alive &= ~dead
        if np.array_equal(new, cand) or not alive.any():
            return new, alive
        cand = new


def count_solutions(puzzles: np.ndarray, limit: int = 2) -> np.ndarray:
    """Number of solutions of each puzzle [N, 81], counted up to `limit` (2 proves uniqueness)."""
    return _search(to_candidates(puzzles), limit)[0]


def solve(puzzles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(solution counts up to 2, a solution [N, 81] of each solvable puzzle, zeros elsewhere)."""
    counts, solutions = _search(to_candidates(puzzles), 2)
    return counts, solutions


def _search(cand: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray]:
    n = cand.shape[0]
    counts = np.zeros(n, dtype=np.int64)
    solutions = np.zeros((n, 81), dtype=np.uint8)
    owner = np.arange(n)
    states = cand
    while states.shape[0]:
        states, alive = propagate(states)
        states, owner = states[alive], owner[alive]
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
            break
        cell = np.where(pops > 1, pops, 99).argmin(axis=1)
        rows = np.arange(states.shape[0])
        value = states[rows, cell]
        low = value & (~value + np.uint16(1))
        take, skip = states.copy(), states
        take[rows, cell] = low
        skip[rows, cell] = value & ~low
        states, owner = np.concatenate([take, skip]), np.concatenate([owner, owner])
    return counts, solutions


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


def augment_sudoku(puzzles: np.ndarray, solutions: np.ndarray,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """HRM's Sudoku augmentation, one random variant per row: digit permutation of 1..9 (0 fixed), transpose with
    p=0.5, band and row-in-band permutations, stack and column-in-stack permutations. Uniqueness is preserved."""
    n = puzzles.shape[0]
    digit_map = np.concatenate([np.zeros((n, 1), dtype=np.uint8),
                                rng.permuted(np.tile(np.arange(1, 10, dtype=np.uint8), (n, 1)), axis=1)], axis=1)

    def line_perm() -> np.ndarray:  # [n, 9]: a band (stack) permutation composed with in-band permutations
        bands = rng.permuted(np.tile(np.arange(3), (n, 1)), axis=1)
        inner = rng.permuted(np.tile(np.arange(3), (n, 3, 1)), axis=2)
        return (bands[:, :, None] * 3 + np.take_along_axis(inner, bands[:, :, None].repeat(3, 2), axis=1)).reshape(n, 9)

    rows, cols = line_perm(), line_perm()
    index = rows[:, :, None] * 9 + cols[:, None, :]  # [n, 9, 9] source cell of each destination cell
    transpose = rng.random(n) < 0.5
    index = np.where(transpose[:, None, None], index.transpose(0, 2, 1), index).reshape(n, 81)
    rows_idx = np.arange(n)[:, None]
    new_p = digit_map[rows_idx, np.take_along_axis(puzzles, index, axis=1)]
    new_s = digit_map[rows_idx, np.take_along_axis(solutions, index, axis=1)]
    return new_p, new_s
