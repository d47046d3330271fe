import pytest
from hypothesis import given
from hypothesis import strategies as st

from veille.enrich.base import Document
from veille.enrich.confidential import ConfidentialDetector

DETECT = ConfidentialDetector()


def found(text: str, detector: ConfidentialDetector = DETECT) -> list[str]:
    return [text[f.spans[0][0] : f.spans[0][1]] for f in detector.detect(Document(text))]


def test_stamps_in_capitals_but_not_in_conversation() -> None:
    assert found("Photo du document CONFIDENTIEL en pièce jointe") == ["CONFIDENTIEL"]
    assert found("ZEER GEHEIM - niet verspreiden") == ["ZEER GEHEIM", "niet verspreiden"]
    assert found("c'est confidentiel entre nous lol") == []
    assert found("Het geheim van de smid") == []


def test_internal_use_phrases_in_any_case() -> None:
    assert found("Note : USAGE INTERNE uniquement") == ["USAGE INTERNE"]
    assert found("Nur für den Dienstgebrauch!") == ["Nur für den Dienstgebrauch"]
    assert found("this memo is for internal use") == ["for internal use"]


def test_case_number_shapes() -> None:
    assert found("zie PV BR.20.LL.012345/2024") == ["BR.20.LL.012345/2024"]
    assert found("le PV n° 12345/2024 dit que") == ["PV n° 12345/2024"]
    assert found("Az.: 123 Js 4567/24") == ["123 Js 4567/24"]
    assert found("een uittreksel uit de ANG over hem") == ["uittreksel uit de ANG"]


def test_configured_lists_replace_and_extend() -> None:
    custom = ConfidentialDetector(
        markers=["NE PAS DIFFUSER"], phrases=[], patterns={"ticket": r"\bINC-\d{6}\b"}
    )
    assert found("NE PAS DIFFUSER INC-123456 CONFIDENTIEL", custom) == [
        "NE PAS DIFFUSER",
        "INC-123456",
    ]


def test_explanation_names_the_marker_or_the_pattern() -> None:
    [marker, pattern] = DETECT.detect(Document("VERTRAULICH: 12 Js 345/24"))
    assert "VERTRAULICH" in marker.explanation
    assert pattern.explanation == "German public prosecutor file number"


def test_a_bad_pattern_is_refused_with_its_label() -> None:
    with pytest.raises(ValueError, match="'lookbehind' is not valid RE2"):
        ConfidentialDetector(patterns={"lookbehind": r"(?<=a)b"})
    with pytest.raises(ValueError, match="longer than"):
        ConfidentialDetector(patterns={"huge": "a" * 5000})


@given(st.text(max_size=300))
def test_any_text(text: str) -> None:
    for finding in DETECT.detect(Document(text)):
        start, end = finding.spans[0]
        assert 0 <= start < end <= len(text)


def test_configured_patterns_run_on_every_post() -> None:
    # The shipped patterns are skipped on posts without what they need; an administrator's
    # pattern is not known that well, so it always runs.
    detector = ConfidentialDetector(patterns={"code word": r"(?i)\bnightingale\b"})
    assert found("operation Nightingale starts", detector) == ["Nightingale"]
    assert found("extrait de la BNG", DETECT) == ["extrait de la BNG"]


def test_a_lone_surrogate_does_not_stop_the_patterns() -> None:
    # RE2 reads UTF-8: the text is given to it with U+FFFD in place, offsets unchanged.
    assert found("\ud800 le PV n° 12345/2024") == ["PV n° 12345/2024"]
