from hypothesis import given
from hypothesis import strategies as st

from veille.config import UrgencySettings
from veille.enrich.urgency import score_urgency
from veille.model import SEVERITIES, Finding

THREAT = Finding(
    kind="threat",
    detector="threat",
    label="threat",
    score=0.97,
    explanation="threat: call or order to commit violence",
)
PROTECTED = Finding(
    kind="protected_name",
    detector="protected",
    score=0.95,
    spans=((0, 5),),
    explanation="names protected person 'officer 4711'",
)
PHONE = Finding(kind="phone", detector="personal_data", score=0.9, spans=((10, 20),))


def test_the_example_of_the_issue() -> None:
    urgency = score_urgency([THREAT, PROTECTED], followers=3_000)
    assert urgency.severity == "critical"
    assert urgency.reasons == (
        "threat: call or order to commit violence",
        "names protected person 'officer 4711'",
        "threat against a protected person",
        "3,000 followers",
    )


def test_nothing_found_is_info_whatever_the_reach() -> None:
    none = Finding(kind="threat", detector="threat", label="none", score=0.1)
    mention = Finding(kind="threat", detector="threat", label="mention", score=0.4)
    urgency = score_urgency([none, mention], followers=2_000_000, velocity=100)
    assert urgency.severity == "info"
    assert urgency.reasons == ()


def test_levels() -> None:
    assert score_urgency([PHONE]).severity == "low"
    assert score_urgency([THREAT]).severity == "medium"
    assert score_urgency([THREAT], followers=1_500).severity == "high"
    assert score_urgency([PHONE], rules=[("r1", "high"), ("r2", "low")]).reasons == (
        "phone number",
        "rule 'r1' (high) and 1 more",
    )
    assert score_urgency([PHONE], velocity=45).reasons == (
        "phone number",
        "conversation at 45 posts/min",
    )


def test_a_weak_hit_counts_half_and_a_kind_counts_once() -> None:
    weak = Finding(kind="address", detector="personal_data", score=0.5)
    assert score_urgency([weak]).score == 1.0
    assert score_urgency([PHONE, PHONE, PHONE]).score == 1.0


def test_thresholds_and_points_are_configurable() -> None:
    strict = UrgencySettings(points={"phone": 10.0})
    assert score_urgency([PHONE], settings=strict).severity == "critical"
    assert score_urgency([THREAT], settings=strict).severity == "info"


KINDS = ["threat", "protected_name", "phone", "iban", "confidential", "doxxing", "sentiment"]
FINDINGS = st.builds(
    lambda kind, score: Finding(
        kind=kind,
        detector="x",
        label="threat" if kind == "threat" else ("negative" if kind == "sentiment" else ""),
        score=score,
    ),
    st.sampled_from(KINDS),
    st.floats(0, 1),
)


@given(
    st.lists(FINDINGS, max_size=6),
    st.lists(FINDINGS, max_size=3),
    st.none() | st.integers(0, 10**7),
    st.none() | st.floats(0, 1000),
)
def test_more_evidence_never_lowers_the_severity(
    base: list[Finding], extra: list[Finding], followers: int | None, velocity: float | None
) -> None:
    before = score_urgency(base, followers=followers, velocity=velocity)
    after = score_urgency(base + extra, followers=followers, velocity=velocity)
    assert SEVERITIES.index(after.severity) >= SEVERITIES.index(before.severity)
    assert after.score >= before.score
