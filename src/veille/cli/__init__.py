"""The ``veille`` command: thin click commands over the library, one module per command group."""

from __future__ import annotations

import click

from veille import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="veille")
def main() -> None:
    """veille: watch public social media for an institution, flag conversations, raise alerts."""


# Command modules register themselves below; keep this list sorted.

from veille.cli.alerts import alerts  # noqa: E402
from veille.cli.analyze import analyze  # noqa: E402
from veille.cli.audit import audit  # noqa: E402
from veille.cli.backfill import backfill  # noqa: E402
from veille.cli.db import db  # noqa: E402
from veille.cli.draft import draft  # noqa: E402
from veille.cli.eval import eval_group  # noqa: E402
from veille.cli.eval_temperature import eval_language, eval_sentiment  # noqa: E402
from veille.cli.ingest import ingest  # noqa: E402
from veille.cli.init import init  # noqa: E402
from veille.cli.match import match  # noqa: E402
from veille.cli.protected import protected  # noqa: E402
from veille.cli.read import conversations, search, show  # noqa: E402
from veille.cli.report import report  # noqa: E402
from veille.cli.rules import rules  # noqa: E402
from veille.cli.run import demo, run  # noqa: E402
from veille.cli.sources import sources  # noqa: E402
from veille.cli.trends import trends  # noqa: E402
from veille.cli.users import teams, users  # noqa: E402
from veille.cli.web import retention, web  # noqa: E402

main.add_command(alerts)
main.add_command(analyze)
main.add_command(audit)
main.add_command(backfill)
main.add_command(conversations)
main.add_command(db)
main.add_command(demo)
main.add_command(draft)
main.add_command(eval_group)
eval_group.add_command(eval_language)
eval_group.add_command(eval_sentiment)
main.add_command(ingest)
main.add_command(init)
main.add_command(match)
main.add_command(protected)
main.add_command(report)
main.add_command(retention)
main.add_command(rules)
main.add_command(run)
main.add_command(search)
main.add_command(show)
main.add_command(sources)
main.add_command(teams)
main.add_command(trends)
main.add_command(users)
main.add_command(web)
