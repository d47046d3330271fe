"""``veille rules check`` and ``veille rules test``: the rule author's tools."""

from __future__ import annotations

import sys
import unicodedata
from collections.abc import Sequence

import click
import msgspec

from veille.match import Matcher
from veille.model import Author, Match, Post
from veille.rules import Rule, check, load
from veille.rules.files import Loaded


def visible(text: str) -> str:
    """Post text for a terminal: line breaks as spaces, other control characters replaced."""
    return "".join(
        " "
        if c in "\n\r\t"
        else "\ufffd"
        if unicodedata.category(c) in ("Cc", "Cf", "Cs") and c != "\u200d"
        else c
        for c in text
    )


def mark(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """``text`` with each span wrapped in ``[…]``."""
    out, pos = [], 0
    for start, end in spans:
        out += [visible(text[pos:start]), "[", visible(text[start:end]), "]"]
        pos = end
    out.append(visible(text[pos:]))
    return "".join(out)


def load_or_exit(files: Sequence[str]) -> list[Rule]:
    """Rules from ``files``; on any error print every diagnostic and exit with status 2."""
    loaded = load(files)
    if loaded.errors:
        for d in loaded.errors:
            click.echo(d.format(), err=True)
        raise SystemExit(2)
    if not loaded.rules:
        click.echo("no rule loaded (empty files?)", err=True)
        raise SystemExit(2)
    return loaded.rules


@click.group()
def rules() -> None:
    """Check and try watch rules (the language is described in docs/rules.md)."""


@rules.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path())
@click.option("--strict", is_flag=True, help="Exit with status 1 on warnings too.")
def check_command(files: tuple[str, ...], strict: bool) -> None:
    """Validate rule FILES (or folders of *.toml): errors with file, line and column, and
    warnings (rules that can never match, duplicate ids, broad wildcards, NOT-only rules)."""
    loaded: Loaded = load(files)
    diagnostics = loaded.diagnostics + check(loaded.rules)
    for d in sorted(diagnostics, key=lambda d: (d.file, d.line, d.column)):
        click.echo(d.format())
    errors = len(loaded.errors)
    warnings = len(diagnostics) - errors
    click.echo(
        f"{len(loaded.rules)} rule(s) ok, {errors} error(s), {warnings} warning(s)",
        err=bool(errors),
    )
    if errors or (strict and warnings):
        raise SystemExit(1)


def _describe(match: Match, rule: Rule, text: str) -> list[str]:
    head = f"{rule.id} (v{match.version}, {rule.severity})"
    if rule.name:
        head += f": {rule.name}"
    lines = [head, "  " + mark(text, match.spans)]
    for term, spans in match.terms.items():
        where = ", ".join(f"{s}-{e} {visible(text[s:e])!r}" for s, e in spans)
        lines.append(f"  {term}: {where}")
    if not match.terms:
        lines.append("  (matched by filters or exclusions only: nothing to highlight)")
    return lines


@rules.command("test")
@click.option(
    "--rules", "files", multiple=True, required=True, type=click.Path(), help="Rule file(s)."
)
@click.option("--lang", default="", help="Language of the text (for lang: filters).")
@click.option("--platform", default="", help="Platform (for platform: filters).")
@click.option("--author", default="", help="Author handle (for author: filters).")
@click.option("--link", "links", multiple=True, help="A link of the post (for domain: filters).")
@click.option("--json", "as_json", is_flag=True, help="Print the matches as JSON.")
@click.argument("text")
def test_command(
    files: tuple[str, ...],
    lang: str,
    platform: str,
    author: str,
    links: tuple[str, ...],
    as_json: bool,
    text: str,
) -> None:
    """Show which rules match TEXT and why, with the matched spans marked [like this]."""
    catalogue = load_or_exit(files)
    by_id = {r.id: r for r in catalogue}
    post = Post(
        platform=platform,
        native_id="test",
        text=text,
        lang=lang,
        author=Author(handle=author),
        links=links,
    )
    matches = Matcher(catalogue).match(post)
    if as_json:
        sys.stdout.buffer.write(msgspec.json.encode(matches) + b"\n")
        return
    if not matches:
        click.echo(f"no rule matches ({len(catalogue)} rule(s) tried)")
        return
    for match in matches:
        click.echo("\n".join(_describe(match, by_id[match.rule], text)))
