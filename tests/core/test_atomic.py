"""Atomic outputs: a set of files appears whole or not at all; bad output paths fail before any work."""
from __future__ import annotations

import pytest

from redge.core.atomic import atomic_dir, check_output_path
from redge.core.errors import RedgeInputError


def test_a_folder_appears_whole_and_replaces_an_earlier_output(tmp_path) -> None:
    out = tmp_path / "out"
    with atomic_dir(out, replaces="report.md") as tmp:
        (tmp / "report.md").write_text("one")
        assert not out.exists()
    assert (out / "report.md").read_text() == "one"
    with atomic_dir(out, replaces="report.md") as tmp:
        (tmp / "report.md").write_text("two")
    assert (out / "report.md").read_text() == "two" and [p.name for p in tmp_path.iterdir()] == ["out"]


def test_a_failure_leaves_nothing_behind(tmp_path) -> None:
    with pytest.raises(RuntimeError), atomic_dir(tmp_path / "out", replaces="report.md") as tmp:
        (tmp / "half.csv").write_text("1,2")
        raise RuntimeError("killed halfway")
    assert list(tmp_path.iterdir()) == []


def test_a_folder_of_other_files_is_never_replaced(tmp_path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    with pytest.raises(RedgeInputError, match="not an earlier output"), atomic_dir(tmp_path / "mine", "report.md"):
        pass
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "precious"


def test_bad_output_paths_are_named(tmp_path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(RedgeInputError, match="is a file, not a folder"):
        check_output_path(tmp_path / "file" / "sub" / "out", directory=True)
    with pytest.raises(RedgeInputError, match="is a file; give a folder name"):
        check_output_path(tmp_path / "file", directory=True)
    with pytest.raises(RedgeInputError, match="is a directory; give a file name"):
        check_output_path(tmp_path, directory=False)
    assert check_output_path(tmp_path / "new" / "deeper", directory=True) == tmp_path / "new" / "deeper"
