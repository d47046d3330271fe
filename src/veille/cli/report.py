"""``veille report``: the temperature of a window as an HTML page or a PDF file."""

from __future__ import annotations

from pathlib import Path

import click

from veille.cli.read import open_read_store, parse_duration
from veille.clock import utcnow
from veille.trends.report import gather, render_html, render_pdf


@click.command("report")
@click.option("--since", default="7d", show_default=True, help="Window: 24h, 7d, 2w …")
@click.option(
    "--format", "fmt", type=click.Choice(["html", "pdf"]), default="html", show_default=True
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--rule", "rules", multiple=True, help="Only these rules (a watch list); repeatable.")
@click.option("--title", default="veille — temperature report", show_default=True)
def report(since: str, fmt: str, out: Path, rules: tuple[str, ...], title: str) -> None:
    """Volume and sentiment charts, spikes, top conversations, alerts and how they were handled."""
    until = utcnow()
    store = open_read_store()
    try:
        data = gather(store.engine, until - parse_duration(since), until, rules=rules, title=title)
    finally:
        store.close()
    try:
        body = render_html(data).encode("utf-8") if fmt == "html" else render_pdf(data)
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None
    out.write_bytes(body)
    click.echo(f"wrote {out} ({len(body):,} bytes, {data.total.volume} posts)")
