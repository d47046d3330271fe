"""``veille sources``: the configured live sources, and with ``--check`` their health for real."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from pathlib import Path

import click
import httpx
import sqlalchemy as sa
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url

from veille.cli.run import load_catalogue
from veille.config import Settings, load_settings
from veille.sources.base import Source
from veille.sources.configured import configured, live_sources
from veille.sources.health import HealthRegistry, SourceHealth
from veille.sources.live import SourceError
from veille.sources.x import XSource
from veille.sources.x_rules import stream_rules, translate
from veille.store import create_engine
from veille.store.source_health import StoredHealth, load_health


@click.command()
@click.option(
    "--check",
    "check_seconds",
    type=float,
    default=None,
    metavar="SECONDS",
    help="Run every enabled source this long (nothing is stored) and show its health.",
)
@click.option(
    "--x-rules",
    is_flag=True,
    help="Show the X stream rules the watch rules translate to, and what X cannot be asked.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="With --x-rules: ask X to validate the changes (needs the bearer token), change nothing.",
)
def sources(check_seconds: float | None, x_rules: bool, dry_run: bool) -> None:
    """Show the live sources: enabled, what is missing, and (with --check) their health."""
    settings = load_settings()
    console = Console()
    if x_rules:
        _show_x_rules(settings, console, dry_run)
        return
    table = Table("source", "platform", "enabled", "problem")
    for entry in configured(settings.sources):
        table.add_row(entry.name, entry.platform, "yes" if entry.enabled else "no", entry.problem)
    console.print(table)
    if check_seconds is None:
        stored = stored_health(settings)
        if stored:
            console.print("Health as veille run last reported it:")
            reported = {s.health.name: s.reported_at for s in stored}
            console.print(health_table([s.health for s in stored], reported))
        return
    registry = HealthRegistry()
    running = live_sources(settings.sources, registry)
    if not running:
        raise click.ClickException("no live source is enabled in [sources]")
    asyncio.run(_probe(running, check_seconds))
    console.print(health_table(registry.report()))


def _show_x_rules(settings: Settings, console: Console, dry_run: bool) -> None:
    x = settings.sources.x
    catalogue = load_catalogue(settings.rules.paths)
    table = Table("rule", "sent to X", "exact", "notes")
    for rule in catalogue.rules:
        if rule.enabled:
            t = translate(rule, x.max_rule_length)
            notes = "; ".join(t.notes)
            table.add_row(rule.id, "\n".join(t.values) or "-", "yes" if t.exact else "no", notes)
    console.print(table)
    desired, problems = stream_rules(
        catalogue.rules, x.rule_tag_prefix, x.max_rule_length, x.max_rules
    )
    for problem in problems:
        console.print(f"not asked from X: {problem}", markup=False)
    if dry_run:
        source = XSource(x, rules=lambda: desired, registry=HealthRegistry())
        try:
            result = asyncio.run(source.sync(dry_run=True))
        except (SourceError, httpx.HTTPError) as exc:
            raise click.ClickException(f"X refused the dry run: {exc}") from None
        added = ", ".join(r.tag for r in result.added) or "none"
        deleted = ", ".join(r.tag for r in result.deleted) or "none"
        console.print(f"dry run: would add {added}; delete {deleted}; keep {result.kept}")
        for error in result.errors:
            console.print(f"X: {error}", markup=False)


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


def stored_health(settings: Settings) -> list[StoredHealth]:
    """The health ``veille run`` wrote to the store; none when there is no database, or one
    without health yet (it is read as it is: never created nor migrated from here)."""
    url = make_url(settings.store.url)
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").exists():
        return []
    engine = create_engine(settings.store.url)
    try:
        return load_health(engine)
    except sa.exc.SQLAlchemyError:
        return []
    finally:
        engine.dispose()


def health_table(report: list[SourceHealth], reported: dict[str, datetime] | None = None) -> Table:
    """The health of each source as a table: what is working and what veille is blind to."""
    table = Table("source", "state", "last event", "events/min", "lag", "last error", "gaps")
    if reported is not None:
        table.add_column("reported")
    for health in report:
        at = (reported or {}).get(health.name)
        extra = [at.isoformat(timespec="seconds") if at else "-"] if reported is not None else []
        table.add_row(
            health.name,
            f"{health.state.value} {health.detail}".strip(),
            health.last_event_at.isoformat(timespec="seconds") if health.last_event_at else "-",
            f"{health.events_per_minute:.0f}",
            f"{health.lag_seconds:.0f}s" if health.lag_seconds is not None else "-",
            health.last_error or "-",
            "; ".join(f"{g.start:%H:%M}-{g.end:%H:%M} {g.reason}" for g in health.gaps) or "-",
            *extra,
        )
    return table
