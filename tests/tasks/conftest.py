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
