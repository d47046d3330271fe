"""Dashboard pages over conversations, rules, the audit log and the user's own account.

Each page calls the same functions as the JSON API (same checks, same audit entries) and
renders the result; htmx fragments (rule validation, test box, dry-run) are small templates
starting with ``_``.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from veille.store import alerts as alert_store
from veille.web.api.admin import create_token, teams_of
from veille.web.api.alerts import AlertOut, alert_out, sees_alert
from veille.web.api.common import RowRef, decode_cursor, filtered_page
from veille.web.api.conversations import conversation_detail, record_view, thread_posts
from veille.web.api.rules import run_dry, save_rule, test_rule, validation, visible_rule
from veille.web.auth import Principal, Require
from veille.web.authz import Permission
from veille.web.context import Web
from veille.web.errors import ApiError
from veille.web.pages.render import render
from veille.web.rulebook import RuleDraft, etag
from veille.web.schemas import DryRunIn, RuleSave, RuleTestIn, conversation_view, segments

router = APIRouter(include_in_schema=False)


def page(permission: Permission) -> object:
    return Depends(Require(permission, page=True))


Viewer = Annotated[Principal, page(Permission.VIEW)]
Tester = Annotated[Principal, page(Permission.RULES_TEST)]
Editor = Annotated[Principal, page(Permission.RULES_EDIT)]
Admin = Annotated[Principal, page(Permission.ADMIN)]
Self = Annotated[Principal, page(Permission.SELF)]


def web_of(request: Request) -> Web:
    web: Web = request.app.state.web
    return web


# -- conversations ---------------------------------------------------------------------------


@router.get("/conversations")
def conversations_page(
    request: Request,
    who: Viewer,
    following: bool = False,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    web = web_of(request)
    tags = web.rulebook.tags()
    items, nxt = filtered_page(
        lambda n: web.store.conversations(limit=n, following=following),
        lambda c: who.scope.sees_any(c.rules, tags),
        decode_cursor(cursor),
        50,
    )
    return render(
        request,
        "conversations.html",
        title="Conversations",
        conversations=[conversation_view(c, who.scope, tags) for c in items],
        following=following,
        next=nxt,
    )


@router.get("/conversations/{ref}")
def conversation_page(request: Request, ref: str, who: Viewer) -> Response:
    web = web_of(request)
    if len(ref) > 1100:
        raise ApiError(400, "conversation reference is too long")
    detail = conversation_detail(web, who, ref)
    key = detail.conversation.key
    record_view(web, who, "conversation.view", key, thread_posts(detail.thread))
    return render(
        request,
        "conversation.html",
        title="Conversation",
        detail=detail,
        rule_names={
            r: rule.name for r in detail.conversation.rules if (rule := web.rulebook.get(r))
        },
        alerts=conversation_alerts(web, who, detail.conversation.key),
    )


def conversation_alerts(web: Web, who: Principal, key: str) -> list[AlertOut]:
    """The alerts raised on a conversation: what the detectors and rules found, and why."""
    with web.store.engine.connect() as conn:
        found = alert_store.list_alerts(conn, conversation=key, limit=50)
    return [alert_out(a, who) for a in found if sees_alert(web, who, a)]


# -- rules -----------------------------------------------------------------------------------


@router.get("/rules")
def rules_page(request: Request, who: Viewer) -> Response:
    web = web_of(request)
    loaded = web.rulebook.loaded()
    rules = [r for r in loaded.rules if who.scope.sees_rule(r.id, r.tags)]
    return render(
        request,
        "rules.html",
        title="Rules",
        rules=rules,
        diagnostics=loaded.diagnostics if who.scope.everything else [],
    )


def _editor(
    request: Request,
    who: Principal,
    draft: RuleDraft,
    *,
    creating: bool,
    tag: str,
    status: int = 200,
    error: str = "",
) -> Response:
    web = web_of(request)
    problems = validation(web, draft, creating).problems
    history = None if creating else web.edits.edits(draft.id)
    versions = None if creating else web.edits.query_versions(draft.id)
    return render(
        request,
        "rule.html",
        status=status,
        title="New rule" if creating else "Rule",
        draft=draft,
        creating=creating,
        etag=tag,
        problems=problems,
        error=error,
        history=history,
        versions=versions,
        query_segments=_query_marks(draft.query, problems),
    )


def _query_marks(query: str, problems: list) -> list[tuple[str, bool]]:  # type: ignore[type-arg]
    spans = [(p.start, p.end) for p in problems if p.field == "query" and p.level == "error"]
    if any(start >= len(query) for start, _ in spans):
        query += " "  # a fault at the very end (a missing term) gets a visible mark
    return segments(query, spans)


@router.get("/rules/new")
def new_rule_page(request: Request, who: Editor) -> Response:
    draft = RuleDraft(id="", query="")
    return _editor(request, who, draft, creating=True, tag="")


@router.get("/rules/{rule_id}")
def rule_page(request: Request, rule_id: str, who: Viewer) -> Response:
    rule = visible_rule(web_of(request), who, rule_id)
    draft = RuleDraft.of(rule)
    return _editor(request, who, draft, creating=False, tag=etag(draft))


def _form_rule(
    id: str,
    query: str,
    severity: str,
    name: str,
    description: str,
    tags: str,
    owner: str,
    enabled: bool,
    evasion: bool,
) -> dict[str, object]:
    return {
        "id": id.strip(),
        "query": query,
        "severity": severity,
        "name": name,
        "description": description,
        "tags": [t.strip() for t in tags.split(",") if t.strip()][:100],
        "owner": owner,
        "enabled": enabled,
        "evasion": evasion,
    }


RuleForm = dict[str, object]


def rule_form(
    id: Annotated[str, Form(max_length=200)] = "",
    query: Annotated[str, Form(max_length=100_000)] = "",
    severity: Annotated[str, Form(max_length=16)] = "medium",
    name: Annotated[str, Form(max_length=10_000)] = "",
    description: Annotated[str, Form(max_length=10_000)] = "",
    tags: Annotated[str, Form(max_length=10_000)] = "",
    owner: Annotated[str, Form(max_length=10_000)] = "",
    enabled: Annotated[bool, Form()] = False,
    evasion: Annotated[bool, Form()] = False,
) -> RuleForm:
    return _form_rule(id, query, severity, name, description, tags, owner, enabled, evasion)


Fields = Annotated[RuleForm, Depends(rule_form)]


def _draft(fields: RuleForm) -> RuleDraft:
    tags = fields["tags"]
    assert isinstance(tags, list)
    return RuleDraft(
        id=str(fields["id"]),
        query=str(fields["query"]),
        severity=str(fields["severity"]),
        name=str(fields["name"]),
        description=str(fields["description"]),
        tags=tuple(tags),
        owner=str(fields["owner"]),
        enabled=bool(fields["enabled"]),
        evasion=bool(fields["evasion"]),
    )


@router.post("/rules/_validate")
def validate_fragment(
    request: Request, who: Tester, fields: Fields, creating: Annotated[bool, Form()] = False
) -> Response:
    web = web_of(request)
    draft = _draft(fields)
    problems = validation(web, draft, creating).problems
    return render(
        request,
        "_problems.html",
        problems=problems,
        query_segments=_query_marks(draft.query, problems),
    )


@router.post("/rules/_test")
def try_fragment(
    request: Request,
    who: Tester,
    fields: Fields,
    text: Annotated[str, Form(max_length=100_000)] = "",
) -> Response:
    web = web_of(request)
    try:
        body = RuleTestIn(**fields, text=text)  # type: ignore[arg-type]
        result = test_rule(body, web, who)
        error = ""
    except (ValidationError, ApiError) as exc:
        result, error = None, _message(exc)
    return render(request, "_test.html", result=result, error=error)


@router.post("/rules/_dry-run")
def dry_run_fragment(
    request: Request,
    who: Tester,
    fields: Fields,
    days: Annotated[float, Form(gt=0, le=366)] = 7,
) -> Response:
    web = web_of(request)
    try:
        body = DryRunIn(**fields, days=days)  # type: ignore[arg-type]
        result = run_dry(web, who, body)
        error = ""
    except (ValidationError, ApiError) as exc:
        result, error = None, _message(exc)
    return render(request, "_dry_run.html", result=result, error=error, days=days)


def _message(exc: Exception) -> str:
    if isinstance(exc, ApiError):
        return exc.message
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    return str(exc)


@router.post("/rules")
def save_rule_page(
    request: Request,
    who: Editor,
    fields: Fields,
    creating: Annotated[bool, Form()] = False,
    reason: Annotated[str, Form(max_length=2000)] = "",
    etag_: Annotated[str, Form(alias="etag", max_length=64)] = "",
) -> Response:
    web = web_of(request)
    draft = _draft(fields)
    try:
        body = RuleSave(**fields, reason=reason, etag=etag_)  # type: ignore[arg-type]
        saved = save_rule(web, who, body, creating=creating)
    except (ValidationError, ApiError) as exc:
        status = exc.status if isinstance(exc, ApiError) else 422
        return _editor(
            request, who, draft, creating=creating, tag=etag_, status=status, error=_message(exc)
        )
    return RedirectResponse(f"/rules/{quote(saved.id, safe='')}?saved=1", status_code=303)


# -- audit and account -----------------------------------------------------------------------


@router.get("/audit")
def audit_page(
    request: Request,
    who: Admin,
    before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    actor: Annotated[str | None, Query(max_length=200)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    web = web_of(request)
    entries = web.audit.entries(
        limit=100, before=before, actor=actor or None, action=action or None
    )
    verification = web.audit.verify() if before is None else None
    return render(
        request,
        "audit.html",
        title="Audit log",
        entries=entries,
        verification=verification,
        actor=actor or "",
        action=action or "",
        next=entries[-1].id if len(entries) == 100 else None,
    )


@router.get("/account")
def account_page(request: Request, who: Self) -> Response:
    web = web_of(request)
    return render(
        request,
        "account.html",
        title="Account",
        tokens=web.accounts.tokens(who.user),
        watch_lists=web.accounts.watch_lists(who.user),
        teams=teams_of(web).get(who.actor, []),
        new_token=None,
    )


@router.post("/account/tokens")
def account_new_token(
    request: Request,
    who: Self,
    name: Annotated[str, Form(min_length=1, max_length=100)],
    days: Annotated[float, Form(gt=0, le=3660)] = 90,
) -> Response:
    web = web_of(request)
    created = create_token(web, who, name, days)
    return render(
        request,
        "account.html",
        title="Account",
        tokens=web.accounts.tokens(who.user),
        watch_lists=web.accounts.watch_lists(who.user),
        teams=teams_of(web).get(who.actor, []),
        new_token=created,
    )


@router.post("/account/tokens/{token_id}/revoke")
def account_revoke_token(request: Request, token_id: RowRef, who: Self) -> Response:
    web = web_of(request)
    if web.accounts.revoke_token(who.user, token_id):
        web.record(who, "token.revoke", f"token {token_id}")
    return RedirectResponse("/account", status_code=303)
