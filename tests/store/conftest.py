"""Store fixtures: a Store on each engine with a fake clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from veille.store import Store
from veille.testing import FakeClock


@pytest.fixture
def store(db_url: str, clock: FakeClock) -> Iterator[Store]:
    """A migrated store on SQLite and on PostgreSQL, keeping every post."""
    with Store.open(db_url, clock=clock) as opened:
        yield opened
