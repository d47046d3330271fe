"""Accounts and governance: who am I, my API tokens, users (admins), the audit log (admins)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from veille.store.accounts import AccountError, User
from veille.web.api.common import Limit, RowRef, WebDep
from veille.web.auth import TOKEN_PREFIX, Principal, Require, hash_password, new_secret
from veille.web.authz import ROLE_PERMISSIONS, Permission
from veille.web.context import Web
from veille.web.errors import ApiError
from veille.web.schemas import (
    AuditEntryOut,
    AuditVerifyOut,
    MeOut,
    NewTokenOut,
    Page,
    TokenIn,
    TokenOut,
    UserIn,
    UserOut,
    UserPatch,
)

router = APIRouter()
Self = Annotated[Principal, Depends(Require(Permission.SELF))]
Admin = Annotated[Principal, Depends(Require(Permission.ADMIN))]
Username = Annotated[str, Path(min_length=1, max_length=64)]


def user_out(user: User, teams: dict[str, list[str]] | None = None) -> UserOut:
    return UserOut(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        disabled=user.disabled,
        lang=user.lang,
        created_at=user.created_at,
        last_login_at=user.last_login_at,
        teams=(teams or {}).get(user.username, []),
    )


def teams_of(web: Web) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for team in web.accounts.teams():
        for member in team.members:
            out.setdefault(member, []).append(team.name)
    return out


@router.get("/me", response_model=MeOut, tags=["me"])
def me(web: WebDep, who: Self) -> MeOut:
    """Your account, permissions and watch lists."""
    return MeOut(
        username=who.actor,
        role=who.user.role,
        permissions=sorted(ROLE_PERMISSIONS.get(who.user.role, frozenset())),
        pseudonymous=who.scope.pseudonymous,
        watch_lists=[w.name for w in web.accounts.watch_lists(who.user)],
    )


def token_out(t: object) -> TokenOut:
    return TokenOut.model_validate(t, from_attributes=True)


@router.get("/me/tokens", response_model=list[TokenOut], tags=["me"])
def my_tokens(web: WebDep, who: Self) -> list[TokenOut]:
    return [token_out(t) for t in web.accounts.tokens(who.user)]


def create_token(web: Web, who: Principal, name: str, days: float | None) -> NewTokenOut:
    secret = new_secret(TOKEN_PREFIX)
    expires = web.clock() + timedelta(days=days) if days else None
    try:
        token = web.accounts.add_token(who.user, name, secret, expires_at=expires)
    except AccountError as exc:
        raise ApiError(422, str(exc)) from None
    web.record(who, "token.create", f"token {token.id}", name=name)
    return NewTokenOut(**token_out(token).model_dump(), token=secret)


@router.post("/me/tokens", response_model=NewTokenOut, status_code=201, tags=["me"])
def new_token(body: TokenIn, web: WebDep, who: Self) -> NewTokenOut:
    """Create an API token; the secret is in this answer only."""
    return create_token(web, who, body.name, body.days)


@router.delete("/me/tokens/{token_id}", status_code=204, tags=["me"])
def revoke_token(token_id: RowRef, web: WebDep, who: Self) -> None:
    if not web.accounts.revoke_token(who.user, token_id):
        raise ApiError(404, f"no live token {token_id}")
    web.record(who, "token.revoke", f"token {token_id}")


@router.get("/users", response_model=list[UserOut], tags=["users"])
def list_users(web: WebDep, who: Admin) -> list[UserOut]:
    teams = teams_of(web)
    return [user_out(u, teams) for u in web.accounts.list_users()]


@router.post("/users", response_model=UserOut, status_code=201, tags=["users"])
def add_user(body: UserIn, web: WebDep, who: Admin) -> UserOut:
    try:
        user = web.accounts.add_user(
            body.username,
            body.role,
            password_hash=hash_password(body.password),
            display_name=body.display_name,
        )
    except AccountError as exc:
        raise ApiError(409 if "exists" in str(exc) else 422, str(exc)) from None
    except ValueError as exc:
        raise ApiError(422, str(exc)) from None
    web.record(who, "user.add", user.username, role=user.role)
    return user_out(user)


@router.patch("/users/{username}", response_model=UserOut, tags=["users"])
def change_user(username: Username, body: UserPatch, web: WebDep, who: Admin) -> UserOut:
    """Change role, disable/enable, reset the password, set the language."""
    values = body.model_dump(exclude_none=True)
    password = values.pop("password", None)
    try:
        if password is not None:
            values["password_hash"] = hash_password(password)
        if username == who.actor and (
            values.get("disabled") or values.get("role", "admin") != "admin"
        ):
            raise ApiError(422, "you cannot disable or demote yourself: ask another admin")
        user = web.accounts.update_user(username, **values)
    except AccountError as exc:
        raise ApiError(404 if "no user" in str(exc) else 422, str(exc)) from None
    except ValueError as exc:
        raise ApiError(422, str(exc)) from None
    changed = sorted(k for k in values if k != "password_hash") + (["password"] if password else [])
    web.record(
        who, "user.change", username, changed=changed, role=user.role, disabled=user.disabled
    )
    return user_out(user)


@router.get("/audit", response_model=Page[AuditEntryOut], tags=["audit"])
def audit_log(
    web: WebDep,
    who: Admin,
    limit: Limit = 100,
    before: Annotated[
        int | None, Query(ge=1, le=2**62, description="Entries older than this id")
    ] = None,
    actor: Annotated[str | None, Query(max_length=200)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
) -> Page[AuditEntryOut]:
    """The audit log, newest first (`next` is the id to pass as `before`)."""
    entries = web.audit.entries(limit=limit, before=before, actor=actor, action=action)
    items = [
        AuditEntryOut(
            id=e.id,
            at=e.at,
            actor=e.actor,
            action=e.action,
            target=e.target,
            reason=e.reason,
            detail=dict(e.detail),
            hash=e.hash,
        )
        for e in entries
    ]
    nxt = str(entries[-1].id) if len(entries) == limit and entries[-1].id > 1 else None
    return Page(items=items, next=nxt)


@router.get("/audit/verify", response_model=AuditVerifyOut, tags=["audit"])
def verify_audit(web: WebDep, who: Admin) -> AuditVerifyOut:
    """Recompute the hash chain (as `veille audit verify` does)."""
    result = web.audit.verify()
    return AuditVerifyOut(
        ok=result.ok,
        entries=result.entries,
        head_id=result.head_id,
        head_hash=result.head_hash,
        problem=result.problem,
    )
