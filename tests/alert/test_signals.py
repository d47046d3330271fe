"""Rule matches and urgency become alert signals; personal data never leaves in an excerpt."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from veille.alert.signals import RuleInfo, excerpt, signals_for_post
from veille.model import Enrichment, Finding, Match, Post, Urgency

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_rule_match_and_urgency_make_two_signals_with_masked_excerpts() -> None:
    text = "Rendez-vous chez l'agent, IBAN BE71096123456769, on va le frapper"
    iban = (text.index("BE71"), text.index("BE71") + 16)
    threat = (text.index("on va"), len(text))
    post = Post(
        platform="bluesky",
        native_id="p2",
        reply_to="p1",
        root_id="p0",
        text=text,
        url="https://example.org/p2",
        received_at=T0,
    )
    enrichment = Enrichment(
        findings=(
            Finding(kind="threat", detector="threat", label="threat", score=0.9, spans=(threat,)),
            Finding(kind="iban", detector="personal_data", spans=(iban,)),
        ),
        urgency=Urgency(severity="critical", reasons=("call to violence", "personal data")),
    )
    match = Match(rule="threats", version=1, spans=(threat,), terms={"frapper": (threat,)})
    rule_signal, urgent = signals_for_post(
        post, [match], enrichment, {"threats": RuleInfo("high", "Threats", ("violence",))}
    )
    assert rule_signal.kind == "rule"
    assert rule_signal.severity == "high"
    assert rule_signal.conversation == "bluesky:p0"
    assert rule_signal.tags == ("violence",)
    assert rule_signal.observed_at == T0
    assert urgent.kind == "urgent"
    assert urgent.severity == "critical"
    assert urgent.reasons == ("call to violence", "personal data")
    for s in (rule_signal, urgent):
        assert "BE71" not in s.excerpt
        assert "⟨iban⟩" in s.excerpt
        (span,) = s.spans
        assert s.excerpt[span[0] : span[1]] == "on va le frapper"


@given(st.text(max_size=3000), st.data())
def test_excerpt_is_bounded_and_spans_point_at_the_same_text(
    text: str, data: st.DataObject
) -> None:
    n = len(text)
    start = data.draw(st.integers(0, n))
    end = data.draw(st.integers(start, n))
    got, spans = excerpt(text, [(start, end)] if end > start else [])
    assert len(got) <= 1000
    for s, e in spans:
        assert got[s:e] == text[start:end]


def test_urgency_made_of_a_rule_alone_raises_only_the_rule_alert() -> None:
    text = "Het politiekantoor in Gent is vandaag gesloten"
    post = Post(platform="generic", native_id="r1", text=text, received_at=T0)
    span = (4, 18)
    match = Match(rule="station", version=1, spans=(span,), terms={"politiekantoor": (span,)})
    from_rule = Enrichment(
        findings=(Finding(kind="threat", detector="threat", label="none", score=0.1),),
        urgency=Urgency(severity="medium", reasons=("rule 'station' (high)",)),
    )
    rules = {"station": RuleInfo("high")}
    (only,) = signals_for_post(post, [match], from_rule, rules)
    assert only.kind == "rule"
    # with something the detectors found, urgency speaks for itself
    leak = Finding(kind="address", detector="personal_data", spans=((4, 18),))
    found = Enrichment(findings=(*from_rule.findings, leak), urgency=from_rule.urgency)
    assert [s.kind for s in signals_for_post(post, [match], found, rules)] == ["rule", "urgent"]
