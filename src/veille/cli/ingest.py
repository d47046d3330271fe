"""``veille ingest``: run the sources and publish their items on the NATS bus for workers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

import click

from veille.cli.run import (
    http_ingest_source,
    load_catalogue,
    open_store,
    replay_and_live_sources,
    source_options,
)
from veille.config import load_settings
from veille.model import Quarantined
from veille.sources.http_ingest import create_app, serve

log = logging.getLogger("veille")


@click.command("ingest")
@click.option("--bus", metavar="URL", help="NATS server(s) (default: [bus] url).")
@source_options
@click.option("--quiet", is_flag=True, help="No summary at the end.")
def ingest(
    bus: str | None,
    replays: tuple[str, ...],
    platform: str,
    follow: bool,
    from_start: bool,
    ingest: bool | None,
    quiet: bool,
) -> None:
    """Run the sources and publish their items on the bus, for `veille run --bus` workers.

    A source's cursor is saved in the store only once the bus acknowledged its items; after a
    crash the repeated items are dropped by the bus's duplicate window. Ctrl-C (or SIGTERM)
    stops reading and saves what was published; a second one exits at once.
    """
    from veille.bus.ingest import Ingester
    from veille.bus.nats import BusError, Publisher, connect, ensure_stream

    settings = load_settings()
    if bus:
        settings = settings.model_copy(update={"bus": settings.bus.model_copy(update={"url": bus})})
    # The rules tell the X connector which stream rules to ask for.
    catalogue = load_catalogue(settings.rules.paths)
    sources = replay_and_live_sources(settings, catalogue, replays, platform, follow)
    servers = []
    if ingest if ingest is not None else settings.ingest.enabled:
        http = http_ingest_source(settings)
        sources.append(http)
        servers.append(serve(create_app(http), settings.ingest.host, settings.ingest.port))
    if not sources:
        raise click.ClickException(
            "nothing to ingest: give --replay FILE (or - for stdin), enable [ingest] or a source "
            "in [sources]"
        )
    with open_store(settings) as store:
        cursors = store.cursors()
        if from_start:
            for source in sources:
                cursors.pop(source.name, None)

        def save(name: str, cursor: str | None, quarantined: Sequence[Quarantined]) -> None:
            store.write_batch(
                [], cursors={name: cursor} if cursor else None, rejected=quarantined, source=name
            )

        async def main() -> Ingester:
            client = await connect(settings.bus)
            try:
                await ensure_stream(client.jetstream(), settings.bus)
                ingester = Ingester(sources, Publisher(client, settings.bus), save, cursors)
                ingester.install_signal_handlers()
                tasks = [asyncio.create_task(server) for server in servers]
                try:
                    await ingester.run()
                finally:
                    for task in tasks:
                        task.cancel()
                    for task in tasks:
                        with contextlib.suppress(asyncio.CancelledError):
                            await task
                return ingester
            finally:
                with contextlib.suppress(Exception):
                    await client.close()

        try:
            done = asyncio.run(main())
        except BusError as exc:
            raise click.ClickException(str(exc)) from None
    if not quiet:
        stats, publisher = done.stats, done.publisher
        click.echo(
            f"published {stats.received} items ({publisher.duplicates} already on the bus) "
            f"at {stats.rate():,.0f}/s; {stats.quarantined} quarantined"
        )
