"""``veille draft``: check a text before posting it (professional secrecy)."""

from __future__ import annotations

import sys
from typing import Final

import click
import msgspec
from rich.console import Console
from rich.text import Text

from veille.config import load_settings
from veille.enrich.draft import MAX_DRAFT_CHARS, DraftReview, DraftTooLong, checker_from_settings
from veille.rules.files import RuleFileError

EXIT: Final = {"ok": 0, "check": 3, "stop": 4}
"""Exit status per verdict, so that a publishing script can refuse a ``stop``."""
_STYLE: Final = {"stop": "bold white on red", "check": "black on yellow"}


@click.command("draft")
@click.argument("text", required=False)
@click.option(
    "--lang", default="", help="Language of the draft (fr, nl, de, en); default: guessed."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of the report.")
def draft(text: str | None, lang: str, as_json: bool) -> None:
    """Check TEXT (or standard input) for what must not be posted: personal data, protected names,
    case references, internal markers, secrecy rules. Nothing of the draft is stored.

    Exit status: 0 nothing found, 3 look again before posting, 4 do not post as is.
    """
    if text is None or text == "-":
        text = sys.stdin.read(MAX_DRAFT_CHARS + 2).removesuffix("\n")
    try:
        checker = checker_from_settings(load_settings())
    except RuleFileError as exc:
        raise click.ClickException(f"the secrecy rules cannot be loaded:\n{exc}") from None
    try:
        review = checker.review(text, lang)
    except DraftTooLong as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(msgspec.json.encode(review).decode())
    else:
        _report(Console(highlight=False), text, review)
    sys.exit(EXIT[review.verdict])


def _report(console: Console, text: str, review: DraftReview) -> None:
    marked = Text(text)
    for issue in review.issues:
        marked.stylize(_STYLE[issue.level], issue.start, issue.end)
    console.print(marked)
    console.print()
    for issue in review.issues:
        where = Text(f" {issue.level.upper()} ", style=_STYLE[issue.level])
        console.print(where + Text(f" {text[issue.start : issue.end]!r}: {issue.why}"))
        console.print(Text(f"   → {issue.advice}"))
    checked = (
        f"{review.secrecy_rules} secrecy rule(s)" if review.secrecy_rules else "no secrecy rule"
    )
    verdict = {
        "ok": "Nothing found",
        "check": "Look again before posting",
        "stop": "Do not post this as it is",
    }[review.verdict]
    console.print(Text(f"{verdict} (language {review.lang}; detectors and {checked} checked)."))
