"""Source health kept in the store: what ``veille run`` last reported about each live source.

``veille run`` writes every source's health here periodically, so ``veille sources``, the API
and the dashboard, running in other processes, show what the pipeline is blind to. A report
older than a few periods means ``veille run`` itself stopped reporting: readers say so.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final

import msgspec
import sqlalchemy as sa
from sqlalchemy import Column, String, Table, Text

from veille.sources.health import SourceHealth
from veille.store.engine import write_transaction
from veille.store.schema import metadata
from veille.store.types import JSONText, Timestamp

source_health: Final = Table(
    "source_health",
    metadata,
    Column("name", Text, primary_key=True),
    Column("platform", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("reported_at", Timestamp, nullable=False),
    Column("health", JSONText, nullable=False),
)
"""One row per live source: its latest health snapshot (as JSON) and when it was written."""


class StoredHealth(msgspec.Struct, frozen=True, kw_only=True):
    """A source's health as last written, and when."""

    health: SourceHealth
    reported_at: datetime


def save_health(engine: sa.Engine, report: Sequence[SourceHealth], at: datetime) -> None:
    """Replace the stored health of the reported sources (others are left as they were)."""
    if not report:
        return
    rows = [
        {
            "name": h.name,
            "platform": h.platform,
            "state": h.state.value,
            "reported_at": at,
            "health": msgspec.to_builtins(h),
        }
        for h in report
    ]
    with write_transaction(engine) as conn:
        conn.execute(
            source_health.delete().where(source_health.c.name.in_([h.name for h in report]))
        )
        conn.execute(source_health.insert(), rows)


def load_health(engine: sa.Engine) -> list[StoredHealth]:
    """Every stored source health, by name."""
    with engine.connect() as conn:
        rows = list(conn.execute(sa.select(source_health).order_by(source_health.c.name)))
    return [
        StoredHealth(
            health=msgspec.convert(row.health, SourceHealth),
            reported_at=row.reported_at,
        )
        for row in rows
    ]
