"""``veille init``: a commented ``veille.toml`` and starter rule files in FR, NL, DE and EN."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from veille.demo import INIT


@click.command("init")
@click.argument(
    "directory", default=".", type=click.Path(file_okay=False, path_type=Path), required=False
)
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
def init(directory: Path, force: bool) -> None:
    """Write veille.toml and rules/{fr,nl,de,en}.toml into DIRECTORY (default: here)."""
    wanted = [Path("veille.toml"), *(Path("rules") / p.name for p in sorted(INIT.glob("rules/*")))]
    existing = [p for p in wanted if (directory / p).exists()]
    if existing and not force:
        names = ", ".join(str(directory / p) for p in existing)
        raise click.ClickException(f"{names} already exist(s); use --force to overwrite")
    for relative in wanted:
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(INIT / relative, target)
        click.echo(f"wrote {target}")
    click.echo(
        "\nNext: edit the rules, check them with `veille rules check rules/`, then "
        "`veille run --replay posts.jsonl` or `veille demo`."
    )
