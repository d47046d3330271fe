"""Fixtures for the alert engine: a real SQLite database and settings builders."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from veille.alert.engine import AlertEngine
from veille.config import AlertsSettings
from veille.model import AlertSignal
from veille.store import create_engine
from veille.store.migrate import ensure_current
from veille.testing import FakeClock


def make_db(path: Path) -> sa.Engine:
    """A migrated SQLite database, as veille opens it."""
    db = create_engine(f"sqlite:///{path}")
    ensure_current(db)
    return db


@pytest.fixture
def db(db_url: str) -> Iterator[sa.Engine]:
    """A migrated database on SQLite, and on PostgreSQL (marked ``pg``)."""
    engine = create_engine(db_url)
    ensure_current(engine)
    yield engine
    engine.dispose()


def settings(**overrides: Any) -> AlertsSettings:
    base: dict[str, Any] = {
        "receivers": [
            {"name": "hook", "type": "webhook", "url": "http://127.0.0.1:9/", "secret": "s"}
        ],
        "default_receivers": ["hook"],
    }
    base.update(overrides)
    return AlertsSettings.model_validate(base)


@pytest.fixture
def engine(db: sa.Engine, clock: FakeClock) -> AlertEngine:
    return AlertEngine(db, settings(), clock)


def signal(**fields: Any) -> AlertSignal:
    base: dict[str, Any] = {
        "kind": "rule",
        "severity": "high",
        "title": "Threat against a police station",
        "reasons": ("matched rule threats",),
        "rule": "threats",
        "conversation": "bluesky:root1",
        "platform": "bluesky",
        "native_id": "p1",
    }
    base.update(fields)
    return AlertSignal(**base)
