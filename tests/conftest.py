"""Fixtures shared by the whole suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from veille.testing import FakeClock

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the checkout: public fixtures, labelled data and hostile input."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA} (it lives beside the checkout)")
    return SHARED_DATA


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
