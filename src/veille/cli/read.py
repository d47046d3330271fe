"""Read commands over the store: ``veille conversations``, ``veille show``, ``veille search``."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import click
import msgspec
from rich.console import Console
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from veille.cli.console import highlighted, safe
from veille.clock import utcnow
from veille.config import load_settings
from veille.conversations import Conversation
from veille.model import Match
from veille.rules.parser import QueryError
from veille.store import Store, ThreadNode

_DURATION = re.compile(r"(\d+)\s*([mhdw])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """``90m``, ``12h``, ``30d``, ``2w`` as a timedelta (a clear error otherwise)."""
    found = _DURATION.fullmatch(text.strip().lower())
    if found is None:
        raise click.BadParameter(f"{text!r}: write a number and a unit: 90m, 12h, 30d, 2w")
    return timedelta(**{_UNITS[found[2]]: int(found[1])})


def since_option(text: str | None) -> datetime | None:
    """The start of a ``--since`` window, from now."""
    return None if text is None else utcnow() - parse_duration(text)


def open_read_store() -> Store:
    """The configured store, for reading (migrated if needed)."""
    settings = load_settings()
    try:
        return Store.from_settings(settings)
    except Exception as exc:
        raise click.ClickException(f"cannot open the store {settings.store.url}: {exc}") from None


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "?"


@click.command("conversations")
@click.option("--limit", default=30, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--following", is_flag=True, help="Only conversations still being followed.")
@click.option("--since", metavar="DURATION", help="Active in the last 90m, 12h, 30d …")
@click.option("--json", "as_json", is_flag=True, help="JSON Lines instead of a table.")
def conversations(limit: int, following: bool, since: str | None, as_json: bool) -> None:
    """List flagged conversations, most recently active first."""
    with open_read_store() as store:
        found = store.conversations(limit=limit, following=following, since=since_option(since))
    if as_json:
        for conversation in found:
            click.echo(msgspec.json.encode(conversation).decode())
        return
    table = Table(title=f"{len(found)} flagged conversations", title_justify="left")
    for column in ("id", "conversation", "rules", "posts", "people", "flagged", "last", "until"):
        table.add_column(column, overflow="fold")
    for c in found:
        table.add_row(
            str(c.id),
            Text(safe(f"{c.platform}:{c.root}", 80)),
            Text(", ".join(sorted(c.rules))),
            str(c.post_count),
            str(c.participants),
            _when(c.flagged_at),
            _when(c.last_activity),
            _when(c.follow_until),
        )
    Console().print(table)
    if found:
        click.echo("Show one: veille show ID (or PLATFORM:ROOT)")


def _reference(text: str) -> int | str:
    return int(text) if text.isdigit() else text


@click.command("show")
@click.argument("conversation")
@click.option("--limit", default=1000, show_default=True, type=click.IntRange(1, 100_000))
def show(conversation: str, limit: int) -> None:
    """Print a conversation as a thread: CONVERSATION is its id or PLATFORM:ROOT."""
    with open_read_store() as store:
        found = store.conversation(_reference(conversation))
        if found is not None:
            platform, root = found.platform, found.root
        elif ":" in conversation:  # a thread that no rule flagged can still be read
            platform, _, root = conversation.partition(":")
        else:
            raise click.ClickException(
                f"no conversation {conversation!r}: see `veille conversations`"
            )
        nodes = store.thread(platform, root, limit=limit)
    if not nodes:
        raise click.ClickException(f"no stored post in conversation {conversation!r}")
    console = Console()
    console.print(_header(found, platform, root))
    for node in nodes:
        tree = Tree(_node_label(node))
        _add_replies(tree, node)
        console.print(tree)


def _header(found: Conversation | None, platform: str, root: str) -> Text:
    title = Text(safe(f"{platform}:{root}", 200), style="bold")
    if found is None:
        return title + Text(" (not flagged)")
    return title + Text(
        f" · flagged {_when(found.flagged_at)} · rules {', '.join(sorted(found.rules))} · "
        f"{found.post_count} posts · {found.participants} people · "
        f"followed until {_when(found.follow_until)}"
    )


def _node_label(node: ThreadNode) -> Text:
    stored = node.post
    post = stored.post
    matches: list[Match] = [m.match for m in stored.matches]
    label = Text(f"{_when(post.created_at)} @{safe(post.author.handle, 60)} ", style="dim")
    if post.deleted:
        label.append("[deleted] ", style="red")
    label += highlighted(post, matches, width=280)
    if matches:
        label.append("  ← " + ", ".join(sorted({m.rule for m in matches})), style="bold yellow")
    return label


def _add_replies(tree: Tree, node: ThreadNode) -> None:
    for reply in node.replies:
        _add_replies(tree.add(_node_label(reply)), reply)


@click.command("search")
@click.argument("query")
@click.option("--since", metavar="DURATION", help="Only posts created in the last 90m, 12h, 30d …")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True, help="JSON Lines instead of a table.")
def search(query: str, since: str | None, limit: int, as_json: bool) -> None:
    """Search the archive with QUERY written in the rule language (try a rule before saving it).

    Example: veille search '(manif* OR betoging) AND lang:fr' --since 7d
    """
    with open_read_store() as store:
        try:
            result = store.search(query, since=since_option(since), limit=limit)
        except QueryError as exc:
            pointer = " " * exc.start + "^" * (exc.end - exc.start)
            raise click.ClickException(f"{exc.message}\n  {query}\n  {pointer}") from None
    if as_json:
        for hit in result.hits:
            click.echo(msgspec.json.encode({"post": hit.post.post, "match": hit.match}).decode())
        return
    how = "full-text index" if result.indexed else "scan"
    more = "" if result.complete else "; more may match: raise --limit or narrow the query"
    table = Table(
        title=f"{len(result.hits)} posts ({result.candidates} candidates by {how}{more})",
        title_justify="left",
    )
    for column in ("created", "post", "author", "text"):
        table.add_column(column, overflow="fold")
    for hit in result.hits:
        post = hit.post.post
        table.add_row(
            _when(post.created_at),
            Text(safe(f"{post.platform}:{post.native_id}", 60)),
            Text("@" + safe(post.author.handle, 60)),
            highlighted(post, [hit.match], width=200),
        )
    Console().print(table)
