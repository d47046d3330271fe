"""``veille eval sentiment`` and ``veille eval language``: the temperature stages on labelled
data they never saw (registered on the ``eval`` group of ``veille.cli.eval``)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from veille.cli.eval import DATA_HELP, shared_data
from veille.config import load_settings
from veille.enrich.evaluate import Score, language_scores, sentiment_scores
from veille.enrich.sentiment import ModelFileError, load_backend
from veille.normalise.language import LanguageDetector


def _data_dir(data: str | None) -> Path | None:
    """The labelled public data folder, or None (then only veille's own Dutch set is scored)."""
    folder = shared_data(data)
    if folder is not None and not (folder / "sentiment").is_dir():
        raise click.BadParameter(f"{folder} has no sentiment/ folder", param_hint="--data")
    return folder


_DATA_OPTION = click.option("--data", "data", default=None, help=DATA_HELP)
_CONFIG_OPTION = click.option(
    "--config", type=click.Path(dir_okay=False), default=None, help="Settings file."
)


@click.command("sentiment")
@_DATA_OPTION
@_CONFIG_OPTION
def eval_sentiment(data: str | None, config: str | None) -> None:
    """Macro-F1 per language on the XLM-T val split (FR/DE/EN) and veille's Dutch sentences."""
    folder = _data_dir(data)
    cfg = load_settings(config).sentiment
    try:
        backend = load_backend(cfg.backend, cfg.model_path)
    except (ModelFileError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    scores = sentiment_scores(backend, folder)
    table = Table(title=f"sentiment ({cfg.backend} backend)")
    for column in ("set", "n", "macro-F1", "accuracy"):
        table.add_column(column, justify="left" if column == "set" else "right")
    for s in scores:
        table.add_row(s.name, str(s.n), f"{s.macro_f1:.3f}", f"{s.accuracy:.3f}")
    Console().print(table)
    main = [s for s in scores if s.name.split()[0] in ("fr", "de", "en")]
    if main:
        mean = sum(s.macro_f1 for s in main) / len(main)
        click.echo(f"mean macro-F1 over FR/DE/EN: {mean:.3f} (target 0.62)")
    else:
        click.echo("no ../shared/data: only the Dutch sentences were scored", err=True)


@click.command("language")
@_DATA_OPTION
@_CONFIG_OPTION
def eval_language(data: str | None, config: str | None) -> None:
    """Accuracy and undetermined share on texts whose language is known."""
    cfg = load_settings(config).language
    try:
        detector = LanguageDetector(cfg.languages, min_confidence=cfg.min_confidence)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    scores: list[Score] = language_scores(detector, _data_dir(data))
    table = Table(title=f"language ({', '.join(detector.languages)} or und)")
    for column in ("set", "n", "accuracy", "und"):
        table.add_column(column, justify="left" if column == "set" else "right")
    for s in scores:
        table.add_row(s.name, str(s.n), f"{s.accuracy:.3f}", f"{s.und:.3f}")
    Console().print(table)
