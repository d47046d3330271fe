"""Archive search in the rule language: results equal what the matcher finds by brute force."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from veille.match import Matcher
from veille.model import Author, Post
from veille.rules import QueryError, Rule
from veille.store import Store

T0 = datetime(2026, 2, 1, tzinfo=UTC)

TEXTS = [
    "La police est arrivée à la gare du Midi",
    "De politie van Gent controleert vanavond",
    "Die Polizei in Eupen meldet einen Unfall",
    "Police cordon near the Atomium tonight",
    "Manifestation devant le commissariat #Bruxelles",
    "Betoging aan het station #Brussel @politie.gent",
    "Les policiers ont contrôlé l'accès",
    "ＰＯＬＩＣＥ in full-width letters",
    "Pоlice with a Cyrillic о look-alike",
    "Nothing to see here, just the weather",
    "POLICE POLICE police everywhere",
    "L'école de police forme des agents",
    "Polizeikontrolle auf der A3",
    "Attentat déjoué selon le parquet",
    "cafe or café, the same to the index",
    "Le suspect_123 a fui vers la gare du nord",
    "नमस्ते पुलिस हिंदी में",
    "du midi à la gare, dans le désordre",
]

QUERIES = [
    "police",
    "polic*",
    "politie OR polizei",
    '"gare du midi"',
    "#bruxelles OR #brussel",
    "@politie.gent",
    "police AND NOT cordon",
    "police NEAR/3 agents",
    "café",
    "lang:de polizei*",
    "attentat",
    "contrôle*",
    "NOT police",
    "/polic[a-z]+/",
    '"gare du n*"',
    "suspect_123",
    "suspect_12*",
    "हिंदी",
    "_",
]


@pytest.fixture
def archive(store: Store) -> list[Post]:
    stored = [
        Post(
            platform="mastodon",
            native_id=str(i),
            text=text,
            lang="de" if "Polizei" in text else "",
            author=Author(id=f"u{i}"),
            created_at=T0 + timedelta(hours=i),
        )
        for i, text in enumerate(TEXTS)
    ]
    store.write_batch(stored)
    return stored


@pytest.mark.parametrize("query", QUERIES)
def test_search_equals_brute_force(store: Store, archive: list[Post], query: str) -> None:
    matcher = Matcher([Rule.of("q", query)])
    expected = {p.native_id for p in archive if matcher.match(p)}
    result = store.search(query)
    assert {hit.post.post.native_id for hit in result.hits} == expected
    assert result.complete
    ids = [int(hit.post.post.native_id) for hit in result.hits]
    assert ids == sorted(ids, reverse=True)  # newest first
    for hit in result.hits:
        assert hit.match.rule == "search"
        assert hit.match.spans or query.startswith("NOT")


def test_search_uses_the_index_and_narrows_candidates(store: Store, archive: list[Post]) -> None:
    result = store.search("attentat")
    assert result.indexed
    assert result.candidates == 1
    scan = store.search("NOT police")
    assert not scan.indexed
    assert scan.candidates == len(archive)


def test_search_time_range_and_limit(store: Store, archive: list[Post]) -> None:
    result = store.search("police OR politie OR polizei", since=T0 + timedelta(hours=3))
    assert all(hit.post.post.created_at >= T0 + timedelta(hours=3) for hit in result.hits)  # type: ignore[operator]
    limited = store.search("polic*", limit=2)
    assert len(limited.hits) == 2
    assert not limited.complete


def test_search_follows_edits_and_deletions(store: Store, archive: list[Post]) -> None:
    edited = Post(platform="mastodon", native_id="9", text="Now the police is here", edited_at=T0)
    store.write_batch([edited])
    assert "9" in {h.post.post.native_id for h in store.search("police").hits}
    assert "9" not in {h.post.post.native_id for h in store.search("weather").hits}
    store.write_batch([Post(platform="mastodon", native_id="13", deleted=True)])
    assert store.search("attentat").hits == []
    assert len(store.search("attentat", include_deleted=True).hits) == 1
    if store.engine.dialect.name == "sqlite":
        with store.engine.begin() as conn:  # the external-content index is consistent
            conn.exec_driver_sql(
                "INSERT INTO posts_fts(posts_fts, rank) VALUES('integrity-check', 1)"
            )


def test_bad_query_is_explained(store: Store) -> None:
    with pytest.raises(QueryError):
        store.search('"unclosed phrase')


def test_naughty_strings_as_queries(store: Store, archive: list[Post], shared_data: Path) -> None:
    naughty = json.loads((shared_data / "bad-input/blns/blns.json").read_text(encoding="utf-8"))
    answered = 0
    for text in naughty:
        try:
            result = store.search(text, limit=5)
        except QueryError:
            continue
        answered += 1
        matcher = Matcher([Rule.of("q", text)])
        expected = {p.native_id for p in archive if matcher.match(p)}
        assert {h.post.post.native_id for h in result.hits} <= expected
    assert answered > len(naughty) // 2


def test_a_phrase_is_all_its_words_in_the_index_then_verified(
    store: Store, archive: list[Post]
) -> None:
    # SQLite's index keeps no positions: both texts holding "gare", "du" and "midi" are
    # candidates, and the matcher keeps the one where they are a phrase (PostgreSQL's index
    # matches the phrase itself).
    result = store.search('"gare du midi"')
    assert result.indexed
    assert result.candidates == (2 if store.engine.dialect.name == "sqlite" else 1)
    assert [hit.post.post.text for hit in result.hits] == [TEXTS[0]]


def test_a_literal_without_letters_or_digits_is_searched_by_scanning(
    store: Store, archive: list[Post]
) -> None:
    result = store.search("_ OR police")
    assert not result.indexed
    assert result.candidates == len(archive)
