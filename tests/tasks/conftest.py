"""Shared fixtures of the tasks tests: the committed official-builder outputs and the shared raw data."""
from __future__ import annotations

from pathlib import Path

import pytest

from redge.tasks.sources import shared_data_dir

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture
def shared_data() -> Path:
    """``$REDGE_SHARED_DATA`` or the repository's ``../shared/data``; tests needing it skip when it is absent."""
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"shared data not found at {path}")
    return path


@pytest.fixture
def toy_task(monkeypatch: pytest.MonkeyPatch):
    """Register `toy_task.py` (beside this file) as a fourth task for one test; returns its `Task`."""
    from redge.tasks import registry

    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    monkeypatch.setattr(registry, "TASK_MODULES", [*registry.TASK_MODULES, "toy_task"])
    return registry.get_task("toy")
