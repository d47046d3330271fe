"""``veille sources``: the configured live sources, and with ``--check`` their health for real."""

from __future__ import annotations

import asyncio
import contextlib

import click
from rich.console import Console
from rich.table import Table

from veille.config import load_settings
from veille.sources.base import Source
from veille.sources.configured import configured, live_sources
from veille.sources.health import HealthRegistry, SourceHealth


@click.command()
@click.option(
    "--check",
    "check_seconds",
    type=float,
    default=None,
    metavar="SECONDS",
    help="Run every enabled source this long (nothing is stored) and show its health.",
)
def sources(check_seconds: float | None) -> None:
    """Show the live sources: enabled, what is missing, and (with --check) their health."""
    settings = load_settings()
    console = Console()
    table = Table("source", "platform", "enabled", "problem")
    for entry in configured(settings.sources):
        table.add_row(entry.name, entry.platform, "yes" if entry.enabled else "no", entry.problem)
    console.print(table)
    if check_seconds is None:
        return
    registry = HealthRegistry()
    running = live_sources(settings.sources, registry)
    if not running:
        raise click.ClickException("no live source is enabled in [sources]")
    asyncio.run(_probe(running, check_seconds))
    console.print(health_table(registry.report()))


async def _probe(running: list[Source], seconds: float) -> None:
    async def drain(source: Source) -> None:
        async for _ in source.stream(None):
            pass

    tasks = [asyncio.create_task(drain(s)) for s in running]
    await asyncio.sleep(seconds)
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(BaseException):
            await task


def health_table(report: list[SourceHealth]) -> Table:
    """The health of each source as a table: what is working and what veille is blind to."""
    table = Table("source", "state", "last event", "events/min", "lag", "last error", "gaps")
    for health in report:
        table.add_row(
            health.name,
            f"{health.state.value} {health.detail}".strip(),
            health.last_event_at.isoformat(timespec="seconds") if health.last_event_at else "-",
            f"{health.events_per_minute:.0f}",
            f"{health.lag_seconds:.0f}s" if health.lag_seconds is not None else "-",
            health.last_error or "-",
            "; ".join(f"{g.start:%H:%M}-{g.end:%H:%M} {g.reason}" for g in health.gaps) or "-",
        )
    return table
