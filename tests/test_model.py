from datetime import UTC, datetime

import msgspec

from veille.model import Author, Enrichment, Finding, Match, Post, Urgency


def test_post_round_trips_as_json() -> None:
    post = Post(
        platform="bluesky",
        native_id="at://did:plc:x/app.bsky.feed.post/1",
        text="Merci à la #police",
        author=Author(id="did:plc:x", handle="x.bsky.social", followers=12),
        created_at=datetime(2026, 3, 1, 12, tzinfo=UTC),
        hashtags=("police",),
    )
    again = msgspec.json.decode(msgspec.json.encode(post), type=Post)
    assert again == post
    assert again.key == ("bluesky", "at://did:plc:x/app.bsky.feed.post/1")


def test_match_omits_empty_explanation() -> None:
    encoded = msgspec.json.encode(Match(rule="r", version=2, spans=((0, 4),)))
    assert msgspec.json.decode(encoded) == {"rule": "r", "version": 2, "spans": [[0, 4]]}


def test_enrichment_round_trips_and_separates_verdicts_from_hits() -> None:
    threat = Finding(kind="threat", detector="threat", label="threat", score=0.9, spans=((0, 5),))
    late = Finding(kind="email", detector="personal_data", spans=((20, 30),))
    early = Finding(kind="iban", detector="personal_data", spans=((8, 12),))
    enrichment = Enrichment(
        lang="fr",
        findings=(threat, late, early),
        urgency=Urgency(severity="high", score=5.0, reasons=("threat",)),
    )
    again = msgspec.json.decode(msgspec.json.encode(enrichment), type=Enrichment)
    assert again == enrichment
    assert again.verdict("threat") == threat
    assert again.verdict("sentiment") is None
    assert again.hits() == (early, late)


def test_empty_enrichment_is_info() -> None:
    assert Enrichment().urgency.severity == "info"
    assert msgspec.json.decode(msgspec.json.encode(Enrichment())) == {}
