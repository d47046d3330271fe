"""Checking a draft before posting (professional secrecy): the same review as ``veille draft``.

Nothing of the draft is stored; the audit log records that a check happened and its verdict,
never the text.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from veille.enrich.draft import MAX_DRAFT_CHARS, DraftChecker, DraftReview, DraftSecrecy
from veille.web.api.common import WebDep
from veille.web.auth import Principal, Require
from veille.web.authz import Permission
from veille.web.context import Web

router = APIRouter(tags=["draft"])
Drafter = Annotated[Principal, Depends(Require(Permission.DRAFT))]


class DraftIn(BaseModel):
    text: str = Field(max_length=MAX_DRAFT_CHARS)
    lang: Literal["", "fr", "nl", "de", "en"] = ""
    """The draft's language; empty: guessed."""


class DraftIssueOut(BaseModel):
    kind: str
    level: Literal["stop", "check"]
    start: int
    end: int
    why: str
    advice: str
    rule: str = ""


class DraftReviewOut(BaseModel):
    verdict: Literal["ok", "check", "stop"]
    """``stop``: do not post as is; ``check``: look again; ``ok``: nothing found."""
    lang: str
    issues: list[DraftIssueOut]
    secrecy_rules: int


def review_draft(web: Web, who: Principal, text: str, lang: str = "") -> DraftReview:
    """Review ``text`` with the current secrecy rules, and audit the check (not the text)."""
    secrecy: DraftSecrecy = web.extras.setdefault("draft", DraftSecrecy(web.settings))
    checker: DraftChecker = secrecy.checker(web.rulebook.rules())
    review = checker.review(text, lang)
    web.record(who, "draft.check", review.verdict, issues=len(review.issues), chars=len(text))
    return review


@router.post("/draft/check")
def check_draft(body: DraftIn, web: WebDep, who: Drafter) -> DraftReviewOut:
    """Review a draft: personal data, protected names, case references, secrecy rules."""
    review = review_draft(web, who, body.text, body.lang)
    return DraftReviewOut(
        verdict=review.verdict,
        lang=review.lang,
        issues=[DraftIssueOut(**msgspec.structs.asdict(i)) for i in review.issues],
        secrecy_rules=review.secrecy_rules,
    )
