"""``veille web`` (the dashboard and API) and ``veille retention run``."""

from __future__ import annotations

import asyncio
import contextlib

import click

from veille.cli.run import open_store
from veille.cli.users import cli_actor
from veille.config import load_settings
from veille.store.retention import Policy, Retention


@click.command("web")
@click.option("--host", default=None, help="Address to listen on (default: [web] host).")
@click.option("--port", default=None, type=int, help="Port (default: [web] port).")
def web(host: str | None, port: int | None) -> None:
    """Serve the dashboard and the JSON API (OpenAPI at /api/docs).

    Create the first account with `veille users add NAME --role admin`. The retention job
    runs inside this server every [retention] interval_hours.
    """
    import uvicorn

    from veille.web import create_app
    from veille.web.jobs import retention_loop

    settings = load_settings()
    conf = settings.web
    with open_store(settings) as store:
        app = create_app(settings, store)

        async def main() -> None:
            stop = asyncio.Event()
            job = asyncio.create_task(retention_loop(app.state.web, stop))
            try:
                config = uvicorn.Config(app, host=host or conf.host, port=port or conf.port)
                await uvicorn.Server(config).serve()
            finally:
                stop.set()
                with contextlib.suppress(asyncio.CancelledError):
                    await job

        click.echo(f"veille dashboard on http://{host or conf.host}:{port or conf.port}/")
        asyncio.run(main())


@click.group("retention")
def retention() -> None:
    """Delete data whose keep period is over ([retention] in veille.toml)."""


@retention.command("run")
def run_retention() -> None:
    """Apply the retention policy now (deletions cascade and are audited)."""
    settings = load_settings()
    with open_store(settings) as store:
        purged = Retention(store.engine).run(
            Policy.from_settings(settings.retention), actor=cli_actor()
        )
    click.echo(
        f"deleted {purged.posts} posts, {purged.conversations} conversations, "
        f"{purged.alerts} alerts, {purged.quarantine} quarantined records"
    )
    for key, count in sorted(purged.by.items()):
        click.echo(f"  {key}: {count}")
