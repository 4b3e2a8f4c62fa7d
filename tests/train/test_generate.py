"""Unique-solution Sudoku generation: the batched solver agrees with a plain backtracking counter."""
import numpy as np

from redge.tasks.generate import count_solutions, generate_sudoku, random_grids, solve


def _brute_count(grid: np.ndarray, limit: int = 2) -> int:
    """Plain recursive backtracking over the first empty cell (independent reference)."""
    g = grid.reshape(9, 9).copy()
    empties = list(zip(*np.nonzero(g == 0)))

    def ok(r: int, c: int, d: int) -> bool:
        br, bc = 3 * (r // 3), 3 * (c // 3)
        return d not in g[r] and d not in g[:, c] and d not in g[br:br + 3, bc:bc + 3]

    def rec(i: int) -> int:
        if i == len(empties):
            return 1
        r, c = empties[i]
        total = 0
        for d in range(1, 10):
            if ok(r, c, d):
                g[r, c] = d
                total += rec(i + 1)
                g[r, c] = 0
                if total >= limit:
                    break
        return total

    return min(rec(0), limit)


def _valid(grids: np.ndarray) -> bool:
    g = grids.reshape(-1, 9, 9)
    boxes = g.reshape(-1, 3, 3, 3, 3).transpose(0, 1, 3, 2, 4).reshape(-1, 9, 9)
    return all((np.sort(u, axis=2) == np.arange(1, 10)).all() for u in (g, g.transpose(0, 2, 1), boxes))


def test_random_grids_are_valid():
    assert _valid(random_grids(20, np.random.default_rng(0)))


def test_generated_puzzles_are_unique_and_consistent():
    puzzles, solutions = generate_sudoku(12, np.random.default_rng(1))
    givens = (puzzles > 0).sum(1)
    assert givens.min() >= 22 and givens.max() <= 30
    assert _valid(solutions) and ((puzzles == 0) | (puzzles == solutions)).all()
    assert all(_brute_count(p) == 1 for p in puzzles)
    counts, found = solve(puzzles)
    assert (counts == 1).all() and (found == solutions).all()


def test_counter_detects_multiple_solutions():
    puzzles, _ = generate_sudoku(6, np.random.default_rng(2))
    rng = np.random.default_rng(3)
    loose = puzzles.copy()
    for p in loose:  # remove 8 more givens: usually no longer unique
        p[rng.choice(np.nonzero(p)[0], 8, replace=False)] = 0
    assert list(count_solutions(loose)) == [_brute_count(p) for p in loose]
    assert (count_solutions(np.zeros((1, 81), np.uint8)) == 2).all()
