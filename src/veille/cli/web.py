"""``veille web`` (the dashboard and API) and ``veille retention run``."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Coroutine, Sequence
from typing import Any

import click
from fastapi import APIRouter
from pydantic import ValidationError

from veille.cli.run import open_store
from veille.cli.users import cli_actor
from veille.config import Settings, load_settings
from veille.store import Store
from veille.store.accounts import Accounts
from veille.store.audit import AuditLog
from veille.store.retention import Policy, Retention
from veille.web.auth import hash_password, new_secret


@click.command("web")
@click.option("--host", default=None, help="Address to listen on (default: [web] host).")
@click.option("--port", default=None, type=int, help="Port (default: [web] port).")
def web(host: str | None, port: int | None) -> None:
    """Serve the dashboard and the JSON API (OpenAPI at /api/docs).

    Create the first account with `veille users add NAME --role admin`. The retention job
    runs inside this server every [retention] interval_hours.
    """
    try:
        settings = load_settings()
    except ValidationError as exc:
        raise click.ClickException(f"configuration: {exc}") from None
    web_conf = settings.web.model_copy(
        update={"host": host or settings.web.host, "port": port or settings.web.port}
    )
    settings = settings.model_copy(update={"web": web_conf})
    with open_store(settings) as store:
        click.echo(f"veille dashboard on http://{web_conf.host}:{web_conf.port}/")

        async def main() -> None:
            serving = asyncio.ensure_future(dashboard(settings, store))
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                # Ctrl-C or SIGTERM: stop accepting, close streams, finish requests, exit.
                loop.add_signal_handler(signum, serving.cancel)
            with contextlib.suppress(asyncio.CancelledError):
                await serving

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


def dashboard(
    settings: Settings,
    store: Store,
    *,
    rules: Sequence[str] | None = None,
    writable: bool = True,
    ingest: APIRouter | None = None,
) -> Coroutine[Any, Any, None]:
    """The dashboard (and the retention job) as a coroutine to run beside the pipeline.

    ``rules`` overrides ``[rules] paths`` (the demo's starter rules, read-only); ``ingest`` is
    the HTTP ingest source's router, served by the same server.
    """
    import uvicorn

    from veille.sources.http_ingest import QuietServer
    from veille.web import create_app
    from veille.web.jobs import retention_loop
    from veille.web.rulebook import Rulebook

    paths = list(rules) if rules is not None else settings.rules.paths
    try:
        app = create_app(
            settings,
            store,
            rulebook=Rulebook(paths, store.versions, writable=writable),
            ingest=ingest,
        )
    except ValueError as exc:  # e.g. [web.oidc] mapping to a team that does not exist
        raise click.ClickException(str(exc)) from None

    async def run() -> None:
        stop = asyncio.Event()
        job = asyncio.create_task(retention_loop(app.state.web, stop))
        config = uvicorn.Config(
            app,
            host=settings.web.host,
            port=settings.web.port,
            log_level="warning",
            timeout_graceful_shutdown=2,  # live streams are closed, not waited for
        )
        server = QuietServer(config)
        serving = asyncio.ensure_future(server.serve())
        try:
            await asyncio.shield(serving)
        finally:
            # Cancelled when the pipeline ends: shut down cleanly (sockets closed).
            server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await serving
            stop.set()
            with contextlib.suppress(asyncio.CancelledError):
                await job

    return run()


def demo_account(store: Store) -> str:
    """A line telling how to log in to the demo dashboard; creates the ``demo`` admin (with a
    random password, shown once) when the database has no account yet."""
    accounts = Accounts(store.engine)
    if accounts.list_users():
        return "log in with your account (`veille users add NAME --role admin` creates one)"
    password = new_secret()[:20]
    accounts.add_user("demo", "admin", password_hash=hash_password(password))
    AuditLog(store.engine).append(cli_actor(), "user.add", "demo", detail={"role": "admin"})
    return f"log in as demo / {password} (shown once; change it: veille users password demo)"
