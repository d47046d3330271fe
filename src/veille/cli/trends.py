"""``veille trends``: the temperature in the terminal; ``rebuild`` and ``check`` the rollups."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import click
from rich.console import Console
from rich.table import Table

from veille.cli.read import open_read_store, parse_duration
from veille.clock import utcnow
from veille.config import load_settings
from veille.rules import load
from veille.store import trends as st
from veille.store.engine import write_transaction
from veille.trends.rollup import Bucket, Dimension, Granularity, floor
from veille.trends.service import check_spikes, signal_json

BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float]) -> str:
    """One character per value, eight heights; an all-zero series is a flat baseline."""
    top = max(values, default=0)
    if top <= 0:
        return BARS[0] * len(values)
    return "".join(BARS[min(7, round(v / top * 7))] for v in values)


def _mood(bucket: Bucket) -> str:
    if not bucket.volume:
        return "–"
    return f"{bucket.net_sentiment:+.2f} ({bucket.negative_share:.0%} neg)"


def _tags_of(paths: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Tags of the configured rules; rules that do not load are reported and contribute none."""
    loaded = load(paths)
    for d in loaded.errors:
        click.echo(d.format(), err=True)
    return {r.id: r.tags for r in loaded.rules}


@click.group("trends", invoke_without_command=True)
@click.option("--since", default="24h", show_default=True, help="Window: 90m, 12h, 7d …")
@click.option("--top", default=8, show_default=True, type=click.IntRange(1, 100))
@click.pass_context
def trends(ctx: click.Context, since: str, top: int) -> None:
    """Volume and mood per rule, tag, platform and language, hour by hour, with sparklines."""
    if ctx.invoked_subcommand is not None:
        return
    window = parse_duration(since)
    granularity: Granularity = "hour" if window <= timedelta(days=3) else "day"
    until = utcnow()
    start = floor(until - window, granularity)
    store = open_read_store()
    console = Console()
    table = Table(title=f"Temperature since {start:%Y-%m-%d %H:%M} UTC, per {granularity}")
    for column in ("what", "posts", granularity + "ly volume", "net sentiment", "top terms"):
        table.add_column(column, justify="right" if column == "posts" else "left")
    with store.engine.connect() as conn:
        rows: list[tuple[Dimension, str]] = [("all", "")]
        dims: tuple[Dimension, ...] = ("rule", "tag", "platform", "lang")
        for dim in dims:
            rows += [(dim, v) for v, _ in st.top_values(conn, dim, start, until, limit=top)]
        for dim, value in rows:
            series = st.series(conn, granularity, dim, value, start, until)
            total = Bucket()
            for _, b in series:
                total.add(b)
            terms = st.top_terms(conn, dim, value, "word", start, until, limit=4)
            table.add_row(
                "everything" if dim == "all" else f"{dim} {value}",
                str(total.volume),
                sparkline([b.volume for _, b in series]),
                _mood(total),
                ", ".join(t for t, _ in terms),
            )
    console.print(table)
    store.close()


@trends.command("rebuild")
@click.option("--since", default=None, help="Only from this far back (whole days): 7d, 2w …")
def rebuild(since: str | None) -> None:
    """Recompute the rollups from the archive (tags from the configured rule files)."""
    settings = load_settings()
    start: datetime | None = utcnow() - parse_duration(since) if since else None
    store = open_read_store()
    with write_transaction(store.engine) as conn:
        counted = st.rebuild(conn, _tags_of(settings.rules.paths), since=start)
    store.close()
    click.echo(f"rebuilt the rollups from {counted} posts")


@trends.command("check")
@click.option(
    "--sensitivity", type=click.Choice(["low", "medium", "high"]), default=None,
    help="Default: [trends] sensitivity.",
)  # fmt: skip
def check(sensitivity: str | None) -> None:
    """Print the spikes of the last complete hour as JSON lines (what ``veille run`` alerts)."""
    level = sensitivity or load_settings().trends.sensitivity
    store = open_read_store()
    with store.engine.connect() as conn:
        signals = check_spikes(conn, utcnow(), level)  # type: ignore[arg-type]
    store.close()
    for signal in signals:
        click.echo(signal_json(signal).decode())
    if not signals:
        click.echo("no spike in the last complete hour", err=True)
