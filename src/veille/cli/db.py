"""``veille db``: the database schema (migrations) and what the store holds."""

from __future__ import annotations

import click

from veille.config import load_settings
from veille.store import StoreError, create_engine
from veille.store.migrate import current, head, upgrade


def _url(url: str | None, config: str | None) -> str:
    return url or load_settings(config).store.url


_URL = click.option("--url", help="Database URL (default: [store] url of the configuration).")
_CONFIG = click.option("--config", "config", help="Configuration file (default: ./veille.toml).")


@click.group()
def db() -> None:
    """Database schema and contents."""


@db.command("upgrade")
@_URL
@_CONFIG
def upgrade_command(url: str | None, config: str | None) -> None:
    """Apply the migrations the database lacks (opening the store does it too)."""
    try:
        engine = create_engine(_url(url, config))
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        before = current(engine)
        upgrade(engine)
        after = current(engine)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        engine.dispose()
    if before == after:
        click.echo(f"schema already at {after}")
    else:
        click.echo(f"schema upgraded from {before or 'empty'} to {after}")


@db.command("current")
@_URL
@_CONFIG
def current_command(url: str | None, config: str | None) -> None:
    """Print the schema revision of the database and the one this veille expects."""
    try:
        engine = create_engine(_url(url, config))
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        found = current(engine)
    finally:
        engine.dispose()
    expected = head()
    state = "up to date" if found == expected else "needs `veille db upgrade`"
    click.echo(f"database: {found or 'empty'}  code: {expected}  ({state})")
