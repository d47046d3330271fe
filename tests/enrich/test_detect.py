import json
import tomllib
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veille.config import DetectSettings, ProtectedSettings
from veille.enrich import Detect, Urgent, analyze
from veille.enrich.confidential import DEFAULT_MARKERS, DEFAULT_PHRASES
from veille.enrich.detect import ENRICHERS
from veille.enrich.protected import ProtectedList
from veille.match import Matcher
from veille.model import Author, Enrichment, Finding, Post, RawItem
from veille.pipeline import Processor
from veille.rules.rule import Rule
from veille.testing import recorded_texts
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


# -- the prefiltered path finds exactly what the full path finds --------------------------------

PROTECTED = ProtectedList.new()
PROTECTED.add("Jan Peeters", "officer 1")
FULL = Detect(protected=PROTECTED, prefilter=False)
FAST = Detect(protected=PROTECTED)


def _cue_words() -> list[str]:
    words: set[str] = set()
    for lang in ("fr", "nl", "de", "en"):
        raw = resources.files("veille.data.lexicons.threat").joinpath(f"{lang}.toml")
        for entries in tomllib.loads(raw.read_text("utf-8")).values():
            words.update(e.replace("*", "").replace("~", "") for e in entries)
    return sorted(words)


# Pieces that come close to every recogniser and every folding corner: lexicon entries, stamps
# and phrases, identifiers, and characters that fold oddly ("™" → "TM", NFD accents, dotless
# and dotted i, long s, typographic apostrophes, emoji, no-break spaces).
FRAGMENTS = [
    *_cue_words(),
    *DEFAULT_MARKERS,
    *DEFAULT_PHRASES,
    "Jan Peeters",
    "rue de la Loi 16",
    "Wetstraat 16",
    "0470 12 34 56",
    "+32 470 12 34 56",
    "85.07.30-033.28",
    "BE32 1234 5678 9002",
    "4111 1111 1111 1111",
    "jan@example.be",
    "1-ABC-123",
    "50.8466, 4.3528",
    "50°50'48\"N, 4°21'10\"E",
    "10 Downing Street",
    "Bahnhofstr. 5",
    "chée de Wavre 12",
    "RUE DE LA LOI 16",
    "ſquare Ambiorix 10",
    "Sint-Jansplein 3 bus 2",
    "Wetstraat\t16",
    "place\u00a0Flagey 7",
    "be71 0961 2345 6769",
    "0032 2 123 45 67",
    "BE71 0961 2345 6769",
    "12345678901",
    "2024",
    "7",
    "PV n° 12345/2024",
    "extrait du BNG",
    "Uittreksel uit de ANG",
    "AUSZUG ISLP",
    "12 Js 345/24",
    "3-1",
    "http://",
    "www.",
    "!!",
    "« ",
    "’",
    "™",
    "№",
    "\u0301",
    "e\u0301",
    "İ",
    "ı",
    "ſ",
    "ς",
    "😡",
    "\u00a0",
    "_",
    "#",
    "@",
    "[@POL]",
]
PIECES = st.one_of(
    st.sampled_from(FRAGMENTS),
    st.sampled_from(FRAGMENTS).map(str.upper),
    st.sampled_from(FRAGMENTS).map(str.title),
    st.text(max_size=4),
    st.sampled_from([" ", ". ", ", ", "\n", "-", "'"]),
)
LANGS = st.sampled_from(["", "und", "fr", "nl", "de", "en", "es"])


def assert_same(text: str, lang: str = "") -> None:
    fast = FAST(post(text, lang), None, [], Enrichment(lang=lang))
    full = FULL(post(text, lang), None, [], Enrichment(lang=lang))
    assert fast == full, text


@settings(max_examples=400, deadline=None)
@given(st.lists(PIECES, max_size=12).map("".join), LANGS)
def test_prefiltered_findings_equal_the_full_path(text: str, lang: str) -> None:
    assert_same(text, lang)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300), LANGS)
def test_prefiltered_findings_equal_the_full_path_on_any_text(text: str, lang: str) -> None:
    assert_same(text, lang)


@pytest.mark.parametrize(
    "text",
    [
        "je vais l’abattre ce flic",  # typographic apostrophe before a cue
        "ich werde dich™töten",  # a symbol that folds into letters next to a cue
        "on va te de\u0301gommer",  # NFD accent: the tokens split at the mark
        "Note : USAGE İNTERNE",  # dotted capital I under IGNORECASE
        "usage ınterne, ne pas dıffuser",  # dotless i
        "not for publıcation, do not diſtribute",
        "kill\ud800 you, PV n° 12345/2024 \udfff",  # lone surrogates
    ],
)
def test_prefiltered_findings_equal_the_full_path_on_folding_corners(text: str) -> None:
    for lang in ("", "fr", "de", "en"):
        assert_same(text, lang)


def test_prefiltered_findings_equal_the_full_path_on_hostile_strings(shared_data: Path) -> None:
    strings = json.loads((shared_data / "bad-input/blns/blns.json").read_text("utf-8"))
    xss = (shared_data / "bad-input/xss-payloads/xss-payload-list.txt").read_text("utf-8")
    for text in [*strings, *xss.splitlines()[:500]]:
        for lang in ("", "fr", "en"):
            assert_same(text, lang)


def test_prefiltered_findings_equal_the_full_path_on_recorded_posts(shared_data: Path) -> None:
    texts = recorded_texts(shared_data / "fixtures")
    assert len(texts) > 100
    for text in texts:
        assert_same(text)
