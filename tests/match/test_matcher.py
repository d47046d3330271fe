"""The compiled matcher: behaviour on examples, agreement with the naive reference, swaps."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veille.match import Matcher, MatcherHolder
from veille.model import Author, Post
from veille.normalise.fold import fold
from veille.rules.rule import Rule
from veille.rules.versions import MemoryVersionRegistry

from .reference import reference_match


def post(text: str, **fields: object) -> Post:
    return Post(platform=str(fields.pop("platform", "bluesky")), native_id="1", text=text, **fields)  # type: ignore[arg-type]


def ids(matcher: Matcher, text: str, **fields: object) -> list[str]:
    return [m.rule for m in matcher.match(post(text, **fields))]


THREAT = Rule.of(
    "menaces-police",
    "(tuer OR abattre OR doden) NEAR/3 (flic* OR police* OR politie*)",
    severity="critical",
    evasion=True,
)


def test_issue_example_rule() -> None:
    m = Matcher([THREAT])
    assert ids(m, "Il faut TUER les flics") == ["menaces-police"]
    assert ids(m, "les flics, on va les tuer") == ["menaces-police"]  # either order
    assert ids(m, "tuer un, deux, trois, quatre policiers") == []  # 4 words between
    assert ids(m, "we d0den de p0litie") == ["menaces-police"]  # leetspeak
    assert ids(m, "t.u.e.r la police") == ["menaces-police"]  # spaced letters
    assert ids(m, "la police arrive") == []


def test_spans_and_terms_point_into_original_text() -> None:
    text = "Il faut TUER les flics"
    (match,) = Matcher([THREAT]).match(post(text))
    assert match.version == 1
    assert match.terms == {"tuer": ((8, 12),), "flic*": ((17, 22),)}
    assert match.spans == ((8, 12), (17, 22))
    assert [text[s:e] for s, e in match.spans] == ["TUER", "flics"]


@pytest.mark.parametrize(
    ("query", "text", "matches"),
    [
        ("police", "POLICE!", True),
        ("police", "policeman", False),
        ("police", "#police", True),
        ("police", "@police", False),
        ("école", "e\u0301cole", True),
        ("straße", "STRASSE", True),
        ("police", "p\u043elice", True),  # Cyrillic о
        ("police", "po\u200blice", True),
        ('"la police"', "la  Police", True),
        ('"la police"', "la belle police", False),
        ("#police", "police", False),
        ("#police", "#POLICE", True),
        ("@alice.bsky.social", "hi @Alice.bsky.social", True),
        ("@alice", "hi @alice.bsky.social", False),
        ("polic*", "policiers", True),
        ("polic*", "#policiers", True),
        ("polic*", "apolicer", False),
        ("a ONEAR/1 b", "b x a", False),
        ("a ONEAR/1 b", "a x b", True),
        ("a NEAR/0 b", "b a", True),
        ("a NEAR/0 a", "a", False),  # one word cannot be both sides
        ("a NEAR/0 a", "a a", True),
        ("x -y", "x", True),
        ("x -y", "x y", False),
        ("x NOT y", "x Y", False),
        ("/p[o0]lice/", "P0LICE", True),
        ("/p[o0]lice/", "pol ice", False),
        ('"🙂"', "🙂", False),
        ("domain:example.org", "see https://news.example.org/a", True),
        ("domain:example.org", "see https://example.com/a", False),
    ],
)
def test_semantics(query: str, text: str, matches: bool) -> None:
    assert ids(Matcher([Rule.of("r", query)]), text) == (["r"] if matches else [])


def test_filters_use_post_fields() -> None:
    m = Matcher(
        [
            Rule.of("fr", "police lang:fr"),
            Rule.of("bsky", "police platform:bluesky"),
            Rule.of("alice", "police author:alice.bsky.social"),
            Rule.of("link", "police domain:example.org"),
        ]
    )
    p = post(
        "la police",
        lang="fr-BE",
        author=Author(handle="@Alice.bsky.social"),
        links=("https://www.example.org/x",),
    )
    assert [x.rule for x in m.match(p)] == ["fr", "bsky", "alice", "link"]
    assert ids(m, "la police", lang="", lang_hint="fr") == ["fr", "bsky"]
    assert ids(m, "la police", platform="mastodon") == []


def test_evasion_only_when_asked() -> None:
    plain = Matcher([Rule.of("r", "attentat")])
    evasive = Matcher([Rule.of("r", "attentat", evasion=True)])
    for text in ("un 4tt3nt4t", "a.t.t.e.n.t.a.t", "a t t e n t a t", "@ttent@t"):
        assert ids(plain, text) == []
        assert ids(evasive, text) == ["r"], text
    (match,) = evasive.match(post("un a-t-t-e-n-t-a-t demain"))
    assert match.spans == ((3, 18),)


def test_disabled_rules_are_not_compiled() -> None:
    m = Matcher([Rule.of("r", "x", enabled=False)])
    assert len(m) == 0
    assert ids(m, "x") == []


def test_versions_come_from_the_registry() -> None:
    registry = MemoryVersionRegistry()
    registry.assign([("r", "old query")])
    (match,) = Matcher([Rule.of("r", "x")], registry).match(post("x"))
    assert match.version == 2


def test_unanchored_rules_are_listed_and_still_work() -> None:
    m = Matcher([Rule.of("a", "x"), Rule.of("b", "lang:fr"), Rule.of("c", "NOT x")])
    assert m.unanchored == ["b", "c"]
    assert ids(m, "y", lang="fr") == ["b", "c"]
    assert ids(m, "x", lang="de") == ["a"]


def test_folded_text_can_be_passed_in() -> None:
    m = Matcher([Rule.of("r", "police")])
    p = post("La POLICE")
    assert m.match(p, fold(p.text)) == m.match(p)


def test_many_hits_in_one_post() -> None:
    m = Matcher([Rule.of(f"r{i}", f"w{i}") for i in range(50)])
    text = " ".join(f"w{i}" for i in range(50)) * 3
    assert len(m.match(post(text))) == 50


def test_empty_catalogue() -> None:
    assert Matcher([]).match(post("anything")) == []


def test_hyperscan_engine_agrees() -> None:
    pytest.importorskip("hyperscan", reason="the optional hyperscan wheel is not installed")
    rules = [THREAT, Rule.of("e", "école OR #straße OR @x.y")]
    a, b = Matcher(rules), Matcher(rules, engine="hyperscan")
    for text in ("Tuer la police à l'école", "#Straße @x.y", "4bb4ttr3 p0l1c3"):
        assert a.match(post(text)) == b.match(post(text))


# --- agreement with the naive reference ------------------------------------------------------

VOCAB = [
    "police",
    "flic",
    "flics",
    "tuer",
    "ecole",
    "école",
    "strasse",
    "straße",
    "doden",
    "a",
    "b",
]
VARIANTS = st.sampled_from(
    [
        *VOCAB,
        "POLICE",
        "#police",
        "#Flics",
        "@alice.bsky.social",
        "@alice",
        "p0l1c3",
        "t.u.e.r",
        "f l i c",
        "d0den",
        "policeman",
        "l'école",
        "x",
        "!",
        ",",
        "h!ic",
        "\u200b",
        "🙂",
        "https://www.example.org/p",
    ]
)
ATOM = st.one_of(
    st.sampled_from(VOCAB),
    st.sampled_from(["pol*", "flic*", "ecol*", "tue*"]),
    st.sampled_from(['"la police"', '"tuer les"', '"a b"', '"🙂"']),
    st.sampled_from(["#police", "#flics", "@alice.bsky.social", "@alice"]),
)
FILTER = st.sampled_from(["lang:fr", "lang:nl", "platform:bluesky", "domain:example.org"])
REGEX = st.sampled_from(["/p[o0]l/", "/t.e.r/", "/^a/"])


def queries() -> st.SearchStrategy[str]:
    def near(pair: tuple[str, str, int, bool]) -> str:
        left, right, n, ordered = pair
        return f"{left} {'ONEAR' if ordered else 'NEAR'}/{n} {right}"

    side = st.one_of(
        ATOM,
        st.lists(ATOM, min_size=2, max_size=3).map(lambda xs: "(" + " OR ".join(xs) + ")"),
    )
    leaf = st.one_of(
        ATOM,
        ATOM,
        FILTER,
        REGEX,
        st.tuples(side, side, st.integers(0, 3), st.booleans()).map(near),
    )
    return st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.lists(inner, min_size=2, max_size=3).map(lambda xs: "(" + " ".join(xs) + ")"),
            st.lists(inner, min_size=2, max_size=3).map(lambda xs: "(" + " OR ".join(xs) + ")"),
            inner.map(lambda x: f"-{x}" if not x.startswith("-") else x),
        ),
        max_leaves=6,
    )


@st.composite
def catalogues(draw: st.DrawFn) -> list[Rule]:
    texts = draw(st.lists(queries(), min_size=1, max_size=6))
    return [Rule.of(f"r{i}", q, evasion=draw(st.booleans())) for i, q in enumerate(texts)]


@st.composite
def posts(draw: st.DrawFn) -> Post:
    words = draw(st.lists(VARIANTS, max_size=12))
    seps = draw(st.lists(st.sampled_from([" ", "  ", ", ", "-", "."]), min_size=len(words)))
    text = "".join(w + s for w, s in zip(words, seps, strict=False))
    return post(text, lang=draw(st.sampled_from(["fr", "nl", ""])))


@settings(max_examples=150, deadline=None)
@given(catalogues(), st.lists(posts(), min_size=1, max_size=4))
def test_agrees_with_naive_reference(rules: list[Rule], batch: list[Post]) -> None:
    matcher = Matcher(rules)
    for p in batch:
        assert matcher.match(p) == reference_match(p, rules), (
            p.text,
            [r.query.source for r in rules],
        )


# --- atomic swap -----------------------------------------------------------------------------


def test_holder_swaps_whole_catalogues() -> None:
    old = [Rule.of(f"old{i}", "police") for i in range(20)]
    new = [Rule.of(f"new{i}", "police") for i in range(20)]
    holder = MatcherHolder(Matcher(old))
    seen: set[frozenset[str]] = set()
    stop = threading.Event()

    def reader() -> None:
        p = post("la police")
        while not stop.is_set():
            seen.add(frozenset(m.rule for m in holder.match(p)))

    thread = threading.Thread(target=reader)
    thread.start()
    for i in range(6):
        holder.rebuild_in_background(new if i % 2 == 0 else old).join()
    stop.set()
    thread.join()
    allowed = {frozenset(r.id for r in old), frozenset(r.id for r in new)}
    assert seen <= allowed
    assert holder.current.rules[0].rule.id.startswith("old")


def test_blns_through_matcher(shared_data: Path) -> None:
    strings = json.loads((shared_data / "bad-input" / "blns" / "blns.json").read_text("utf-8"))
    m = Matcher([THREAT, Rule.of("any", "/./ OR lang:fr"), Rule.of("w", "script OR alert*")])
    for text in strings:
        for match in m.match(post(text)):
            for start, end in match.spans:
                assert 0 <= start < end <= len(text)
