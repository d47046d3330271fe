"""``veille backfill``: run new or changed rules over the stored archive."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from veille.cli.read import open_read_store, parse_duration
from veille.cli.run import load_catalogue
from veille.clock import utcnow
from veille.match.matcher import Matcher
from veille.model import Match
from veille.normalise.fold import fold

PAGE = 1000


@click.command("backfill")
@click.option(
    "--rules",
    "paths",
    multiple=True,
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="Rule file or folder to run (repeatable).",
)
@click.option("--since", default="30d", show_default=True, help="How far back: 90m, 12h, 30d, 2w.")
def backfill(paths: tuple[Path, ...], since: str) -> None:
    """Run rules over stored posts of the last DURATION; record the matches as backfilled.

    Conversations of matched posts are flagged as if the rules had run live. A match already
    recorded for the same rule version and post text is not recorded twice, so running a
    backfill again is harmless.
    """
    window = parse_duration(since)
    catalogue = load_catalogue([str(p) for p in paths])
    console = Console(stderr=True)
    with open_read_store() as store:
        matcher = Matcher(catalogue.rules, store.versions)
        now = utcnow()
        start = now - window
        total_seconds = max(window.total_seconds(), 1.0)
        scanned = 0
        recorded = 0
        per_rule: Counter[str] = Counter()
        progress = Progress(
            TextColumn("[bold]backfill"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}% of the window ·"),
            TextColumn("{task.description} posts scanned"),
            TimeElapsedColumn(),
            console=console,
        )
        with progress:
            # Progress is measured in archive time: posts come in creation order.
            task = progress.add_task("0", total=int(total_seconds))
            for page in store.iter_posts(since=start, until=now, batch_size=PAGE):
                found: list[tuple[int, list[Match]]] = []
                for stored in page:
                    matches = matcher.match(stored.post, fold(stored.post.text))
                    if matches:
                        found.append((stored.id, matches))
                        per_rule.update(m.rule for m in matches)
                if found:
                    recorded += store.record_matches(found, backfilled=True)
                scanned += len(page)
                last = page[-1].post.created_at or now
                progress.update(
                    task,
                    completed=int((last - start).total_seconds()),
                    description=f"{scanned:,}",
                )
            progress.update(task, completed=int(total_seconds))
    table = Table(title=f"{scanned:,} posts scanned, {recorded:,} new matches recorded")
    table.add_column("rule")
    table.add_column("posts matched", justify="right")
    for rule in catalogue.rules:
        table.add_row(rule.id, f"{per_rule.get(rule.id, 0):,}")
    Console().print(table)
