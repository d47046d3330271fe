"""Watch rules → X stream rules: never narrower than veille's matcher, checked on a model of X.

The model of X's matching is taken from X's rule documentation: keywords are whole tokens,
case-insensitive; ``#tag`` and ``@user`` match only hashtags and mentions; ``"phrases"`` match
consecutive words; ``from:``, ``url:`` (any part of a link) and ``lang:``. Accented spellings
and leetspeak are outside the model (X matches accents exactly): they are the documented limit
of the translation, so generated posts use plain ASCII words.
"""

from __future__ import annotations

import re

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from veille.match.matcher import Matcher
from veille.model import Author, Post
from veille.rules.parser import QueryError
from veille.rules.rule import Rule
from veille.sources.x_rules import stream_rules, translate

WORDS = ["police", "politie", "bruxelles", "zone", "manif", "gare", "nord", "agent", "Ordre"]
USERS = ["alice", "bob_1", "Zone"]
LINKS = ["https://example.org/a", "https://www.example.org/b", "https://other.net/x"]


# --- a small parser and evaluator for the X rules we emit ------------------------------------

_TOKEN = re.compile(r'\s*(\(|\)|-|"[^"]*"|url:"[^"]*"|[^\s()"]+)')


def x_parse(value: str) -> object:
    tokens = _TOKEN.findall(value)
    assert "".join(tokens).replace(" ", "") == value.replace(" ", ""), value
    pos = 0

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> str:
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def or_expr() -> object:
        parts = [and_expr()]
        while peek() == "OR":
            take()
            parts.append(and_expr())
        return ("or", parts) if len(parts) > 1 else parts[0]

    def and_expr() -> object:
        parts = []
        while peek() not in (None, ")", "OR"):
            parts.append(unary())
        assert parts, f"empty group in {value!r}"
        return ("and", parts) if len(parts) > 1 else parts[0]

    def unary() -> object:
        if peek() == "-":
            take()
            return ("not", primary())
        return primary()

    def primary() -> object:
        token = take()
        if token == "(":
            inner = or_expr()
            assert take() == ")"
            return inner
        return ("atom", token)

    tree = or_expr()
    assert pos == len(tokens), value
    return tree


def x_matches(tree: object, post: Post) -> bool:
    kind, arg = tree  # type: ignore[misc]
    if kind == "or":
        return any(x_matches(t, post) for t in arg)
    if kind == "and":
        return all(x_matches(t, post) for t in arg)
    if kind == "not":
        return not x_matches(arg, post)
    tokens = [t.lower() for t in re.findall(r"[#@]?\w+", post.text)]
    atom: str = arg
    if atom.startswith('"'):
        words = atom.strip('"').lower().split()
        bare = [t.lstrip("#") for t in tokens]
        return any(bare[i : i + len(words)] == words for i in range(len(bare)))
    if atom.startswith("from:"):
        return post.author.handle.lower() == atom[5:].lower()
    if atom.startswith("url:"):
        return any(atom[4:].strip('"') in link.lower() for link in post.links)
    if atom.startswith("lang:"):
        return post.lang_hint == atom[5:]
    return atom.lower() in tokens


# --- generators ------------------------------------------------------------------------------


def atoms() -> st.SearchStrategy[str]:
    word = st.sampled_from(WORDS)
    return st.one_of(
        word,
        st.builds(lambda a, b: f'"{a} {b}"', word, word),
        word.map(lambda w: f"#{w}"),
        st.sampled_from(USERS).map(lambda u: f"@{u}"),
        st.just("@someone.bsky.social"),
        word.map(lambda w: f"{w[:3]}*"),
        st.sampled_from(["lang:fr", "lang:nl", "author:alice", "domain:example.org"]),
        st.sampled_from(["platform:x", "platform:bluesky", "/pol[a-z]+/"]),
        st.builds(lambda a, b: f"{a} NEAR/2 {b}", word, word),
    )


queries = st.recursive(
    atoms(),
    lambda inner: st.one_of(
        st.builds(lambda a, b: f"({a} AND {b})", inner, inner),
        st.builds(lambda a, b: f"({a} OR {b})", inner, inner),
        st.builds(lambda a, b: f"({a} AND NOT {b})", inner, inner),
    ),
    max_leaves=8,
)

