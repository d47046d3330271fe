from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from veille.config import DetectSettings, ProtectedSettings
from veille.enrich import Detect, Urgent, analyze
from veille.enrich.detect import ENRICHERS
from veille.enrich.protected import ProtectedList
from veille.match import Matcher
from veille.model import Author, Enrichment, Finding, Post, RawItem
from veille.pipeline import Processor
from veille.rules.rule import Rule
from veille.wiring import Catalogue, ProcessorSpec


def post(text: str, lang: str = "", followers: int | None = None) -> Post:
    return Post(
        platform="x", native_id="1", text=text, lang=lang, author=Author(followers=followers)
    )


def test_analyze_is_the_single_entry_point() -> None:
    enrichment = analyze(post("Je vais buter ce flic. Mon IBAN: BE32 1234 5678 9002", "fr", 3000))
    threat = enrichment.verdict("threat")
    assert threat is not None
    assert threat.label == "threat"
    assert [f.kind for f in enrichment.hits()] == ["iban"]
    assert enrichment.urgency.severity in ("high", "critical")
    assert "3,000 followers" in enrichment.urgency.reasons
    assert enrichment.lang == "fr"


def test_the_language_is_guessed_when_unknown_and_kept_when_given() -> None:
    assert analyze(post("ik ga je vermoorden als ik je vind")).lang == "nl"
    assert analyze(post("whatever", "de")).lang == "de"


def test_steps_extend_what_earlier_steps_found() -> None:
    sentiment = Finding(kind="sentiment", detector="sentiment", label="negative", score=0.9)
    before = Enrichment(lang="en", findings=(sentiment,))
    after = Detect()(post("I will kill you"), None, [], before)
    assert after.findings[0] == sentiment
    assert after.verdict("threat") is not None
    assert Urgent()(post("x"), None, [], after).urgency.severity == "medium"


def test_a_protected_list_from_settings_enables_doxxing(tmp_path: Path) -> None:
    names = ProtectedList.new(pepper="p")
    names.add("Jan Peeters", "officer 4711")
    names.save(tmp_path / "protected.json")
    settings = DetectSettings(
        protected=ProtectedSettings(path=str(tmp_path / "protected.json"), pepper="p")
    )
    enrichment = analyze(
        post("Jan Peeters woont Wetstraat 16, ik maak hem af", "nl"),
        detect=Detect(settings),
        urgent=Urgent(settings.urgency),
    )
    kinds = [f.kind for f in enrichment.hits()]
    assert kinds.count("doxxing") == 1
    assert "protected_name" in kinds
    assert enrichment.urgency.severity == "critical"
    assert all("Peeters" not in reason for reason in enrichment.urgency.reasons)


def test_detect_and_urgent_run_as_pipeline_enrichers() -> None:
    rules = [Rule.of("menaces", '"commissariat"', severity="high")]
    severities = {r.id: r.severity for r in rules}
    processor = Processor(
        Matcher(rules),
        enrichers=[Detect(), Urgent(severity_of=severities.get)],
    )
    payload = msgspec.json.encode({"id": "7", "text": "On va cramer le commissariat ce soir"})
    item = RawItem(
        source="test", platform="generic", payload=payload, received_at=datetime.now(UTC)
    )
    out = processor([item])
    [enrichment] = out.enrichments
    threat = enrichment.verdict("threat")
    assert threat is not None
    assert threat.label == "threat"
    assert "rule 'menaces' (high)" in enrichment.urgency.reasons
    assert enrichment.urgency.severity == "high"


def test_the_run_command_wiring_builds_both_steps_from_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "r.toml").write_text(
        '[[rule]]\nid = "stations"\nseverity = "critical"\nquery = "commissariat"\n', "utf-8"
    )
    catalogue = Catalogue.load(["rules"])
    spec = ProcessorSpec(rules=catalogue.specs(), versions={"stations": 1}, enrichers=ENRICHERS)
    payload = msgspec.json.encode({"id": "1", "text": "On va cramer le commissariat ce soir"})
    item = RawItem(source="t", platform="generic", payload=payload, received_at=datetime.now(UTC))
    [enrichment] = spec()([item]).enrichments
    assert enrichment.urgency.severity == "critical"
    assert "rule 'stations' (critical)" in enrichment.urgency.reasons
