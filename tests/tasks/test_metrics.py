"""Metric edge cases: padding rows, ignore labels, empty grids, torch and numpy inputs."""
from __future__ import annotations

import math

import numpy as np
import torch

from redge.tasks.metrics import (
    arc_pass_at_k,
    cell_accuracy,
    exact_accuracy,
    non_given_cell_accuracy,
)
from redge.tasks.sudoku import BLANK_TOKENS as SUDOKU_BLANK_TOKENS


def test_cell_and_exact_accuracy_ignore_labels_and_padding_rows() -> None:
    labels = np.array([[2, 3, 4, -100], [5, 5, -100, -100], [-100, -100, -100, -100]])
    preds = np.array([[2, 3, 9, 0], [5, 5, 0, 0], [1, 1, 1, 1]])
    assert math.isclose(cell_accuracy(preds, labels), (2 / 3 + 1) / 2)
    assert exact_accuracy(preds, labels) == 0.5
    assert cell_accuracy(torch.tensor(preds), torch.tensor(labels)) == cell_accuracy(preds, labels)


def test_all_padding_gives_nan_and_disk_ignore_id() -> None:
    assert math.isnan(cell_accuracy(np.zeros((2, 3)), np.full((2, 3), -100)))
    assert math.isnan(exact_accuracy(np.zeros((0, 3)), np.zeros((0, 3))))
    assert exact_accuracy(np.array([[0, 2]]), np.array([[0, 2]]), ignore_index=0) == 1.0


def test_non_given_accuracy_counts_only_blank_inputs() -> None:
    inputs = np.array([[1, 5, 1, 7]])  # two clues, two blanks
    labels = np.array([[3, 5, 4, 7]])
    preds = np.array([[3, 5, 9, 7]])
    assert cell_accuracy(preds, labels) == 0.75
    assert non_given_cell_accuracy(preds, labels, inputs, SUDOKU_BLANK_TOKENS) == 0.5
    assert math.isnan(non_given_cell_accuracy(preds, labels, np.array([[5, 5, 5, 5]]), SUDOKU_BLANK_TOKENS))


def test_single_sequence_is_one_row() -> None:
    assert exact_accuracy(np.array([2, 3]), np.array([2, 3])) == 1.0


def test_arc_pass_at_k_fractional_credit_and_empty_grids() -> None:
    empty = np.zeros((0, 0), np.uint8)
    solutions = {"a": [np.ones((2, 2)), np.zeros((1, 3))], "b": [empty]}
    ranked = {"a": [[np.zeros((2, 2)), np.ones((2, 2))], [np.zeros((1, 3))]], "b": [[empty]]}
    scores = arc_pass_at_k(ranked, solutions, ks=(1, 2))
    assert scores == {1: (0.5 + 1.0) / 2, 2: 1.0}
    assert arc_pass_at_k({}, solutions, ks=(1,)) == {1: 0.0}
    assert arc_pass_at_k({"a": [["h1"], ["x"]]}, {"a": ["h1", "h2"]}, ks=(2,)) == {2: 0.5}
