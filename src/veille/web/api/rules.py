"""Rules: list, read, validate, try on a text, dry-run on the archive, create, edit, history."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Depends, Path

from veille.match.matcher import Matcher
from veille.rules.parser import QueryError
from veille.rules.rule import Rule
from veille.web.api.common import Cursor, Limit, WebDep, decode_cursor, encode_cursor
from veille.web.auth import Principal, Require
from veille.web.authz import Permission
from veille.web.context import Web
from veille.web.errors import ApiError
from veille.web.rulebook import RuleConflict, RuleDraft, draft_post, etag
from veille.web.schemas import (
    DryRunExample,
    DryRunIn,
    DryRunOut,
    MatchOut,
    Page,
    ProblemOut,
    QueryVersionOut,
    RuleEditOut,
    RuleHistoryOut,
    RuleIn,
    RuleOut,
    RuleSave,
    RuleTestIn,
    RuleTestOut,
    ValidationOut,
    post_view,
    segments,
)

router = APIRouter(tags=["rules"])
Viewer = Annotated[Principal, Depends(Require(Permission.VIEW))]
Tester = Annotated[Principal, Depends(Require(Permission.RULES_TEST))]
Editor = Annotated[Principal, Depends(Require(Permission.RULES_EDIT))]
RuleId = Annotated[str, Path(min_length=1, max_length=200)]


def rule_out(rule: Rule, version: int | None = None) -> RuleOut:
    draft = RuleDraft.of(rule)
    return RuleOut(
        **draft.as_dict(), file=rule.file, line=rule.line, version=version, etag=etag(draft)
    )


def draft_of(body: RuleIn) -> RuleDraft:
    return RuleDraft(
        id=body.id,
        query=body.query,
        severity=body.severity,
        name=body.name,
        description=body.description,
        tags=tuple(body.tags),
        owner=body.owner,
        enabled=body.enabled,
        evasion=body.evasion,
    )


def visible_rule(web: Web, who: Principal, rule_id: str) -> Rule:
    rule = web.rulebook.get(rule_id)
    if rule is None or not who.scope.sees_rule(rule.id, rule.tags):
        raise ApiError(404, f"no rule {rule_id!r}")
    return rule


@router.get("/rules", response_model=Page[RuleOut])
def list_rules(
    web: WebDep, who: Viewer, limit: Limit = 100, cursor: Cursor = None
) -> Page[RuleOut]:
    """The rules you may see, in file order."""
    rules = [r for r in web.rulebook.rules() if who.scope.sees_rule(r.id, r.tags)]
    start = decode_cursor(cursor)
    page = rules[start : start + limit]
    more = start + limit < len(rules)
    return Page(
        items=[rule_out(r) for r in page], next=encode_cursor(start + limit) if more else None
    )


@router.get("/rules/{rule_id}", response_model=RuleOut)
def get_rule(rule_id: RuleId, web: WebDep, who: Viewer) -> RuleOut:
    return rule_out(visible_rule(web, who, rule_id))


@router.get("/rules/{rule_id}/history", response_model=RuleHistoryOut)
def rule_history(rule_id: RuleId, web: WebDep, who: Viewer) -> RuleHistoryOut:
    """Edits made through veille (who, when, why, before/after) and every query version."""
    visible_rule(web, who, rule_id)
    return RuleHistoryOut(
        edits=[
            RuleEditOut(**{k: getattr(e, k) for k in RuleEditOut.model_fields})
            for e in web.edits.edits(rule_id)
        ],
        versions=[
            QueryVersionOut(version=v.version, query=v.query, created_at=v.created_at)
            for v in web.edits.query_versions(rule_id)
        ],
    )


def validation(web: Web, draft: RuleDraft, creating: bool) -> ValidationOut:
    problems = web.rulebook.validate(draft, creating=creating)
    return ValidationOut(
        valid=not any(p.level == "error" for p in problems),
        problems=[
            ProblemOut(level=p.level, field=p.field, message=p.message, start=p.start, end=p.end)
            for p in problems
        ],
    )


@router.post("/rules/validate", response_model=ValidationOut)
def validate_rule(body: RuleIn, web: WebDep, who: Tester) -> ValidationOut:
    """Errors (located in the query text) and warnings, without saving."""
    return validation(web, draft_of(body), creating=web.rulebook.get(body.id) is None)


@router.post("/rules/test", response_model=RuleTestOut)
def test_rule(body: RuleTestIn, web: WebDep, who: Tester) -> RuleTestOut:
    """Does the rule match this text? With the matched spans."""
    try:
        rule = draft_of(body).rule()
    except (QueryError, ValueError) as exc:
        raise ApiError(422, str(exc), code="invalid_rule") from None
    found = Matcher([replace(rule, enabled=True)]).match(draft_post(body.text, body.lang))
    if not found:
        return RuleTestOut(matched=False, segments=[(body.text, False)] if body.text else [])
    m = found[0]
    return RuleTestOut(
        matched=True,
        match=MatchOut(
            rule=m.rule,
            version=m.version,
            spans=[tuple(s) for s in m.spans],  # type: ignore[misc]
            terms={t: [tuple(s) for s in v] for t, v in m.terms.items()},  # type: ignore[misc]
        ),
        segments=segments(body.text, m.spans),
    )


def run_dry(web: Web, who: Principal, body: DryRunIn) -> DryRunOut:
    try:
        draft = draft_of(body)
        draft.rule()
    except (QueryError, ValueError) as exc:
        raise ApiError(422, str(exc), code="invalid_rule") from None
    tags = web.rulebook.tags()
    # Examples are personal data: shown only when the rule is on one of your watch lists.
    shows_examples = who.scope.sees_rule(draft.id, draft.tags)
    result = web.rulebook.dry_run(
        draft,
        web.store,
        days=body.days,
        now=web.clock(),
        max_posts=web.settings.web.dry_run_max_posts,
        visible=lambda _: shows_examples,
    )
    web.record(
        who, "rule.dry_run", draft.id, query=draft.query, days=body.days, matched=result.matched
    )
    return DryRunOut(
        since=result.since,
        scanned=result.scanned,
        matched=result.matched,
        truncated=result.truncated,
        per_day=result.per_day,
        compared=result.compared,
        only_new=result.only_new,
        only_old=result.only_old,
        examples=[
            DryRunExample(
                post=post_view(stored, who.scope, tags, web.pseudonymise).model_copy(
                    update={"segments": segments(stored.post.text, m.spans)}
                ),
                match=MatchOut(
                    rule=draft.id,
                    version=0,
                    spans=[tuple(s) for s in m.spans],  # type: ignore[misc]
                    terms={t: [tuple(s) for s in v] for t, v in m.terms.items()},  # type: ignore[misc]
                ),
            )
            for stored, m in result.examples
        ],
    )


@router.post("/rules/dry-run", response_model=DryRunOut)
def dry_run(body: DryRunIn, web: WebDep, who: Tester) -> DryRunOut:
    """What this rule would have matched in the last `days` days of archive (audited)."""
    return run_dry(web, who, body)


def save_rule(web: Web, who: Principal, body: RuleSave, *, creating: bool) -> RuleOut:
    draft = draft_of(body)
    if not creating:
        visible_rule(web, who, draft.id)
    try:
        rule, before, version, file = web.rulebook.save(draft, creating=creating, expect=body.etag)
    except RuleConflict as exc:
        raise ApiError(409, str(exc)) from None
    except KeyError:
        raise ApiError(404, f"no rule {draft.id!r}") from None
    except ValueError as exc:
        problems = validation(web, draft, creating)
        raise ApiError(
            422, str(exc), code="invalid_rule", detail=problems.model_dump()["problems"]
        ) from None
    after = RuleDraft.of(rule).as_dict()
    web.edits.record(
        rule.id,
        version,
        who.actor,
        reason=body.reason,
        file=file,
        before=None if before is None else before.as_dict(),
        after=after,
    )
    web.record(
        who,
        "rule.create" if creating else "rule.edit",
        rule.id,
        reason=body.reason,
        version=version,
        file=file,
        query=rule.query.source,
    )
    return rule_out(rule, version)


@router.post("/rules", response_model=RuleOut, status_code=201)
def create_rule(body: RuleSave, web: WebDep, who: Editor) -> RuleOut:
    """Add a rule (to web.toml in the first rules folder); audited with your reason."""
    return save_rule(web, who, body, creating=True)


@router.put("/rules/{rule_id}", response_model=RuleOut)
def edit_rule(rule_id: RuleId, body: RuleSave, web: WebDep, who: Editor) -> RuleOut:
    """Change a rule in its file. Send the `etag` you loaded: 409 if someone saved meanwhile."""
    if body.id != rule_id:
        raise ApiError(
            422, "the rule id cannot change (create a new rule instead)", code="invalid_rule"
        )
    return save_rule(web, who, body, creating=False)
