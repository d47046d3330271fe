"""Detector findings are stored with their post, per text version, and expire with it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest
import sqlalchemy as sa

from veille.enrich.detect import Detect, Urgent, analyze
from veille.match.matcher import Matcher
from veille.model import Author, Enrichment, Finding, Match, Post, Urgency
from veille.pipeline import Pipeline, Processor
from veille.rules.rule import Rule
from veille.sources.replay import ReplaySource
from veille.store import Store
from veille.store.findings import MAX_EXPLANATION, findings
from veille.store.retention import Keep, Policy, Retention
from veille.testing import FakeClock

T0 = datetime(2026, 1, 1, tzinfo=UTC)
IBAN = "BE71 0961 2345 6769"


def post(native_id: str, text: str, **fields: object) -> Post:
    fields.setdefault("created_at", T0)
    return Post(platform="mastodon", native_id=native_id, text=text, **fields)  # type: ignore[arg-type]


def threat(label: str = "threat", score: float = 0.93) -> Finding:
    return Finding(
        kind="threat",
        detector="threat",
        label=label,
        score=score,
        spans=((0, 8),),
        explanation="call to violence",
    )


def hit(start: int, end: int, kind: str = "iban") -> Finding:
    return Finding(
        kind=kind, detector="personal_data", score=0.99, spans=((start, end),), explanation=kind
    )


URGENT = Urgency(severity="high", score=6.5, reasons=("call to violence", "bank account number"))


def rows(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(findings)).scalar_one())


def test_findings_and_urgency_come_back_with_the_post(store: Store) -> None:
    text = f"burn it! {IBAN}"
    enrichment = Enrichment(
        lang="en",
        findings=(threat(), hit(9, 9 + len(IBAN))),
        urgency=URGENT,
    )
    store.write_batch([post("1", text), post("2", "calm")], enrichments=[enrichment, Enrichment()])
    stored = store.post("mastodon", "1")
    assert stored is not None
    assert stored.findings == enrichment.findings
    assert stored.urgency == URGENT
    assert store.post_by_id(stored.id) == stored
    calm = store.post("mastodon", "2")
    assert calm is not None
    assert (calm.findings, calm.urgency) == ((), None)
    (node,) = store.thread("mastodon", "1")
    assert node.post.findings == enrichment.findings


def test_nothing_found_verdicts_are_not_stored(store: Store) -> None:
    nothing = Enrichment(findings=(threat("none", 0.99),))
    store.write_batch([post("1", "a quiet day")], enrichments=[nothing])
    assert rows(store) == 0
    mood = Finding(kind="sentiment", detector="sentiment", label="neutral", score=0.7)
    store.write_batch([post("2", "a quiet day")], enrichments=[Enrichment(findings=(mood,))])
    stored = store.post("mastodon", "2")
    assert stored is not None
    assert stored.findings == (mood,)


def test_redelivery_adds_nothing_and_an_edit_gets_the_new_texts_findings(
    store: Store, clock: FakeClock
) -> None:
    first = Enrichment(findings=(threat(),), urgency=URGENT)
    store.write_batch([post("1", "burn it down")], enrichments=[first])
    store.write_batch([post("1", "burn it down")], enrichments=[first])
    assert rows(store) == 2  # the threat and the urgency, once
    clock.advance(minutes=5)
    edited = post("1", "sorry, a joke", edited_at=T0 + timedelta(minutes=5))
    store.write_batch([edited], enrichments=[Enrichment()])
    stored = store.post("mastodon", "1")
    assert stored is not None
    assert stored.version == 2
    assert (stored.findings, stored.urgency) == ((), None)
    # A late copy of the old text is not the current text: its findings are not recorded.
    store.write_batch([post("1", "burn it down")], enrichments=[first])
    assert rows(store) == 2


def test_bounded_and_checked(store: Store) -> None:
    long = Finding(kind="k" * 500, detector="d", label="l" * 500, explanation="x" * 10_000)
    store.write_batch([post("1", "text")], enrichments=[Enrichment(findings=(long,))])
    stored = store.post("mastodon", "1")
    assert stored is not None
    (found,) = stored.findings
    assert len(found.kind) == 64
    assert found.kind.endswith("…")
    assert len(found.explanation) == MAX_EXPLANATION
    with pytest.raises(ValueError, match="1 posts but 2 enrichments"):
        store.write_batch([post("2", "x")], enrichments=[Enrichment(), Enrichment()])


def test_findings_of_real_detectors_round_trip(store: Store) -> None:
    text = f"Stort op {IBAN}, bel 0471 23 45 67 of mail jan@example.be"
    p = post("1", text, lang="nl", author=Author(id="a", followers=10))
    enrichment = analyze(p)
    assert {f.kind for f in enrichment.hits()} >= {"iban", "phone", "email"}
    store.write_batch([p], [[Match(rule="r", version=1)]], enrichments=[enrichment])
    stored = store.post("mastodon", "1")
    assert stored is not None
    expected = [f for f in enrichment.findings if f.label != "none"]
    assert list(stored.findings) == expected


def test_retention_takes_the_findings_with_the_post(store: Store, clock: FakeClock) -> None:
    store.write_batch(
        [post("1", "burn it down")], enrichments=[Enrichment(findings=(threat(),), urgency=URGENT)]
    )
    assert rows(store) == 2
    clock.advance(days=10)
    purged = Retention(store.engine, clock=clock).run(Policy(Keep(unmatched=timedelta(days=7))))
    assert purged.posts == 1
    assert rows(store) == 0


async def test_the_pipeline_stores_what_its_enrichers_found(store: Store, tmp_path: Path) -> None:
    lines = [
        {"id": "1", "text": f"Versez sur {IBAN}", "lang": "fr"},
        {"id": "2", "text": "Il fait beau", "lang": "fr"},
    ]
    path = tmp_path / "posts.jsonl"
    path.write_bytes(b"".join(msgspec.json.encode(line) + b"\n" for line in lines))
    processor = Processor(Matcher([Rule.of("r", "versez")]), enrichers=[Detect(), Urgent()])
    await Pipeline([ReplaySource(path)], store, processor).run()
    leak = store.post("generic", "1")
    assert leak is not None
    assert [f.kind for f in leak.findings if not f.is_verdict] == ["iban"]
    assert leak.urgency is not None
    assert "bank account number" in leak.urgency.reasons
    calm = store.post("generic", "2")
    assert calm is not None
    assert calm.findings == ()
