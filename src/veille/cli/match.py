"""``veille match``: JSON Lines posts on stdin, one JSON line of matches per post on stdout."""

from __future__ import annotations

import sys

import click
import msgspec

from veille.cli.jsonl import JsonLines
from veille.cli.rules import load_or_exit
from veille.match import Matcher
from veille.model import Author, Post


class InputPost(msgspec.Struct):
    """One input line; only ``id`` and ``text`` are required, other keys are ignored."""

    id: str
    text: str
    lang: str = ""
    platform: str = ""
    author: str = ""
    links: list[str] = msgspec.field(default_factory=list)


class OutputMatch(msgspec.Struct):
    rule: str
    version: int
    spans: list[tuple[int, int]]
    terms: dict[str, list[tuple[int, int]]] | msgspec.UnsetType = msgspec.UNSET


class OutputLine(msgspec.Struct):
    id: str
    matches: list[OutputMatch]


@click.command("match")
@click.option(
    "--rules",
    "files",
    multiple=True,
    required=True,
    type=click.Path(),
    help="Rule file or folder (repeatable).",
)
@click.option("--explain", is_flag=True, help='Add each matching term\'s spans ("terms").')
def match(files: tuple[str, ...], explain: bool) -> None:
    """Match JSON Lines posts from stdin against the rules; one JSON line per post on stdout.

    Input: {"id": "...", "text": "...", "lang": "fr", "platform": "bluesky", "author": "handle"}
    (only id and text required). Output: {"id": "...", "matches": [{"rule": "...",
    "version": 1, "spans": [[start, end], ...]}]} with character offsets in the text.
    A bad line is reported on stderr with its number and skipped; the exit status is then 1.
    """
    matcher = Matcher(load_or_exit(files))
    encoder = msgspec.json.Encoder()
    out = sys.stdout.buffer
    lines = JsonLines(sys.stdin.buffer, InputPost)
    for item in lines:
        post = Post(
            platform=item.platform,
            native_id=item.id,
            text=item.text,
            lang=item.lang,
            author=Author(handle=item.author),
            links=tuple(item.links),
        )
        matches = [
            OutputMatch(
                m.rule,
                m.version,
                list(m.spans),
                {k: list(v) for k, v in m.terms.items()} if explain else msgspec.UNSET,
            )
            for m in matcher.match(post)
        ]
        out.write(encoder.encode(OutputLine(item.id, matches)) + b"\n")
    out.flush()
    lines.exit_if_bad()
