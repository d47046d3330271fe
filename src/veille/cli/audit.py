"""``veille audit``: verify the hash chain of the audit log, print its head, show entries."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from veille.cli.run import open_store
from veille.config import load_settings
from veille.store.audit import AuditLog


@click.group("audit")
def audit() -> None:
    """The append-only, hash-chained audit log."""


def _log() -> AuditLog:
    return AuditLog(open_store(load_settings()).engine)


def _expected(value: str | None) -> tuple[int, str] | None:
    if not value:
        return None
    entry, sep, digest = value.partition(":")
    if not sep or not entry.isdigit() or len(digest) != 64:
        raise click.BadParameter("give ID:HASH as printed by `veille audit head`")
    return int(entry), digest.lower()


@audit.command("verify")
@click.option(
    "--expect",
    metavar="ID:HASH",
    help="A head recorded earlier (`veille audit head`): detects a log cut short.",
)
def verify(expect: str | None) -> None:
    """Recompute every hash; exit 1 and say where if any entry was changed or removed."""
    result = _log().verify(_expected(expect))
    if result.ok:
        click.echo(f"ok: {result.entries} entries, head {result.head_id}:{result.head_hash}")
        return
    click.echo(
        f"TAMPERED: {result.problem} ({result.entries} entries verified before it)", err=True
    )
    raise SystemExit(1)


@audit.command("head")
def head() -> None:
    """Print ID:HASH of the last entry: keep it elsewhere and verify against it later."""
    entry, digest = _log().head()
    click.echo(f"{entry}:{digest}")


@audit.command("show")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--actor", default=None)
@click.option("--action", default=None)
def show(limit: int, actor: str | None, action: str | None) -> None:
    """The latest entries."""
    table = Table("#", "when", "who", "action", "on", "why")
    for e in _log().entries(limit=limit, actor=actor, action=action):
        table.add_row(
            str(e.id),
            e.at.strftime("%Y-%m-%d %H:%M:%S"),
            e.actor,
            e.action,
            e.target[:80],
            e.reason[:80],
        )
    Console().print(table)
