"""The draft page: staff check a text before posting it (professional secrecy)."""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from veille.enrich.draft import MAX_DRAFT_CHARS, DraftReview, DraftTooLong
from veille.web.api.draft import review_draft
from veille.web.auth import Principal, Require
from veille.web.authz import Permission
from veille.web.i18n import N_
from veille.web.pages.render import render

router = APIRouter(include_in_schema=False)
Drafter = Annotated[Principal, Depends(Require(Permission.DRAFT, page=True))]
VERDICTS: Final = {
    "ok": N_("Nothing found: you may post."),
    "check": N_("Look again before posting."),
    "stop": N_("Do not post this as it is."),
}


@router.get("/draft")
def draft_page(request: Request, who: Drafter) -> Response:
    return render(
        request, "draft.html", title="Check a draft", text="", lang="", review=None, error=""
    )


@router.post("/draft")
def check_page(
    request: Request,
    who: Drafter,
    text: Annotated[str, Form(max_length=MAX_DRAFT_CHARS)],
    lang: Annotated[str, Form(pattern="^(|fr|nl|de|en)$")] = "",
) -> Response:
    """The review of a draft: the whole page, or only the result for htmx."""
    review: DraftReview | None = None
    error = ""
    try:
        review = review_draft(request.app.state.web, who, text, lang)
    except DraftTooLong as exc:
        error = str(exc)
    values: dict[str, Any] = {
        "text": text,
        "lang": lang,
        "review": review,
        "error": error,
        "pieces": _pieces(text, review),
        "verdicts": VERDICTS,
    }
    if request.headers.get("hx-request"):
        return render(request, "_draft.html", **values)
    return render(request, "draft.html", title="Check a draft", **values)


def _pieces(text: str, review: DraftReview | None) -> list[tuple[str, str]]:
    """The draft cut into ``(piece, level)`` with the most serious level over each piece."""
    if review is None:
        return []
    level = [""] * len(text)
    for issue in review.issues:
        for i in range(issue.start, issue.end):
            if level[i] != "stop":
                level[i] = issue.level
    pieces: list[tuple[str, str]] = []
    start = 0
    for i in range(1, len(text) + 1):
        if i == len(text) or level[i] != level[start]:
            pieces.append((text[start:i], level[start]))
            start = i
    return pieces
