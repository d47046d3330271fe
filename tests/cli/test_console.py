import io
from datetime import UTC, datetime

from rich.console import Console

from veille.cli.console import ConversationLine, LiveConsole, RuleInfo, highlighted, safe
from veille.model import Author, Match, Post
from veille.pipeline import Stats, Stored


def test_control_characters_cannot_drive_the_terminal() -> None:
    hostile = "ok\x1b[2J\x1b]0;pwned\x07 line\nbreak\u202e"
    assert safe(hostile) == "ok\ufffd[2J\ufffd]0;pwned\ufffd line break\ufffd"


def test_highlight_marks_the_matched_words() -> None:
    post = Post(platform="p", native_id="1", text="x" * 50 + " police " + "y" * 200)
    text = highlighted(post, [Match(rule="r", version=1, spans=((51, 57),))], width=60)
    assert text.plain.startswith("…")
    assert text.plain.endswith("…")
    bold = [text.plain[s.start : s.end] for s in text.spans]
    assert bold == ["police"]


def test_plain_console_prints_matches_flags_and_a_summary() -> None:
    out = io.StringIO()
    console = Console(file=out, width=200, color_system=None)
    stats = Stats(stored=3, matched_posts=1, matches=1)
    line = ConversationLine("demo:1", ["fr.manif"], 3, 2, datetime(2026, 1, 1, tzinfo=UTC))
    live = LiveConsole(stats, {"fr.manif": RuleInfo("high")}, lambda: [line], console=console)
    assert live.plain
    post = Post(
        platform="demo",
        native_id="1",
        text="Grosse manif [b]x[/b]",
        lang="fr",
        author=Author(handle="anne"),
    )
    with live:
        live(
            Stored(
                [post],
                [[Match(rule="fr.manif", version=1, spans=((7, 12),))]],
                [],
                [],
                {},
                [("demo", "1")],
            )
        )
    printed = out.getvalue()
    assert "[high] fr.manif fr @anne: Grosse manif [b]x[/b]" in printed
    assert "flagged conversation demo:1" in printed
    assert "1 conversations flagged" in printed
    live._refresh_conversations(force=True)
    rendered = io.StringIO()
    Console(file=rendered, width=160, color_system=None).print(live.render())
    assert "demo:1" in rendered.getvalue()
    assert "Grosse manif" in rendered.getvalue()


def test_the_summary_stays_on_one_line_in_a_narrow_terminal() -> None:
    out = io.StringIO()
    console = Console(file=out, width=40, color_system=None)
    stats = Stats(stored=1_234_567, matched_posts=20, matches=21, quarantined=1)
    with LiveConsole(stats, {}, list, plain=True, console=console):
        pass
    (summary,) = out.getvalue().splitlines()
    assert summary.startswith("1,234,567 posts stored")
    assert summary.endswith("· 1 quarantined")
