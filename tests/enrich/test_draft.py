"""Checking a draft before posting: what must not be posted, where, why, and what to do."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from veille.enrich.detect import Detect
from veille.enrich.draft import MAX_DRAFT_CHARS, DraftChecker, DraftTooLong
from veille.enrich.protected import ProtectedList
from veille.rules.rule import Rule


@pytest.fixture(scope="module")
def checker() -> DraftChecker:
    names = ProtectedList.new(pepper="pepper")
    names.add("Jan Peeters", "officer 4711")
    secret = [
        Rule.of(
            "op-nachtuil", '"operatie nachtuil" OR nachtuil', severity="high", tags=("secrecy",)
        ),
        Rule.of("project-x", "projet* NEAR/1 kestrel", severity="low", tags=("secrecy",)),
    ]
    return DraftChecker(Detect(protected=names), secret, allowed=["+32 2 642 66 66"])


def issues(checker: DraftChecker, text: str) -> list[tuple[str, str, str]]:
    return [(i.kind, i.level, text[i.start : i.end]) for i in checker.review(text).issues]


def test_an_ordinary_message_passes(checker: DraftChecker) -> None:
    review = checker.review("Merci à toutes et à tous pour la journée portes ouvertes à Namur !")
    assert (review.verdict, review.lang, review.issues) == ("ok", "fr", ())
    assert review.secrecy_rules == 2


def test_case_references_and_personal_data_stop_a_draft(checker: DraftChecker) -> None:
    text = "Suspect arrêté, PV n° BR.12.L1.123456/2025, numéro national 85.07.30-033.28"
    review = checker.review(text)
    assert review.verdict == "stop"
    assert issues(checker, text) == [
        ("confidential", "stop", "BR.12.L1.123456/2025"),
        ("national_id", "stop", "85.07.30-033.28"),
    ]
    assert all(i.advice and i.why for i in review.issues)


def test_contact_details_ask_for_a_second_look_unless_they_are_the_institutions(
    checker: DraftChecker,
) -> None:
    text = "Bel ons op +32 2 642 66 66 of de wijkagent op 0470 12 34 56"
    review = checker.review(text)
    assert review.verdict == "check"
    assert issues(checker, text) == [("phone", "check", "0470 12 34 56")]
    # Allowed values are compared without spaces, separators or case.
    assert issues(checker, "Bel +3226426666") == []


def test_a_protected_colleague_is_never_named(checker: DraftChecker) -> None:
    text = "Félicitations à l'inspecteur Jan Peeters pour son intervention"
    assert ("protected_name", "stop", "Jan Peeters") in issues(checker, text)


def test_secrecy_rules_use_the_rule_language_and_severity(checker: DraftChecker) -> None:
    text = "De operatie Nachtuil loopt; zie ook het projet Kestrel"
    review = checker.review(text)
    assert [(i.kind, i.level, i.rule, text[i.start : i.end]) for i in review.issues] == [
        ("secrecy", "stop", "op-nachtuil", "operatie Nachtuil"),
        ("secrecy", "check", "project-x", "projet"),
        ("secrecy", "check", "project-x", "Kestrel"),
    ]


def test_threatening_wording_is_flagged_for_rephrasing(checker: DraftChecker) -> None:
    assert [k for k, _, _ in issues(checker, "We will find you and we will kill you")] == ["threat"]


def test_a_too_long_draft_is_refused_with_its_length(checker: DraftChecker) -> None:
    with pytest.raises(DraftTooLong, match="20,001 characters"):
        checker.review("a" * (MAX_DRAFT_CHARS + 1))


@given(st.text(max_size=300))
def test_any_text_gets_a_consistent_review(text: str) -> None:
    review = CHECKER.review(text)
    assert review.verdict == (
        "ok"
        if not review.issues
        else "stop"
        if any(i.level == "stop" for i in review.issues)
        else "check"
    )
    for issue in review.issues:
        assert 0 <= issue.start < issue.end <= len(text)


CHECKER = DraftChecker(Detect())
