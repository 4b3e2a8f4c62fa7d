"""Shared fixtures of the tasks tests: the committed official-builder outputs and the shared raw data."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture
def shared_data() -> Path:
    """``$REDGE_SHARED_DATA`` or the repository's ``../shared/data``; tests needing it skip when it is absent."""
    path = Path(os.environ.get("REDGE_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
    if not path.is_dir():
        pytest.skip(f"shared data not found at {path}")
    return path
