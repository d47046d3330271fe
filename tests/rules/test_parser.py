"""The query language parser: what it accepts, how it folds, and where it says it is wrong."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from veille.rules.parser import MAX_QUERY_LENGTH, QueryError, parse, unparse
from veille.rules.query import Filter, Hashtag, Mention, Near, Not, Or, Parsed, Prefix, Regex, Words


def canon(query: str) -> str:
    return unparse(parse(query).root)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("police", '"police"'),
        ("École", '"ecole"'),
        ("Straße", '"strasse"'),
        ('"exact PHRASE"', '"exact phrase"'),
        ("aujourd'hui", '"aujourd hui"'),
        ("a b", '("a" AND "b")'),
        ("a AND b", '("a" AND "b")'),
        ("a OR b OR c", '("a" OR "b" OR "c")'),
        ("(a b) OR c", '(("a" AND "b") OR "c")'),
        ("a (b OR c)", '("a" AND ("b" OR "c"))'),
        ("a -b", '("a" AND NOT "b")'),
        ("a NOT b", '("a" AND NOT "b")'),
        ("NOT a b", '(NOT "a" AND "b")'),
        ("a NEAR/3 b", '("a" NEAR/3 "b")'),
        ("a ONEAR/0 b", '("a" ONEAR/0 "b")'),
        ("flic*", "flic*"),
        ("#Police", "#police"),
        ("@Alice.bsky.social", "@alice.bsky.social"),
        ("lang:FR", "lang:fr"),
        ("platform:bluesky", "platform:bluesky"),
        ("author:@Alice.bsky.social", "author:alice.bsky.social"),
        ("domain:www.Example.org", "domain:example.org"),
        ("/at+ent[a4]t/", "/at+ent[a4]t/"),
        (r"/a\/b/", r"/a\/b/"),
        ("and or not", '("and" AND "or" AND "not")'),
        ("e-mail", '"e mail"'),
    ],
)
def test_accepts(query: str, expected: str) -> None:
    assert canon(query) == expected


def test_issue_example_tree() -> None:
    root = parse("(tuer OR abattre OR doden) NEAR/3 (flic* OR police* OR politie*)").root
    assert isinstance(root, Near)
    assert root.distance == 3
    assert not root.ordered
    assert isinstance(root.left, Or)
    assert isinstance(root.right, Or)
    assert all(isinstance(c, Prefix) for c in root.right.children)


def test_node_kinds_and_positions() -> None:
    p = parse('#tag @me lang:nl /x/ "a b" -c')
    kinds = [type(c) for c in p.root.children]  # type: ignore[union-attr]
    assert kinds == [Hashtag, Mention, Filter, Regex, Words, Not]
    assert [p.text(c) for c in p.root.children] == [  # type: ignore[union-attr]
        "#tag",
        "@me",
        "lang:nl",
        "/x/",
        '"a b"',
        "-c",
    ]


@pytest.mark.parametrize(
    ("query", "fragment", "start", "end"),
    [
        ("", "empty query", 0, 1),
        ("a b OR c", "mixing AND and OR", 4, 6),
        ("a OR b c", "mixing AND and OR", 2, 4),
        ("po*", "at least 3 letters", 0, 3),
        ("p*lice", "only allowed at the end", 0, 6),
        ("#tag*", "not on hashtags", 0, 1),
        ("(a", "missing ')'", 0, 1),
        ("a)", "unbalanced ')'", 1, 2),
        ("()", "empty parentheses", 0, 2),
        ('"abc', "unterminated phrase", 0, 4),
        ("/abc", "unterminated regular expression", 0, 4),
        ("/(/", "invalid regular expression", 0, 3),
        ("//", "empty regular expression", 0, 2),
        ("a NEAR b", "needs a distance", 2, 6),
        ("a NEAR/x b", "needs a distance", 2, 8),
        ("a NEAR/101 b", "at most 100", 2, 10),
        ("a NEAR/2 b NEAR/2 c", "chained NEAR", 11, 17),
        ("a NEAR/2 (b c)", "NEAR/2 needs words", 10, 13),
        ("lang:fr NEAR/2 b", "NEAR/2 needs words", 0, 7),
        ("a AND", "AND needs something", 2, 5),
        ("a AND OR b", "AND needs something", 2, 5),
        ("NOT", "needs something to exclude", 0, 1),
        ("a - b", "'-' must be followed", 2, 3),
        ("langue:fr", "unknown filter", 0, 7),
        ("http://example.org", "unknown filter", 0, 5),
        ("lang:f", "invalid lang", 0, 6),
        ("domain:-x-", "invalid domain", 0, 10),
        ("OR a", "expected a term", 0, 2),
        ("#", "not a hashtag", 0, 1),
        ("@ x", "not a mention", 0, 1),
        ("a* b", "at least 3 letters", 0, 2),
        ("abc def*x", "only allowed at the end", 4, 9),
    ],
)
def test_errors_point_at_the_fault(query: str, fragment: str, start: int, end: int) -> None:
    with pytest.raises(QueryError) as info:
        parse(query)
    assert fragment in info.value.message
    assert (info.value.start, info.value.end) == (start, end)


def test_bounds() -> None:
    with pytest.raises(QueryError, match="longer than"):
        parse("a " * MAX_QUERY_LENGTH)
    with pytest.raises(QueryError, match="nesting deeper"):
        parse("(" * 100 + "a" + ")" * 100)
    with pytest.raises(QueryError, match="longer than 1000"):
        parse("/" + "a" * 1001 + "/")


def test_phrase_with_no_word_parses_to_empty_words() -> None:
    root = parse('"🙂"').root
    assert isinstance(root, Words)
    assert root.words == ()


def parse_or_error(text: str) -> Parsed | QueryError:
    try:
        return parse(text)
    except QueryError as exc:
        return exc


@given(st.text(max_size=200))
def test_any_text_parses_or_raises_query_error(text: str) -> None:
    parsed = parse_or_error(text)
    if isinstance(parsed, QueryError):
        assert 0 <= parsed.start < parsed.end
        assert parsed.message
    else:
        # The canonical form is itself a valid query with the same meaning.
        assert canon(unparse(parsed.root)) == unparse(parsed.root)


def test_blns_queries_never_crash(shared_data: Path) -> None:
    strings = json.loads((shared_data / "bad-input" / "blns" / "blns.json").read_text("utf-8"))
    for text in strings:
        parsed = parse_or_error(text)
        assert not isinstance(parsed, QueryError) or parsed.message


@given(st.from_regex(r"[A-Za-z0-9]{1,12}", fullmatch=True))
def test_single_word_fast_path_equals_the_full_parser(word: str) -> None:
    from veille.rules.parser import _Parser

    if word not in ("AND", "OR", "NOT", "NEAR", "ONEAR"):
        assert parse(word).root == _Parser(word).parse()


@pytest.mark.parametrize("word", ["AND", "OR", "NOT", "NEAR", "ONEAR"])
def test_operator_alone_is_an_error(word: str) -> None:
    with pytest.raises(QueryError):
        parse(word)


@given(st.text() | st.from_regex(r"[A-Za-z0-9 \t\x1c-\x1f\x0b\x0c]{0,30}", fullmatch=True))
def test_ascii_word_folding_shortcut_equals_fold(text: str) -> None:
    from veille.normalise.fold import fold
    from veille.rules.parser import _fold_words

    assert _fold_words(text) == tuple(fold(text).tokens)