posts = st.builds(
    lambda words, user, lang, links: Post(
        platform="x",
        native_id="1",
        text=" ".join(words),
        author=Author(id="1", handle=user),
        lang_hint=lang,
        links=tuple(links),
    ),
    st.lists(
        st.one_of(
            st.sampled_from(WORDS),
            st.sampled_from(WORDS).map(lambda w: f"#{w}"),
            st.sampled_from(USERS).map(lambda u: f"@{u}"),
            st.sampled_from([",", "!", "-"]),
        ),
        max_size=12,
    ),
    st.sampled_from(USERS),
    st.sampled_from(["fr", "nl", "en", ""]),
    st.lists(st.sampled_from(LINKS), max_size=2),
)


@settings(max_examples=400, deadline=None)
@given(query=queries, batch=st.lists(posts, min_size=1, max_size=8))
def test_a_translated_rule_never_narrows_what_veille_matches(query: str, batch: list[Post]) -> None:
    try:
        rule = Rule.of("r", query)
    except QueryError:
        assume(False)
        return
    translation = translate(rule, max_length=512)
    assume(translation.values)
    trees = [x_parse(value) for value in translation.values]
    matcher = Matcher([rule])
    for post in batch:
        if matcher.match(post):
            assert any(x_matches(tree, post) for tree in trees), (query, translation, post.text)
        if translation.exact:
            assert bool(matcher.match(post)) == any(x_matches(t, post) for t in trees)


@settings(max_examples=200, deadline=None)
@given(query=queries, post=posts)
def test_splitting_to_the_length_limit_keeps_every_match(query: str, post: Post) -> None:
    try:
        rule = Rule.of("r", query)
    except QueryError:
        assume(False)
        return
    translation = translate(rule, max_length=60)
    assume(translation.values)
    assert all(len(value) <= 60 for value in translation.values)
    if Matcher([rule]).match(post):
        assert any(x_matches(x_parse(value), post) for value in translation.values)


def test_examples() -> None:
    def sent(query: str, **fields: object) -> tuple[str, ...]:
        return translate(Rule.of("r", query, **fields)).values

    assert sent('Police AND "zone nord"') == ('(police OR #police) "zone nord"',)
    assert sent("#Manif OR @bob_1") == ("#manif OR @bob_1",)
    assert sent("police AND NOT agent AND lang:fr") == (
        "(police OR #police) -(agent OR #agent) lang:fr",
    )
    assert sent("author:alice AND domain:example.org") == ('from:alice url:"example.org"',)
    # what X cannot express is widened, and a NOT over it dropped
    assert sent("police AND NOT flic*") == ("police OR #police",)
    assert sent("police NEAR/3 gare") == ("(police OR #police) (gare OR #gare)",)
    # the spelling written in the rule is asked for beside the folded one
    assert sent("Gendarmérie") == ("gendarmerie OR gendarmérie OR #gendarmerie OR #gendarmérie",)
    # not sent: never an X post; the whole stream; nothing X accepts alone
    never = translate(Rule.of("r", "police AND platform:bluesky"))
    assert never.values == ()
    assert never.notes == ("never matches an X post",)
    assert "whole stream" in translate(Rule.of("r", "flic*")).notes[-1]
    assert "X needs" in translate(Rule.of("r", "lang:fr AND NOT police")).notes[-1]
    assert translate(Rule.of("r", "police", evasion=True)).exact is False


def test_stream_rules_tags_limits_and_problems() -> None:
    rules = [
        Rule.of("b", " OR ".join(f"mot{i}" for i in range(60))),
        Rule.of("a", "police"),
        Rule.of("c", "/x+/"),
        Rule.of("d", "bruxelles", enabled=False),
    ]
    out, problems = stream_rules(rules, "veille:", max_length=512, max_rules=3)
    assert [r.tag for r in out] == ["veille:a", "veille:b#1", "veille:b#2"]
    assert all(len(r.value) <= 512 for r in out)
    assert any(p.startswith("c: not sent to X") for p in problems)
    assert any("X allows 3 rules" in p and "veille:b#3" in p for p in problems)


def test_an_or_part_cut_to_the_limit_is_not_pushed_over_it_by_parentheses() -> None:
    # Found by hypothesis: the second part was cut to 60 characters, then wrapped in "(…)".
    query = (
        "(police OR ((@someone.bsky.social AND NOT police) AND (police OR police NEAR/2 manif)))"
    )
    values = translate(Rule.of("r", query), max_length=60).values
    assert values
    assert all(len(value) <= 60 for value in values)
