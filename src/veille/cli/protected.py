"""``veille protected``: keep the list of protected staff (hashed names, opaque labels)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from veille.config import load_settings
from veille.enrich.protected import MAX_WORDS, ProtectedList

FILE_HELP = "Protected-names file (default: [detect.protected] path)."
MAX_NAME_CHARS = 200


def _target(file: str | None, config: str | None) -> tuple[Path, str]:
    settings = load_settings(config).detect.protected
    path = file or settings.path
    if not path:
        raise click.UsageError("no file: give --file or set [detect.protected] path")
    return Path(path), settings.pepper


def _open(path: Path, pepper: str, create: bool = False) -> ProtectedList:
    if create and not path.exists():
        return ProtectedList.new(pepper)
    try:
        return ProtectedList.load(path, pepper)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group("protected")
def protected() -> None:
    """Protected staff: names are folded like rules fold text, then stored as keyed hashes.

    Names are read from stdin, never from the command line (which shells keep in their
    history and other users see in the process list). Alerts and logs show the label only.
    """


@protected.command("add")
@click.option("--file", "file", type=click.Path(dir_okay=False), help=FILE_HELP)
@click.option("--config", type=click.Path(dir_okay=False), help="Settings file.")
def add(file: str | None, config: str | None) -> None:
    """Add people from stdin, one per line: NAME<TAB>LABEL (e.g. "Jan Peeters<TAB>officer 4711").

    The label is what explanations and alerts show instead of the name. A bad line is reported
    with its number and nothing is written."""
    path, pepper = _target(file, config)
    names = _open(path, pepper, create=True)
    errors = []
    added = 0
    for number, line in enumerate(sys.stdin, 1):
        line = line.rstrip("\n")
        if not line.strip():
            continue
        name, tab, label = line.partition("\t")
        try:
            if not tab:
                raise ValueError("expected NAME<TAB>LABEL")
            if len(name) > MAX_NAME_CHARS:
                raise ValueError(f"name longer than {MAX_NAME_CHARS} characters")
            names.add(name, label.strip())
            added += 1
        except ValueError as exc:
            errors.append(f"line {number}: {exc}")
    if errors:
        for error in errors:
            click.echo(error, err=True)
        raise SystemExit(1)
    names.save(path)
    click.echo(f"{added} added, {len(names)} protected in {path} (names of 1 to {MAX_WORDS} words)")


@protected.command("remove")
@click.argument("label")
@click.option("--file", "file", type=click.Path(dir_okay=False), help=FILE_HELP)
@click.option("--config", type=click.Path(dir_okay=False), help="Settings file.")
def remove(label: str, file: str | None, config: str | None) -> None:
    """Stop protecting the person(s) with LABEL."""
    path, pepper = _target(file, config)
    names = _open(path, pepper)
    removed = names.remove(label)
    if not removed:
        raise click.ClickException(f"no entry labelled {label!r} in {path}")
    names.save(path)
    click.echo(f"{removed} removed, {len(names)} protected")


@protected.command("list")
@click.option("--file", "file", type=click.Path(dir_okay=False), help=FILE_HELP)
@click.option("--config", type=click.Path(dir_okay=False), help="Settings file.")
def list_labels(file: str | None, config: str | None) -> None:
    """Labels and word counts (names cannot be shown: the file does not hold them)."""
    path, pepper = _target(file, config)
    for entry in sorted(_open(path, pepper).entries.values()):
        click.echo(f"{entry.label}\t{entry.words} word(s)")
